/* HTTP/1.1 client on libuv + llhttp (+ tls_stream for https; request bytes from http_request).
 *
 * Objects. A call (http_call) is one request/response exchange; a connection (http_conn) is one
 * TCP socket with its response parser and, for https, its SSL session; a host (http_host) is
 * the pool of one origin: its idle connections (a LIFO list) and the calls waiting for a
 * connection when max_host_connections is reached (a FIFO). While a call runs, call->conn and
 * conn->call point at each other; the connection is detached when the call finishes and then
 * either goes back to the pool (complete response, request fully written, keep-alive), straight
 * to the host's oldest waiting call, or is closed.
 *
 * Reading. Every connection reads into the client's one receive buffer; the read callback
 * parses the bytes (after decrypting them, for https) and delivers headers and body pieces to
 * the call before it returns, so the buffer is free again for the next read of any
 * connection. A paused call stops its connection's reading; body pieces still parsed from the
 * current read are appended to the call's own heap buffer as [u32 length][bytes] records and
 * delivered, one on_data per piece, from the idle phase after resume.
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
#include "upstream/http_request.h"
#include "upstream/tls_stream.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <assert.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    HTTP_MAX_HEADER_BYTES = 64 * 1024, /* status line + response headers */
    HTTP_MAX_IDLE_PER_HOST = 256,      /* pooled connections beyond this are closed */
    HTTP_TLS_PLAIN_BYTES = 16 * 1024,  /* one TLS record's plaintext */
    HTTP_DNS_TTL_MS = 60 * 1000,       /* resolved addresses are reused this long (as curl did) */
};

typedef struct http_host http_host;
typedef struct http_conn http_conn;

/* A resolved address list, shared by the host's cache and the connections trying it. */
typedef struct http_addrs {
    struct addrinfo *ai;
    unsigned refs;
    uint64_t expires_ms;
} http_addrs;

struct http_host {
    http_host *next;
    http_conn *idle;                  /* most recently used first */
    http_call *wait_head, *wait_tail; /* calls waiting for a connection, oldest first */
    unsigned n_conns, n_idle;         /* open (connecting, busy or idle) / idle */
    uint16_t port;
    bool tls;
    bool numeric; /* an IP literal: addr holds it, no DNS */
    struct sockaddr_storage addr;
    http_addrs *addrs; /* the last resolution, until HTTP_DNS_TTL_MS */
    char name[];       /* without IPv6 brackets */
};

typedef enum { CONN_CONNECTING, CONN_HANDSHAKE, CONN_ACTIVE, CONN_IDLE, CONN_CLOSED } conn_state;

typedef struct http_dns {
    uv_getaddrinfo_t req;
    http_conn *conn; /* NULL once the connection gave up on it */
    http_client *client;
} http_dns;

struct http_conn {
    uv_tcp_t tcp;
    llhttp_t parser;
    http_client *client;
    http_host *host;
    http_call *call;          /* attached call, NULL when idle */
    SSL *ssl;                 /* https only */
    http_conn *prev, *next;   /* client->conns */
    http_conn *iprev, *inext; /* host->idle */
    http_dns *dns;            /* resolution in progress */
    http_addrs *addrs;        /* while connecting: the addresses... */
    struct addrinfo *ai_next; /* ...and those left to try */
    uint64_t idle_since;
    uint8_t state;    /* conn_state */
    bool reading;     /* uv_read_start in effect */
    bool reused;      /* served a call before: a failure before any response byte is stale */
    bool keep;        /* the response allows reuse and nothing followed it */
    bool req_written; /* the attached call's request is fully written */
};

