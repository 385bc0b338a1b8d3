/* HTTP/1.1 client on libuv + llhttp (+ tls_stream for https; request bytes from http_request):
 * the calls. Connections live in http_conn.c, response parsing in http_response.c; the objects
 * are described in http_client_internal.h.
 *
 * Re-entrancy. User callbacks run inside our stack frames (read callback → llhttp → on_data),
 * and may cancel the call, free the client, start calls or pause and resume. Those act at once:
 * closing a connection or finishing a call only marks it and starts uv_close, and memory is
 * released in close callbacks, so the frames below stay valid; each of them checks
 * call->finished or conn->call after a callback returns and unwinds. Only failures detected
 * while starting a call (which must not call back) and delivery after resume are deferred to
 * the idle handle (`pending`).
 *
 * Lifetime. A call's memory goes with its watchdog timer's close callback, a connection's with
 * its TCP handle's, the client's when the last of its handles and DNS requests is released
 * after http_client_free. */
#include "upstream/http_client.h"
#include "upstream/http_client_internal.h"
#include "upstream/http_request.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { HTTP_MAX_IDLE_PER_HOST = 256 }; /* pooled connections beyond this are closed */

static void client_on_idle(uv_idle_t *h);

/* ---- options and errors ---- */

void http_client_options_defaults(http_client_options *opt) {
    *opt = (http_client_options){
        .connect_timeout_ms = 10000,
        .first_byte_timeout_ms = 60000,
        .stall_timeout_ms = 60000,
        .total_timeout_ms = 0,
        .buffer_size = 16384,
        .max_host_connections = 0,
        .idle_timeout_ms = 60000,
    };
}

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

/* ---- lists ---- */

static void calls_unlink(http_client *c, http_call *call) {
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->n_calls--;
}

static void pending_push(http_call *call) {
    http_client *c = call->client;
    if (!call->queued) {
        call->queued = true;
        call->pprev = NULL;
        call->pnext = c->pending;
        if (c->pending) c->pending->pprev = call;
        c->pending = call;
    }
    uv_idle_start(&c->idle, client_on_idle);
}

static void pending_unlink(http_call *call) {
    if (!call->queued) return;
    http_client *c = call->client;
    if (call->pprev)
        call->pprev->pnext = call->pnext;
    else
        c->pending = call->pnext;
    if (call->pnext) call->pnext->pprev = call->pprev;
    call->pprev = call->pnext = NULL;
    call->queued = false;
}

static void wait_push(http_host *h, http_call *call) {
    call->waiting = true;
    call->qnext = NULL;
    call->qprev = h->wait_tail;
    if (h->wait_tail)
        h->wait_tail->qnext = call;
    else
        h->wait_head = call;
    h->wait_tail = call;
}

static void wait_unlink(http_host *h, http_call *call) {
    if (!call->waiting) return;
    if (call->qprev)
        call->qprev->qnext = call->qnext;
    else
        h->wait_head = call->qnext;
    if (call->qnext)
        call->qnext->qprev = call->qprev;
    else
        h->wait_tail = call->qprev;
    call->qprev = call->qnext = NULL;
    call->waiting = false;
}

static void idle_push(http_host *h, http_conn *k) {
    k->iprev = NULL;
    k->inext = h->idle;
    if (h->idle) h->idle->iprev = k;
    h->idle = k;
    h->n_idle++;
}

void hc_idle_unlink(http_host *h, http_conn *k) {
    if (k->iprev)
        k->iprev->inext = k->inext;
    else
        h->idle = k->inext;
    if (k->inext) k->inext->iprev = k->iprev;
    k->iprev = k->inext = NULL;
    h->n_idle--;
}

/* ---- release ---- */

void hc_client_release(http_client *c) {
    assert(c->n_handles > 0);
    if (--c->n_handles > 0 || !c->closing) return;
    void (*done)(void *) = c->done;
    void *ud = c->done_ud;
    while (c->hosts) {
        http_host *h = c->hosts;
        c->hosts = h->next;
        hc_addrs_unref(h->addrs);
        free(h);
    }
    SSL_CTX_free(c->ssl_ctx);
    free(c->ca_file);
    free(c->rbuf);
    free(c->pbuf);
    free(c);
    if (done) done(ud);
}

static void client_on_handle_close(uv_handle_t *h) { hc_client_release(h->data); }

static void call_on_close(uv_handle_t *h) {
    http_call *call = h->data;
    http_client *c = call->client;
    free(call);
    hc_client_release(c);
}

