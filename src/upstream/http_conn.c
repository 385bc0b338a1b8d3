/* HTTP client (see http_client_internal.h): a connection's life. Connecting (DNS with a
 * short-lived cache, TCP to each address in turn, TLS for https), writing the request, reading.
 *
 * Reading. Every connection reads into the client's one receive buffer; the read callback
 * parses the bytes (after decrypting them, for https) and delivers headers and body pieces to
 * the call before it returns, so the buffer is free again for the next read of any
 * connection. A paused call stops its connection's reading; body pieces still parsed from the
 * current read are appended to the call's own heap buffer as [u32 length][bytes] records and
 * delivered, one on_data per piece, from the idle phase after resume. */
#include "upstream/http_client_internal.h"
#include "upstream/tls_stream.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>

enum {
    HTTP_TLS_PLAIN_BYTES = 16 * 1024, /* one TLS record's plaintext */
    HTTP_DNS_TTL_MS = 60 * 1000,      /* resolved addresses are reused this long (as curl did) */
};

/* ---- release ---- */

void hc_addrs_unref(http_addrs *a) {
    if (a && --a->refs == 0) {
        uv_freeaddrinfo(a->ai);
        free(a);
    }
}

static void conn_on_close(uv_handle_t *h) {
    http_conn *k = h->data;
    http_client *c = k->client;
    if (k->ssl) tls_stream_free(k->ssl);
    free(k);
    hc_client_release(c);
}

/* ---- retry ---- */

/* A reused connection failed before any response byte: the server closed it while it sat in
 * the pool. Once per call, on a fresh connection, whose slot is the old one's. */
static bool call_may_retry(const http_call *call, const http_conn *k) {
    return k->reused && !call->got_byte && !call->retried && call->req;
}

static void call_retry(http_call *call) {
    http_conn *old = call->conn;
    old->call = NULL;
    call->conn = NULL;
    hc_conn_close(old, false);
    call->retried = true;
    hc_conn_open(call);
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
            hc_conn_close(k, true);
        else if (k->state == CONN_ACTIVE && call_may_retry(call, k))
            call_retry(call);
        else
            hc_call_fail(call, k->state == CONN_HANDSHAKE ? HTTP_ERR_TLS : HTTP_ERR_RESET,
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
void hc_conn_send_request(http_conn *k) {
    http_call *call = k->call;
    int rc;
    if (k->ssl) {
        buf out = BUF_INIT;
        if (tls_stream_write(k->ssl, call->req, call->req_len, &out) != TLS_OK) {
            buf_free(&out);
            char why[200];
            tls_stream_error(k->ssl, why, sizeof why);
            hc_call_fail_soon(call, HTTP_ERR_TLS, "%s", why);
            return;
        }
        rc = conn_flush(k, &out, true);
    } else {
        rc = conn_write(k, call->req, call->req_len, NULL, true);
    }
    if (rc != 0) hc_call_fail_soon(call, HTTP_ERR_RESET, "send failed: %s", uv_strerror(rc));
}

typedef enum { FEED_MORE, FEED_DONE, FEED_STOP } feed_result;

/* Parses response bytes of the attached call. FEED_DONE: the response ended after *used
 * bytes; FEED_STOP: the call is gone (finished here, in a callback, or failed). */
static feed_result conn_parse(http_conn *k, const char *data, size_t len, size_t *used) {
    http_call *call = k->call;
    hc_call_touch(call);
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
    hc_call_fail(call, HTTP_ERR_OTHER, "bad response: %s", why ? why : llhttp_errno_name(e));
    return FEED_STOP;
}

/* ---- reading ---- */

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    http_client *c = ((http_conn *)h->data)->client;
    *b = uv_buf_init(c->rbuf, (unsigned)c->opt.buffer_size);
}

/* The connection ended or broke under the call. Body pieces held during a pause were received
 * before that and go first (over TLS the end can be in the read the call paused in, since a
 * whole window is decrypted): the failure waits for their delivery after resume. */
static void conn_fail(http_call *call, http_error_kind kind, const char *msg) {
    if (call->held)
        hc_call_fail_soon(call, kind, "%s", msg);
    else
        hc_call_fail(call, kind, "%s", msg);
}

/* The server closed (err UV_EOF) or broke the connection. */
static void conn_on_eof(http_conn *k, int err) {
    http_call *call = k->call;
    if (!call) {
        hc_conn_close(k, true); /* idle: the server let it go */
        return;
    }
    if (k->state == CONN_HANDSHAKE) {
        hc_call_fail(call, HTTP_ERR_TLS, "connection closed during the TLS handshake (%s)",
                     uv_err_name(err));
        return;
    }
    if (err == UV_EOF && call->got_byte) {
        k->keep = false;
        llhttp_finish(&k->parser); /* a read-until-close body ends here */
        if (call->finished) return;
        if (call->complete) {
            hc_call_complete(call);
            return;
        }
    }
    if (call_may_retry(call, k)) {
        call_retry(call);
        return;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "connection closed %s (%s)",
             call->got_byte ? "before the response ended" : "before any response byte",
             uv_err_name(err));
    conn_fail(call, HTTP_ERR_RESET, msg);
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
            hc_call_fail(k->call, HTTP_ERR_TLS, "TLS handshake failed: %s",
                         rc ? uv_strerror(rc) : why);
            return;
        }
        if (st == TLS_AGAIN) {
            tls_stream_set_input(k->ssl, NULL, 0);
            return;
        }
        hc_conn_sync_reading(k); /* a call paused meanwhile stops here */
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
            conn_fail(k->call, HTTP_ERR_TLS, why);
            return;
        }
        feed_result r = conn_parse(k, c->pbuf, n, &used);
        if (r == FEED_STOP) break;
        if (r == FEED_DONE) {
            if (used < n || tls_stream_input_left(k->ssl) || SSL_pending(k->ssl)) k->keep = false;
            tls_stream_set_input(k->ssl, NULL, 0);
            hc_call_complete(k->call);
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
        hc_conn_close(k, true); /* bytes nobody asked for on an idle connection */
        return;
    }
    if (k->ssl) {
        conn_tls_input(k, b->base, (size_t)nread);
        return;
    }
    size_t used = 0;
    if (conn_parse(k, b->base, (size_t)nread, &used) == FEED_DONE) {
        if (used < (size_t)nread) k->keep = false;
        hc_call_complete(k->call);
    }
}