struct http_call {
    http_client *client;
    http_host *host;
    http_conn *conn;
    http_call_callbacks cb;
    void *ud;
    uv_timer_t watchdog;
    http_call *prev, *next;   /* client->calls: not finished */
    http_call *qprev, *qnext; /* host wait queue */
    http_call *pprev, *pnext; /* client->pending: deferred work */
    char *req;                /* request head + body; freed once no retry can need it */
    size_t req_len;
    char *held; /* body pieces parsed while paused: [u32 len][bytes]... */
    size_t held_len, held_off;
    buf ctype;      /* Content-Type of the response being parsed */
    char *fail_msg; /* deferred failure */
    uint64_t start_ms, wait_from_ms, connect_from_ms;
    long connect_ms, first_byte_ms, stall_ms, total_ms;
    uint32_t hdr_bytes;
    int status;
    int8_t ct_match; /* chars of "content-type" matched by the header name, -1 = other */
    uint8_t fail_kind;
    bool ct_field; /* the current header is Content-Type */
    bool head;     /* HEAD request: the response has no body */
    bool queued;   /* on client->pending */
    bool waiting;  /* on the host's wait queue */
    bool connecting, got_byte, complete, retried;
    bool paused, cancelled, finished;
};

struct http_client {
    uv_loop_t *loop;
    http_client_options opt;
    char *ca_file;
    SSL_CTX *ssl_ctx; /* created at the first https connection */
    char *rbuf;       /* the receive buffer of every connection */
    char *pbuf;       /* TLS plaintext, allocated with the first https connection */
    http_host *hosts;
    http_conn *conns;
    http_call *calls, *pending;
    size_t n_calls;
    uv_timer_t sweep;   /* closes idle connections */
    uv_idle_t idle;     /* runs `pending` */
    unsigned n_handles; /* uv handles and DNS requests not yet released */
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

static const llhttp_settings_t g_settings;
static void call_fail(http_call *call, http_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_fail_soon(http_call *call, http_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_open(http_call *call);
static void conn_close(http_conn *k, bool kick);
static void conn_sync_reading(http_conn *k);
static void conn_send_request(http_conn *k);
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

static void idle_unlink(http_host *h, http_conn *k) {
    if (k->iprev)
        k->iprev->inext = k->inext;
    else
        h->idle = k->inext;
    if (k->inext) k->inext->iprev = k->iprev;
    k->iprev = k->inext = NULL;
    h->n_idle--;
}

/* ---- release ---- */

static void addrs_unref(http_addrs *a) {
    if (a && --a->refs == 0) {
        uv_freeaddrinfo(a->ai);
        free(a);
    }
}

static void client_release(http_client *c) {
    assert(c->n_handles > 0);
    if (--c->n_handles > 0 || !c->closing) return;
    void (*done)(void *) = c->done;
    void *ud = c->done_ud;
    while (c->hosts) {
        http_host *h = c->hosts;
        c->hosts = h->next;
        addrs_unref(h->addrs);
        free(h);
    }
    SSL_CTX_free(c->ssl_ctx);
    free(c->ca_file);
    free(c->rbuf);
    free(c->pbuf);
    free(c);
    if (done) done(ud);
}

static void client_on_handle_close(uv_handle_t *h) { client_release(h->data); }

static void call_on_close(uv_handle_t *h) {
    http_call *call = h->data;
    http_client *c = call->client;
    free(call);
    client_release(c);
}

static void conn_on_close(uv_handle_t *h) {
    http_conn *k = h->data;
    http_client *c = k->client;
    if (k->ssl) tls_stream_free(k->ssl);
    free(k);
    client_release(c);
}

/* ---- the watchdog: connect, first byte, stall, total ---- */

static void call_on_watchdog(uv_timer_t *t);

static long call_wait_limit(const http_call *call) {
    return call->got_byte ? call->stall_ms : call->first_byte_ms;
}

static void call_arm(http_call *call) {
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
static void call_touch(http_call *call) {
    call->wait_from_ms = uv_now(call->client->loop);
    if (call->got_byte) return;
    call->got_byte = true;
    call_arm(call);
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
        call_fail(call, HTTP_ERR_TIMEOUT_TOTAL, "call not finished within %ld ms", call->total_ms);
    else if (call->connecting && call->connect_ms > 0 &&
             now >= call->connect_from_ms + (uint64_t)call->connect_ms)
        call_fail(call, HTTP_ERR_TIMEOUT_CONNECT, "not connected within %ld ms", call->connect_ms);
    else if (!call->paused && wait > 0 && now >= call->wait_from_ms + (uint64_t)wait) {
        if (call->got_byte)
            call_fail(call, HTTP_ERR_TIMEOUT_STALL, "no data for %ld ms", wait);
        else
            call_fail(call, HTTP_ERR_TIMEOUT_FIRST_BYTE, "no response within %ld ms", wait);
    } else {
        call_arm(call);
    }
}

/* ---- the pool ---- */

/* Starts the oldest waiting calls on new connections while the limit allows. */
static void host_kick(http_client *c, http_host *h) {
    long max = c->opt.max_host_connections;
    while (h->wait_head && !c->closing && (max <= 0 || h->n_conns < (unsigned long)max)) {
        http_call *w = h->wait_head;
        wait_unlink(h, w);
        conn_open(w);
    }
}

static void conn_attach(http_conn *k, http_call *call) {
    k->state = CONN_ACTIVE;
    k->call = call;
    call->conn = k;
    k->keep = false;
    k->req_written = false;
    llhttp_reset(&k->parser);
    conn_sync_reading(k);
    conn_send_request(k);
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
        conn_close(k, false);
        return;
    }
    k->state = CONN_IDLE;
    k->idle_since = uv_now(c->loop);
    idle_push(h, k);
    conn_sync_reading(k); /* an idle socket is watched for the server's close */
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
            conn_close(k, true);
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
            conn_close(k, true);
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

static void call_fail(http_call *call, http_error_kind kind, const char *fmt, ...) {
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
 * is finishing): reported from the idle phase. The first one wins. */
static void call_fail_soon(http_call *call, http_error_kind kind, const char *fmt, ...) {
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
static void call_complete(http_call *call) {
    if (call->held) {
        conn_sync_reading(call->conn);
        return;
    }
    call_succeed(call);
}

/* A reused connection failed before any response byte: the server closed it while it sat in
 * the pool. Once per call, on a fresh connection, whose slot is the old one's. */
static bool call_may_retry(const http_call *call, const http_conn *k) {
    return k->reused && !call->got_byte && !call->retried && call->req;
}

static void call_retry(http_call *call) {
    http_conn *old = call->conn;
    old->call = NULL;
    call->conn = NULL;
    conn_close(old, false);
    call->retried = true;
    conn_open(call);
}

/* ---- writing ---- */

typedef struct http_wreq {
    uv_write_t req;
    http_conn *conn;
    char *owned; /* TLS ciphertext; NULL for a plain request (the call's buffer) */
    bool request;
} http_wreq;

static void conn_on_write(uv_write_t *w, int status) {
    http_wreq *wr = (http_wreq *)w;
    http_conn *k = wr->conn;
    bool request = wr->request;
    free(wr->owned);
    free(wr);
    if (status == UV_ECANCELED || k->state == CONN_CLOSED) return;
    http_call *call = k->call;
    if (status < 0) {
        if (!call)
            conn_close(k, true);
        else if (k->state == CONN_ACTIVE && call_may_retry(call, k))
            call_retry(call);
        else
            call_fail(call, k->state == CONN_HANDSHAKE ? HTTP_ERR_TLS : HTTP_ERR_RESET,
                      "send failed: %s", uv_strerror(status));
        return;
    }
    if (!request) return;
    k->req_written = true;
    if (call && call->got_byte) {
        free(call->req);
        call->req = NULL;
    }
}

/* Queues len bytes at data (owned: freed after the write, may be NULL). 0 or a uv error. */
static int conn_write(http_conn *k, char *data, size_t len, char *owned, bool request) {
    http_wreq *wr = xmalloc(sizeof *wr);
    wr->conn = k;
    wr->owned = owned;
    wr->request = request;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&wr->req, (uv_stream_t *)&k->tcp, &b, 1, conn_on_write);
    if (rc != 0) {
        free(owned);
        free(wr);
    }
    return rc;
}

/* Sends what OpenSSL produced into *out (and resets *out). */
static int conn_flush(http_conn *k, buf *out, bool request) {
    if (out->len == 0 || k->state == CONN_CLOSED) {
        buf_free(out);
        return 0;
    }
    size_t len;
    char *data = buf_detach(out, &len);
    return conn_write(k, data, len, data, request);
}

/* The request goes out in one write: head and body share one allocation. */
static void conn_send_request(http_conn *k) {
    http_call *call = k->call;
    int rc;
    if (k->ssl) {
        buf out = BUF_INIT;
        if (tls_stream_write(k->ssl, call->req, call->req_len, &out) != TLS_OK) {
            buf_free(&out);
            char why[200];
            tls_stream_error(k->ssl, why, sizeof why);
            call_fail_soon(call, HTTP_ERR_TLS, "%s", why);
            return;
        }
        rc = conn_flush(k, &out, true);
    } else {
        rc = conn_write(k, call->req, call->req_len, NULL, true);
    }
    if (rc != 0) call_fail_soon(call, HTTP_ERR_RESET, "send failed: %s", uv_strerror(rc));
}

/* ---- response parsing (llhttp callbacks; parser->data is the connection) ---- */

static http_call *parsing_call(llhttp_t *p) {
    http_call *call = ((http_conn *)p->data)->call;
    return call && !call->finished ? call : NULL;
}

static int header_bytes(llhttp_t *p, http_call *call, size_t len) {
    call->hdr_bytes += (uint32_t)(len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES);
    if (call->hdr_bytes <= HTTP_MAX_HEADER_BYTES) return 0;
    llhttp_set_error_reason(p, "response headers over 64 KiB");
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->hdr_bytes = 0;
    call->status = 0;
    call->ct_match = 0;
    call->ct_field = false;
    buf_reset(&call->ctype);
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    return call ? header_bytes(p, call, len) : -1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    static const char want[] = "content-type";
    http_call *call = parsing_call(p);
    if (!call) return -1;
    /* The name may arrive in pieces (across reads): match it incrementally. */
    for (size_t i = 0; i < len && call->ct_match >= 0; i++) {
        char ch = at[i] >= 'A' && at[i] <= 'Z' ? (char)(at[i] + 32) : at[i];
        if ((size_t)call->ct_match < sizeof want - 1 && ch == want[call->ct_match])
            call->ct_match++;
        else
            call->ct_match = -1;
    }
    return header_bytes(p, call, len + 4); /* ": " and CRLF */
}

static int on_header_field_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->ct_field = call->ct_match == (int8_t)(sizeof "content-type" - 1);
    call->ct_match = 0;
    if (call->ct_field) buf_reset(&call->ctype); /* the last one wins */
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->ct_field) buf_append(&call->ctype, at, len);
    return header_bytes(p, call, len);
}

static int on_header_value_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->ct_field = false;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->status = llhttp_get_status_code(p);
    if (call->status == 101) {
        llhttp_set_error_reason(p, "unexpected 101 Switching Protocols");
        return -1;
    }
    if (call->status < 200) return 0; /* informational: the real response follows */
    if (call->cb.on_response) {
        while (call->ctype.len && (call->ctype.data[call->ctype.len - 1] == ' ' ||
                                   call->ctype.data[call->ctype.len - 1] == '\t'))
            call->ctype.data[--call->ctype.len] = '\0';
        call->cb.on_response(call, call->status, call->ctype.len ? call->ctype.data : NULL,
                             call->ud);
        if (call->finished) return -1;
    }
    buf_free(&call->ctype);
    return call->head ? 1 : 0; /* 1: no body follows */
}

static void held_append(http_call *call, const char *at, size_t len) {
    uint32_t n = (uint32_t)len; /* at most one read: ≤ buffer_size */
    call->held = xrealloc(call->held, call->held_len + sizeof n + len);
    memcpy(call->held + call->held_len, &n, sizeof n);
    memcpy(call->held + call->held_len + sizeof n, at, len);
    call->held_len += sizeof n + len;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->paused || call->held) {
        held_append(call, at, len);
        return 0;
    }
    if (call->cb.on_data) {
        call->cb.on_data(call, at, len, call->ud);
        if (call->finished) return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->status < 200) return 0;
    call->complete = true;
    ((http_conn *)p->data)->keep = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED; /* stop here: whatever follows is not this call's */
}

