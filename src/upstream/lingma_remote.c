#include "upstream/lingma_remote.h"
#include "upstream/cosy.h"
#include "upstream/error_class.h"
#include "upstream/sse_decoder.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define CHAT_PATH                                                                                  \
    "/algo/api/v2/service/pro/sse/"                                                                \
    "agent_chat_generation?FetchKeys=llm_model_result&AgentId=agent_common"
#define MODELS_PATH    "/algo/api/v2/model/list"
#define ERROR_BODY_MAX (64 * 1024)

typedef struct models_ctx models_ctx;

struct lingma_remote {
    http_client *http;
    char *base_url;
    char *cosy_version;
    /* Unfinished calls and fetches: freeing the http client drops them without callbacks, so
     * lingma_remote_free releases them. */
    lingma_call *calls;
    models_ctx *fetches;
};

struct lingma_call {
    lingma_remote *r; /* NULL once the remote let go of it */
    lingma_call *prev, *next;
    http_call *http;
    sse_decoder dec;
    conv_event_fn cb;
    void *ud;
    int status;
    bool error_mode;  /* HTTP status >= 400: collect the body, classify at the end */
    bool terminal;    /* the terminal event was delivered: stay silent */
    bool in_callback; /* in our http callbacks: a cancel from an event handler defers the free */
    bool cancelled;
    buf error_body;
};

int lingma_remote_new(lingma_remote **out, uv_loop_t *loop, const lingma_remote_options *opt) {
    lingma_remote *r = xcalloc(1, sizeof *r);
    int rc = http_client_new(&r->http, loop, &opt->http);
    if (rc < 0) {
        free(r);
        return rc;
    }
    size_t bl = strlen(opt->base_url);
    while (bl && opt->base_url[bl - 1] == '/')
        bl--; /* trailing slashes trimmed (§1.1) */
    r->base_url = xstrndup(opt->base_url, bl);
    r->cosy_version = xstrdup(opt->cosy_version ? opt->cosy_version : COSY_DEFAULT_VERSION);
    *out = r;
    return 0;
}

typedef struct free_ctx {
    lingma_remote *r;
    void (*done)(void *);
    void *ud;
} free_ctx;

static void on_http_freed(void *ud) {
    free_ctx *f = ud;
    free(f->r->base_url);
    free(f->r->cosy_version);
    free(f->r);
    if (f->done) f->done(f->ud);
    free(f);
}

static void call_free(lingma_call *c);
static void models_free(models_ctx *m);

void lingma_remote_free(lingma_remote *r, void (*done)(void *), void *ud) {
    while (r->calls) {
        lingma_call *c = r->calls;
        r->calls = c->next;
        c->r = NULL;
        c->http = NULL;
        c->cancelled = true;
        if (!c->in_callback) call_free(c); /* else its callback frees it on the way out */
    }
    while (r->fetches)
        models_free(r->fetches);
    free_ctx *f = xcalloc(1, sizeof *f);
    *f = (free_ctx){r, done, ud};
    http_client_free(r->http, on_http_freed, f);
}

/* The signed header block into *out; false if the credentials cannot be signed. */
static bool signed_headers(lingma_remote *r, const lingma_account *a, const char *path,
                           const char *body, size_t len, const char *accept, buf *out) {
    cosy_request cr = {0};
    cr.cosy_key = a->cosy_key;
    cr.encrypt_user_info = a->encrypt_user_info;
    cr.user_id = a->user_id;
    cr.machine_id = a->machine_id;
    cr.cosy_version = r->cosy_version;
    cr.path = path;
    cr.body = body;
    cr.body_len = len;
    cr.accept = accept;
    return cosy_headers(&cr, out) == 0;
}

/* ---- chat ---- */

static void call_deliver(const conv_event *ev, void *ud) {
    lingma_call *c = ud;
    if (c->terminal || c->cancelled) return;
    bool terminal = ev->type == CONV_EV_FINISH || ev->type == CONV_EV_ERROR;
    if (terminal) c->terminal = true;
    c->cb(ev, c->ud);
    /* The consumer lets go of the call at its terminal event and never resumes it; a transfer
     * left paused has no stall deadline and would hold the call and its connection forever.
     * Drain the rest of the body so the call ends (and frees itself). */
    if (terminal && c->http && !c->cancelled) http_call_resume(c->http);
}

