#include "core/app.h"
#include "front/errors.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

struct app {
    uv_loop_t *loop;
    config cfg;
    auth auth;
    http_server *server;
    uv_signal_t sig_term, sig_int;
    bool stopping;
    uint64_t started_ns;
};

void app_send_error(http_exchange *ex, route_family family, int status, const char *message,
                    const char *param, const char *code, const char *extra_headers) {
    const http_request *req = http_exchange_request(ex);
    buf b = BUF_INIT;
    if (family == FAMILY_ANTHROPIC)
        errors_anthropic_json(&b, errors_anthropic_type_for_status(status), message, req->request_id);
    else
        errors_openai_json(&b, message, errors_openai_type_for_status(status), param, code);
    http_respond(ex, status, "application/json", b.data, b.len, extra_headers);
    buf_free(&b);
}

/* Server-side rejections (400, 408, 413, 431) in the protocol of the path. */
static void render_server_error(int status, const char *path, const char *request_id, char **out,
                                size_t *out_len, void *ud) {
    (void)ud;
    const char *msg;
    switch (status) {
    case 400: msg = "Malformed HTTP request."; break;
    case 408: msg = "Request timed out before it was fully received."; break;
    case 413: msg = "Request body is too large."; break;
    case 431: msg = "Request headers are too large."; break;
    default: msg = http_status_text(status);
    }
    buf b = BUF_INIT;
    if (path && router_family(path) == FAMILY_ANTHROPIC)
        errors_anthropic_json(&b, errors_anthropic_type_for_status(status), msg, request_id);
    else
        errors_openai_json(&b, msg, status == 413 ? "invalid_request_error"
                                                  : errors_openai_type_for_status(status),
                           NULL, status == 413 ? "request_too_large" : NULL);
    *out = buf_detach(&b, out_len);
}

static void respond_json(http_exchange *ex, int status, const char *json) {
    http_respond(ex, status, "application/json", json, strlen(json), NULL);
}

static void send_auth_failure(http_exchange *ex, route_family family, auth_result r,
                              const char *disabled_code) {
    if (r == AUTH_DISABLED) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: configure %s or API_KEYS.",
                 strcmp(disabled_code, "metrics_disabled") == 0 ? "Metrics are disabled"
                                                                : "The admin API is disabled",
                 strcmp(disabled_code, "metrics_disabled") == 0 ? "METRICS_TOKEN, METRICS_PUBLIC"
                                                                : "ADMIN_TOKEN");
        app_send_error(ex, family, 503, msg, NULL, disabled_code, NULL);
        return;
    }
    const char *msg = r == AUTH_MISSING
                          ? (family == FAMILY_ANTHROPIC
                                 ? "x-api-key header is required"
                                 : "You didn't provide an API key. You need to provide your API "
                                   "key in an Authorization header using Bearer auth (i.e. "
                                   "Authorization: Bearer YOUR_KEY).")
                          : (family == FAMILY_ANTHROPIC ? "invalid x-api-key"
                                                        : "Incorrect API key provided.");
    app_send_error(ex, family, 401, msg, NULL, "invalid_api_key",
                   family == FAMILY_OPENAI ? "WWW-Authenticate: Bearer\r\n" : NULL);
}

static void handle_metrics(app *a, http_exchange *ex, const http_request *req) {
    auth_result r = auth_check_metrics(&a->auth, http_request_header(req, "authorization"));
    if (r != AUTH_OK) {
        send_auth_failure(ex, FAMILY_OPENAI, r, "metrics_disabled");
        return;
    }
    buf b = BUF_INIT;
    buf_puts(&b, "# HELP lingma_gateway_build_info Build information.\n"
                 "# TYPE lingma_gateway_build_info gauge\n"
                 "lingma_gateway_build_info{version=\"" LGW_VERSION "\"} 1\n"
                 "# HELP lingma_gateway_uptime_seconds Seconds since the process started.\n"
                 "# TYPE lingma_gateway_uptime_seconds gauge\n");
    buf_printf(&b, "lingma_gateway_uptime_seconds %.3f\n",
               (double)(clock_mono_ns() - a->started_ns) / 1e9);
    buf_puts(&b, "# HELP lingma_gateway_connections Open client connections.\n"
                 "# TYPE lingma_gateway_connections gauge\n");
    buf_printf(&b, "lingma_gateway_connections %u\n", http_server_connection_count(a->server));
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
    buf_free(&b);
}

static void handle_internal(app *a, http_exchange *ex, const http_request *req,
                            const route_match *m) {
    auth_result r = auth_check_admin(&a->auth, http_request_header(req, "authorization"),
                                     http_request_header(req, "x-api-key"));
    if (r != AUTH_OK) {
        send_auth_failure(ex, FAMILY_OPENAI, r, "admin_disabled");
        return;
    }
    if (m->param_len == 6 && strncmp(m->param, "config", 6) == 0 && strcmp(req->method, "GET") == 0) {
        char *json = config_to_json(&a->cfg);
        respond_json(ex, 200, json);
        free(json);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "Invalid URL (%s %.200s)", req->method, req->path);
    app_send_error(ex, FAMILY_OPENAI, 404, msg, NULL, NULL, NULL);
}