/* ---- the watchdog: connect, first byte, stall, total ---- */

static void call_on_watchdog(uv_timer_t *t);

static long call_wait_limit(const http_call *call) {
    return call->got_byte ? call->stall_ms : call->first_byte_ms;
}

void hc_call_arm(http_call *call) {
    uint64_t now = uv_now(call->client->loop);
    uint64_t due = UINT64_MAX;
    long wait = call_wait_limit(call);
    if (!call->paused && wait > 0) due = call->wait_from_ms + (uint64_t)wait;
    if (call->connecting && call->connect_ms > 0 &&
        call->connect_from_ms + (uint64_t)call->connect_ms < due)
        due = call->connect_from_ms + (uint64_t)call->connect_ms;
    if (call->total_ms > 0 && call->start_ms + (uint64_t)call->total_ms < due)
        due = call->start_ms + (uint64_t)call->total_ms;
    if (due == UINT64_MAX) {
        uv_timer_stop(&call->watchdog);
        return;
    }
    uv_timer_start(&call->watchdog, call_on_watchdog, due > now ? due - now : 0, 0);
}

/* Bytes only move deadlines later, so the timer re-arms lazily when it fires early: the
 * per-read cost is one store. The first byte switches to the stall limit, which may be
 * nearer, and ends the need for the request copy, so that one acts now. */
void hc_call_touch(http_call *call) {
    call->wait_from_ms = uv_now(call->client->loop);
    if (call->got_byte) return;
    call->got_byte = true;
    hc_call_arm(call);
    if (call->conn && call->conn->req_written) {
        free(call->req); /* no retry after a response byte */
        call->req = NULL;
    }
}

static void call_on_watchdog(uv_timer_t *t) {
    http_call *call = t->data;
    uint64_t now = uv_now(call->client->loop);
    long wait = call_wait_limit(call);
    if (call->total_ms > 0 && now >= call->start_ms + (uint64_t)call->total_ms)
        hc_call_fail(call, HTTP_ERR_TIMEOUT_TOTAL, "call not finished within %ld ms",
                     call->total_ms);
    else if (call->connecting && call->connect_ms > 0 &&
             now >= call->connect_from_ms + (uint64_t)call->connect_ms)
        hc_call_fail(call, HTTP_ERR_TIMEOUT_CONNECT, "not connected within %ld ms",
                     call->connect_ms);
    else if (!call->paused && wait > 0 && now >= call->wait_from_ms + (uint64_t)wait) {
        if (call->got_byte)
            hc_call_fail(call, HTTP_ERR_TIMEOUT_STALL, "no data for %ld ms", wait);
        else
            hc_call_fail(call, HTTP_ERR_TIMEOUT_FIRST_BYTE, "no response within %ld ms", wait);
    } else {
        hc_call_arm(call);
    }
}

/* ---- the pool ---- */

/* Starts the oldest waiting calls on new connections while the limit allows. */
void hc_host_kick(http_client *c, http_host *h) {
    long max = c->opt.max_host_connections;
    while (h->wait_head && !c->closing && (max <= 0 || h->n_conns < (unsigned long)max)) {
        http_call *w = h->wait_head;
        wait_unlink(h, w);
        hc_conn_open(w);
    }
}

static void conn_attach(http_conn *k, http_call *call) {
    k->state = CONN_ACTIVE;
    k->call = call;
    call->conn = k;
    k->keep = false;
    k->req_written = false;
    llhttp_reset(&k->parser);
    hc_conn_sync_reading(k);
    hc_conn_send_request(k);
}

static void sweep_arm(http_client *c);

/* A connection whose call finished cleanly: to the oldest waiting call, else to the pool. */
static void conn_release(http_conn *k) {
    http_client *c = k->client;
    http_host *h = k->host;
    k->reused = true;
    if (h->wait_head) {
        http_call *w = h->wait_head;
        wait_unlink(h, w);
        conn_attach(k, w);
        return;
    }
    if (h->n_idle >= HTTP_MAX_IDLE_PER_HOST) {
        hc_conn_close(k, false);
        return;
    }
    k->state = CONN_IDLE;
    k->idle_since = uv_now(c->loop);
    idle_push(h, k);
    hc_conn_sync_reading(k); /* an idle socket is watched for the server's close */
    sweep_arm(c);
}

