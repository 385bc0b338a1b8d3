/* http_client against a scripted HTTP/1.1 server written here on raw libuv TCP, on the same loop
 * as the client (everything is non-blocking, so one thread is enough), and against a small
 * blocking TLS server in a thread with a certificate made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "upstream/http_client.h"
#include "util/buf.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *ci_find(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return hay;
    return NULL;
}

/* ---- scripted server ---- */

typedef enum { END_KEEP, END_HANG, END_CLOSE } srv_end; /* after the last step */
typedef struct srv_step {
    unsigned delay_ms; /* before writing data */
    const char *data;  /* NULL ends the script */
} srv_step;
typedef struct srv_route {
    const char *path;
    srv_end end;
    srv_step steps[10];
} srv_route;

#define CHUNKED_200                                                                                \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

static const srv_route ROUTES[] = {
    {"/plain",
     END_KEEP,
     {{0, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"}}},
    {"/chunked",
     END_KEEP,
     {{0, CHUNKED_200 "5\r\nalpha\r\n"},
      {40, "4\r\nbeta\r\n"},
      {40, "5\r\ngamma\r\n"},
      {40, "0\r\n\r\n"}}},
    {"/redirect",
     END_KEEP,
     {{0, "HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Type: text/plain\r\n"
          "Content-Length: 5\r\n\r\nmoved"}}},
    {"/close",
     END_KEEP, /* the server would keep it; the client must not */
     {{0, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}}},
    {"/http10", END_KEEP, {{0, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}}},
    {"/eof",
     END_CLOSE, /* no length, not chunked: the body ends when the server closes */
     {{0, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread"}, {30, "-until-close"}}},
    {"/head", END_KEEP, {{0, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"}}},
    {"/204", END_KEEP, {{0, "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n"}}},
    {"/continue",
     END_KEEP,
     {{0, "HTTP/1.1 100 Continue\r\n\r\n"},
      {20, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"},
      {20, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"}}},
    {"/burst", /* one write: the client parses all of it in one read */
     END_KEEP,
     {{0, CHUNKED_200 "3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"}}},
    {"/hangup", END_CLOSE, {{0, NULL}}},
    {"/429",
     END_KEEP,
     {{0, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
          "Content-Length: 16\r\n\r\n{\"error\":\"rate\"}"}}},
    {"/silent", END_HANG, {{0, NULL}}},
    {"/stall", END_HANG, {{0, CHUNKED_200 "5\r\nfirst\r\n"}}},
    {"/stream", END_HANG, {{0, CHUNKED_200 "5\r\nfirst\r\n"}}},
    {"/slow",
     END_KEEP,
     {{0, CHUNKED_200 "3\r\none\r\n"},
      {30, "3\r\ntwo\r\n"},
      {30, "5\r\nthree\r\n"},
      {30, "4\r\nfour\r\n"},
      {30, "0\r\n\r\n"}}},
    {"/drip",
     END_HANG,
     {{0, CHUNKED_200 "1\r\na\r\n"},
      {50, "1\r\nb\r\n"},
      {50, "1\r\nc\r\n"},
      {50, "1\r\nd\r\n"},
      {50, "1\r\ne\r\n"},
      {50, "1\r\nf\r\n"},
      {50, "1\r\ng\r\n"},
      {50, "1\r\nh\r\n"}}},
    {"/reset", END_CLOSE, {{0, CHUNKED_200 "5\r\nfirst\r\n"}}},
};

enum { BIG_HEADER = 70 * 1024 }; /* over the client's 64 KiB limit */

typedef struct srv srv;
typedef struct srv_conn srv_conn;
struct srv_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    srv *s;
    buf in;
    size_t req_len; /* bytes of the request being served; 0 = idle */
    const srv_route *route;
    size_t step;
    int served;   /* requests answered on this connection */
    bool delayed; /* the current step's delay has elapsed */
    bool closing;
    int open_handles;
    srv_conn *prev, *next;
};
struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int n_accepted, n_requests, n_eof;
    bool drop_reused; /* close a connection at its second request instead of answering */
    uint64_t last_eof_ns;
    buf last_request;
    srv_conn *conns;
};

static void conn_try_serve(srv_conn *k);

static void conn_on_close(uv_handle_t *h) {
    srv_conn *k = h->data;
    if (--k->open_handles > 0) return;
    buf_free(&k->in);
    free(k);
}

static void conn_close(srv_conn *k) {
    if (k->closing) return;
    k->closing = true;
    if (k->prev)
        k->prev->next = k->next;
    else
        k->s->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    uv_close((uv_handle_t *)&k->tcp, conn_on_close);
    uv_close((uv_handle_t *)&k->timer, conn_on_close);
}

static void conn_on_write(uv_write_t *w, int status) { free(w); }

static void conn_write(srv_conn *k, const char *data, size_t len) {
    uv_write_t *w = malloc(sizeof *w + len);
    memcpy(w + 1, data, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, conn_on_write) != 0) free(w);
}

static void conn_advance(srv_conn *k);
static void conn_on_timer(uv_timer_t *t) { conn_advance(t->data); }

static void conn_advance(srv_conn *k) {
    for (;;) {
        const srv_step *st = &k->route->steps[k->step];
        if (!st->data) break;
        if (st->delay_ms && !k->delayed) {
            k->delayed = true;
            uv_timer_start(&k->timer, conn_on_timer, st->delay_ms, 0);
            return;
        }
        k->delayed = false;
        conn_write(k, st->data, strlen(st->data));
        k->step++;
    }
    if (k->route->end == END_CLOSE) {
        conn_close(k);
    } else if (k->route->end == END_KEEP) {
        buf_consume(&k->in, k->req_len);
        k->req_len = 0;
        conn_try_serve(k);
    }
}

static void conn_try_serve(srv_conn *k) {
    if (k->req_len || !k->in.len) return;
    char *end = strstr(k->in.data, "\r\n\r\n");
    if (!end) return;
    size_t head = (size_t)(end - k->in.data) + 4, body = 0;
    const char *cl = ci_find(k->in.data, "\r\nContent-Length:");
    if (cl && cl < end) body = strtoul(cl + 17, NULL, 10);
    if (k->in.len < head + body) return;
    k->req_len = head + body;
    srv *s = k->s;
    s->n_requests++;
    if (s->drop_reused && k->served > 0) {
        conn_close(k); /* what a server's keep-alive timeout does, racing the next request */
        return;
    }
    k->served++;
    buf_reset(&s->last_request);
    buf_append(&s->last_request, k->in.data, k->req_len);
    char method[16] = "", path[128] = "";
    sscanf(k->in.data, "%15s %127s", method, path);
    if (strcmp(path, "/echo") == 0) {
        char hdr[128];
        int n =
            snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/x-%s\r\nContent-Length: %zu\r\n\r\n",
                     method, body);
        conn_write(k, hdr, (size_t)n);
        conn_write(k, k->in.data + head, body);
        buf_consume(&k->in, k->req_len);
        k->req_len = 0;
        conn_try_serve(k);
        return;
    }
    if (strcmp(path, "/bigheaders") == 0) {
        buf big = BUF_INIT;
        buf_puts(&big, "HTTP/1.1 200 OK\r\nX-Big: ");
        for (int i = 0; i < BIG_HEADER; i++)
            buf_putc(&big, 'a');
        buf_puts(&big, "\r\nContent-Length: 0\r\n\r\n");
        conn_write(k, big.data, big.len);
        buf_free(&big);
        buf_consume(&k->in, k->req_len);
        k->req_len = 0;
        return;
    }
    static const srv_route not_found = {
        "", END_KEEP, {{0, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"}}};
    k->route = &not_found;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (strcmp(ROUTES[i].path, path) == 0) k->route = &ROUTES[i];
    k->step = 0;
    k->delayed = false;
    conn_advance(k);
}

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    static char slab[65536];
    *b = uv_buf_init(slab, sizeof slab);
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    srv_conn *k = st->data;
    if (nread < 0) {
        k->s->n_eof++;
        k->s->last_eof_ns = uv_hrtime();
        conn_close(k);
        return;
    }
    buf_append(&k->in, b->base, (size_t)nread);
    conn_try_serve(k);
}

static void srv_on_connection(uv_stream_t *l, int status) {
    srv *s = l->data;
    assert_int_equal(status, 0);
    srv_conn *k = calloc(1, sizeof *k);
    k->s = s;
    buf_init(&k->in);
    uv_tcp_init(s->loop, &k->tcp);
    uv_timer_init(s->loop, &k->timer);
    k->tcp.data = k->timer.data = k;
    k->open_handles = 2;
    k->next = s->conns;
    if (s->conns) s->conns->prev = k;
    s->conns = k;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&k->tcp), 0);
    s->n_accepted++;
    uv_read_start((uv_stream_t *)&k->tcp, conn_on_alloc, conn_on_read);
}

static void srv_start(srv *s, uv_loop_t *loop) {
    memset(s, 0, sizeof *s);
    s->loop = loop;
    buf_init(&s->last_request);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 511, srv_on_connection), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = ntohs(got.sin_port);
}

static void srv_stop(srv *s) {
    uv_close((uv_handle_t *)&s->listener, NULL);
    while (s->conns)
        conn_close(s->conns);
    buf_free(&s->last_request);
}

/* ---- fixture ---- */

typedef struct fx {
    uv_loop_t loop;
    srv s;
    http_client *c;
    bool client_freed;
    uv_timer_t guard; /* bounds every wait */
    bool guard_fired;
    uv_timer_t aux; /* a test's own delayed action */
    void (*aux_fn)(struct fx *f);
} fx;

static void guard_on_timer(uv_timer_t *t) { ((fx *)t->data)->guard_fired = true; }

static void guard_start(fx *f, uint64_t ms) {
    f->guard_fired = false;
    uv_timer_start(&f->guard, guard_on_timer, ms, 0);
}

#define RUN_UNTIL(f, cond, ms)                                                                     \
    do {                                                                                           \
        guard_start((f), (ms));                                                                    \
        while (!(cond) && !(f)->guard_fired)                                                       \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        uv_timer_stop(&(f)->guard);                                                                \
        assert_true(cond);                                                                         \
    } while (0)

static void run_for(fx *f, uint64_t ms) {
    guard_start(f, ms);
    while (!f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void aux_on_timer(uv_timer_t *t) {
    fx *f = t->data;
    f->aux_fn(f);
}

static void on_client_freed(void *ud) { ((fx *)ud)->client_freed = true; }

static void test_options(http_client_options *o) {
    http_client_options_defaults(o);
    o->connect_timeout_ms = 2000;
    o->first_byte_timeout_ms = 3000;
    o->stall_timeout_ms = 3000;
    o->buffer_size = 1024;
}

/* Replaces the fixture's client with one made with `o`. */
static void fx_recreate(fx *f, const http_client_options *o) {
    f->client_freed = false;
    http_client_free(f->c, on_client_freed, f);
    RUN_UNTIL(f, f->client_freed, 2000);
    f->client_freed = false;
    assert_int_equal(http_client_new(&f->c, &f->loop, o), 0);
}

static int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    srv_start(&f->s, &f->loop);
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_init(&f->loop, &f->aux);
    f->guard.data = f->aux.data = f;
    http_client_options o;
    test_options(&o);
    assert_int_equal(http_client_new(&f->c, &f->loop, &o), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state) {
    fx *f = *state;
    if (f->c) {
        http_client_free(f->c, on_client_freed, f);
        RUN_UNTIL(f, f->client_freed, 2000);
    }
    srv_stop(&f->s);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->aux, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle was closed */
    free(f);
    return 0;
}

/* ---- a recording consumer ---- */

typedef struct rec {
    fx *f;
    http_call *call;
    int n_response, n_data, n_done, late; /* late = callbacks after cancel */
    int status;
    char ctype[128];
    buf body;
    size_t chunk_len[16];
    bool ok;
    http_error_kind kind;
    char msg[256];
    int done_order; /* 1 + the number of calls done before this one (see g_done_seq) */
    /* behaviour */
    bool pause_on_first_data, paused;
    int data_while_paused;
    bool cancel_on_data, cancelled;
    uint64_t cancel_ns;
    void (*on_done_hook)(struct rec *r);
} rec;

static int g_done_seq;

static void rec_on_response(http_call *call, int status, const char *ct, void *ud) {
    rec *r = ud;
    assert_ptr_equal(call, r->call);
    if (r->cancelled) r->late++;
    r->n_response++;
    r->status = status;
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
}

static void rec_on_data(http_call *call, const char *data, size_t len, void *ud) {
    rec *r = ud;
    if (r->cancelled) r->late++;
    assert_int_equal(r->n_response, 1); /* headers first */
    if (r->paused) r->data_while_paused++;
    if (r->n_data < 16) r->chunk_len[r->n_data] = len;
    r->n_data++;
    buf_append(&r->body, data, len);
    if (r->pause_on_first_data && r->n_data == 1) {
        http_call_pause(call);
        r->paused = true;
    }
    if (r->cancel_on_data) {
        r->cancelled = true;
        r->cancel_ns = uv_hrtime();
        http_call_cancel(call);
    }
}

static void rec_on_done(http_call *call, const http_call_result *res, void *ud) {
    rec *r = ud;
    if (r->cancelled) r->late++;
    r->n_done++;
    r->ok = res->ok;
    r->kind = res->kind;
    r->done_order = ++g_done_seq;
    assert_non_null(res->message);
    snprintf(r->msg, sizeof r->msg, "%s", res->message);
    if (r->on_done_hook) r->on_done_hook(r);
}

static const http_call_callbacks REC_CB = {rec_on_response, rec_on_data, rec_on_done};

static void rec_init(rec *r, fx *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
    buf_init(&r->body);
}

static http_call *rec_start(rec *r, const char *method, const char *url, long first_byte,
                            long stall, long total) {
    http_call_request req = {.method = method,
                             .url = url,
                             .first_byte_timeout_ms = first_byte,
                             .stall_timeout_ms = stall,
                             .total_timeout_ms = total};
    r->call = http_call_start(r->f->c, &req, &REC_CB, r);
    assert_non_null(r->call);
    return r->call;
}

static http_call *rec_get(rec *r, const char *path, long first_byte, long stall, long total) {
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->f->s.port, path);
    return rec_start(r, "GET", url, first_byte, stall, total);
}

/* ---- tests: basics ---- */

static void test_plain_200(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/plain", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_NONE);
    assert_int_equal(r.n_response, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.body.data, "hello");
    assert_int_equal(http_client_active_calls(f->c), 0);
    const char *q = f->s.last_request.data;
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", f->s.port);
    assert_non_null(strstr(q, "GET /plain HTTP/1.1\r\n"));
    assert_non_null(strstr(q, host));
    assert_non_null(ci_find(q, "\r\nAccept-Encoding: identity\r\n"));
    assert_null(ci_find(q, "Content-Length")); /* a GET without a body has none */
    buf_free(&r.body);
}

static void test_post_copies_body_and_headers(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    char url[160], body[32], headers[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", f->s.port);
    snprintf(body, sizeof body, "{\"a\":1}");
    snprintf(headers, sizeof headers,
             "X-Test: yes\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n");
    http_call_request req = {
        .method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
    r.call = http_call_start(f->c, &req, &REC_CB, &r);
    assert_non_null(r.call);
    memset(body, 'x', sizeof body); /* the call copied both */
    memset(headers, 'x', sizeof headers - 1);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/x-POST");
    assert_string_equal(r.body.data, "{\"a\":1}");
    const char *q = f->s.last_request.data;
    assert_non_null(strstr(q, "POST /echo HTTP/1.1\r\n"));
    assert_non_null(strstr(q, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(q, "\r\nContent-Length: 7\r\n"));
    assert_non_null(strstr(q, "\r\nAccept-Encoding: gzip\r\n")); /* the caller's, alone */
    assert_null(ci_find(q, "identity"));
    assert_null(ci_find(q, "Expect:"));
    buf_free(&r.body);
}

static void test_post_without_body(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", f->s.port);
    rec_start(&r, "POST", url, 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_non_null(strstr(f->s.last_request.data, "\r\nContent-Length: 0\r\n"));
    buf_free(&r.body);
}

static void test_rejects_malformed_requests(void **state) {
    fx *f = *state;
    char ok_url[160];
    snprintf(ok_url, sizeof ok_url, "http://127.0.0.1:%d/plain", f->s.port);
    const char *bad_urls[] = {"ftp://127.0.0.1/x",   "http://",
                              "http://a b/",         "http://u:p@127.0.0.1/",
                              "http://127.0.0.1:0/", "http://127.0.0.1:70000/",
                              "http://[::1/",        "http://127.0.0.1/a\r\nX: y"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
        http_call_request req = {.method = "GET", .url = bad_urls[i]};
        assert_null(http_call_start(f->c, &req, &REC_CB, NULL));
    }
    const char *bad_headers[] = {"X-A: 1",         "X-A: 1\n", "X-A: 1\r\n\r\n",
                                 "\r\nX-A: 1\r\n", "X-A\r\n",  "X-A: 1\rX-B: 2\r\n",
                                 ": v\r\n"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        http_call_request req = {.method = "GET", .url = ok_url, .headers = bad_headers[i]};
        assert_null(http_call_start(f->c, &req, &REC_CB, NULL));
    }
    http_call_request bad_method = {.method = "GE T", .url = ok_url};
    assert_null(http_call_start(f->c, &bad_method, &REC_CB, NULL));
    assert_int_equal(http_client_active_calls(f->c), 0);
    assert_int_equal(f->s.n_accepted, 0);
}

static void test_chunks_not_coalesced(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/chunked", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_string_equal(r.ctype, "text/event-stream");
    assert_string_equal(r.body.data, "alphabetagamma");
    assert_int_equal(r.n_data, 3);
    assert_int_equal(r.chunk_len[0], 5);
    assert_int_equal(r.chunk_len[1], 4);
    assert_int_equal(r.chunk_len[2], 5);
    buf_free(&r.body);
}

static void test_redirect_is_delivered_not_followed(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/redirect", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.n_response, 1);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.body.data, "moved");
    assert_int_equal(f->s.n_requests, 1);
    buf_free(&r.body);
}

static void test_status_429_is_transport_ok(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/429", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body.data, "{\"error\":\"rate\"}");
    buf_free(&r.body);
}

/* ---- tests: body framing ---- */

static void test_read_until_close_body(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/eof", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "read-until-close");
    buf_free(&r.body);
}

static void test_head_and_204_have_no_body(void **state) {
    fx *f = *state;
    rec a, b, c;
    rec_init(&a, f);
    rec_init(&b, f);
    rec_init(&c, f);
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/head", f->s.port);
    rec_start(&a, "HEAD", url, 0, 0, 0); /* announces 100 bytes, sends none */
    RUN_UNTIL(f, a.n_done == 1, 2000);
    assert_true(a.ok);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.n_data, 0);
    rec_get(&b, "/204", 0, 0, 0);
    RUN_UNTIL(f, b.n_done == 1, 2000);
    assert_true(b.ok);
    assert_int_equal(b.status, 204);
    assert_int_equal(b.n_data, 0);
    rec_get(&c, "/plain", 0, 0, 0); /* both left the connection clean for reuse */
    RUN_UNTIL(f, c.n_done == 1, 2000);
    assert_string_equal(c.body.data, "hello");
    assert_int_equal(f->s.n_accepted, 1);
    buf_free(&a.body);
    buf_free(&b.body);
    buf_free(&c.body);
}

static void test_informational_responses_skipped(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/continue", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.n_response, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.body.data, "ok");
    buf_free(&r.body);
}

static void test_oversized_headers_fail(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/bigheaders", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_OTHER);
    assert_int_equal(r.n_response, 0);
    assert_non_null(strstr(r.msg, "64 KiB"));
    RUN_UNTIL(f, f->s.n_eof == 1, 1000); /* closed, not pooled */
    buf_free(&r.body);
}

/* ---- tests: errors and deadlines ---- */

static void test_connect_refused(void **state) {
    fx *f = *state;
    /* A port that was just free: bind, read it back, close. */
    uv_tcp_t t;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&f->loop, &t);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&t, (struct sockaddr *)&a, &len);
    uv_close((uv_handle_t *)&t, NULL);
    run_for(f, 10);

    rec r;
    rec_init(&r, f);
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/plain", ntohs(a.sin_port));
    rec_start(&r, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_CONNECT);
    assert_non_null(strstr(r.msg, "refused"));
    assert_int_equal(r.n_response, 0);
    buf_free(&r.body);
}

/* A name, not an IP literal: resolved with getaddrinfo (from /etc/hosts), each address tried
 * in turn (localhost may give ::1 first, where nothing listens). */
static void test_resolves_names(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    char url[160];
    snprintf(url, sizeof url, "http://localhost:%d/plain", f->s.port);
    rec_start(&r, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 3000);
    assert_true(r.ok);
    assert_string_equal(r.body.data, "hello");
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: localhost:%d\r\n", f->s.port);
    assert_non_null(strstr(f->s.last_request.data, host));
    buf_free(&r.body);
    /* Three at once: one takes the pooled connection, two connect (each resolves, the last
     * result is cached); /close ends all three, so the fourth connects from the cache. */
    rec m[3], last;
    snprintf(url, sizeof url, "http://localhost:%d/close", f->s.port);
    for (int i = 0; i < 3; i++) {
        rec_init(&m[i], f);
        rec_start(&m[i], "GET", url, 0, 0, 0);
    }
    RUN_UNTIL(f, m[0].n_done + m[1].n_done + m[2].n_done == 3, 3000);
    rec_init(&last, f);
    rec_start(&last, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, last.n_done == 1, 3000);
    for (int i = 0; i < 3; i++) {
        assert_true(m[i].ok);
        buf_free(&m[i].body);
    }
    assert_true(last.ok);
    assert_string_equal(last.body.data, "ok");
    assert_int_equal(f->s.n_accepted, 4);
    buf_free(&last.body);
}

static void test_first_byte_timeout(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    uint64_t t0 = uv_now(&f->loop);
    rec_get(&r, "/silent", 150, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TIMEOUT_FIRST_BYTE);
    assert_int_equal(r.n_response, 0);
    assert_true(uv_now(&f->loop) - t0 >= 150);
    RUN_UNTIL(f, f->s.n_eof == 1, 500); /* the connection was closed, not pooled */
    buf_free(&r.body);
}

static void test_stall_timeout(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    uint64_t t0 = uv_now(&f->loop);
    rec_get(&r, "/stall", 0, 150, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TIMEOUT_STALL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "first");
    assert_true(uv_now(&f->loop) - t0 >= 150);
    RUN_UNTIL(f, f->s.n_eof == 1, 500);
    buf_free(&r.body);
}

static void test_total_timeout(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/drip", 0, 1000, 200); /* bytes every 50 ms: never stalls */
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TIMEOUT_TOTAL);
    assert_true(r.n_data >= 2 && r.n_data <= 6);
    buf_free(&r.body);
}

static void test_reset_mid_stream(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/reset", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_RESET);
    assert_string_equal(r.body.data, "first");
    buf_free(&r.body);
}

/* A fresh connection closed without an answer is a failure, not retried: only a pooled
 * connection can be stale. */
static void test_fresh_connection_closed_is_reset(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/hangup", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_RESET);
    assert_int_equal(f->s.n_accepted, 1);
    assert_int_equal(f->s.n_requests, 1);
    buf_free(&r.body);
}

/* ---- tests: backpressure ---- */

static rec *g_pause_rec;
static uint64_t g_resumed_at;

static void resume_later(fx *f) {
    /* Nothing after the first piece was delivered while paused, the end included. */
    assert_int_equal(g_pause_rec->n_data, 1);
    assert_int_equal(g_pause_rec->n_done, 0);
    g_resumed_at = uv_now(&f->loop);
    g_pause_rec->paused = false;
    http_call_resume(g_pause_rec->call);
}

static void test_pause_then_resume(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    r.pause_on_first_data = true;
    g_pause_rec = &r;
    rec_get(&r, "/slow", 0, 150, 0);
    RUN_UNTIL(f, r.paused, 2000);
    /* Paused for 400 ms, well past the 150 ms stall limit; the server finishes meanwhile. */
    f->aux_fn = resume_later;
    uv_timer_start(&f->aux, aux_on_timer, 400, 0);
    RUN_UNTIL(f, r.n_done == 1, 3000);
    assert_true(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_NONE);
    assert_int_equal(r.data_while_paused, 0);
    assert_true(g_resumed_at > 0);
    assert_string_equal(r.body.data, "onetwothreefour");
    buf_free(&r.body);
}

static bool g_burst_parsed;

static void resume_burst(fx *f) {
    assert_int_equal(g_pause_rec->n_data, 1);
    assert_int_equal(g_pause_rec->n_done, 0);
    g_pause_rec->paused = false;
    http_call_resume(g_pause_rec->call);
    assert_int_equal(g_pause_rec->n_data, 1); /* delivered from the loop, not in resume */
    g_burst_parsed = true;
}

/* The whole response arrives in one read; pausing in the first on_data keeps the rest of that
 * read, and resume delivers it in order, piece by piece, then ends the call. */
static void test_pause_inside_data_keeps_rest_of_read(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    r.pause_on_first_data = true;
    g_pause_rec = &r;
    g_burst_parsed = false;
    rec_get(&r, "/burst", 0, 0, 0);
    RUN_UNTIL(f, r.paused, 2000);
    run_for(f, 50);
    assert_int_equal(r.n_data, 1);
    assert_int_equal(r.n_done, 0);
    f->aux_fn = resume_burst;
    uv_timer_start(&f->aux, aux_on_timer, 1, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(g_burst_parsed);
    assert_true(r.ok);
    assert_int_equal(r.data_while_paused, 0);
    assert_string_equal(r.body.data, "onetwothree");
    assert_int_equal(r.n_data, 3);
    assert_int_equal(r.chunk_len[1], 3);
    assert_int_equal(r.chunk_len[2], 5);
    /* The connection went back to the pool after the held end of the response. */
    rec b;
    rec_init(&b, f);
    rec_get(&b, "/plain", 0, 0, 0);
    RUN_UNTIL(f, b.n_done == 1, 2000);
    assert_int_equal(f->s.n_accepted, 1);
    buf_free(&r.body);
    buf_free(&b.body);
}

/* ---- tests: cancel and free ---- */

static void test_cancel_inside_callback(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    r.cancel_on_data = true;
    rec_get(&r, "/stream", 0, 0, 0);
    RUN_UNTIL(f, r.cancelled && f->s.n_eof == 1, 2000);
    assert_true(f->s.last_eof_ns - r.cancel_ns < 100 * 1000000ull);
    run_for(f, 50);
    assert_int_equal(r.late, 0);
    assert_int_equal(r.n_done, 0);
    assert_int_equal(http_client_active_calls(f->c), 0);
    buf_free(&r.body);
}

static void test_cancel_from_loop(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/stream", 0, 0, 0);
    RUN_UNTIL(f, r.n_data == 1, 2000);
    r.cancelled = true;
    r.cancel_ns = uv_hrtime();
    http_call_cancel(r.call);
    assert_int_equal(http_client_active_calls(f->c), 0);
    RUN_UNTIL(f, f->s.n_eof == 1, 1000);
    assert_true(f->s.last_eof_ns - r.cancel_ns < 100 * 1000000ull);
    run_for(f, 50);
    assert_int_equal(r.late, 0);
    assert_int_equal(r.n_done, 0);
    buf_free(&r.body);
}

static void test_free_with_calls_in_flight(void **state) {
    fx *f = *state;
    rec r[5];
    for (int i = 0; i < 5; i++) {
        rec_init(&r[i], f);
        rec_get(&r[i], "/stream", 0, 0, 0);
    }
    RUN_UNTIL(f, r[0].n_data + r[1].n_data + r[2].n_data + r[3].n_data + r[4].n_data == 5, 2000);
    http_client_free(f->c, on_client_freed, f);
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed && f->s.n_eof == 5, 2000);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].n_done, 0);
        buf_free(&r[i].body);
    }
}

static fx *g_free_fx;

static void free_client_from_callback(rec *r) {
    http_client_free(g_free_fx->c, on_client_freed, g_free_fx);
    g_free_fx->c = NULL;
}

static void test_free_inside_callback(void **state) {
    fx *f = *state;
    rec streams[3], plain;
    g_free_fx = f;
    for (int i = 0; i < 3; i++) {
        rec_init(&streams[i], f);
        rec_get(&streams[i], "/stream", 0, 0, 0);
    }
    RUN_UNTIL(f, streams[0].n_data + streams[1].n_data + streams[2].n_data == 3, 2000);
    rec_init(&plain, f);
    plain.on_done_hook = free_client_from_callback;
    rec_get(&plain, "/plain", 0, 0, 0);
    RUN_UNTIL(f, f->client_freed && f->s.n_eof == 4, 2000);
    assert_int_equal(plain.n_done, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(streams[i].n_done, 0);
        buf_free(&streams[i].body);
    }
    buf_free(&plain.body);
}

/* ---- tests: the pool ---- */

static rec *g_reuse_second;

static void start_second(rec *first) { rec_get(g_reuse_second, "/plain", 0, 0, 0); }

static void test_connection_reuse(void **state) {
    fx *f = *state;
    rec a, b, c;
    rec_init(&a, f);
    rec_init(&b, f);
    rec_init(&c, f);
    g_reuse_second = &b;
    a.on_done_hook = start_second; /* from inside on_done */
    rec_get(&a, "/plain", 0, 0, 0);
    RUN_UNTIL(f, b.n_done == 1, 2000);
    rec_get(&c, "/chunked", 0, 0, 0); /* from the loop */
    RUN_UNTIL(f, c.n_done == 1, 2000);
    assert_true(a.ok && b.ok && c.ok);
    assert_string_equal(c.body.data, "alphabetagamma");
    assert_int_equal(f->s.n_requests, 3);
    assert_int_equal(f->s.n_accepted, 1);
    buf_free(&a.body);
    buf_free(&b.body);
    buf_free(&c.body);
}

/* Connection: close and HTTP/1.0 without keep-alive end the connection's use. */
static void test_close_responses_not_reused(void **state) {
    fx *f = *state;
    const char *paths[] = {"/close", "/http10"};
    for (int i = 0; i < 2; i++) {
        rec a, b;
        rec_init(&a, f);
        rec_init(&b, f);
        rec_get(&a, paths[i], 0, 0, 0);
        RUN_UNTIL(f, a.n_done == 1, 2000);
        assert_true(a.ok);
        assert_string_equal(a.body.data, "ok");
        RUN_UNTIL(f, f->s.n_eof == 2 * i + 1, 1000); /* the client closed it */
        rec_get(&b, "/plain", 0, 0, 0);
        RUN_UNTIL(f, b.n_done == 1, 2000);
        assert_true(b.ok);
        assert_int_equal(f->s.n_accepted, 2 * i + 2);
        http_client_options o;
        test_options(&o);
        fx_recreate(f, &o); /* no pooled connection into the next round */
        RUN_UNTIL(f, f->s.n_eof == 2 * i + 2, 1000);
        buf_free(&a.body);
        buf_free(&b.body);
    }
}

/* The server drops a pooled connection exactly when it is reused (its keep-alive timeout
 * racing the request): the call goes again on a fresh connection, once. */
static void test_stale_keepalive_retried(void **state) {
    fx *f = *state;
    rec a, b;
    rec_init(&a, f);
    rec_init(&b, f);
    char url[160], body[] = "{\"again\":true}";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", f->s.port);
    rec_get(&a, "/plain", 0, 0, 0);
    RUN_UNTIL(f, a.n_done == 1, 2000);
    f->s.drop_reused = true;
    http_call_request req = {.method = "POST", .url = url, .body = body, .body_len = strlen(body)};
    b.call = http_call_start(f->c, &req, &REC_CB, &b);
    assert_non_null(b.call);
    RUN_UNTIL(f, b.n_done == 1, 2000);
    assert_true(b.ok);
    assert_int_equal(b.n_response, 1);
    assert_string_equal(b.body.data, body); /* the body went again */
    assert_int_equal(f->s.n_accepted, 2);
    assert_int_equal(f->s.n_requests, 3); /* /plain, the dropped POST, the retried POST */
    buf_free(&a.body);
    buf_free(&b.body);
}

static void test_max_host_connections_queue(void **state) {
    fx *f = *state;
    http_client_options o;
    test_options(&o);
    o.max_host_connections = 1;
    fx_recreate(f, &o);
    enum { N = 4 };
    rec r[N];
    g_done_seq = 0;
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], f);
        rec_get(&r[i], i % 2 ? "/plain" : "/chunked", 0, 0, 0);
    }
    assert_int_equal(http_client_active_calls(f->c), N);
    RUN_UNTIL(f, r[N - 1].n_done == 1, 3000);
    for (int i = 0; i < N; i++) {
        assert_true(r[i].ok);
        assert_int_equal(r[i].done_order, i + 1); /* first come, first served */
        assert_string_equal(r[i].body.data, i % 2 ? "hello" : "alphabetagamma");
        buf_free(&r[i].body);
    }
    assert_int_equal(f->s.n_accepted, 1);
    assert_int_equal(f->s.n_requests, N);
}

/* The wait for a free connection counts toward the first-byte deadline. */
static void test_queue_wait_counts_toward_first_byte(void **state) {
    fx *f = *state;
    http_client_options o;
    test_options(&o);
    o.max_host_connections = 1;
    fx_recreate(f, &o);
    rec busy, queued;
    rec_init(&busy, f);
    rec_init(&queued, f);
    rec_get(&busy, "/stream", 0, 0, 0); /* holds the one connection */
    rec_get(&queued, "/plain", 150, 0, 0);
    RUN_UNTIL(f, queued.n_done == 1, 2000);
    assert_false(queued.ok);
    assert_int_equal(queued.kind, HTTP_ERR_TIMEOUT_FIRST_BYTE);
    assert_int_equal(busy.n_done, 0);
    assert_int_equal(f->s.n_accepted, 1);
    http_call_cancel(busy.call);
    buf_free(&busy.body);
    buf_free(&queued.body);
}

static void test_idle_connections_expire(void **state) {
    fx *f = *state;
    http_client_options o;
    test_options(&o);
    o.idle_timeout_ms = 50;
    fx_recreate(f, &o);
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/plain", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_int_equal(f->s.n_eof, 0);
    RUN_UNTIL(f, f->s.n_eof == 1, 2000); /* the pool let it go */
    buf_free(&r.body);
}

enum { N_CONCURRENT = 200 };

static int count_done(const rec *r, int n) {
    int done = 0;
    for (int i = 0; i < n; i++)
        done += r[i].n_done;
    return done;
}

static void test_many_concurrent(void **state) {
    fx *f = *state;
    rec *r = calloc(N_CONCURRENT, sizeof *r);
    for (int i = 0; i < N_CONCURRENT; i++) {
        rec_init(&r[i], f);
        rec_get(&r[i], i % 2 ? "/plain" : "/chunked", 0, 0, 0);
    }
    assert_int_equal(http_client_active_calls(f->c), N_CONCURRENT);
    RUN_UNTIL(f, count_done(r, N_CONCURRENT) == N_CONCURRENT, 5000);
    for (int i = 0; i < N_CONCURRENT; i++) {
        assert_true(r[i].ok);
        assert_string_equal(r[i].body.data, i % 2 ? "hello" : "alphabetagamma");
        buf_free(&r[i].body);
    }
    free(r);
}

/* ---- TLS: a blocking OpenSSL server in a thread, self-signed certificate made here ---- */

typedef struct tls_srv {
    pthread_t thread;
    int fd, port;
    SSL_CTX *ctx;
    char dir[64], cert_path[96];
    atomic_bool stop;
    atomic_int n_accepted, n_requests, n_handshake_failed;
} tls_srv;

/* A P-256 key and a self-signed certificate for IP 127.0.0.1 and DNS lgw-test.invalid. */
static void make_cert(EVP_PKEY **key, X509 **cert) {
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, *key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"lgw-test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:lgw-test.invalid");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
    *cert = x;
}

static void tls_serve(tls_srv *t, int cfd) {
    struct timeval tv = {.tv_sec = 2};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* never blocks for long */
    SSL *ssl = SSL_new(t->ctx);
    SSL_set_fd(ssl, cfd);
    if (SSL_accept(ssl) != 1) {
        t->n_handshake_failed++;
    } else {
        char in[8192];
        size_t have = 0;
        for (;;) { /* keep-alive: one answer per request head */
            int n = SSL_read(ssl, in + have, (int)(sizeof in - 1 - have));
            if (n <= 0) break;
            have += (size_t)n;
            in[have] = '\0';
            char *end = strstr(in, "\r\n\r\n");
            if (!end) continue;
            t->n_requests++;
            static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 6\r\n\r\nsecure";
            SSL_write(ssl, resp, (int)sizeof resp - 1);
            size_t used = (size_t)(end + 4 - in);
            memmove(in, in + used, have - used);
            have -= used;
        }
    }
    SSL_free(ssl);
    close(cfd);
}

static void *tls_srv_main(void *arg) {
    tls_srv *t = arg;
    while (!t->stop) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int cfd = accept(t->fd, NULL, NULL);
        if (cfd < 0) continue;
        t->n_accepted++;
        tls_serve(t, cfd);
    }
    return NULL;
}

static void tls_srv_start(tls_srv *t) {
    memset(t, 0, sizeof *t);
    EVP_PKEY *key;
    X509 *cert;
    make_cert(&key, &cert);
    snprintf(t->dir, sizeof t->dir, "/tmp/lgw-tls-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->cert_path, sizeof t->cert_path, "%s/cert.pem", t->dir);
    FILE *fp = fopen(t->cert_path, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, cert);
    fclose(fp);
    t->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(t->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(t->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(t->fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(t->fd, (struct sockaddr *)&a, &len);
    t->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&t->thread, NULL, tls_srv_main, t), 0);
}

static void tls_srv_stop(tls_srv *t) {
    t->stop = true;
    pthread_join(t->thread, NULL);
    close(t->fd);
    SSL_CTX_free(t->ctx);
    unlink(t->cert_path);
    rmdir(t->dir);
}

/* Runs one GET of `host`'s root on the TLS server with the fixture's client. */
static void tls_get(fx *f, tls_srv *t, const char *host, rec *r) {
    char url[160];
    rec_init(r, f);
    snprintf(url, sizeof url, "https://%s:%d/", host, t->port);
    rec_start(r, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, r->n_done == 1, 3000);
}

static void test_tls_verified_with_ca_file(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    http_client_options o;
    test_options(&o);
    o.ca_file = t.cert_path;
    fx_recreate(f, &o);
    rec a, b;
    tls_get(f, &t, "127.0.0.1", &a);
    assert_true(a.ok);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body.data, "secure");
    tls_get(f, &t, "127.0.0.1", &b); /* the TLS connection is pooled too */
    assert_true(b.ok);
    assert_string_equal(b.body.data, "secure");
    assert_int_equal(t.n_accepted, 1);
    assert_int_equal(t.n_requests, 2);
    http_client_free(f->c, on_client_freed, f); /* before the server thread stops */
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&a.body);
    buf_free(&b.body);
}

static void test_tls_unverified_peer_fails(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    rec r;
    tls_get(f, &t, "127.0.0.1", &r); /* the system CAs do not know this certificate */
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TLS);
    assert_non_null(strstr(r.msg, "verif"));
    assert_int_equal(r.n_response, 0);
    http_client_options o;
    test_options(&o);
    o.ca_file = t.cert_path;
    fx_recreate(f, &o);
    rec m;
    tls_get(f, &t, "localhost", &m); /* trusted, but not issued for that name */
    assert_false(m.ok);
    assert_int_equal(m.kind, HTTP_ERR_TLS);
    assert_int_equal(t.n_requests, 0);
    http_client_free(f->c, on_client_freed, f);
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&r.body);
    buf_free(&m.body);
}