static void call_fail(lingma_call *c, conv_error_class cls, int status, const char *code,
                      const char *msg) {
    conv_event ev = {.type = CONV_EV_ERROR,
                     .err_class = cls,
                     .status = status,
                     .err_code = code,
                     .text = msg,
                     .len = msg ? strlen(msg) : 0};
    call_deliver(&ev, c);
}

static void call_free(lingma_call *c) {
    if (c->r) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->r->calls = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    sse_decoder_free(&c->dec);
    buf_free(&c->error_body);
    free(c);
}

static void on_chat_response(http_call *h, int status, const char *content_type, void *ud) {
    (void)h;
    lingma_call *c = ud;
    c->status = status;
    if (status >= 400)
        c->error_mode = true;
    else
        sse_decoder_set_content_type(&c->dec, content_type);
}

static void on_chat_data(http_call *h, const char *data, size_t len, void *ud) {
    (void)h;
    lingma_call *c = ud;
    if (c->error_mode) {
        size_t room = ERROR_BODY_MAX - c->error_body.len;
        buf_append(&c->error_body, data, len < room ? len : room);
        return;
    }
    c->in_callback = true;
    sse_decoder_feed(&c->dec, data, len);
    c->in_callback = false;
    if (c->cancelled) call_free(c);
}

/* Pulls "code" and "message" out of an error body when it is JSON. */
static void error_body_fields(const char *body, size_t len, char *code, size_t code_cap, char *msg,
                              size_t msg_cap) {
    code[0] = '\0';
    snprintf(msg, msg_cap, "%.*s", (int)(len < msg_cap - 1 ? len : msg_cap - 1), body);
    json_tokener *tok = json_tokener_new_ex(16);
    if (!tok) return;
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return;
    }
    json_object *v;
    if (json_object_object_get_ex(o, "code", &v) || json_object_object_get_ex(o, "errorCode", &v))
        snprintf(code, code_cap, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "message", &v) ||
        json_object_object_get_ex(o, "errorMessage", &v))
        snprintf(msg, msg_cap, "%s", json_object_get_string(v));
    else if (json_object_object_get_ex(o, "error", &v)) {
        json_object *m;
        if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "message", &m))
            snprintf(msg, msg_cap, "%s", json_object_get_string(m));
        else if (json_object_is_type(v, json_type_string))
            snprintf(msg, msg_cap, "%s", json_object_get_string(v));
    }
    json_object_put(o);
}

static void on_chat_done(http_call *h, const http_call_result *res, void *ud) {
    (void)h;
    lingma_call *c = ud;
    c->http = NULL;
    c->in_callback = true; /* freed below whatever the handlers do */
    if (!c->terminal) {
        if (!res->ok) {
            bool timeout =
                res->kind == HTTP_ERR_TIMEOUT_CONNECT || res->kind == HTTP_ERR_TIMEOUT_FIRST_BYTE ||
                res->kind == HTTP_ERR_TIMEOUT_STALL || res->kind == HTTP_ERR_TIMEOUT_TOTAL;
            char msg[256];
            snprintf(msg, sizeof msg, "upstream %s: %s", http_error_kind_name(res->kind),
                     res->message ? res->message : "");
            call_fail(c, timeout ? CONV_ERR_TIMEOUT : CONV_ERR_TRANSIENT, 0, NULL, msg);
        } else if (c->error_mode) {
            char code[64], msg[512];
            error_body_fields(c->error_body.data ? c->error_body.data : "", c->error_body.len, code,
                              sizeof code, msg, sizeof msg);
            conv_error_class cls =
                upstream_classify(c->status, 0, code[0] ? code : NULL, c->error_body.data);
            call_fail(c, cls, c->status, code[0] ? code : NULL, msg);
        } else {
            sse_decoder_finish(&c->dec);
        }
    }
    call_free(c);
}

