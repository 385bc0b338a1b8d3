/* libcurl multi on libuv, the curl_multi_socket_action way.
 *
 * curl tells us which sockets to watch (client_on_socket → one uv_poll each) and when it next
 * needs a tick (client_on_curl_timer → the client's uv_timer); both feed client_drive(), which
 * runs curl_multi_socket_action and then reaps finished transfers.
 *
 * Re-entrancy. `depth` > 0 while curl or a user callback is on the stack. curl refuses (or
 * misbehaves on) add / remove / unpause from inside its own callbacks, and the user may cancel
 * calls or free the client from inside ours, so at depth > 0 those requests only set flags and
 * queue the call on `pending`; the uv_idle handle drains the queue at depth 0 on the next loop
 * iteration. At depth 0 (a caller's own loop callback) cancel and start act at once.
 *
 * Pausing is lazy: http_call_pause only sets a flag, and the write callback answers the next
 * chunk with CURL_WRITEFUNC_PAUSE, which makes curl keep that chunk and stop reading the
 * socket. Resuming calls curl_easy_pause(CONT) from the idle phase, never from inside curl.
 *
 * Lifetime. A call is "finished" once it has left the multi handle; its memory is released in
 * the close callback of its watchdog timer. The client is released when the last of its uv
 * handles (timer, idle, polls, call watchdogs) has closed after http_client_free.
 *
 * Easy handles. Creating one and applying the client's constant options costs more than the
 * rest of a small call's setup, so the easy handle of a call that finished cleanly (curl
 * reported success, never cancelled, never paused) goes back to a short spare list with its
 * constant options kept and its per-call ones cleared (client_put_easy); the next call takes it
 * from there and applies only its own options. A handle that left a transfer early carries
 * FORBID_REUSE and is always destroyed, so its connection still closes. */
