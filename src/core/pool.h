/* LingmaPool: the upstream accounts, their health, and which one serves a turn.
 *
 * Every account is in exactly one state, moved only by pool_transition (which logs the move):
 *   ready ──(rate limit / quota / repeated transient)──▶ cooling(until) ──(time passes: one
 *   half-open probe)──▶ ready on its first success, cooling again (longer) on failure;
 *   any ──(auth failure, after one retry with credentials re-read from disk)──▶ needs_login;
 *   any ──(admin / bad credentials file)──▶ disabled. An admin reset returns it to ready.
 * Cooldowns heal by themselves: nothing stays cooling past its time. */
#ifndef LGW_CORE_POOL_H
#define LGW_CORE_POOL_H
#include "core/conv.h"
#include "upstream/credentials.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ACCOUNT_READY,
    ACCOUNT_COOLING,
    ACCOUNT_NEEDS_LOGIN,
    ACCOUNT_DISABLED
} account_state;
const char *account_state_name(account_state s);

typedef struct pool_account {
    lingma_account cred;
    account_state state;
    char reason[64];
    int64_t since_ms;       /* wall clock of the last transition */
    int64_t cool_until_ms;  /* COOLING: when the half-open probe may run */
    unsigned backoff_level; /* consecutive rate-limit cooldowns, for the exponential backoff */
    unsigned transient_run; /* consecutive transient failures */
    unsigned inflight;
    bool probing;           /* a half-open probe is in flight */
    bool auth_retried;      /* credentials were re-read after an auth failure */
    uint64_t last_used_seq; /* LRU order */
    uint64_t ok_total, err_total;
    bool removed; /* deleted by the admin: a DISABLED tombstone that keeps its slot and name,
                     because turns may still hold a pointer to it (see pool_remove_account) */
} pool_account;

typedef struct pool_options {
    int64_t rate_limit_base_ms; /* first cooldown after a 429 */
    int64_t rate_limit_cap_ms;  /* backoff ceiling */
    int64_t quota_cooldown_ms;  /* cooldown when the quota is exhausted (bounded wait for reset) */
    int64_t transient_cooldown_ms;
    unsigned transient_threshold;      /* consecutive transient failures before a cooldown */
    unsigned max_inflight_per_account; /* 0 = unlimited */
} pool_options;

typedef struct pool {
    pool_account *accounts;
    size_t n;
    pool_options opt;
    uint64_t use_seq;
    char *accounts_file; /* where credentials are re-read from */
    size_t cap;          /* slots in accounts; it never moves once serving (pool_reserve) */
} pool;

void pool_options_defaults(pool_options *o);
/* Takes ownership of the list's accounts (the list is emptied). */
void pool_init(pool *p, lingma_account_list *accounts, const pool_options *opt,
               const char *accounts_file);
void pool_free(pool *p);

/* Moves an account to a state, with a reason and (for COOLING) an end time. Logs the move. */
void pool_transition(pool *p, pool_account *a, account_state to, const char *reason,
                     int64_t cool_until_ms);

/* Picks an account for a turn: `preferred` (by name) if it is usable, else the usable account
 * with the fewest in-flight turns, then least recently used. Accounts in `exclude` (names,
 * n_exclude) are skipped (already tried this turn). A cooling account whose time has come is
 * usable for one half-open probe. Returns NULL when none is usable. */
pool_account *pool_pick(pool *p, const char *preferred, const char *const *exclude,
                        size_t n_exclude);
/* Returns true when this attempt is the account's half-open probe: pass it back to release. */
bool pool_acquire(pool *p, pool_account *a);
/* Reports a finished attempt and releases its in-flight slot. cls = CONV_ERR_NONE on success. */
void pool_release(pool *p, pool_account *a, bool probe, conv_error_class cls);
/* After an auth failure: re-reads this account's credentials from the accounts file once.
 * Returns true if fresh credentials were loaded and the same account should be retried. */
bool pool_reload_after_auth_failure(pool *p, pool_account *a);
/* Earliest time (wall ms) at which some account may be usable again; 0 if none ever will. */
int64_t pool_next_ready_ms(const pool *p);
bool pool_any_usable(const pool *p);
pool_account *pool_find(pool *p, const char *name);
/* Admin: back to ready now. */
void pool_reset(pool *p, pool_account *a);

/* ---- Adding and removing accounts at run time (admin API, reload, durable state).
 * Turns hold pool_account pointers (and tried-account names) across callbacks, so the array
 * never moves once the gateway serves: pool_reserve sizes it at start-up, and a removed account
 * stays as a tombstone whose slot is reused only by an account of the same name. */

/* Grows the slots to at least cap. Only before serving: it may move the array. */
void pool_reserve(pool *p, size_t cap);
/* Adds an account (takes ownership of *cred, which is emptied, also on failure). An account of
 * the same name gets the new credentials in place (and leaves needs_login / disabled); a
 * tombstone of that name comes back. Returns the account, or NULL when every slot is used
 * (err says so). *replaced (may be NULL): an account of that name was live. */
pool_account *pool_add_account(pool *p, lingma_account *cred, bool *replaced, char *err,
                               size_t err_cap);
/* Disables the account and makes it a tombstone (no longer found, listed or picked). */
void pool_remove_account(pool *p, pool_account *a);

typedef struct pool_reload_result {
    unsigned added, updated, removed, unchanged;
} pool_reload_result;
/* Makes the pool match `fresh` (the accounts file and cache directory, read again; takes
 * ownership of its accounts): new names are added, changed credentials replaced, names no longer
 * present removed. Returns 0, or -1 if some account did not fit (err; the rest is applied). */
int pool_reload(pool *p, lingma_account_list *fresh, pool_reload_result *res, char *err,
                size_t err_cap);

/* What durable state keeps of an account between runs. */
typedef struct pool_saved_state {
    account_state state;
    const char *reason;
    int64_t since_ms, cool_until_ms;
    unsigned backoff_level;
    uint64_t ok_total, err_total;
} pool_saved_state;
/* Restores a saved state at start-up (not a transition: the account was already in it). */
void pool_restore(pool *p, pool_account *a, const pool_saved_state *s);
#endif