static void client_on_sweep(uv_timer_t *t) {
    http_client *c = t->data;
    uint64_t now = uv_now(c->loop), limit = (uint64_t)c->opt.idle_timeout_ms, next = UINT64_MAX;
    http_conn *k = c->conns, *n;
    for (; k; k = n) {
        n = k->next;
        if (k->state != CONN_IDLE) continue;
        if (now - k->idle_since >= limit)
            hc_conn_close(k, true);
        else if (k->idle_since + limit < next)
            next = k->idle_since + limit;
    }
    if (next != UINT64_MAX) uv_timer_start(&c->sweep, client_on_sweep, next - now, 0);
}

static void sweep_arm(http_client *c) {
    if (!uv_is_active((uv_handle_t *)&c->sweep))
        uv_timer_start(&c->sweep, client_on_sweep, (uint64_t)c->opt.idle_timeout_ms, 0);
}

/* ---- call completion ---- */

/* Detaches the connection (pooled after a clean success, else closed), reports `res` (NULL =
 * silently) unless cancelled, and starts the release. */
static void call_finish(http_call *call, const http_call_result *res) {
    http_client *c = call->client;
    assert(!call->finished);
    call->finished = true;
    calls_unlink(c, call);
    pending_unlink(call);
    wait_unlink(call->host, call);
    uv_timer_stop(&call->watchdog);
    http_conn *k = call->conn;
    if (k) {
        call->conn = NULL;
        k->call = NULL;
        if (res && res->ok && call->complete && k->keep && k->req_written && !c->closing)
            conn_release(k);
        else
            hc_conn_close(k, true);
    }
    if (res && !call->cancelled && call->cb.on_done) call->cb.on_done(call, res, call->ud);
    free(call->req);
    free(call->held);
    free(call->fail_msg);
    buf_free(&call->ctype);
    call->req = call->held = call->fail_msg = NULL;
    uv_close((uv_handle_t *)&call->watchdog, call_on_close);
}

static void call_succeed(http_call *call) {
    http_call_result res = {.ok = true, .kind = HTTP_ERR_NONE, .message = "ok"};
    call_finish(call, &res);
}

void hc_call_fail(http_call *call, http_error_kind kind, const char *fmt, ...) {
    if (call->finished) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_call_result res = {.ok = false, .kind = kind, .message = msg};
    call_finish(call, &res);
}

/* A failure found where no callback may run (inside http_call_start, or while another call
 * is finishing), or behind body pieces held during a pause: reported from the idle phase, after
 * the held pieces are delivered. The first one wins. */
void hc_call_fail_soon(http_call *call, http_error_kind kind, const char *fmt, ...) {
    if (call->finished || call->fail_kind != HTTP_ERR_NONE) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    call->fail_kind = (uint8_t)kind;
    call->fail_msg = xstrdup(msg);
    pending_push(call);
}

/* The response ended: finish now, or after the pieces held during a pause. */
void hc_call_complete(http_call *call) {
    if (call->held) {
        hc_conn_sync_reading(call->conn);
        return;
    }
    call_succeed(call);
}

/* ---- deferred work and resume ---- */

/* Delivers the pieces held while paused, one on_data each, then finishes a complete response
 * or reads on. */
static void call_drain_held(http_call *call) {
    while (call->held && !call->paused) {
        if (call->held_off == call->held_len) {
            free(call->held);
            call->held = NULL;
            call->held_len = call->held_off = 0;
            break;
        }
        uint32_t n;
        memcpy(&n, call->held + call->held_off, sizeof n);
        const char *piece = call->held + call->held_off + sizeof n;
        call->held_off += sizeof n + n;
        if (call->cb.on_data) {
            call->cb.on_data(call, piece, n, call->ud);
            if (call->finished) return;
        }
    }
    if (call->paused || call->held) return;
    if (call->fail_kind != HTTP_ERR_NONE)
        hc_call_fail(call, (http_error_kind)call->fail_kind, "%s", call->fail_msg);
    else if (call->complete)
        call_succeed(call);
    else if (call->conn)
        hc_conn_sync_reading(call->conn);
}

static void client_on_idle(uv_idle_t *h) {
    http_client *c = h->data;
    http_call *call;
    while (!c->closing && (call = c->pending)) {
        pending_unlink(call);
        if (call->fail_kind != HTTP_ERR_NONE && !call->held)
            hc_call_fail(call, (http_error_kind)call->fail_kind, "%s", call->fail_msg);
        else
            call_drain_held(call); /* then the failure, if any */
    }
    uv_idle_stop(h);
}

/* ---- origins ---- */