#include "upstream/http_client.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Idle easy handles kept per client: enough for a burst of short calls, while each holds
 * ~20 KB (curl's state and receive buffer). */
enum { HTTP_SPARE_EASY = 8 };

typedef struct http_sock http_sock;
struct http_sock {
    uv_poll_t poll;
    http_client *client;
    curl_socket_t fd;
    http_sock *prev, *next;
};

struct http_call {
    http_client *client;
    CURL *easy;
    struct curl_slist *headers;
    http_call_callbacks cb;
    void *ud;
    uv_timer_t watchdog;
    http_call *prev, *next;   /* client->calls: not finished */
    http_call *pprev, *pnext; /* client->pending: deferred work */
    long first_byte_ms, stall_ms, total_ms;
    uint64_t start_ms;
    uint64_t wait_from_ms; /* start of the current wait for a byte (first or next) */
    int status;            /* of the header block being read */
    char *content_type;    /* of the header block being read */
    long redirects;        /* redirect blocks seen, i.e. hops curl follows */
    bool block_has_location;
    bool in_multi, curl_done, queued;
    bool got_byte, response_sent;
    bool paused;      /* what the consumer asked */
    bool curl_paused; /* curl holds a chunk we refused */
    bool cancelled, finished;
    bool ever_paused; /* curl held a chunk at some point: the handle is not recycled */
    bool curl_ok;     /* curl reported the transfer done with CURLE_OK */
    char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's own timeout */
    uv_idle_t idle;   /* drains `pending` at depth 0 */
    http_client_options opt;
    char *ca_file, *proxy;
    http_call *calls;
    http_call *pending;
    http_sock *socks;
    CURL *spare[HTTP_SPARE_EASY]; /* idle easy handles, constant options set (LIFO) */
    unsigned n_spare;
    size_t n_calls;
    unsigned depth;
    unsigned n_handles; /* uv handles initialised and not yet closed */
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

static void client_drive(http_client *c, curl_socket_t fd, int flags);
static void client_on_idle(uv_idle_t *h);
static size_t call_on_header(char *p, size_t size, size_t nmemb, void *ud);
static size_t call_on_write(char *p, size_t size, size_t nmemb, void *ud);

/* ---- options and errors ---- */

void http_client_options_defaults(http_client_options *opt) {
    *opt = (http_client_options){
        .connect_timeout_ms = 10000,
        .first_byte_timeout_ms = 60000,
        .stall_timeout_ms = 60000,
        .total_timeout_ms = 0,
        .buffer_size = 16384,
        .max_host_connections = 0,
        .max_redirects = 5,
    };
}

int http_client_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_client_global_cleanup(void) { curl_global_cleanup(); }

const char *http_error_kind_name(http_error_kind k) {
    switch (k) {
    case HTTP_ERR_NONE: return "none";
    case HTTP_ERR_CONNECT: return "connect";
    case HTTP_ERR_TIMEOUT_CONNECT: return "timeout_connect";
    case HTTP_ERR_TIMEOUT_FIRST_BYTE: return "timeout_first_byte";
    case HTTP_ERR_TIMEOUT_STALL: return "timeout_stall";
    case HTTP_ERR_TIMEOUT_TOTAL: return "timeout_total";
    case HTTP_ERR_RESET: return "reset";
    case HTTP_ERR_TLS: return "tls";
    case HTTP_ERR_OTHER: return "other";
    }
    return "other";
}

static http_error_kind error_kind_of(CURLcode rc) {
    switch (rc) {
    case CURLE_OK: return HTTP_ERR_NONE;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT: return HTTP_ERR_CONNECT;
    /* The connect timeout is the only one curl enforces; the others are our watchdog's. */
    case CURLE_OPERATION_TIMEDOUT: return HTTP_ERR_TIMEOUT_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return HTTP_ERR_TLS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return HTTP_ERR_RESET;
    default: return HTTP_ERR_OTHER;
    }
}

/* ---- intrusive lists ---- */

static void calls_link(http_client *c, http_call *call) {
    call->prev = NULL;
    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    c->n_calls++;
}

static void calls_unlink(http_client *c, http_call *call) {
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->n_calls--;
}

static void pending_push(http_client *c, http_call *call) {
    if (!call->queued) {
        call->queued = true;
        call->pprev = NULL;
        call->pnext = c->pending;
        if (c->pending) c->pending->pprev = call;
        c->pending = call;
    }
    uv_idle_start(&c->idle, client_on_idle);
}

static void pending_unlink(http_client *c, http_call *call) {
    if (!call->queued) return;
    if (call->pprev)
        call->pprev->pnext = call->pnext;
    else
        c->pending = call->pnext;
    if (call->pnext) call->pnext->pprev = call->pprev;
    call->pprev = call->pnext = NULL;
    call->queued = false;
}

/* ---- handle release ---- */

static void client_handle_closed(http_client *c) {
    assert(c->n_handles > 0);
    if (--c->n_handles > 0 || !c->closing) return;
    void (*done)(void *) = c->done;
    void *ud = c->done_ud;
    free(c->ca_file);
    free(c->proxy);
    free(c);
    if (done) done(ud);
}

static void client_on_handle_close(uv_handle_t *h) { client_handle_closed(h->data); }

static void sock_on_close(uv_handle_t *h) {
    http_sock *s = h->data;
    http_client *c = s->client;
    free(s);
    client_handle_closed(c);
}

static void call_on_close(uv_handle_t *h) {
    http_call *call = h->data;
    http_client *c = call->client;
    free(call);
    client_handle_closed(c);
}

/* ---- sockets and curl's timer ---- */

static void sock_on_poll(uv_poll_t *h, int status, int events) {
    http_sock *s = h->data;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    client_drive(s->client, s->fd, flags); /* may close s: not touched after */
}

static void sock_close(http_client *c, http_sock *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_on_close);
}

static int client_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    http_client *c = userp;
    http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        /* curl calls this before closing fd, so the poll never outlives its descriptor. */
        if (s) sock_close(c, s);
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        int rc = uv_poll_init_socket(c->loop, &s->poll, fd);
        if (rc != 0) {
            log_warn("upstream socket not pollable", "\"fd\":%d,\"error\":\"%s\"", (int)fd,
                     uv_err_name(rc));
            free(s);
            return -1; /* curl fails the transfer */
        }
        s->poll.data = s;
        s->client = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks) c->socks->prev = s;
        c->socks = s;
        c->n_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    if (events)
        uv_poll_start(&s->poll, events, sock_on_poll);
    else
        uv_poll_stop(&s->poll);
    return 0;
}

