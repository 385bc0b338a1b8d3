#include "admin/admin.h"
#include "core/app.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json_write.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_send_auth_failure(http_exchange *ex, int anthropic, auth_result r, const char *disabled_code) {
    route_family family = anthropic ? FAMILY_ANTHROPIC : FAMILY_OPENAI;
    if (r == AUTH_DISABLED) {
        bool metrics = strcmp(disabled_code, "metrics_disabled") == 0;
        app_send_error(ex, family, 503,
                       metrics ? "Metrics are disabled: configure METRICS_TOKEN, METRICS_PUBLIC or API_KEYS."
                               : "The admin API is disabled: configure ADMIN_TOKEN or API_KEYS.",
                       NULL, disabled_code, NULL);
        return;
    }
    const char *msg = r == AUTH_MISSING
                          ? (anthropic ? "x-api-key header is required"
                                       : "You didn't provide an API key. You need to provide your API "
                                         "key in an Authorization header using Bearer auth (i.e. "
                                         "Authorization: Bearer YOUR_KEY).")
                          : (anthropic ? "invalid x-api-key" : "Incorrect API key provided.");
    app_send_error(ex, family, 401, msg, NULL, "invalid_api_key",
                   anthropic ? NULL : "WWW-Authenticate: Bearer\r\n");
}

static void respond_json(http_exchange *ex, int status, const buf *b) {
    http_respond(ex, status, "application/json", b->data, b->len, NULL);
}

static void pool_json(admin_ctx *a, buf *b) {
    int64_t now = clock_wall_ms();
    buf_puts(b, "{\"accounts\":[");
    for (size_t i = 0; i < a->pool->n; i++) {
        pool_account *acc = &a->pool->accounts[i];
        if (i) buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        json_put_str(b, acc->cred.name);
        buf_printf(b, ",\"state\":\"%s\",\"reason\":", account_state_name(acc->state));
        json_put_str(b, acc->reason);
        buf_printf(b,
                   ",\"since_ms\":%lld,\"cooldown_until_ms\":%lld,\"cooldown_remaining_ms\":%lld,"
                   "\"inflight\":%u,\"ok_total\":%llu,\"error_total\":%llu,\"expire_time_ms\":%lld}",
                   (long long)acc->since_ms, (long long)acc->cool_until_ms,
                   (long long)(acc->cool_until_ms > now ? acc->cool_until_ms - now : 0), acc->inflight,
                   (unsigned long long)acc->ok_total, (unsigned long long)acc->err_total,
                   (long long)acc->cred.expire_time_ms);
    }
    buf_puts(b, "]}");
}

void admin_internal(admin_ctx *a, http_exchange *ex, const http_request *req, const char *subp,
                    size_t sub_len) {
    auth_result r = auth_check_admin(a->auth, http_request_header(req, "authorization"),
                                     http_request_header(req, "x-api-key"));
    if (r != AUTH_OK) {
        admin_send_auth_failure(ex, 0, r, "admin_disabled");
        return;
    }
    char sub[160];
    snprintf(sub, sizeof sub, "%.*s", (int)(sub_len < 159 ? sub_len : 159), subp);
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    buf b = BUF_INIT;
    if (get && strcmp(sub, "config") == 0) {
        char *json = config_to_json(a->cfg);
        http_respond(ex, 200, "application/json", json, strlen(json), NULL);
        free(json);
    } else if (get && strcmp(sub, "pool") == 0) {
        pool_json(a, &b);
        respond_json(ex, 200, &b);
    } else if (post && strncmp(sub, "pool/", 5) == 0 && strlen(sub) > 11 &&
               strcmp(sub + strlen(sub) - 6, "/reset") == 0) {
        sub[strlen(sub) - 6] = '\0';
        pool_account *acc = pool_find(a->pool, sub + 5);
        if (!acc) {
            app_send_error(ex, FAMILY_OPENAI, 404, "No such account.", NULL, "account_not_found", NULL);
        } else {
            pool_reset(a->pool, acc);
            pool_json(a, &b);
            respond_json(ex, 200, &b);
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid URL (%s %.200s)", req->method, req->path);
        app_send_error(ex, FAMILY_OPENAI, 404, msg, NULL, NULL, NULL);
    }
    buf_free(&b);
}