static const llhttp_settings_t g_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

typedef enum { FEED_MORE, FEED_DONE, FEED_STOP } feed_result;

/* Parses response bytes of the attached call. FEED_DONE: the response ended after *used
 * bytes; FEED_STOP: the call is gone (finished here, in a callback, or failed). */
static feed_result conn_parse(http_conn *k, const char *data, size_t len, size_t *used) {
    http_call *call = k->call;
    call_touch(call);
    llhttp_errno_t e = llhttp_execute(&k->parser, data, len);
    if (call->finished || k->call != call) return FEED_STOP;
    if (e == HPE_OK) {
        *used = len;
        return FEED_MORE;
    }
    if (e == HPE_PAUSED && call->complete) {
        *used = (size_t)(llhttp_get_error_pos(&k->parser) - data);
        return FEED_DONE;
    }
    const char *why = llhttp_get_error_reason(&k->parser);
    call_fail(call, HTTP_ERR_OTHER, "bad response: %s", why ? why : llhttp_errno_name(e));
    return FEED_STOP;
}

/* ---- reading ---- */

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    http_client *c = ((http_conn *)h->data)->client;
    *b = uv_buf_init(c->rbuf, (unsigned)c->opt.buffer_size);
}

/* The server closed (err UV_EOF) or broke the connection. */
static void conn_on_eof(http_conn *k, int err) {
    http_call *call = k->call;
    if (!call) {
        conn_close(k, true); /* idle: the server let it go */
        return;
    }
    if (k->state == CONN_HANDSHAKE) {
        call_fail(call, HTTP_ERR_TLS, "connection closed during the TLS handshake (%s)",
                  uv_err_name(err));
        return;
    }
    if (err == UV_EOF && call->got_byte) {
        k->keep = false;
        llhttp_finish(&k->parser); /* a read-until-close body ends here */
        if (call->finished) return;
        if (call->complete) {
            call_complete(call);
            return;
        }
    }
    if (call_may_retry(call, k)) {
        call_retry(call);
        return;
    }
    call_fail(call, HTTP_ERR_RESET, "connection closed %s (%s)",
              call->got_byte ? "before the response ended" : "before any response byte",
              uv_err_name(err));
}

