/* lingma-sim entry point: options, the --config file, the server, signals. See sim.h for the
 * module map and sim/README.md for usage. */
#include "sim.h"
#include "sim_json.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_LOG_CAPACITY    1000
#define REQUEST_LOG_BODY_BUDGET (32u << 20)
#define PREFIX_CACHE_SLOTS      16384
#define MAX_CONFIG_BYTES        (16u << 20)
#define SHUTDOWN_DRAIN_MS       1000

typedef struct options {
    char host[256];
    int port;
    const char *config_path;
    int64_t skew_s;
    sim_reject_style reject;
    bool quiet;
} options;

static void usage(FILE *f) {
    fprintf(f, "usage: lingma-sim [--listen HOST:PORT] [--config PATH] [--skew SECONDS]\n"
               "                  [--reject-style 401|html] [--quiet]\n"
               "A fake of the Lingma remote API. Port 0 picks a free port; the bound address is\n"
               "printed as `listening on HOST:PORT`. See sim/README.md.\n");
}

/* "HOST:PORT" or "[V6]:PORT". */
static int parse_listen(const char *arg, options *o) {
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) return -1;
    const char *h = arg;
    size_t hl = (size_t)(colon - arg);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
    if (hl >= sizeof o->host) return -1;
    memcpy(o->host, h, hl);
    o->host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535) return -1;
    o->port = (int)port;
    return 0;
}

static int parse_args(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!val) goto bad;
        i++;
        if (strcmp(a, "--listen") == 0) {
            if (parse_listen(val, o) < 0) goto bad;
        } else if (strcmp(a, "--config") == 0) {
            o->config_path = val;
        } else if (strcmp(a, "--skew") == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || *end || end == val || v < 0) goto bad;
            o->skew_s = v;
        } else if (strcmp(a, "--reject-style") == 0) {
            if (strcmp(val, "401") == 0)
                o->reject = SIM_REJECT_401;
            else if (strcmp(val, "html") == 0)
                o->reject = SIM_REJECT_HTML;
            else
                goto bad;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "lingma-sim: bad option %s%s%s\n", a, val ? " " : "", val ? val : "");
        usage(stderr);
        return -1;
    }
    return 0;
}

static json_object *load_config(const char *path, char *err, size_t cap) {
    json_object *cfg = NULL;
    buf b = BUF_INIT;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > MAX_CONFIG_BYTES) {
            snprintf(err, cap, "%s: larger than %u bytes", path, MAX_CONFIG_BYTES);
            goto out;
        }
        buf_append(&b, chunk, n);
    }
    if (ferror(f)) {
        snprintf(err, cap, "%s: read error", path);
        goto out;
    }
    cfg = sim_json_parse(b.data ? b.data : "", b.len, err, cap);
    if (cfg && !json_object_is_type(cfg, json_type_object)) {
        snprintf(err, cap, "%s: must be a JSON object", path);
        json_object_put(cfg);
        cfg = NULL;
    }
    if (!cfg) goto out;
    json_object_object_foreach(cfg, key, val) {
        (void)val;
        if (strcmp(key, "accounts") != 0 && strcmp(key, "catalog") != 0 &&
            strcmp(key, "defaults") != 0) {
            snprintf(err, cap, "%s: unknown key \"%s\" (accounts, catalog, defaults)", path, key);
            json_object_put(cfg);
            cfg = NULL;
            break;
        }
    }
out:
    fclose(f);
    buf_free(&b);
    return cfg;
}

int sim_apply_config_accounts(sim *s, char *err, size_t cap) {
    json_object *accounts;
    if (!s->config || !json_object_object_get_ex(s->config, "accounts", &accounts)) return 0;
    return sim_scripts_load(s->scripts, accounts, err, cap);
}

/* Catalog and defaults from the config (accounts are applied separately, also on reset). */
static int apply_config(sim *s, char *err, size_t cap) {
    json_object *v;
    if (s->config && json_object_object_get_ex(s->config, "catalog", &v)) {
        s->catalog = sim_catalog_from_json(v, err, cap);
        if (!s->catalog) return -1;
    } else {
        s->catalog = sim_catalog_new_default();
    }
    if (s->config && json_object_object_get_ex(s->config, "defaults", &v) &&
        sim_directive_from_json(&s->defaults, v, NULL, err, cap) < 0)
        return -1;
    return sim_apply_config_accounts(s, err, cap);
}