static void client_on_timer(uv_timer_t *t) { client_drive(t->data, CURL_SOCKET_TIMEOUT, 0); }

static int client_on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
    http_client *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, client_on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- easy handles ---- */

/* The options every call of the client shares. false if curl refused one. */
static bool easy_set_constant(const http_client *c, CURL *e) {
    const http_client_options *o = &c->opt;
    bool bad = false;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, o->buffer_size) != CURLE_OK;
    if (o->max_redirects > 0) {
        bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirects) != CURLE_OK;
    }
    /* "" disables proxies, environment variables included. */
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, o->proxy ? o->proxy : "") != CURLE_OK;
    if (o->proxy) bad |= curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) != CURLE_OK;
    if (o->ca_file) bad |= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) != CURLE_OK;
    if (o->insecure) {
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }
    if (o->verbose) curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, call_on_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, call_on_write) != CURLE_OK;
    return !bad;
}

/* A spare handle, or a new one with the constant options; NULL if curl fails. */
static CURL *client_take_easy(http_client *c) {
    if (c->n_spare > 0) return c->spare[--c->n_spare];
    CURL *e = curl_easy_init();
    if (e && !easy_set_constant(c, e)) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

/* Keeps the handle of a cleanly finished call for the next one. Everything call_setup_easy
 * sets per call goes back to curl's default, so the next call starts from the state of a new
 * handle with the constant options: nothing points into the finished call, its headers or its
 * body, and the method is GET again. The handle is destroyed if the list is full, the client
 * is closing or curl refuses. */
static void client_put_easy(http_client *c, CURL *e) {
    bool bad = c->closing || c->n_spare == HTTP_SPARE_EASY;
    if (!bad) {
        bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL) != CURLE_OK;
        /* Frees the copied body; it also selects POST, which HTTPGET below undoes. */
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK; /* also NOBODY 0 */
    }
    if (bad)
        curl_easy_cleanup(e);
    else
        c->spare[c->n_spare++] = e;
}

/* ---- call completion ---- */

/* Leaves the multi handle, reports `res` (NULL = silently) unless cancelled, starts the
 * release. Only at a point where curl is not on the stack. */
static void call_finish(http_call *call, const http_call_result *res) {
    http_client *c = call->client;
    assert(!call->finished);
    call->finished = true;
    calls_unlink(c, call);
    pending_unlink(c, call);
    uv_timer_stop(&call->watchdog);
    if (call->in_multi) {
        /* Leaving mid-transfer: the connection must close now, never go back to the pool
         * with half a response in it (and the upstream must see the abort). */
        if (!call->curl_done) curl_easy_setopt(call->easy, CURLOPT_FORBID_REUSE, 1L);
        curl_multi_remove_handle(c->multi, call->easy);
        call->in_multi = false;
    }
    if (res && !call->cancelled && call->cb.on_done) {
        c->depth++;
        call->cb.on_done(call, res, call->ud);
        c->depth--;
    }
    if (call->curl_ok && !call->cancelled && !call->ever_paused)
        client_put_easy(c, call->easy);
    else
        curl_easy_cleanup(call->easy);
    call->easy = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    free(call->content_type);
    call->content_type = NULL;
    uv_close((uv_handle_t *)&call->watchdog, call_on_close);
}

static void call_fail(http_call *call, http_error_kind kind, CURLcode rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void call_fail(http_call *call, http_error_kind kind, CURLcode rc, const char *fmt, ...) {
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_call_result res = {.ok = false, .curl_code = rc, .kind = kind, .message = msg};
    call_finish(call, &res);
}

static void client_reap(http_client *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        http_call *call = (http_call *)priv;
        CURLcode rc = m->data.result; /* m dies with the removal below */
        call->curl_done = true;
        call->curl_ok = rc == CURLE_OK;
        http_call_result res = {.ok = rc == CURLE_OK, .curl_code = rc, .kind = error_kind_of(rc)};
        if (rc == CURLE_OK)
            res.message = "ok";
        else
            res.message = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
        call_finish(call, &res);
    }
}