static void conn_tls_input(http_conn *k, const char *data, size_t len) {
    http_client *c = k->client;
    buf out = BUF_INIT;
    tls_stream_set_input(k->ssl, data, len);
    if (k->state == CONN_HANDSHAKE) {
        tls_status st = tls_stream_handshake(k->ssl, &out);
        if (st == TLS_OK) {
            k->state = CONN_ACTIVE;
            k->call->connecting = false;
            /* Finished and the request leave in one write. */
            if (tls_stream_write(k->ssl, k->call->req, k->call->req_len, &out) != TLS_OK)
                st = TLS_FAIL;
        }
        int rc = st == TLS_FAIL ? 0 : conn_flush(k, &out, st == TLS_OK);
        if (st == TLS_FAIL || rc != 0) {
            char why[200];
            tls_stream_error(k->ssl, why, sizeof why);
            buf_free(&out);
            tls_stream_set_input(k->ssl, NULL, 0);
            call_fail(k->call, HTTP_ERR_TLS, "TLS handshake failed: %s",
                      rc ? uv_strerror(rc) : why);
            return;
        }
        if (st == TLS_AGAIN) {
            tls_stream_set_input(k->ssl, NULL, 0);
            return;
        }
        conn_sync_reading(k); /* a call paused meanwhile stops here */
    }
    while (k->call && k->state == CONN_ACTIVE) {
        size_t n = 0, used = 0;
        tls_status st = tls_stream_read(k->ssl, c->pbuf, HTTP_TLS_PLAIN_BYTES, &n, &out);
        if (out.len && conn_flush(k, &out, false) != 0) st = TLS_FAIL; /* keeps record order */
        if (st == TLS_AGAIN) break;
        if (st == TLS_CLOSED) {
            tls_stream_set_input(k->ssl, NULL, 0);
            conn_on_eof(k, UV_EOF);
            return;
        }
        if (st == TLS_FAIL) {
            char why[200];
            tls_stream_error(k->ssl, why, sizeof why);
            tls_stream_set_input(k->ssl, NULL, 0);
            call_fail(k->call, HTTP_ERR_TLS, "%s", why);
            return;
        }
        feed_result r = conn_parse(k, c->pbuf, n, &used);
        if (r == FEED_STOP) break;
        if (r == FEED_DONE) {
            if (used < n || tls_stream_input_left(k->ssl) || SSL_pending(k->ssl)) k->keep = false;
            tls_stream_set_input(k->ssl, NULL, 0);
            call_complete(k->call);
            return;
        }
    }
    buf_free(&out);
    if (k->state != CONN_CLOSED) tls_stream_set_input(k->ssl, NULL, 0);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    http_conn *k = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        conn_on_eof(k, (int)nread);
        return;
    }
    if (!k->call) {
        conn_close(k, true); /* bytes nobody asked for on an idle connection */
        return;
    }
    if (k->ssl) {
        conn_tls_input(k, b->base, (size_t)nread);
        return;
    }
    size_t used = 0;
    if (conn_parse(k, b->base, (size_t)nread, &used) == FEED_DONE) {
        if (used < (size_t)nread) k->keep = false;
        call_complete(k->call);
    }
}