static void handle_request(http_exchange *ex, const http_request *req, void *ud) {
    app *a = ud;
    route_match m = router_match(req->method, req->path);
    switch (m.id) {
    case ROUTE_HEALTH: respond_json(ex, 200, "{\"status\":\"ok\"}"); return;
    case ROUTE_READYZ: respond_json(ex, 200, "{\"status\":\"ready\"}"); return;
    case ROUTE_METRICS: handle_metrics(a, ex, req); return;
    case ROUTE_INTERNAL: handle_internal(a, ex, req, &m); return;
    case ROUTE_METHOD_NOT_ALLOWED: {
        char allow[64], msg[300];
        snprintf(allow, sizeof allow, "Allow: %s\r\n", m.allow);
        snprintf(msg, sizeof msg, "Method %s is not allowed on %.200s.", req->method, req->path);
        app_send_error(ex, m.family, 405, msg, NULL, NULL, allow);
        return;
    }
    case ROUTE_NOT_FOUND: {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid URL (%s %.200s)", req->method, req->path);
        app_send_error(ex, m.family, 404, msg, NULL, NULL, NULL);
        return;
    }
    default: break;
    }
    char key_id[9];
    auth_result r = auth_check_client(&a->auth,
                                      m.family == FAMILY_ANTHROPIC ? AUTH_STYLE_ANTHROPIC
                                                                   : AUTH_STYLE_OPENAI,
                                      http_request_header(req, "x-api-key"),
                                      http_request_header(req, "authorization"), key_id, NULL);
    if (r != AUTH_OK) {
        send_auth_failure(ex, m.family, r, "");
        return;
    }
    http_exchange_log_key_id(ex, key_id);
    app_send_error(ex, m.family, 503, "No Lingma upstream is configured yet.", NULL, NULL, NULL);
}

static void on_server_closed(void *ud) {
    app *a = ud;
    a->server = NULL;
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    log_info("stopped", NULL);
}

void app_stop(app *a) {
    if (a->stopping) return;
    a->stopping = true;
    log_info("shutting down", "\"drain_timeout_ms\":%llu", (unsigned long long)a->cfg.drain_timeout_ms);
    http_server_shutdown(a->server, a->cfg.drain_timeout_ms, on_server_closed, a);
}

static void on_signal(uv_signal_t *s, int signum) {
    (void)signum;
    app_stop(s->data);
}

int app_start(app **out, uv_loop_t *loop, config *cfg) {
    app *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg); /* ownership moved */
    a->started_ns = clock_mono_ns();
    auth_init(&a->auth, a->cfg.api_keys, a->cfg.metrics_token, a->cfg.metrics_public,
              a->cfg.admin_token);

    http_server_config sc;
    http_server_config_defaults(&sc);
    sc.host = a->cfg.listen_host;
    sc.port = a->cfg.listen_port;
    sc.max_header_bytes = a->cfg.max_header_bytes;
    sc.max_body_bytes = a->cfg.max_body_bytes;
    sc.max_connections = (unsigned)a->cfg.max_connections;
    sc.header_timeout_ms = a->cfg.header_timeout_ms;
    sc.body_timeout_ms = a->cfg.body_timeout_ms;
    sc.idle_timeout_ms = a->cfg.idle_timeout_ms;
    sc.write_timeout_ms = a->cfg.write_timeout_ms;
    sc.output_high_water = a->cfg.output_high_water;
    sc.access_log = a->cfg.access_log;
    sc.handler = handle_request;
    sc.render_error = render_server_error;
    sc.ud = a;
    int rc = http_server_start(&a->server, loop, &sc);
    if (rc < 0) {
        log_error("cannot listen", "\"listen\":\"%s\",\"error\":\"%s\"", a->cfg.listen, uv_strerror(rc));
        auth_free(&a->auth);
        config_free(&a->cfg);
        free(a);
        return -1;
    }
    uv_signal_init(loop, &a->sig_term);
    uv_signal_init(loop, &a->sig_int);
    a->sig_term.data = a->sig_int.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);

    char host[64];
    int port;
    http_server_address(a->server, host, sizeof host, &port);
    if (!auth_enabled(&a->auth))
        log_warn("AUTH DISABLED: API_KEYS is empty, anyone who can reach this port can use the "
                 "upstream accounts",
                 NULL);
    log_info("started", "\"version\":\"" LGW_VERSION "\",\"listen\":\"%s:%d\",\"api_keys\":%zu,"
             "\"metrics\":\"%s\",\"admin\":\"%s\"",
             host, port, a->auth.n_keys,
             a->auth.metrics_public ? "public"
             : a->auth.has_metrics_token || auth_enabled(&a->auth) ? "token"
                                                                   : "disabled",
             a->auth.has_admin_token ? "admin_token"
             : auth_enabled(&a->auth) ? "api_keys"
                                      : "disabled");
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    *out = a;
    return 0;
}
