/* The gateway process. Architecture, in one place:
 *
 *   net/http_server ──▶ app (route, auth) ──▶ front codecs decode ──▶ core/turn
 *                                                                     │
 *          pool (accounts) · session_cache (affinity) · inflight ◀────┤
 *                                                                     ▼
 *                         upstream/lingma_remote (sign, HTTP/1.1 client, SSE decode)
 *
 * Everything runs on one libuv loop thread; no locks. */
#include "core/app.h"
#include "admin/admin.h"
#include "core/inflight.h"
#include "core/pool.h"
#include "core/session_cache.h"
#include "core/state_store.h"
#include "core/stats.h"
#include "core/turn.h"
#include "front/anthropic_codec.h"
#include "front/errors.h"
#include "front/openai_codec.h"
#include "upstream/catalog.h"
#include "upstream/lingma_remote.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/heap_trim.h"
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
    uv_timer_t catalog_timer;
    uv_timer_t trim_timer;
    bool stopping;
    bool catalog_fetching;
    uint64_t started_ns;
    pool pool;
    catalog catalog;
    lingma_remote *remote;
    session_cache *sessions;
    inflight *inflight;
    stats *stats;
    state_store *state; /* NULL when STATE_DB is empty */
    token_calibration calibration;
    turn_services svc;
    admin_ctx admin;
};

void app_send_error(http_exchange *ex, route_family family, int status, const char *message,
                    const char *param, const char *code, const char *extra_headers) {
    const http_request *req = http_exchange_request(ex);
    buf b = BUF_INIT;
    if (family == FAMILY_ANTHROPIC)
        errors_anthropic_json(&b, errors_anthropic_type_for_status(status), message,
                              req->request_id);
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
        errors_openai_json(&b, msg, "invalid_request_error", NULL,
                           status == 413 ? "request_too_large" : NULL);
    *out = buf_detach(&b, out_len);
}

static void respond_json(http_exchange *ex, int status, const char *json, size_t len) {
    http_respond(ex, status, "application/json", json, len, NULL);
}

/* ---------------------------------------------------------------- catalog */

static void schedule_catalog(app *a, uint64_t ms);

static void on_models(int status, const char *body, size_t len, void *ud) {
    app *a = ud;
    a->catalog_fetching = false;
    if (a->stopping) return;
    if (status == 200 && catalog_parse(&a->catalog, body, len) == 0) {
        log_info("model catalog loaded", "\"models\":%zu", a->catalog.n);
        schedule_catalog(a, a->cfg.model_list_ttl_ms);
    } else {
        log_warn("model catalog fetch failed", "\"status\":%d", status);
        schedule_catalog(a, 5000); /* retry soon; requests still work with trusted keys */
    }
}

static void on_catalog_timer(uv_timer_t *t) {
    app *a = t->data;
    if (a->catalog_fetching || a->stopping) return;
    pool_account *acct = pool_pick(&a->pool, NULL, NULL, 0);
    if (!acct) {
        schedule_catalog(a, 5000);
        return;
    }
    a->catalog_fetching = true;
    if (lingma_models_fetch(a->remote, &acct->cred, on_models, a) != 0) {
        a->catalog_fetching = false;
        schedule_catalog(a, 5000);
    }
}

static void schedule_catalog(app *a, uint64_t ms) {
    uv_timer_start(&a->catalog_timer, on_catalog_timer, ms ? ms : 1, 0);
}

/* ---------------------------------------------------------------- routes */

static void models_list(app *a, codec_model_info **out, size_t *n) {
    size_t cap = a->catalog.n + catalog_n_aliases + 1;
    codec_model_info *m = xcalloc(cap, sizeof *m);
    size_t k = 0;
    int64_t created = a->catalog.fetched_ms ? a->catalog.fetched_ms / 1000 : 1735689600;
    for (size_t i = 0; i < a->catalog.n; i++)
        m[k++] = (codec_model_info){a->catalog.models[i].key, a->catalog.models[i].display_name,
                                    created, "lingma"};
    for (size_t i = 0; i < catalog_n_aliases; i++) {
        bool known = a->catalog.n == 0 || catalog_find(&a->catalog, catalog_aliases[i].key);
        if (known) m[k++] = (codec_model_info){catalog_aliases[i].alias, NULL, created, "lingma"};
    }
    *out = m;
    *n = k;
}