/* Reads while connected and the call takes data (or, idle, to see the server close). */
static void conn_sync_reading(http_conn *k) {
    const http_call *call = k->call;
    bool want =
        k->state == CONN_IDLE || k->state == CONN_HANDSHAKE ||
        (k->state == CONN_ACTIVE && call && !call->paused && !call->held && !call->complete);
    if (want == k->reading) return;
    if (want)
        k->reading = uv_read_start((uv_stream_t *)&k->tcp, conn_on_alloc, conn_on_read) == 0;
    else {
        uv_read_stop((uv_stream_t *)&k->tcp);
        k->reading = false;
    }
}

/* ---- connecting ---- */

typedef struct http_connect {
    uv_connect_t req;
    http_conn *conn;
} http_connect;

/* The connection is done with its address list (connected, or closing). */
static void conn_drop_addrs(http_conn *k) {
    addrs_unref(k->addrs);
    k->addrs = NULL;
    k->ai_next = NULL;
}

static SSL_CTX *client_ssl_ctx(http_client *c, char *err, size_t cap) {
    if (!c->ssl_ctx) c->ssl_ctx = tls_ctx_new(c->ca_file, c->opt.insecure, err, cap);
    return c->ssl_ctx;
}

static void conn_start_tls(http_conn *k) {
    http_client *c = k->client;
    char err[256];
    SSL_CTX *ctx = client_ssl_ctx(c, err, sizeof err);
    if (!ctx) {
        call_fail(k->call, HTTP_ERR_TLS, "%s", err);
        return;
    }
    if (!c->pbuf) c->pbuf = xmalloc(HTTP_TLS_PLAIN_BYTES);
    k->ssl = tls_stream_new(ctx, k->host->name, !c->opt.insecure);
    if (!k->ssl) {
        call_fail(k->call, HTTP_ERR_TLS, "cannot create a TLS session for %s", k->host->name);
        return;
    }
    k->state = CONN_HANDSHAKE;
    conn_sync_reading(k);
    buf out = BUF_INIT;
    tls_status st = tls_stream_handshake(k->ssl, &out);
    int rc = conn_flush(k, &out, false);
    if (st == TLS_FAIL || rc != 0) {
        char why[200];
        tls_stream_error(k->ssl, why, sizeof why);
        call_fail(k->call, HTTP_ERR_TLS, "TLS handshake failed: %s", rc ? uv_strerror(rc) : why);
    }
}

