#include "core/pool.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

const char *account_state_name(account_state s) {
    switch (s) {
    case ACCOUNT_READY: return "ready";
    case ACCOUNT_COOLING: return "cooling";
    case ACCOUNT_NEEDS_LOGIN: return "needs_login";
    case ACCOUNT_DISABLED: return "disabled";
    }
    return "unknown";
}

void pool_options_defaults(pool_options *o) {
    o->rate_limit_base_ms = 30000;
    o->rate_limit_cap_ms = 600000;
    o->quota_cooldown_ms = 3600000;
    o->transient_cooldown_ms = 15000;
    o->transient_threshold = 3;
    o->max_inflight_per_account = 0;
}

void pool_init(pool *p, lingma_account_list *accounts, const pool_options *opt,
               const char *accounts_file) {
    memset(p, 0, sizeof *p);
    p->opt = *opt;
    p->n = accounts->n;
    p->cap = p->n ? p->n : 1;
    p->accounts = xcalloc(p->cap, sizeof *p->accounts);
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < p->n; i++) {
        pool_account *a = &p->accounts[i];
        a->cred = accounts->items[i];
        a->state = ACCOUNT_READY;
        a->since_ms = now;
        snprintf(a->reason, sizeof a->reason, "loaded");
        if (lingma_account_expired(&a->cred, CREDENTIALS_EXPIRY_MARGIN_MS)) {
            a->state = ACCOUNT_NEEDS_LOGIN;
            snprintf(a->reason, sizeof a->reason, "token expired");
        }
    }
    free(accounts->items);
    accounts->items = NULL;
    accounts->n = 0;
    p->accounts_file = accounts_file && *accounts_file ? xstrdup(accounts_file) : NULL;
}

void pool_free(pool *p) {
    for (size_t i = 0; i < p->n; i++)
        lingma_account_free(&p->accounts[i].cred);
    free(p->accounts);
    free(p->accounts_file);
    memset(p, 0, sizeof *p);
}

void pool_transition(pool *p, pool_account *a, account_state to, const char *reason,
                     int64_t cool_until_ms) {
    (void)p;
    account_state from = a->state;
    a->state = to;
    a->since_ms = clock_wall_ms();
    a->cool_until_ms = to == ACCOUNT_COOLING ? cool_until_ms : 0;
    snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
    if (to == ACCOUNT_READY) {
        a->backoff_level = 0;
        a->transient_run = 0;
        a->auth_retried = false;
    }
    log_event(
        to == ACCOUNT_READY ? LOG_INFO : LOG_WARN, "account state",
        "\"account\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\",\"cool_until_ms\":%lld",
        a->cred.name, account_state_name(from), account_state_name(to), a->reason,
        (long long)a->cool_until_ms);
}

static bool usable(const pool *p, const pool_account *a, int64_t now) {
    if (a->removed) return false;
    if (p->opt.max_inflight_per_account && a->inflight >= p->opt.max_inflight_per_account)
        return false;
    if (a->state == ACCOUNT_READY) return true;
    /* Half-open: one probe at a time once the cooldown is over. */
    return a->state == ACCOUNT_COOLING && now >= a->cool_until_ms && !a->probing;
}

static bool excluded(const char *name, const char *const *exclude, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(exclude[i], name) == 0) return true;
    return false;
}

pool_account *pool_find(pool *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!p->accounts[i].removed && strcmp(p->accounts[i].cred.name, name) == 0)
            return &p->accounts[i];
    return NULL;
}

pool_account *pool_pick(pool *p, const char *preferred, const char *const *exclude,
                        size_t n_exclude) {
    int64_t now = clock_wall_ms();
    if (preferred) {
        pool_account *a = pool_find(p, preferred);
        if (a && usable(p, a, now) && !excluded(a->cred.name, exclude, n_exclude)) return a;
    }
    pool_account *best = NULL;
    for (size_t i = 0; i < p->n; i++) {
        pool_account *a = &p->accounts[i];
        if (!usable(p, a, now) || excluded(a->cred.name, exclude, n_exclude)) continue;
        if (!best || a->inflight < best->inflight ||
            (a->inflight == best->inflight && a->last_used_seq < best->last_used_seq))
            best = a;
    }
    return best;
}

bool pool_acquire(pool *p, pool_account *a) {
    a->inflight++;
    a->last_used_seq = ++p->use_seq;
    /* The attempt that takes a cooled-down account is its probe; only that attempt's verdict
     * ends the probe (one that started earlier may still be running). */
    bool probe = a->state == ACCOUNT_COOLING && !a->probing;
    if (probe) a->probing = true;
    return probe;
}