static void handle_models(app *a, http_exchange *ex, const http_request *req,
                          const route_match *m) {
    /* Anthropic clients send anthropic-version (SDKs) or x-api-key: answer in their shape. */
    bool anthropic =
        http_request_header(req, "anthropic-version") || http_request_header(req, "x-api-key");
    codec_model_info *list;
    size_t n;
    models_list(a, &list, &n);
    buf b = BUF_INIT;
    if (m->id == ROUTE_MODELS) {
        if (anthropic) {
            const char *q = req->query;
            int limit = 0;
            char after[128] = "", before[128] = "";
            const char *p;
            if ((p = strstr(q, "limit="))) limit = atoi(p + 6);
            if ((p = strstr(q, "after_id=")))
                snprintf(after, sizeof after, "%.*s", (int)strcspn(p + 9, "&"), p + 9);
            if ((p = strstr(q, "before_id=")))
                snprintf(before, sizeof before, "%.*s", (int)strcspn(p + 10, "&"), p + 10);
            anthropic_encode_models(&b, list, n, limit, after[0] ? after : NULL,
                                    before[0] ? before : NULL);
        } else {
            openai_encode_models(&b, list, n);
        }
        respond_json(ex, 200, b.data, b.len);
    } else {
        char id[128];
        snprintf(id, sizeof id, "%.*s", (int)(m->param_len < 127 ? m->param_len : 127), m->param);
        const codec_model_info *hit = NULL;
        for (size_t i = 0; i < n && !hit; i++)
            if (strcmp(list[i].id, id) == 0) hit = &list[i];
        if (hit) {
            if (anthropic)
                anthropic_encode_model(&b, hit);
            else
                openai_encode_model(&b, hit);
            respond_json(ex, 200, b.data, b.len);
        } else {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "The model `%s` does not exist or you do not have access to it.", id);
            app_send_error(ex, anthropic ? FAMILY_ANTHROPIC : FAMILY_OPENAI, 404, msg, NULL,
                           "model_not_found", NULL);
        }
    }
    buf_free(&b);
    free(list);
}

static void send_codec_error(http_exchange *ex, route_family family, const codec_error *e) {
    app_send_error(ex, family, e->status ? e->status : 400, e->message,
                   e->param[0] ? e->param : NULL, NULL, NULL);
}

/* Bodies above this are decoded on the thread pool so other streams never wait on them. */
#define OFFLOOP_DECODE_BYTES (1u << 20)

typedef struct decode_job {
    uv_work_t work;
    app *a;
    http_exchange *ex; /* NULL once the client went away */
    route_id route;
    route_family family;
    uint8_t digest[32];
    char *body; /* taken from the exchange: it must outlive a disconnect */
    size_t body_len;
    conv_request cr;
    codec_error err;
    int rc;
} decode_job;

static int decode_body(route_id route, const char *body, size_t len, conv_request *cr,
                       codec_error *err) {
    return route == ROUTE_CHAT_COMPLETIONS
               ? openai_decode_request(body, len, cr, err)
               : anthropic_decode_request(body, len, ANTHROPIC_DECODE_MESSAGES, cr, err);
}

/* A decoded request goes to a turn; a bad one gets a 400 in its protocol's envelope. */
static void start_decoded(app *a, http_exchange *ex, route_family family, int rc, conv_request *cr,
                          const codec_error *err, const uint8_t digest[32]) {
    if (rc != 0) {
        char labels[64];
        snprintf(labels, sizeof labels,
                 "%s\x1f%s\x1f"
                 "4xx",
                 family == FAMILY_OPENAI ? "openai" : "anthropic",
                 family == FAMILY_OPENAI ? "chat_completions" : "messages");
        stats_add(a->stats, STAT_requests, labels, 1);
        send_codec_error(ex, family, err);
        conv_request_free(cr);
        return;
    }
    /* The decoded request holds its own copies: a stream keeps none of the raw request (a
     * Claude Code body is 60 KB and more). */
    http_exchange_release_request(ex);
    turn_start(&a->svc, ex, cr, digest);
}

static void decode_work(uv_work_t *w) {
    decode_job *j = w->data;
    j->rc = decode_body(j->route, j->body, j->body_len, &j->cr, &j->err);
}

static void decode_done(uv_work_t *w, int status) {
    decode_job *j = w->data;
    free(j->body); /* the decoded request holds its own copies */
    if (j->ex && status == 0) {
        start_decoded(j->a, j->ex, j->family, j->rc, &j->cr, &j->err, j->digest);
    } else {
        if (j->ex)
            app_send_error(j->ex, j->family, 500, "Request decoding was cancelled.", NULL, NULL,
                           NULL);
        conv_request_free(&j->cr);
    }
    free(j);
}