static void conn_try_next(http_conn *k, int err);

static void conn_on_connect(uv_connect_t *req, int status) {
    http_conn *k = ((http_connect *)req)->conn;
    free(req);
    if (status == UV_ECANCELED || k->state == CONN_CLOSED) return;
    if (status < 0) {
        conn_try_next(k, status);
        return;
    }
    conn_drop_addrs(k);
    if (k->host->tls) {
        conn_start_tls(k);
        return;
    }
    k->state = CONN_ACTIVE;
    k->call->connecting = false; /* the watchdog re-arms itself if it fires early */
    conn_sync_reading(k);
    conn_send_request(k);
}

static int conn_connect(http_conn *k, const struct sockaddr *addr) {
    http_connect *cr = xmalloc(sizeof *cr);
    cr->conn = k;
    int rc = uv_tcp_connect(&cr->req, &k->tcp, addr, conn_on_connect);
    if (rc != 0) free(cr);
    return rc;
}

static http_conn *conn_new(http_call *call);

/* Connects k to the next IPv4/IPv6 address left in its list; err: why the previous one
 * failed, for the message when none is left. */
static void conn_connect_next(http_conn *k, int err) {
    http_call *call = k->call;
    struct addrinfo *a = k->ai_next;
    while (a && a->ai_family != AF_INET && a->ai_family != AF_INET6)
        a = a->ai_next;
    if (!a) {
        call_fail_soon(call, HTTP_ERR_CONNECT, "cannot connect to %s:%u: %s", call->host->name,
                       (unsigned)call->host->port, uv_strerror(err));
        return;
    }
    k->ai_next = a->ai_next;
    int rc = conn_connect(k, a->ai_addr);
    if (rc != 0) conn_try_next(k, rc);
}