static void client_drive(http_client *c, curl_socket_t fd, int flags) {
    int running = 0;
    c->depth++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->depth--;
    client_reap(c);
}

/* ---- watchdog: first byte, stall, total ---- */

static void call_on_watchdog(uv_timer_t *t);

static long call_wait_limit(const http_call *call) {
    return call->got_byte ? call->stall_ms : call->first_byte_ms;
}

static void call_arm(http_call *call) {
    uint64_t now = uv_now(call->client->loop);
    uint64_t due = UINT64_MAX;
    long wait = call_wait_limit(call);
    if (!call->paused && wait > 0) due = call->wait_from_ms + (uint64_t)wait;
    if (call->total_ms > 0 && call->start_ms + (uint64_t)call->total_ms < due)
        due = call->start_ms + (uint64_t)call->total_ms;
    if (due == UINT64_MAX) {
        uv_timer_stop(&call->watchdog);
        return;
    }
    uv_timer_start(&call->watchdog, call_on_watchdog, due > now ? due - now : 0, 0);
}

/* Later bytes only move the deadline later, so the timer re-arms itself lazily when it fires
 * early: the per-chunk cost is one store, not a timer-heap update. The first byte switches
 * from the first-byte to the stall limit, which may be nearer, so that one re-arms now. */
static void call_touch(http_call *call) {
    call->wait_from_ms = uv_now(call->client->loop);
    if (call->got_byte) return;
    call->got_byte = true;
    call_arm(call);
}

static void call_on_watchdog(uv_timer_t *t) {
    http_call *call = t->data;
    uint64_t now = uv_now(call->client->loop);
    long wait = call_wait_limit(call);
    if (call->total_ms > 0 && now >= call->start_ms + (uint64_t)call->total_ms) {
        call_fail(call, HTTP_ERR_TIMEOUT_TOTAL, CURLE_OPERATION_TIMEDOUT,
                  "call not finished within %ld ms", call->total_ms);
    } else if (!call->paused && wait > 0 && now >= call->wait_from_ms + (uint64_t)wait) {
        if (call->got_byte)
            call_fail(call, HTTP_ERR_TIMEOUT_STALL, CURLE_OPERATION_TIMEDOUT, "no data for %ld ms",
                      wait);
        else
            call_fail(call, HTTP_ERR_TIMEOUT_FIRST_BYTE, CURLE_OPERATION_TIMEDOUT,
                      "no response within %ld ms", wait);
    } else {
        call_arm(call);
    }
}

/* ---- curl callbacks of a call ---- */

static void call_deliver_response(http_call *call) {
    http_client *c = call->client;
    call->response_sent = true;
    if (!call->cb.on_response) return;
    c->depth++;
    call->cb.on_response(call, call->status, call->content_type, call->ud);
    c->depth--;
}

/* "Name: value\r\n" → value without surrounding blanks, or NULL if the name differs. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0) return NULL;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static size_t call_on_header(char *p, size_t size, size_t nmemb, void *ud) {
    http_call *call = ud;
    size_t len = size * nmemb;
    if (call->cancelled) return 0;
    call_touch(call);
    if (call->response_sent) return len; /* trailers */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new block: 1xx, a redirect, or the final response. */
        const char *sp = memchr(p, ' ', len);
        call->status = 0;
        for (const char *d = sp ? sp + 1 : p + len; d < p + len && *d >= '0' && *d <= '9'; d++)
            call->status = call->status * 10 + (*d - '0');
        call->block_has_location = false;
        free(call->content_type);
        call->content_type = NULL;
        return len;
    }
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        if (call->status < 200) return len;
        /* Mirrors curl's rule, so the block curl follows is never reported. */
        if (call->status >= 300 && call->status < 400 && call->block_has_location &&
            call->redirects < call->client->opt.max_redirects) {
            call->redirects++;
            return len;
        }
        call_deliver_response(call);
        return call->cancelled ? 0 : len;
    }
    size_t vlen;
    const char *v;
    if ((v = header_value(p, len, "Location", &vlen))) {
        call->block_has_location = vlen > 0;
    } else if ((v = header_value(p, len, "Content-Type", &vlen))) {
        free(call->content_type);
        call->content_type = xstrndup(v, vlen);
    }
    return len;
}