static void test_tls_insecure(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    http_client_options o;
    test_options(&o);
    o.insecure = true;
    fx_recreate(f, &o);
    rec r;
    tls_get(f, &t, "localhost", &r);
    assert_true(r.ok);
    assert_string_equal(r.body.data, "secure");
    http_client_free(f->c, on_client_freed, f);
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&r.body);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_plain_200),
        CASE(test_post_copies_body_and_headers),
        CASE(test_post_without_body),
        CASE(test_rejects_malformed_requests),
        CASE(test_chunks_not_coalesced),
        CASE(test_redirect_is_delivered_not_followed),
        CASE(test_status_429_is_transport_ok),
        CASE(test_read_until_close_body),
        CASE(test_head_and_204_have_no_body),
        CASE(test_informational_responses_skipped),
        CASE(test_oversized_headers_fail),
        CASE(test_connect_refused),
        CASE(test_resolves_names),
        CASE(test_first_byte_timeout),
        CASE(test_stall_timeout),
        CASE(test_total_timeout),
        CASE(test_reset_mid_stream),
        CASE(test_fresh_connection_closed_is_reset),
        CASE(test_pause_then_resume),
        CASE(test_pause_inside_data_keeps_rest_of_read),
        CASE(test_cancel_inside_callback),
        CASE(test_cancel_from_loop),
        CASE(test_free_with_calls_in_flight),
        CASE(test_free_inside_callback),
        CASE(test_connection_reuse),
        CASE(test_close_responses_not_reused),
        CASE(test_stale_keepalive_retried),
        CASE(test_max_host_connections_queue),
        CASE(test_queue_wait_counts_toward_first_byte),
        CASE(test_idle_connections_expire),
        CASE(test_many_concurrent),
        CASE(test_tls_verified_with_ca_file),
        CASE(test_tls_unverified_peer_fails),
        CASE(test_tls_insecure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