/* Connecting k failed (err): the next address on a fresh socket (one whose connect failed
 * cannot connect again), which takes over k's slot and address list; else the call fails. */
static void conn_try_next(http_conn *k, int err) {
    http_call *call = k->call;
    if (!k->ai_next) {
        conn_connect_next(k, err);
        return;
    }
    http_addrs *addrs = k->addrs;
    struct addrinfo *next = k->ai_next;
    k->addrs = NULL;
    k->ai_next = NULL;
    k->call = NULL;
    call->conn = NULL;
    conn_close(k, false);
    http_conn *n = conn_new(call);
    if (!n) {
        addrs_unref(addrs);
        return;
    }
    n->addrs = addrs;
    n->ai_next = next;
    conn_connect_next(n, err);
}

static void dns_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    http_dns *d = (http_dns *)req;
    http_conn *k = d->conn;
    http_client *c = d->client;
    free(d);
    if (!k) {
        if (res) uv_freeaddrinfo(res);
    } else {
        k->dns = NULL;
        if (status < 0 || !res) {
            call_fail(k->call, HTTP_ERR_CONNECT, "cannot resolve %s: %s", k->host->name,
                      uv_strerror(status));
        } else {
            http_addrs *a = xmalloc(sizeof *a);
            *a = (http_addrs){res, 2, uv_now(c->loop) + HTTP_DNS_TTL_MS}; /* conn + cache */
            addrs_unref(k->host->addrs);
            k->host->addrs = a;
            k->addrs = a;
            k->ai_next = res;
            conn_connect_next(k, UV_EAI_NONAME);
        }
    }
    client_release(c);
}

/* A connection attached to the call, not connected yet. NULL (the call fails soon) if no
 * socket can be had. */
static http_conn *conn_new(http_call *call) {
    http_client *c = call->client;
    http_host *h = call->host;
    http_conn *k = xcalloc(1, sizeof *k);
    int rc = uv_tcp_init(c->loop, &k->tcp);
    if (rc != 0) {
        free(k);
        call_fail_soon(call, HTTP_ERR_OTHER, "cannot create a socket: %s", uv_strerror(rc));
        return NULL;
    }
    c->n_handles++;
    k->tcp.data = k;
    k->client = c;
    k->host = h;
    k->state = CONN_CONNECTING;
    llhttp_init(&k->parser, HTTP_RESPONSE, &g_settings);
    k->parser.data = k;
    k->next = c->conns;
    if (c->conns) c->conns->prev = k;
    c->conns = k;
    h->n_conns++;
    uv_tcp_nodelay(&k->tcp, 1);
    k->call = call;
    call->conn = k;
    return k;
}