static void on_decode_abort(http_exchange *ex, void *ud) {
    (void)ex;
    ((decode_job *)ud)->ex = NULL;
}

static void handle_turn(app *a, http_exchange *ex, const http_request *req, const route_match *m,
                        const uint8_t digest[32]) {
    if (req->body_len > OFFLOOP_DECODE_BYTES) {
        decode_job *j = xcalloc(1, sizeof *j);
        j->work.data = j;
        j->a = a;
        j->ex = ex;
        j->route = m->id;
        j->family = m->family;
        memcpy(j->digest, digest, 32);
        j->body = http_exchange_take_body(ex, &j->body_len);
        http_exchange_set_callbacks(ex, on_decode_abort, NULL, j);
        if (uv_queue_work(a->loop, &j->work, decode_work, decode_done) == 0) return;
        decode_work(&j->work); /* no thread pool: decode here */
        decode_done(&j->work, 0);
        return;
    }
    conv_request cr;
    codec_error err = {0};
    int rc = decode_body(m->id, req->body, req->body_len, &cr, &err);
    start_decoded(a, ex, m->family, rc, &cr, &err, digest);
}

static void handle_count_tokens(app *a, http_exchange *ex, const http_request *req) {
    conv_request cr;
    codec_error err = {0};
    if (anthropic_decode_request(req->body, req->body_len, ANTHROPIC_DECODE_COUNT_TOKENS, &cr,
                                 &err) != 0) {
        send_codec_error(ex, FAMILY_ANTHROPIC, &err);
    } else {
        buf b = BUF_INIT;
        anthropic_encode_count_tokens(
            &b, token_calibration_apply(&a->calibration, anthropic_count_tokens(&cr)));
        respond_json(ex, 200, b.data, b.len);
        buf_free(&b);
    }
    conv_request_free(&cr);
}

static void handle_request(http_exchange *ex, const http_request *req, void *ud) {
    app *a = ud;
    route_match m = router_match(req->method, req->path);
    switch (m.id) {
    case ROUTE_HEALTH: respond_json(ex, 200, "{\"status\":\"ok\"}", 15); return;
    case ROUTE_READYZ:
        if (pool_any_usable(&a->pool))
            respond_json(ex, 200, "{\"status\":\"ready\"}", 18);
        else
            respond_json(ex, 503, "{\"status\":\"no usable upstream account\"}", 39);
        return;
    case ROUTE_METRICS: admin_metrics(&a->admin, ex, req); return;
    case ROUTE_INTERNAL: admin_internal(&a->admin, ex, req, m.param, m.param_len); return;
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
    /* /v1/models answers Anthropic clients with their auth style too. */
    bool anthropic_style = m.family == FAMILY_ANTHROPIC || (m.id != ROUTE_CHAT_COMPLETIONS &&
                                                            http_request_header(req, "x-api-key"));
    char key_id[9];
    uint8_t digest[32];
    auth_result r =
        auth_check_client(&a->auth, anthropic_style ? AUTH_STYLE_ANTHROPIC : AUTH_STYLE_OPENAI,
                          http_request_header(req, "x-api-key"),
                          http_request_header(req, "authorization"), key_id, digest);
    if (r != AUTH_OK) {
        bool models_anthropic = (m.id == ROUTE_MODELS || m.id == ROUTE_MODEL_GET) &&
                                (http_request_header(req, "anthropic-version") ||
                                 http_request_header(req, "x-api-key"));
        admin_send_auth_failure(ex, m.family == FAMILY_ANTHROPIC || models_anthropic, r, "");
        return;
    }
    http_exchange_log_key_id(ex, key_id);
    switch (m.id) {
    case ROUTE_CHAT_COMPLETIONS:
    case ROUTE_MESSAGES: handle_turn(a, ex, req, &m, digest); return;
    case ROUTE_COUNT_TOKENS: handle_count_tokens(a, ex, req); return;
    case ROUTE_MODELS:
    case ROUTE_MODEL_GET: handle_models(a, ex, req, &m); return;
    default: app_send_error(ex, m.family, 404, "Not found.", NULL, NULL, NULL); return;
    }
}

/* ---------------------------------------------------------------- memory */

/* After a burst of streams the freed heap goes back to the kernel (util/heap_trim); a steady
 * load reuses its free chunks and stays under the threshold, so this rarely trims. */
#define HEAP_TRIM_PERIOD_MS 10000
#define HEAP_TRIM_MIN_FREE  (8u << 20)

static void on_trim_timer(uv_timer_t *t) {
    (void)t;
    if (heap_trim(HEAP_TRIM_MIN_FREE)) log_debug("heap trimmed", NULL);
}

/* ---------------------------------------------------------------- lifecycle */

static void on_remote_freed(void *ud) { (void)ud; }

static void on_server_closed(void *ud) {
    app *a = ud;
    a->server = NULL;
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->catalog_timer, NULL);
    uv_close((uv_handle_t *)&a->trim_timer, NULL);
    state_store_stop(a->state);
    lingma_remote_free(a->remote, on_remote_freed, NULL);
    a->remote = NULL;
    log_info("stopped", NULL);
}

