#include "admin/admin.h"
#include "core/app.h"
#include <stdio.h>

/* Gauges that mirror live state are refreshed at scrape time, not on every change. */
static void refresh_gauges(admin_ctx *a) {
    stats *s = a->stats;
    stats_set(s, STAT_connections, "", http_server_connection_count(a->server));
    stats_set(s, STAT_inflight, "", (double)inflight_turns(a->inflight));
    stats_set(s, STAT_sessions, "", (double)session_cache_size(a->sessions));
    stats_clear(s, STAT_account_state);
    for (size_t i = 0; i < a->pool->n; i++) {
        pool_account *acc = &a->pool->accounts[i];
        if (acc->removed) continue;
        stats_set(s, STAT_account_inflight, acc->cred.name, acc->inflight);
        for (int st = ACCOUNT_READY; st <= ACCOUNT_DISABLED; st++) {
            char labels[128];
            snprintf(labels, sizeof labels, "%s\x1f%s", acc->cred.name,
                     account_state_name((account_state)st));
            stats_set(s, STAT_account_state, labels, acc->state == (account_state)st ? 1 : 0);
        }
    }
}

void admin_metrics(admin_ctx *a, http_exchange *ex, const http_request *req) {
    auth_result r = auth_check_metrics(a->auth, http_request_header(req, "authorization"));
    if (r != AUTH_OK) {
        admin_send_auth_failure(ex, 0, r, "metrics_disabled");
        return;
    }
    refresh_gauges(a);
    buf b = BUF_INIT;
    stats_render(a->stats, &b);
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
    buf_free(&b);
}