/* Reads while connected and the call takes data (or, idle, to see the server close). */
void hc_conn_sync_reading(http_conn *k) {
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
    hc_addrs_unref(k->addrs);
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
        hc_call_fail(k->call, HTTP_ERR_TLS, "%s", err);
        return;
    }
    if (!c->pbuf) c->pbuf = xmalloc(HTTP_TLS_PLAIN_BYTES);
    k->ssl = tls_stream_new(ctx, k->host->name, !c->opt.insecure);
    if (!k->ssl) {
        hc_call_fail(k->call, HTTP_ERR_TLS, "cannot create a TLS session for %s", k->host->name);
        return;
    }
    k->state = CONN_HANDSHAKE;
    hc_conn_sync_reading(k);
    buf out = BUF_INIT;
    tls_status st = tls_stream_handshake(k->ssl, &out);
    int rc = conn_flush(k, &out, false);
    if (st == TLS_FAIL || rc != 0) {
        char why[200];
        tls_stream_error(k->ssl, why, sizeof why);
        hc_call_fail(k->call, HTTP_ERR_TLS, "TLS handshake failed: %s", rc ? uv_strerror(rc) : why);
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
    hc_conn_sync_reading(k);
    hc_conn_send_request(k);
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
        hc_call_fail_soon(call, HTTP_ERR_CONNECT, "cannot connect to %s:%u: %s", call->host->name,
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
    hc_conn_close(k, false);
    http_conn *n = conn_new(call);
    if (!n) {
        hc_addrs_unref(addrs);
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
            hc_call_fail(k->call, HTTP_ERR_CONNECT, "cannot resolve %s: %s", k->host->name,
                         uv_strerror(status));
        } else {
            http_addrs *a = xmalloc(sizeof *a);
            *a = (http_addrs){res, 2, uv_now(c->loop) + HTTP_DNS_TTL_MS}; /* conn + cache */
            hc_addrs_unref(k->host->addrs);
            k->host->addrs = a;
            k->addrs = a;
            k->ai_next = res;
            conn_connect_next(k, UV_EAI_NONAME);
        }
    }
    hc_client_release(c);
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
        hc_call_fail_soon(call, HTTP_ERR_OTHER, "cannot create a socket: %s", uv_strerror(rc));
        return NULL;
    }
    c->n_handles++;
    k->tcp.data = k;
    k->client = c;
    k->host = h;
    k->state = CONN_CONNECTING;
    llhttp_init(&k->parser, HTTP_RESPONSE, &hc_response_settings);
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
void hc_conn_open(http_call *call) {
    http_client *c = call->client;
    http_host *h = call->host;
    http_conn *k = conn_new(call);
    if (!k) return;
    call->connecting = true;
    call->connect_from_ms = uv_now(c->loop);
    hc_call_arm(call);
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
        hc_call_fail_soon(call, HTTP_ERR_CONNECT, "cannot resolve %s: %s", h->name,
                          uv_strerror(rc));
        return;
    }
    c->n_handles++;
    k->dns = d;
}

/* Closes at once (no callback of any call runs here). kick: the freed slot may start a
 * waiting call. */
void hc_conn_close(http_conn *k, bool kick) {
    if (k->state == CONN_CLOSED) return;
    http_client *c = k->client;
    http_host *h = k->host;
    if (k->state == CONN_IDLE) hc_idle_unlink(h, k);
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
    if (kick) hc_host_kick(c, h);
}