void app_stop(app *a) {
    if (a->stopping) return;
    a->stopping = true;
    log_info("shutting down", "\"drain_timeout_ms\":%llu",
             (unsigned long long)a->cfg.drain_timeout_ms);
    uv_timer_stop(&a->catalog_timer);
    uv_timer_stop(&a->trim_timer);
    http_server_shutdown(a->server, a->cfg.drain_timeout_ms, on_server_closed, a);
}

void app_free(app *a) {
    state_store_free(a->state); /* the last batch, while the services still exist */
    admin_free(&a->admin);
    pool_free(&a->pool);
    catalog_free(&a->catalog);
    session_cache_free(a->sessions);
    inflight_free(a->inflight);
    stats_free(a->stats);
    buf_free(&a->svc.scratch);
    auth_free(&a->auth);
    config_free(&a->cfg);
    free(a);
}

static void on_signal(uv_signal_t *s, int signum) {
    (void)signum;
    app_stop(s->data);
}

/* Accounts from the accounts file and the desktop cache directory. */
static int load_accounts(app *a, lingma_account_list *out) {
    char err[512];
    if (credentials_load_sources(a->cfg.accounts_file, a->cfg.cache_dir, out, err, sizeof err) !=
        0) {
        log_error("cannot load accounts", "\"error\":\"%s\"", err);
        return -1;
    }
    return 0;
}

/* The admin API added accounts: a pool that started empty has no catalog yet. */
static void on_accounts_changed(void *ud) {
    app *a = ud;
    if (!a->stopping && !a->catalog_fetching && a->catalog.n == 0) schedule_catalog(a, 1);
}

/* Durable state: open and load before serving. */
static int open_state(app *a) {
    if (!a->cfg.state_db || !*a->cfg.state_db) {
        log_warn("durable state disabled (STATE_DB is empty): affinity, cooldowns and counters "
                 "start afresh on every restart",
                 NULL);
        return 0;
    }
    char err[512];
    state_store_options so = {.path = a->cfg.state_db,
                              .flush_ms = a->cfg.state_flush_ms,
                              .session_ttl_ms = (int64_t)a->cfg.session_idle_ttl_ms,
                              .session_max = a->cfg.session_cache_max};
    if (state_store_open(&a->state, a->loop, &so, err, sizeof err) != 0 ||
        state_store_load(a->state, a->sessions, &a->pool, a->stats, err, sizeof err) != 0) {
        log_error("cannot open the durable state (set STATE_DB, or empty to disable)",
                  "\"error\":\"%s\"", err);
        return -1;
    }
    return 0;
}