/* A new connection for the call: DNS (unless the host is an IP literal), then TCP, then TLS
 * for https. The connect deadline covers all three. */
static void conn_open(http_call *call) {
    http_client *c = call->client;
    http_host *h = call->host;
    http_conn *k = conn_new(call);
    if (!k) return;
    call->connecting = true;
    call->connect_from_ms = uv_now(c->loop);
    call_arm(call);
    int rc;
    if (h->numeric) {
        rc = conn_connect(k, (const struct sockaddr *)&h->addr);
        if (rc != 0) conn_try_next(k, rc);
        return;
    }
    if (h->addrs && uv_now(c->loop) < h->addrs->expires_ms) {
        h->addrs->refs++;
        k->addrs = h->addrs;
        k->ai_next = h->addrs->ai;
        conn_connect_next(k, UV_EAI_NONAME);
        return;
    }
    http_dns *d = xcalloc(1, sizeof *d);
    d->conn = k;
    d->client = c;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)h->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rc = uv_getaddrinfo(c->loop, &d->req, dns_on_resolved, h->name, port, &hints);
    if (rc != 0) {
        free(d);
        call_fail_soon(call, HTTP_ERR_CONNECT, "cannot resolve %s: %s", h->name, uv_strerror(rc));
        return;
    }
    c->n_handles++;
    k->dns = d;
}

/* Closes at once (no callback of any call runs here). kick: the freed slot may start a
 * waiting call. */
static void conn_close(http_conn *k, bool kick) {
    if (k->state == CONN_CLOSED) return;
    http_client *c = k->client;
    http_host *h = k->host;
    if (k->state == CONN_IDLE) idle_unlink(h, k);
    k->state = CONN_CLOSED;
    if (k->call) {
        k->call->conn = NULL;
        k->call = NULL;
    }
    if (k->dns) {
        k->dns->conn = NULL; /* its callback only frees it */
        uv_cancel((uv_req_t *)&k->dns->req);
        k->dns = NULL;
    }
    conn_drop_addrs(k);
    if (k->prev)
        k->prev->next = k->next;
    else
        c->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    h->n_conns--;
    uv_close((uv_handle_t *)&k->tcp, conn_on_close);
    if (kick) host_kick(c, h);
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
    if (call->complete)
        call_succeed(call);
    else if (call->conn)
        conn_sync_reading(call->conn);
}

static void client_on_idle(uv_idle_t *h) {
    http_client *c = h->data;
    http_call *call;
    while (!c->closing && (call = c->pending)) {
        pending_unlink(call);
        if (call->fail_kind != HTTP_ERR_NONE)
            call_fail(call, (http_error_kind)call->fail_kind, "%s", call->fail_msg);
        else
            call_drain_held(call);
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
        conn_close(c->conns, false);
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
    call_arm(call);

    http_host *h = call->host;
    long max = c->opt.max_host_connections;
    if (h->idle) {
        http_conn *k = h->idle;
        idle_unlink(h, k);
        conn_attach(k, call);
    } else if (max <= 0 || h->n_conns < (unsigned long)max) {
        conn_open(call);
    } else {
        wait_push(h, call);
    }
    return call;
}

void http_call_pause(http_call *call) {
    if (call->finished || call->cancelled || call->paused) return;
    call->paused = true; /* the watchdog notices on its next tick and stops counting */
    if (call->conn) conn_sync_reading(call->conn);
}

void http_call_resume(http_call *call) {
    if (call->finished || call->cancelled || !call->paused) return;
    call->paused = false;
    call->wait_from_ms = uv_now(call->client->loop);
    call_arm(call);
    if (call->held)
        pending_push(call); /* delivered from the loop, never from inside this function */
    else if (call->conn)
        conn_sync_reading(call->conn);
}

void http_call_cancel(http_call *call) {
    if (call->finished || call->cancelled) return;
    call->cancelled = true;
    call_finish(call, NULL);
}