lingma_call *lingma_chat_start(lingma_remote *r, const lingma_account *acct, const char *body,
                               size_t body_len, conv_event_fn cb, void *ud) {
    buf h = BUF_INIT;
    if (!signed_headers(r, acct, CHAT_PATH, body, body_len, "text/event-stream", &h)) {
        buf_free(&h);
        return NULL;
    }
    lingma_call *c = xcalloc(1, sizeof *c);
    c->cb = cb;
    c->ud = ud;
    sse_decoder_init(&c->dec, call_deliver, c, 0);
    buf url = BUF_INIT;
    buf_puts(&url, r->base_url);
    buf_puts(&url, CHAT_PATH);
    http_call_request req = {
        .method = "POST", .url = url.data, .headers = h.data, .body = body, .body_len = body_len};
    http_call_callbacks cbs = {on_chat_response, on_chat_data, on_chat_done};
    c->http = http_call_start(r->http, &req, &cbs, c);
    buf_free(&url);
    buf_free(&h);
    if (!c->http) {
        call_free(c);
        return NULL;
    }
    c->r = r;
    c->next = r->calls;
    if (r->calls) r->calls->prev = c;
    r->calls = c;
    return c;
}

void lingma_call_cancel(lingma_call *c) {
    if (c->http) http_call_cancel(c->http);
    c->http = NULL;
    c->cancelled = true;
    if (!c->in_callback) call_free(c); /* else the decoder is still on the stack */
}

size_t lingma_remote_active_calls(const lingma_remote *r) {
    return http_client_active_calls(r->http);
}

void lingma_call_pause(lingma_call *c) {
    if (c->http) http_call_pause(c->http);
}

void lingma_call_resume(lingma_call *c) {
    if (c->http) http_call_resume(c->http);
}

/* ---- model list ---- */

struct models_ctx {
    lingma_remote *r;
    models_ctx *prev, *next;
    lingma_models_cb cb;
    void *ud;
    int status;
    buf body;
};

static void models_unlink(models_ctx *m) {
    if (m->prev)
        m->prev->next = m->next;
    else
        m->r->fetches = m->next;
    if (m->next) m->next->prev = m->prev;
}

static void models_free(models_ctx *m) {
    models_unlink(m);
    buf_free(&m->body);
    free(m);
}

static void on_models_response(http_call *h, int status, const char *ct, void *ud) {
    (void)h;
    (void)ct;
    ((models_ctx *)ud)->status = status;
}

static void on_models_data(http_call *h, const char *data, size_t len, void *ud) {
    (void)h;
    models_ctx *m = ud;
    if (m->body.len + len <= 4u << 20) buf_append(&m->body, data, len);
}

static void on_models_done(http_call *h, const http_call_result *res, void *ud) {
    (void)h;
    models_ctx *m = ud;
    models_unlink(m); /* the callback may free the remote */
    m->cb(res->ok ? m->status : 0, m->body.data ? m->body.data : "", m->body.len, m->ud);
    buf_free(&m->body);
    free(m);
}

int lingma_models_fetch(lingma_remote *r, const lingma_account *acct, lingma_models_cb cb,
                        void *ud) {
    buf h = BUF_INIT;
    if (!signed_headers(r, acct, MODELS_PATH, "", 0, "application/json", &h)) {
        buf_free(&h);
        return -1;
    }
    models_ctx *m = xcalloc(1, sizeof *m);
    m->cb = cb;
    m->ud = ud;
    buf url = BUF_INIT;
    buf_puts(&url, r->base_url);
    buf_puts(&url, MODELS_PATH);
    http_call_request req = {.method = "GET", .url = url.data, .headers = h.data};
    http_call_callbacks cbs = {on_models_response, on_models_data, on_models_done};
    http_call *call = http_call_start(r->http, &req, &cbs, m);
    buf_free(&url);
    buf_free(&h);
    if (!call) {
        free(m);
        return -1;
    }
    m->r = r;
    m->next = r->fetches;
    if (r->fetches) r->fetches->prev = m;
    r->fetches = m;
    return 0;
}