/* base · 2^level, bounded by the rate-limit cap (also for repeated transient cooldowns). */
static int64_t backoff_ms(const pool_options *o, int64_t base, unsigned level) {
    int64_t ms = base;
    for (unsigned i = 0; i < level && ms < o->rate_limit_cap_ms; i++)
        ms *= 2;
    return ms < o->rate_limit_cap_ms ? ms : o->rate_limit_cap_ms;
}

void pool_release(pool *p, pool_account *a, bool probe, conv_error_class cls) {
    if (a->inflight) a->inflight--;
    bool was_probe = probe;
    if (probe) a->probing = false;
    int64_t now = clock_wall_ms();
    if (a->state == ACCOUNT_DISABLED) { /* only an admin reset brings it back */
        if (cls == CONV_ERR_NONE)
            a->ok_total++;
        else if (cls != CONV_ERR_REQUEST_FATAL && cls != CONV_ERR_CANCELLED)
            a->err_total++;
        return;
    }
    switch (cls) {
    case CONV_ERR_NONE:
        a->ok_total++;
        a->transient_run = 0;
        if (a->state != ACCOUNT_READY && a->state != ACCOUNT_DISABLED)
            pool_transition(p, a, ACCOUNT_READY,
                            was_probe ? "probe succeeded" : "request succeeded", 0);
        else
            a->backoff_level = 0, a->auth_retried = false;
        return;
    case CONV_ERR_RATE_LIMIT: {
        a->err_total++;
        int64_t ms = backoff_ms(&p->opt, p->opt.rate_limit_base_ms, a->backoff_level);
        a->backoff_level++;
        pool_transition(p, a, ACCOUNT_COOLING, "rate limited", now + ms);
        return;
    }
    case CONV_ERR_QUOTA:
        a->err_total++;
        pool_transition(p, a, ACCOUNT_COOLING, "quota exhausted", now + p->opt.quota_cooldown_ms);
        return;
    case CONV_ERR_AUTH:
        a->err_total++;
        pool_transition(p, a, ACCOUNT_NEEDS_LOGIN, "credentials rejected", 0);
        return;
    case CONV_ERR_TRANSIENT:
    case CONV_ERR_TIMEOUT:
        a->err_total++;
        a->transient_run++;
        if (was_probe || a->transient_run >= p->opt.transient_threshold) {
            /* a failed probe cools longer each time, like a repeated rate limit */
            int64_t ms = backoff_ms(&p->opt, p->opt.transient_cooldown_ms, a->backoff_level);
            a->backoff_level++;
            pool_transition(p, a, ACCOUNT_COOLING,
                            cls == CONV_ERR_TIMEOUT ? "repeated timeouts"
                                                    : "repeated upstream errors",
                            now + ms);
        }
        return;
    case CONV_ERR_REQUEST_FATAL: /* the client's fault: no penalty */
    case CONV_ERR_CANCELLED:
        if (was_probe && a->state == ACCOUNT_COOLING) a->cool_until_ms = now; /* probe again */
        return;
    case CONV_ERR_CONFIG_FATAL:
        a->err_total++;
        pool_transition(p, a, ACCOUNT_DISABLED, "configuration error", 0);
        return;
    }
}

static void replace_cred(pool_account *a, lingma_account *cred);

bool pool_reload_after_auth_failure(pool *p, pool_account *a) {
    if (a->auth_retried || !p->accounts_file) return false;
    a->auth_retried = true;
    lingma_account_list l = {0};
    char err[256];
    if (credentials_load(p->accounts_file, NULL, &l, err, sizeof err) != 0) {
        log_warn("credentials reload failed", "\"account\":\"%s\"", a->cred.name);
        return false;
    }
    bool changed = false;
    for (size_t i = 0; i < l.n; i++) {
        if (strcmp(l.items[i].name, a->cred.name) != 0) continue;
        changed = strcmp(l.items[i].cosy_key, a->cred.cosy_key) != 0 ||
                  strcmp(l.items[i].encrypt_user_info, a->cred.encrypt_user_info) != 0;
        if (changed) replace_cred(a, &l.items[i]); /* keeps the name: turns point at it */
        break;
    }
    lingma_account_list_free(&l);
    return changed;
}

int64_t pool_next_ready_ms(const pool *p) {
    int64_t best = 0;
    for (size_t i = 0; i < p->n; i++) {
        const pool_account *a = &p->accounts[i];
        if (a->state == ACCOUNT_READY) return clock_wall_ms();
        if (a->state == ACCOUNT_COOLING && (!best || a->cool_until_ms < best))
            best = a->cool_until_ms;
    }
    return best;
}

bool pool_any_usable(const pool *p) {
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < p->n; i++)
        if (usable(p, &p->accounts[i], now)) return true;
    return false;
}

void pool_reset(pool *p, pool_account *a) {
    pool_transition(p, a, ACCOUNT_READY, "admin reset", 0);
}