static size_t call_on_write(char *p, size_t size, size_t nmemb, void *ud) {
    http_call *call = ud;
    size_t len = size * nmemb;
    if (call->cancelled) return 0; /* makes curl abort the transfer and close the connection */
    if (!call->response_sent) call_deliver_response(call); /* header end not seen: be safe */
    if (call->cancelled) return 0;
    if (call->paused) {
        call->curl_paused = call->ever_paused = true;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps this chunk and redelivers it on resume */
    }
    call_touch(call);
    if (len && call->cb.on_data) {
        http_client *c = call->client;
        c->depth++;
        call->cb.on_data(call, p, len, call->ud);
        c->depth--;
    }
    return call->cancelled ? 0 : len;
}

/* ---- deferred work ---- */

static int call_add(http_call *call) {
    if (curl_multi_add_handle(call->client->multi, call->easy) != CURLM_OK) return -1;
    call->in_multi = true;
    return 0;
}

static void call_unpause(http_call *call) {
    http_client *c = call->client;
    call->curl_paused = false;
    c->depth++;
    CURLcode rc = curl_easy_pause(call->easy, CURLPAUSE_CONT); /* may deliver held data now */
    c->depth--;
    if (rc != CURLE_OK && !call->cancelled)
        call_fail(call, error_kind_of(rc), rc, "resume failed: %s", curl_easy_strerror(rc));
}

static void client_teardown(http_client *c) {
    while (c->calls) {
        c->calls->cancelled = true;
        call_finish(c->calls, NULL);
    }
    /* Cached idle connections have no polls; cleanup closes them without calling back. */
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
    while (c->socks)
        sock_close(c, c->socks);
    while (c->n_spare > 0)
        curl_easy_cleanup(c->spare[--c->n_spare]);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    uv_close((uv_handle_t *)&c->timer, client_on_handle_close);
    uv_close((uv_handle_t *)&c->idle, client_on_handle_close);
}

static void client_on_idle(uv_idle_t *h) {
    http_client *c = h->data;
    uv_idle_stop(h);
    assert(c->depth == 0);
    http_call *call;
    while (!c->closing && (call = c->pending)) {
        pending_unlink(c, call);
        if (call->cancelled)
            call_finish(call, NULL);
        else if (!call->in_multi && call_add(call) != 0)
            call_fail(call, HTTP_ERR_OTHER, CURLE_FAILED_INIT, "curl refused the transfer");
        else if (call->curl_paused && !call->paused)
            call_unpause(call);
    }
    if (c->closing) client_teardown(c);
}

/* ---- public API ---- */

int http_client_new(http_client **out, uv_loop_t *loop, const http_client_options *opt) {
    http_client *c = xcalloc(1, sizeof *c);
    if (opt)
        c->opt = *opt;
    else
        http_client_options_defaults(&c->opt);
    if (c->opt.buffer_size < 1024) c->opt.buffer_size = 1024;
    if (c->opt.buffer_size > 524288) c->opt.buffer_size = 524288;
    if (c->opt.max_redirects < 0) c->opt.max_redirects = 0;
    c->ca_file = c->opt.ca_file ? xstrdup(c->opt.ca_file) : NULL;
    c->proxy = c->opt.proxy ? xstrdup(c->opt.proxy) : NULL;
    c->opt.ca_file = c->ca_file;
    c->opt.proxy = c->proxy;
    c->loop = loop;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c->ca_file);
        free(c->proxy);
        free(c);
        return UV_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, client_on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, client_on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->opt.max_host_connections);
    uv_timer_init(loop, &c->timer);
    uv_idle_init(loop, &c->idle);
    c->timer.data = c;
    c->idle.data = c;
    c->n_handles = 2;
    *out = c;
    return 0;
}

void http_client_free(http_client *c, void (*done)(void *ud), void *ud) {
    if (!c || c->closing) return;
    c->closing = true;
    c->done = done;
    c->done_ud = ud;
    for (http_call *call = c->calls; call; call = call->next)
        call->cancelled = true;
    if (c->depth == 0)
        client_teardown(c);
    else
        uv_idle_start(&c->idle, client_on_idle);
}

