/* /internal/…: the admin JSON API. Gate: ADMIN_TOKEN if set, else any API key, else 503.
 *
 *   GET    pool                     accounts: state, reason, cooldown end, in-flight, totals
 *   POST   pool/{name}/reset        back to ready
 *   POST   pool/reload              re-read the accounts file and the cache directory
 *   POST   accounts                 add (credentials | oauth_token | cache_dir)
 *   DELETE accounts/{name}          remove (also from the accounts file)
 *   POST   login/start              browser login URL (state, PKCE challenge, machine id, nonce)
 *   POST   login/callback           {"callback_url":…}: decode, mint, add the account
 *   GET    sessions                 counts and the most recent affinity entries
 *   GET    sessions/export          affinity entries as JSON lines (no conversation content)
 *   POST   sessions/import          JSON lines as exported
 *   GET    stats                    JSON summary of the counters and live gauges
 *   GET    config                   effective configuration, secrets redacted */
#include "admin/handlers.h"
#include "core/app.h"
#include "front/codec_util.h"
#include "util/clock.h"
#include "util/json_write.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_send_auth_failure(http_exchange *ex, int anthropic, auth_result r,
                             const char *disabled_code) {
    route_family family = anthropic ? FAMILY_ANTHROPIC : FAMILY_OPENAI;
    if (r == AUTH_DISABLED) {
        bool metrics = strcmp(disabled_code, "metrics_disabled") == 0;
        app_send_error(
            ex, family, 503,
            metrics ? "Metrics are disabled: configure METRICS_TOKEN, METRICS_PUBLIC or API_KEYS."
                    : "The admin API is disabled: configure ADMIN_TOKEN or API_KEYS.",
            NULL, disabled_code, NULL);
        return;
    }
    const char *msg =
        r == AUTH_MISSING
            ? (anthropic ? "x-api-key header is required"
                         : "You didn't provide an API key. You need to provide your API "
                           "key in an Authorization header using Bearer auth (i.e. "
                           "Authorization: Bearer YOUR_KEY).")
            : (anthropic ? "invalid x-api-key" : "Incorrect API key provided.");
    app_send_error(ex, family, 401, msg, NULL, "invalid_api_key",
                   anthropic ? NULL : "WWW-Authenticate: Bearer\r\n");
}

/* ---------------------------------------------------------------- helpers */

void admin_respond_json(http_exchange *ex, int status, const buf *b) {
    http_respond(ex, status, "application/json", b->data, b->len, NULL);
}

void admin_error(http_exchange *ex, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    app_send_error(ex, FAMILY_OPENAI, status, msg, NULL, code, NULL);
}

json_object *admin_parse_object(http_exchange *ex, const http_request *req) {
    const char *why = "empty body";
    json_object *o = req->body_len ? codec_parse_json(req->body, req->body_len, &why) : NULL;
    if (o && json_object_is_type(o, json_type_object)) return o;
    json_object_put(o);
    admin_error(ex, 400, "invalid_request", "The body must be a JSON object (%s).",
                o ? "got another JSON value" : why);
    return NULL;
}