int app_start(app **out, uv_loop_t *loop, config *cfg) {
    app *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg); /* ownership moved */
    a->started_ns = clock_mono_ns();
    auth_init(&a->auth, a->cfg.api_keys, a->cfg.metrics_token, a->cfg.metrics_public,
              a->cfg.admin_token);
    a->stats = stats_new();
    catalog_init(&a->catalog);

    lingma_account_list accounts;
    if (load_accounts(a, &accounts) != 0) goto fail_early;
    pool_options po;
    pool_options_defaults(&po);
    po.rate_limit_base_ms = (int64_t)a->cfg.cooldown_base_ms;
    po.rate_limit_cap_ms = (int64_t)a->cfg.cooldown_cap_ms;
    po.quota_cooldown_ms = (int64_t)a->cfg.quota_cooldown_ms;
    po.transient_cooldown_ms = (int64_t)a->cfg.transient_cooldown_ms;
    po.transient_threshold = (unsigned)a->cfg.transient_threshold;
    po.max_inflight_per_account = (unsigned)a->cfg.account_max_inflight;
    pool_init(&a->pool, &accounts, &po, a->cfg.accounts_file);
    pool_reserve(&a->pool, a->cfg.pool_max_accounts); /* the array never moves while serving */

    inflight_policy policy = INFLIGHT_FORK;
    inflight_parse_policy(a->cfg.inflight_policy, &policy);
    a->inflight = inflight_new(loop, policy, a->cfg.inflight_queue, a->cfg.inflight_wait_ms,
                               a->cfg.max_inflight);
    inflight_set_turn_queue(a->inflight, a->cfg.max_inflight_queue);
    a->sessions = session_cache_new(a->cfg.session_cache_max, (int64_t)a->cfg.session_idle_ttl_ms);
    if (open_state(a) != 0) goto fail;

    lingma_remote_options ro = {.base_url = a->cfg.upstream_url,
                                .cosy_version = a->cfg.cosy_version};
    http_client_options_defaults(&ro.http);
    ro.http.connect_timeout_ms = (long)a->cfg.connect_timeout_ms;
    ro.http.first_byte_timeout_ms = (long)a->cfg.first_byte_timeout_ms;
    ro.http.stall_timeout_ms = (long)a->cfg.stall_timeout_ms;
    ro.http.buffer_size = (long)a->cfg.upstream_buffer_bytes;
    if (lingma_remote_new(&a->remote, loop, &ro) != 0) {
        log_error("cannot create the upstream client", NULL);
        goto fail;
    }
    token_calibration_init(&a->calibration);
    a->svc = (turn_services){loop,        &a->cfg,     &a->pool, a->remote,       &a->catalog,
                             a->sessions, a->inflight, a->stats, &a->calibration, BUF_INIT};
    a->admin = (admin_ctx){.cfg = &a->cfg,
                           .auth = &a->auth,
                           .pool = &a->pool,
                           .sessions = a->sessions,
                           .inflight = a->inflight,
                           .stats = a->stats,
                           .catalog = &a->catalog,
                           .state = a->state,
                           .accounts_changed = on_accounts_changed,
                           .app_ud = a,
                           .started_ms = clock_wall_ms()};

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
        log_error("cannot listen", "\"listen\":\"%s\",\"error\":\"%s\"", a->cfg.listen,
                  uv_strerror(rc));
        lingma_remote_free(a->remote, NULL, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        goto fail;
    }
    a->admin.server = a->server;
    if (a->state) state_store_start(a->state, a->sessions, &a->pool, a->stats);
    uv_signal_init(loop, &a->sig_term);
    uv_signal_init(loop, &a->sig_int);
    a->sig_term.data = a->sig_int.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_timer_init(loop, &a->catalog_timer);
    a->catalog_timer.data = a;
    if (a->pool.n) schedule_catalog(a, 1);
    uv_timer_init(loop, &a->trim_timer);
    uv_timer_start(&a->trim_timer, on_trim_timer, HEAP_TRIM_PERIOD_MS, HEAP_TRIM_PERIOD_MS);

    char host[64];
    int port;
    http_server_address(a->server, host, sizeof host, &port);
    if (!auth_enabled(&a->auth))
        log_warn("AUTH DISABLED: API_KEYS is empty, anyone who can reach this port can use the "
                 "upstream accounts",
                 NULL);
    if (!a->pool.n)
        log_warn("no upstream account configured: chat requests will get 503/529 (set "
                 "LINGMA_ACCOUNTS_FILE or LINGMA_CACHE_DIR)",
                 NULL);
    log_info("started",
             "\"version\":\"" LGW_VERSION "\",\"listen\":\"%s:%d\",\"upstream\":\"%s\","
             "\"accounts\":%zu,\"api_keys\":%zu,\"metrics\":\"%s\",\"admin\":\"%s\"",
             host, port, a->cfg.upstream_url, a->pool.n, a->auth.n_keys,
             a->auth.metrics_public                                ? "public"
             : a->auth.has_metrics_token || auth_enabled(&a->auth) ? "token"
                                                                   : "disabled",
             a->auth.has_admin_token  ? "admin_token"
             : auth_enabled(&a->auth) ? "api_keys"
                                      : "disabled");
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    *out = a;
    return 0;
fail:
    state_store_free(a->state);
    pool_free(&a->pool);
    session_cache_free(a->sessions);
    inflight_free(a->inflight);
fail_early:
    catalog_free(&a->catalog);
    stats_free(a->stats);
    buf_free(&a->svc.scratch);
    auth_free(&a->auth);
    config_free(&a->cfg);
    free(a);
    return -1;
}
