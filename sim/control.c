/* /_sim/... — runtime control for tests (no signature):
 *   GET    /_sim/requests[?since=SEQ][&full=1]  the request log ({"requests":[...]})
 *   DELETE /_sim/requests                       clears the log
 *   POST   /_sim/accounts/{user_id}             sets that account's script ({} clears it)
 *   POST   /_sim/reset                          log, session cache and scripts back to the
 *                                               state after startup (--config accounts reloaded) */
#include "sim.h"
#include "sim_json.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACCOUNT_ID 256

static void respond_json(http_exchange *ex, int status, const char *body) {
    http_respond(ex, status, "application/json", body, strlen(body), NULL);
}

static void respond_error(http_exchange *ex, int status, const char *message) {
    buf b = BUF_INIT;
    buf_puts(&b, "{\"error\":");
    json_put_str(&b, message);
    buf_putc(&b, '}');
    respond_json(ex, status, b.data);
    buf_free(&b);
}

/* Value of `name` in a query string into out (empty if absent). */
static void query_param(const char *query, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = query; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > nl && p[nl] == '=' && memcmp(p, name, nl) == 0) {
            size_t vl = n - nl - 1 < cap - 1 ? n - nl - 1 : cap - 1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return;
        }
        p += n + (amp ? 1 : 0);
    }
}

static void get_requests(sim *s, http_exchange *ex, const http_request *req) {
    char since[24], full[8];
    query_param(req->query, "since", since, sizeof since);
    query_param(req->query, "full", full, sizeof full);
    buf b = BUF_INIT;
    sim_request_log_render(s->log, &b, strtoull(since, NULL, 10), strcmp(full, "1") == 0);
    http_respond(ex, 200, "application/json", b.data, b.len, NULL);
    buf_free(&b);
}

static void set_account(sim *s, http_exchange *ex, const http_request *req, const char *user) {
    char err[256];
    if (!*user || strlen(user) > MAX_ACCOUNT_ID || strchr(user, '/')) {
        respond_error(ex, 400, "account id missing or malformed");
        return;
    }
    json_object *obj = sim_json_parse(req->body, req->body_len, err, sizeof err);
    if (!obj || sim_scripts_set(s->scripts, user, obj, err, sizeof err) < 0) {
        respond_error(ex, 400, err);
    } else {
        buf b = BUF_INIT;
        buf_puts(&b, "{\"ok\":true,\"account\":");
        json_put_str(&b, user);
        buf_putc(&b, '}');
        respond_json(ex, 200, b.data);
        buf_free(&b);
    }
    json_object_put(obj);
}

static void reset(sim *s, http_exchange *ex) {
    char err[256];
    sim_request_log_clear(s->log);
    sim_prefix_cache_clear(s->cache);
    sim_scripts_clear(s->scripts);
    if (sim_apply_config_accounts(s, err, sizeof err) < 0)
        respond_error(ex, 500, err);
    else
        respond_json(ex, 200, "{\"ok\":true}");
}

void sim_control_handle(sim *s, http_exchange *ex, const http_request *req) {
    const char *path = req->path + strlen("/_sim");
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    if (strcmp(path, "/requests") == 0 && get) {
        get_requests(s, ex, req);
    } else if (strcmp(path, "/requests") == 0 && strcmp(req->method, "DELETE") == 0) {
        sim_request_log_clear(s->log);
        respond_json(ex, 200, "{\"ok\":true}");
    } else if (strncmp(path, "/accounts/", 10) == 0 && post) {
        set_account(s, ex, req, path + 10);
    } else if (strcmp(path, "/reset") == 0 && post) {
        reset(s, ex);
    } else {
        respond_error(ex, 404, "unknown control endpoint");
    }
}