static void render_server_error(int status, const char *path, const char *request_id,
                                char **out_body, size_t *out_len, void *ud) {
    (void)path;
    (void)ud;
    buf b = BUF_INIT;
    buf_printf(
        &b, "{\"requestId\":\"%s\",\"success\":false,\"errorCode\":\"%d\",\"errorMessage\":\"%s\"}",
        request_id, status, http_status_text(status));
    *out_body = buf_detach(&b, out_len);
}

typedef struct runtime {
    sim *s;
    uv_signal_t sigterm, sigint;
    bool stopping;
} runtime;

static void on_server_done(void *ud) {
    runtime *rt = ud;
    rt->s->srv = NULL;
}

static void on_signal(uv_signal_t *h, int signum) {
    runtime *rt = h->data;
    if (rt->stopping) return;
    rt->stopping = true;
    log_info("shutting down", "\"signal\":%d,\"open_streams\":%llu", signum,
             (unsigned long long)rt->s->n_streams);
    uv_close((uv_handle_t *)&rt->sigterm, NULL);
    uv_close((uv_handle_t *)&rt->sigint, NULL);
    http_server_shutdown(rt->s->srv, SHUTDOWN_DRAIN_MS, on_server_done, rt);
}

int main(int argc, char **argv) {
    options o = {.host = "127.0.0.1", .port = 0, .skew_s = 300, .reject = SIM_REJECT_401};
    char err[512];
    int rc = 1;
    sim s = {0};
    runtime rt = {.s = &s};
    uv_loop_t loop;

    signal(SIGPIPE, SIG_IGN); /* a vanished client must be a write error, not a dead process */
    if (parse_args(argc, argv, &o) < 0) return 2;
    log_configure(o.quiet ? LOG_WARN : LOG_INFO, 1);

    s.skew_s = o.skew_s;
    s.reject = o.reject;
    sim_directive_init(&s.defaults);
    s.scripts = sim_scripts_new();
    s.log = sim_request_log_new(REQUEST_LOG_CAPACITY, REQUEST_LOG_BODY_BUDGET);
    s.cache = sim_prefix_cache_new(PREFIX_CACHE_SLOTS);
    if (o.config_path && !(s.config = load_config(o.config_path, err, sizeof err))) {
        fprintf(stderr, "lingma-sim: config: %s\n", err);
        rc = 2;
        goto out;
    }
    if (apply_config(&s, err, sizeof err) < 0) {
        fprintf(stderr, "lingma-sim: config: %s\n", err);
        rc = 2;
        goto out;
    }

    uv_loop_init(&loop);
    http_server_config cfg;
    http_server_config_defaults(&cfg);
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.max_connections = 60000; /* benchmarks hold 10k+ slow streams */
    cfg.backlog = 4096;
    cfg.access_log = !o.quiet;
    cfg.handler = sim_routes_handle;
    cfg.render_error = render_server_error;
    cfg.ud = &s;
    int e = http_server_start(&s.srv, &loop, &cfg);
    if (e < 0) {
        fprintf(stderr, "lingma-sim: cannot listen on %s:%d: %s\n", o.host, o.port, uv_strerror(e));
        goto close_loop;
    }
    char host[64];
    int port;
    http_server_address(s.srv, host, sizeof host, &port);
    printf(strchr(host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n", host, port);
    fflush(stdout);

    uv_signal_init(&loop, &rt.sigterm);
    uv_signal_init(&loop, &rt.sigint);
    rt.sigterm.data = rt.sigint.data = &rt;
    uv_signal_start(&rt.sigterm, on_signal, SIGTERM);
    uv_signal_start(&rt.sigint, on_signal, SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
close_loop:
    uv_run(&loop, UV_RUN_NOWAIT); /* pending close callbacks */
    if (uv_loop_close(&loop) != 0) log_warn("event loop closed with live handles", NULL);
out:
    sim_request_log_free(s.log);
    sim_prefix_cache_free(s.cache);
    sim_scripts_free(s.scripts);
    sim_catalog_free(s.catalog);
    sim_directive_clear(&s.defaults);
    json_object_put(s.config);
    buf_free(&s.inner);
    buf_free(&s.event);
    return rc;
}