size_t http_client_active_calls(const http_client *c) { return c->n_calls; }

static long effective_ms(long per_call, long client_default) {
    if (per_call < 0) return 0;
    return per_call > 0 ? per_call : client_default;
}

static bool headers_have(const struct curl_slist *h, const char *name) {
    size_t n = strlen(name);
    for (; h; h = h->next)
        if (strncasecmp(h->data, name, n) == 0 && (h->data[n] == ':' || h->data[n] == ';'))
            return true;
    return false;
}

/* The per-call options on a handle that has the constant ones (client_take_easy): returns
 * false if curl refused an option. */
static bool call_setup_easy(http_call *call, const http_call_request *req) {
    const http_client_options *o = &call->client->opt;
    CURL *e = call->easy;
    bool bad = false;
    bad |= curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)call) != CURLE_OK;
    bad |=
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         effective_ms(req->connect_timeout_ms, o->connect_timeout_ms)) != CURLE_OK;
    if (o->max_redirects > 0) {
        /* A redirect never downgrades an https call: the body and the Cosy-* headers it carries
         * would go out in clear. */
        bool tls = strncasecmp(req->url, "https:", 6) == 0;
        bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, tls ? "https" : "http,https") !=
               CURLE_OK;
    }
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, call) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, call) != CURLE_OK;

    const char *body = req->body ? req->body : "";
    if (strcmp(req->method, "GET") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    } else if (strcmp(req->method, "HEAD") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    } else {
        if (strcmp(req->method, "POST") != 0)
            bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
        bad |=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK;
        /* curl would wait up to 1 s for "100 Continue" on big bodies; upstreams don't send it. */
        if (!headers_have(call->headers, "Expect")) {
            struct curl_slist *h = curl_slist_append(call->headers, "Expect:");
            if (h)
                call->headers = h;
            else
                bad = true;
        }
    }
    if (call->headers) bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers) != CURLE_OK;
    return !bad;
}

http_call *http_call_start(http_client *c, const http_call_request *req,
                           const http_call_callbacks *cb, void *ud) {
    http_call *call = NULL;
    if (c->closing || !req->method || !req->url) goto fail;
    call = xcalloc(1, sizeof *call);
    call->client = c;
    call->headers = req->headers;
    if (cb) call->cb = *cb;
    call->ud = ud;
    call->first_byte_ms = effective_ms(req->first_byte_timeout_ms, c->opt.first_byte_timeout_ms);
    call->stall_ms = effective_ms(req->stall_timeout_ms, c->opt.stall_timeout_ms);
    call->total_ms = effective_ms(req->total_timeout_ms, c->opt.total_timeout_ms);
    call->easy = client_take_easy(c);
    if (!call->easy || !call_setup_easy(call, req)) goto fail;
    /* Inside a callback curl refuses new handles: the idle phase adds it. */
    if (c->depth == 0 && call_add(call) != 0) goto fail;
    uv_timer_init(c->loop, &call->watchdog);
    call->watchdog.data = call;
    c->n_handles++;
    calls_link(c, call);
    if (!call->in_multi) pending_push(c, call);
    call->start_ms = call->wait_from_ms = uv_now(c->loop);
    call_arm(call);
    return call;

fail:
    if (call) {
        if (call->easy) curl_easy_cleanup(call->easy);
        curl_slist_free_all(call->headers);
        free(call);
    } else {
        curl_slist_free_all(req->headers);
    }
    return NULL;
}

void http_call_pause(http_call *call) {
    if (call->finished || call->cancelled) return;
    call->paused = true; /* the watchdog notices on its next tick and stops counting */
}

void http_call_resume(http_call *call) {
    if (call->finished || call->cancelled || !call->paused) return;
    call->paused = false;
    call->wait_from_ms = uv_now(call->client->loop);
    call_arm(call);
    /* Unpausing delivers the held chunk synchronously: never from inside a callback. */
    if (call->curl_paused) pending_push(call->client, call);
}

void http_call_cancel(http_call *call) {
    if (call->finished || call->cancelled) return;
    call->cancelled = true;
    if (call->client->depth == 0)
        call_finish(call, NULL);
    else
        pending_push(call->client, call);
}
