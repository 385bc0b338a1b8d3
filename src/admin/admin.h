/* The operator surfaces: /metrics (Prometheus) and /internal/… (admin JSON). They read and
 * steer the app's services through this context; auth gating happens here too. */
#ifndef LGW_ADMIN_ADMIN_H
#define LGW_ADMIN_ADMIN_H
#include "core/auth.h"
#include "core/inflight.h"
#include "core/pool.h"
#include "core/session_cache.h"
#include "core/state_store.h"
#include "core/stats.h"
#include "net/http_server.h"
#include "upstream/catalog.h"
#include "util/config.h"

typedef struct admin_ctx {
    const config *cfg;
    const auth *auth;
    pool *pool;
    session_cache *sessions;
    inflight *inflight;
    stats *stats;
    catalog *catalog;
    http_server *server;
    state_store *state;                 /* NULL: durable state disabled */
    void (*accounts_changed)(void *ud); /* accounts were added at run time (may be NULL) */
    void *app_ud;
    int64_t started_ms;
    struct admin_logins *logins; /* pending browser logins, created on first use */
} admin_ctx;

/* Releases what the admin API created (pending logins). */
void admin_free(admin_ctx *a);

/* GET /metrics */
void admin_metrics(admin_ctx *a, http_exchange *ex, const http_request *req);
/* /internal/<sub>: the admin JSON API */
void admin_internal(admin_ctx *a, http_exchange *ex, const http_request *req, const char *sub,
                    size_t sub_len);
/* 401 / 503 for a failed gate (disabled_code: "metrics_disabled", "admin_disabled" or ""). */
void admin_send_auth_failure(http_exchange *ex, int anthropic, auth_result r,
                             const char *disabled_code);
#endif
