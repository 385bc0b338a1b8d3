/* Request dispatch: the two upstream endpoints (both signature-checked), the login page that
 * the expired-session redirect leads to, /_sim control, and NoSuchKey for anything else (what
 * the vendor's asset bucket answers to a wrong base URL). Every non-control request is logged. */
#include "errors.h"
#include "sim.h"
#include "util/clock.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "verify.h"
#include <string.h>

#define PATH_MODELS "/algo/api/v2/model/list"
#define PATH_CHAT   "/algo/api/v2/service/pro/sse/agent_chat_generation"

void sim_login_handle(http_exchange *ex, const http_request *req); /* sim/login.c */

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static void reject_unverified(sim *s, http_exchange *ex, sim_record *rec, const sim_auth *auth) {
    size_t n;
    int status;
    if (log_enabled(LOG_WARN)) {
        buf f = BUF_INIT;
        buf_puts(&f, "\"path\":");
        json_put_str(&f, rec->path);
        buf_puts(&f, ",\"reason\":");
        json_put_str(&f, auth->reason);
        log_warn("request failed verification", "%s", f.data);
        buf_free(&f);
    }
    if (s->reject == SIM_REJECT_HTML) {
        status = 302;
        n = sim_respond_login_redirect(ex);
    } else {
        buf m = BUF_INIT;
        buf_printf(&m, "Unauthorized: %s", auth->reason);
        status = 401;
        n = sim_respond_http_error(ex, 401, "401", m.data, auth->request_id, 0);
        buf_free(&m);
    }
    sim_record_close(rec, status, n, true, false);
}

static void handle_models(sim *s, http_exchange *ex, sim_record *rec, const char *auth_rid) {
    sim_account *acct = sim_scripts_find(s->scripts, rec->account);
    const sim_directive *script = sim_account_take(acct, false);
    size_t n;
    int status = 200;
    rec->script = script != NULL;
    if (script && script->error->kind == SIM_ERR_LOGIN) {
        status = 302;
        n = sim_respond_login_redirect(ex);
    } else if (script) {
        const sim_error_def *e = script->error;
        status = e->status;
        n = sim_respond_http_error(
            ex, e->status, e->code, e->message, auth_rid,
            e->status == 429 ? (int)sim_directive_int(script, SIM_DI_retry_after, 2) : 0);
    } else {
        const sim_catalog *cat = acct && acct->catalog ? acct->catalog : s->catalog;
        const char *body = sim_catalog_body(cat, &n);
        http_respond(ex, 200, "application/json", body, n, NULL);
    }
    sim_record_close(rec, status, n, true, false);
}

void sim_routes_handle(http_exchange *ex, const http_request *req, void *ud) {
    sim *s = ud;
    if (strncmp(req->path, "/_sim/", 6) == 0) {
        sim_control_handle(s, ex, req);
        return;
    }
    if (strcmp(req->path, "/lingma/login") == 0) { /* browser login (§3.2): sim/login.c */
        sim_login_handle(ex, req);
        return;
    }
    sim_record *rec = sim_request_log_add(s->log, req->start_ns);
    rec->method = xstrdup(req->method);
    rec->path = xstrdup(req->path);
    rec->query = xstrdup(req->query);
    rec->account = dup_or_null(http_request_header(req, "Cosy-User"));
    rec->machine_id = dup_or_null(http_request_header(req, "Cosy-Machineid"));

    bool models = strcmp(req->path, PATH_MODELS) == 0, chat = strcmp(req->path, PATH_CHAT) == 0;
    if (strcmp(req->path, "/login") == 0) {
        sim_record_close(rec, 200, sim_respond_login_page(ex), true, false);
        return;
    }
    if (!models && !chat) {
        sim_record_close(rec, 404, sim_respond_no_such_key(ex, req->path), true, false);
        return;
    }
    const char *want = models ? "GET" : "POST";
    if (strcmp(req->method, want) != 0) {
        size_t n = sim_respond_http_error(ex, 405, "405", "Method not allowed", req->request_id, 0);
        sim_record_close(rec, 405, n, true, false);
        return;
    }
    sim_auth auth;
    rec->verified = sim_verify_request(req, clock_wall_ms() / 1000, s->skew_s, &auth);
    rec->auth_request_id = auth.request_id[0] ? xstrdup(auth.request_id) : NULL;
    rec->cosy_version = auth.cosy_version[0] ? xstrdup(auth.cosy_version) : NULL;
    if (!rec->verified) {
        rec->reason = xstrdup(auth.reason);
        reject_unverified(s, ex, rec, &auth);
        return;
    }
    if (models)
        handle_models(s, ex, rec, auth.request_id);
    else
        sim_chat_handle(s, ex, req, rec, auth.request_id);
}