const char *admin_json_str(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void admin_account_json(buf *b, const pool_account *acc) {
    int64_t now = clock_wall_ms();
    buf_puts(b, "{\"name\":");
    json_put_str(b, acc->cred.name);
    buf_printf(b, ",\"state\":\"%s\",\"reason\":", account_state_name(acc->state));
    json_put_str(b, acc->reason);
    buf_printf(b,
               ",\"since_ms\":%lld,\"cooldown_until_ms\":%lld,\"cooldown_remaining_ms\":%lld,"
               "\"inflight\":%u,\"ok_total\":%llu,\"error_total\":%llu,\"expire_time_ms\":%lld,"
               "\"minted\":%s}",
               (long long)acc->since_ms, (long long)acc->cool_until_ms,
               (long long)(acc->cool_until_ms > now ? acc->cool_until_ms - now : 0), acc->inflight,
               (unsigned long long)acc->ok_total, (unsigned long long)acc->err_total,
               (long long)acc->cred.expire_time_ms, acc->cred.minted ? "true" : "false");
}

static void pool_json(admin_ctx *a, buf *b) {
    buf_puts(b, "{\"accounts\":[");
    bool first = true;
    for (size_t i = 0; i < a->pool->n; i++) {
        if (a->pool->accounts[i].removed) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        admin_account_json(b, &a->pool->accounts[i]);
    }
    buf_puts(b, "]}");
}

/* ---------------------------------------------------------------- pool, stats */

static void pool_get(admin_ctx *a, http_exchange *ex) {
    buf b = BUF_INIT;
    pool_json(a, &b);
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
}

static void pool_reset_one(admin_ctx *a, http_exchange *ex, const char *name) {
    pool_account *acc = pool_find(a->pool, name);
    if (!acc) {
        admin_error(ex, 404, "account_not_found", "No such account.");
        return;
    }
    pool_reset(a->pool, acc);
    pool_get(a, ex);
}

typedef struct stats_walk {
    buf *b;
    const char *metric; /* the metric whose object is open */
    double total;
} stats_walk;

static void close_metric(stats_walk *w) {
    if (!w->metric) return;
    buf_puts(w->b, "],\"total\":");
    json_put_double(w->b, w->total);
    buf_putc(w->b, '}');
}

/* "metric":{"series":[{"labels":"v1,v2","value":N},…],"total":N} per counter. */
static void visit_counter(const char *metric, const char *labels, double value, void *ud) {
    stats_walk *w = ud;
    if (w->metric && strcmp(w->metric, metric) == 0) {
        buf_putc(w->b, ',');
    } else { /* the visit goes metric by metric */
        if (w->metric) {
            close_metric(w);
            buf_putc(w->b, ',');
        }
        json_put_key(w->b, metric);
        buf_puts(w->b, "{\"series\":[");
        w->metric = metric;
        w->total = 0;
    }
    buf_puts(w->b, "{\"labels\":\"");
    for (const char *p = labels; *p; p++) {
        if (*p == '\x1f')
            buf_putc(w->b, ',');
        else
            json_put_escaped(w->b, p, 1);
    }
    buf_puts(w->b, "\",\"value\":");
    json_put_double(w->b, value);
    buf_putc(w->b, '}');
    w->total += value;
}

static void stats_summary(admin_ctx *a, http_exchange *ex) {
    buf b = BUF_INIT;
    unsigned by_state[ACCOUNT_DISABLED + 1] = {0}, n_accounts = 0;
    for (size_t i = 0; i < a->pool->n; i++)
        if (!a->pool->accounts[i].removed) by_state[a->pool->accounts[i].state]++, n_accounts++;
    buf_printf(&b,
               "{\"version\":\"" LGW_VERSION "\",\"uptime_s\":%lld,\"connections\":%u,"
               "\"inflight_turns\":%zu,\"sessions\":%zu,\"accounts\":{\"total\":%u",
               (long long)((clock_wall_ms() - a->started_ms) / 1000),
               http_server_connection_count(a->server), inflight_turns(a->inflight),
               session_cache_size(a->sessions), n_accounts);
    for (int st = ACCOUNT_READY; st <= ACCOUNT_DISABLED; st++)
        buf_printf(&b, ",\"%s\":%u", account_state_name((account_state)st), by_state[st]);
    buf_puts(&b, "},\"counters\":{");
    stats_walk w = {&b, NULL, 0};
    stats_visit_counters(a->stats, visit_counter, &w);
    close_metric(&w);
    buf_puts(&b, "},\"state_store\":");
    if (a->state)
        state_store_info_json(a->state, &b);
    else
        buf_puts(&b, "null");
    buf_putc(&b, '}');
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
}

/* ---------------------------------------------------------------- dispatch */

/* sub split at '/' into at most 4 segments; true when it has exactly n and they match the
 * pattern (a "*" segment matches any non-empty one and is copied to *param). */
static bool match(const char *sub, const char *pattern, const char **param, size_t *param_len) {
    const char *s = sub, *p = pattern;
    for (;;) {
        size_t sl = strcspn(s, "/"), pl = strcspn(p, "/");
        if (pl == 1 && *p == '*') {
            if (sl == 0) return false;
            *param = s;
            *param_len = sl;
        } else if (sl != pl || memcmp(s, p, sl) != 0) {
            return false;
        }
        s += sl;
        p += pl;
        if (!*s || !*p) return !*s && !*p;
        s++, p++;
    }
}

typedef enum {
    EP_CONFIG,
    EP_POOL,
    EP_POOL_RESET,
    EP_POOL_RELOAD,
    EP_ACCOUNTS,
    EP_ACCOUNT,
    EP_LOGIN_START,
    EP_LOGIN_CALLBACK,
    EP_SESSIONS,
    EP_SESSIONS_EXPORT,
    EP_SESSIONS_IMPORT,
    EP_STATS
} endpoint;

static const struct {
    const char *pattern, *method;
    endpoint ep;
} ENDPOINTS[] = {
    {"config", "GET", EP_CONFIG},
    {"pool", "GET", EP_POOL},
    {"pool/reload", "POST", EP_POOL_RELOAD},
    {"pool/*/reset", "POST", EP_POOL_RESET},
    {"accounts", "POST", EP_ACCOUNTS},
    {"accounts/*", "DELETE", EP_ACCOUNT},
    {"login/start", "POST", EP_LOGIN_START},
    {"login/callback", "POST", EP_LOGIN_CALLBACK},
    {"sessions", "GET", EP_SESSIONS},
    {"sessions/export", "GET", EP_SESSIONS_EXPORT},
    {"sessions/import", "POST", EP_SESSIONS_IMPORT},
    {"stats", "GET", EP_STATS},
};
#define N_ENDPOINTS (sizeof ENDPOINTS / sizeof ENDPOINTS[0])

void admin_internal(admin_ctx *a, http_exchange *ex, const http_request *req, const char *subp,
                    size_t sub_len) {
    auth_result r = auth_check_admin(a->auth, http_request_header(req, "authorization"),
                                     http_request_header(req, "x-api-key"));
    if (r != AUTH_OK) {
        admin_send_auth_failure(ex, 0, r, "admin_disabled");
        return;
    }
    char sub[256], param[CREDENTIALS_NAME_MAX + 1] = "";
    snprintf(sub, sizeof sub, "%.*s", (int)(sub_len < sizeof sub - 1 ? sub_len : sizeof sub - 1),
             subp);
    const char *allow = NULL;
    size_t i;
    for (i = 0; i < N_ENDPOINTS; i++) {
        const char *pp = NULL;
        size_t pl = 0;
        if (!match(sub, ENDPOINTS[i].pattern, &pp, &pl)) continue;
        if (strcmp(req->method, ENDPOINTS[i].method) != 0) {
            allow = ENDPOINTS[i].method;
            continue;
        }
        if (pp && pl < sizeof param) snprintf(param, sizeof param, "%.*s", (int)pl, pp);
        break;
    }
    if (i == N_ENDPOINTS) {
        if (allow) {
            char hdr[64];
            snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
            app_send_error(ex, FAMILY_OPENAI, 405, "Method not allowed.", NULL, NULL, hdr);
        } else {
            char msg[300];
            snprintf(msg, sizeof msg, "Invalid URL (%s %.200s)", req->method, req->path);
            app_send_error(ex, FAMILY_OPENAI, 404, msg, NULL, NULL, NULL);
        }
        return;
    }
    switch (ENDPOINTS[i].ep) {
    case EP_CONFIG: {
        char *json = config_to_json(a->cfg);
        http_respond(ex, 200, "application/json", json, strlen(json), NULL);
        free(json);
        return;
    }
    case EP_POOL: pool_get(a, ex); return;
    case EP_POOL_RESET: pool_reset_one(a, ex, param); return;
    case EP_POOL_RELOAD: admin_pool_reload(a, ex); return;
    case EP_ACCOUNTS: admin_accounts_post(a, ex, req); return;
    case EP_ACCOUNT: admin_accounts_delete(a, ex, param); return;
    case EP_LOGIN_START: admin_login_start(a, ex, req); return;
    case EP_LOGIN_CALLBACK: admin_login_callback(a, ex, req); return;
    case EP_SESSIONS: admin_sessions_summary(a, ex, req); return;
    case EP_SESSIONS_EXPORT: admin_sessions_export(a, ex); return;
    case EP_SESSIONS_IMPORT: admin_sessions_import(a, ex, req); return;
    case EP_STATS: stats_summary(a, ex); return;
    }
}

void admin_free(admin_ctx *a) {
    admin_login_free(a->logins);
    a->logins = NULL;
}