static http_host *host_get(http_client *c, const http_url *u) {
    for (http_host *h = c->hosts; h; h = h->next)
        if (h->tls == u->tls && h->port == u->port && strlen(h->name) == u->host_len &&
            strncasecmp(h->name, u->host, u->host_len) == 0)
            return h;
    http_host *h = xcalloc(1, sizeof *h + u->host_len + 1);
    memcpy(h->name, u->host, u->host_len);
    h->tls = u->tls;
    h->port = u->port;
    if (uv_ip4_addr(h->name, h->port, (struct sockaddr_in *)&h->addr) == 0 ||
        uv_ip6_addr(h->name, h->port, (struct sockaddr_in6 *)&h->addr) == 0)
        h->numeric = true;
    h->next = c->hosts;
    c->hosts = h;
    return h;
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
    if (c->opt.idle_timeout_ms <= 0) c->opt.idle_timeout_ms = 60000;
    c->ca_file = c->opt.ca_file ? xstrdup(c->opt.ca_file) : NULL;
    c->opt.ca_file = c->ca_file;
    c->rbuf = xmalloc((size_t)c->opt.buffer_size);
    c->loop = loop;
    uv_timer_init(loop, &c->sweep);
    uv_idle_init(loop, &c->idle);
    c->sweep.data = c;
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
    while (c->calls) {
        c->calls->cancelled = true;
        call_finish(c->calls, NULL);
    }
    while (c->conns)
        hc_conn_close(c->conns, false);
    uv_close((uv_handle_t *)&c->sweep, client_on_handle_close);
    uv_close((uv_handle_t *)&c->idle, client_on_handle_close);
}

size_t http_client_active_calls(const http_client *c) { return c->n_calls; }

static long effective_ms(long per_call, long client_default) {
    if (per_call < 0) return 0;
    return per_call > 0 ? per_call : client_default;
}

http_call *http_call_start(http_client *c, const http_call_request *req,
                           const http_call_callbacks *cb, void *ud) {
    http_url u;
    bool has_ae = false;
    if (c->closing || !req->method || !req->url || !http_method_ok(req->method) ||
        !http_url_parse(req->url, &u) || (req->headers && !http_headers_ok(req->headers, &has_ae)))
        return NULL;
    http_call *call = xcalloc(1, sizeof *call);
    call->client = c;
    call->host = host_get(c, &u);
    if (cb) call->cb = *cb;
    call->ud = ud;
    call->head = strcmp(req->method, "HEAD") == 0;
    call->connect_ms = effective_ms(req->connect_timeout_ms, c->opt.connect_timeout_ms);
    call->first_byte_ms = effective_ms(req->first_byte_timeout_ms, c->opt.first_byte_timeout_ms);
    call->stall_ms = effective_ms(req->stall_timeout_ms, c->opt.stall_timeout_ms);
    call->total_ms = effective_ms(req->total_timeout_ms, c->opt.total_timeout_ms);
    call->req = http_request_build(req->method, &u, req->headers, has_ae, req->body, req->body_len,
                                   &call->req_len);
    uv_timer_init(c->loop, &call->watchdog);
    call->watchdog.data = call;
    c->n_handles++;
    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    c->n_calls++;
    call->start_ms = call->wait_from_ms = uv_now(c->loop);
    hc_call_arm(call);

    http_host *h = call->host;
    long max = c->opt.max_host_connections;
    if (h->idle) {
        http_conn *k = h->idle;
        hc_idle_unlink(h, k);
        conn_attach(k, call);
    } else if (max <= 0 || h->n_conns < (unsigned long)max) {
        hc_conn_open(call);
    } else {
        wait_push(h, call);
    }
    return call;
}

void http_call_pause(http_call *call) {
    if (call->finished || call->cancelled || call->paused) return;
    call->paused = true; /* the watchdog notices on its next tick and stops counting */
    if (call->conn) hc_conn_sync_reading(call->conn);
}

void http_call_resume(http_call *call) {
    if (call->finished || call->cancelled || !call->paused) return;
    call->paused = false;
    call->wait_from_ms = uv_now(call->client->loop);
    hc_call_arm(call);
    if (call->held)
        pending_push(call); /* delivered from the loop, never from inside this function */
    else if (call->conn)
        hc_conn_sync_reading(call->conn);
}

void http_call_cancel(http_call *call) {
    if (call->finished || call->cancelled) return;
    call->cancelled = true;
    call_finish(call, NULL);
}