void pool_reserve(pool *p, size_t cap) {
    if (cap <= p->cap) return;
    p->accounts = xrealloc(p->accounts, cap * sizeof *p->accounts);
    memset(p->accounts + p->cap, 0, (cap - p->cap) * sizeof *p->accounts);
    p->cap = cap;
}

/* Any slot with this name, tombstones included. */
static pool_account *find_slot(pool *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->accounts[i].cred.name, name) == 0) return &p->accounts[i];
    return NULL;
}

/* New credentials for an existing slot. The old name string stays: turns may point at it. */
static void replace_cred(pool_account *a, lingma_account *cred) {
    char *name = a->cred.name;
    a->cred.name = NULL;
    lingma_account_free(&a->cred);
    free(cred->name);
    a->cred = *cred;
    a->cred.name = name;
    memset(cred, 0, sizeof *cred);
}

static void enter_fresh_state(pool *p, pool_account *a, const char *reason) {
    if (lingma_account_expired(&a->cred, CREDENTIALS_EXPIRY_MARGIN_MS))
        pool_transition(p, a, ACCOUNT_NEEDS_LOGIN, "token expired", 0);
    else if (a->state != ACCOUNT_READY && a->state != ACCOUNT_COOLING)
        pool_transition(p, a, ACCOUNT_READY, reason, 0);
}

pool_account *pool_add_account(pool *p, lingma_account *cred, bool *replaced, char *err,
                               size_t err_cap) {
    pool_account *a = find_slot(p, cred->name);
    if (replaced) *replaced = a && !a->removed;
    if (a) {
        bool was_removed = a->removed;
        a->removed = false;
        replace_cred(a, cred);
        a->auth_retried = false;
        if (was_removed) pool_transition(p, a, ACCOUNT_READY, "added", 0);
        enter_fresh_state(p, a, "credentials replaced");
        return a;
    }
    if (p->n == p->cap) {
        snprintf(err, err_cap, "the pool is full (%zu accounts, POOL_MAX_ACCOUNTS)", p->cap);
        lingma_account_free(cred);
        return NULL;
    }
    a = &p->accounts[p->n++];
    memset(a, 0, sizeof *a);
    a->cred = *cred;
    memset(cred, 0, sizeof *cred);
    a->state = ACCOUNT_DISABLED; /* so that the first transition below is logged as a move */
    pool_transition(p, a, ACCOUNT_READY, "added", 0);
    enter_fresh_state(p, a, "added");
    return a;
}

void pool_remove_account(pool *p, pool_account *a) {
    pool_transition(p, a, ACCOUNT_DISABLED, "removed", 0);
    a->removed = true;
}

static bool same_cred(const lingma_account *x, const lingma_account *y) {
    return !strcmp(x->user_id, y->user_id) && !strcmp(x->machine_id, y->machine_id) &&
           !strcmp(x->cosy_key, y->cosy_key) && !strcmp(x->encrypt_user_info, y->encrypt_user_info);
}

int pool_reload(pool *p, lingma_account_list *fresh, pool_reload_result *res, char *err,
                size_t err_cap) {
    int rc = 0;
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < p->n; i++) {
        pool_account *a = &p->accounts[i];
        if (a->removed) continue;
        bool present = false;
        for (size_t j = 0; j < fresh->n && !present; j++)
            present = !strcmp(fresh->items[j].name, a->cred.name);
        if (!present) {
            pool_remove_account(p, a);
            res->removed++;
        }
    }
    for (size_t j = 0; j < fresh->n; j++) {
        lingma_account *f = &fresh->items[j];
        pool_account *a = pool_find(p, f->name);
        if (a && same_cred(&a->cred, f)) {
            res->unchanged++;
            lingma_account_free(f);
            continue;
        }
        bool replaced = false;
        if (!pool_add_account(p, f, &replaced, err, err_cap))
            rc = -1;
        else if (replaced)
            res->updated++;
        else
            res->added++;
    }
    lingma_account_list_free(fresh);
    return rc;
}

void pool_restore(pool *p, pool_account *a, const pool_saved_state *s) {
    (void)p;
    a->ok_total = s->ok_total;
    a->err_total = s->err_total;
    a->backoff_level = s->backoff_level;
    /* A fresh start-up verdict (an expired token) wins over the saved one. */
    if (a->state != ACCOUNT_READY || s->state == ACCOUNT_READY) return;
    a->state = s->state;
    a->since_ms = s->since_ms;
    a->cool_until_ms = s->state == ACCOUNT_COOLING ? s->cool_until_ms : 0;
    snprintf(a->reason, sizeof a->reason, "%s", s->reason ? s->reason : "");
    log_info("account state restored",
             "\"account\":\"%s\",\"state\":\"%s\",\"reason\":\"%s\",\"cool_until_ms\":%lld",
             a->cred.name, account_state_name(a->state), a->reason, (long long)a->cool_until_ms);
}
