/* The scripted HTTP/1.1 server, fixture and recording consumer shared by the http_client tests
 * (header-only: each test is one executable). The server is written here on raw libuv TCP, on
 * the same loop as the client: everything is non-blocking, so one thread is enough. */
#ifndef LGW_TEST_HTTP_CLIENT_TEST_UTIL_H
#define LGW_TEST_HTTP_CLIENT_TEST_UTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "upstream/http_client.h"
#include "util/buf.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static inline const char *ci_find(const char *hay, const char *needle) {
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

static inline void conn_try_serve(srv_conn *k);

static inline void conn_on_close(uv_handle_t *h) {
    srv_conn *k = h->data;
    if (--k->open_handles > 0) return;
    buf_free(&k->in);
    free(k);
}

static inline void conn_close(srv_conn *k) {
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

static inline void conn_on_write(uv_write_t *w, int status) { free(w); }

static inline void conn_write(srv_conn *k, const char *data, size_t len) {
    uv_write_t *w = malloc(sizeof *w + len);
    memcpy(w + 1, data, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, conn_on_write) != 0) free(w);
}

static inline void conn_advance(srv_conn *k);
static inline void conn_on_timer(uv_timer_t *t) { conn_advance(t->data); }

static inline void conn_advance(srv_conn *k) {
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

static inline void conn_try_serve(srv_conn *k) {
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

static inline void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    static char slab[65536];
    *b = uv_buf_init(slab, sizeof slab);
}

static inline void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
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

static inline void srv_on_connection(uv_stream_t *l, int status) {
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

static inline void srv_start(srv *s, uv_loop_t *loop) {
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

static inline void srv_stop(srv *s) {
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

static inline void guard_on_timer(uv_timer_t *t) { ((fx *)t->data)->guard_fired = true; }

static inline void guard_start(fx *f, uint64_t ms) {
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

static inline void run_for(fx *f, uint64_t ms) {
    guard_start(f, ms);
    while (!f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static inline void aux_on_timer(uv_timer_t *t) {
    fx *f = t->data;
    f->aux_fn(f);
}

static inline void on_client_freed(void *ud) { ((fx *)ud)->client_freed = true; }

static inline void test_options(http_client_options *o) {
    http_client_options_defaults(o);
    o->connect_timeout_ms = 2000;
    o->first_byte_timeout_ms = 3000;
    o->stall_timeout_ms = 3000;
    o->buffer_size = 1024;
}

/* Replaces the fixture's client with one made with `o`. */
static inline void fx_recreate(fx *f, const http_client_options *o) {
    f->client_freed = false;
    http_client_free(f->c, on_client_freed, f);
    RUN_UNTIL(f, f->client_freed, 2000);
    f->client_freed = false;
    assert_int_equal(http_client_new(&f->c, &f->loop, o), 0);
}

static inline int fx_setup(void **state) {
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

static inline int fx_teardown(void **state) {
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

static inline void rec_on_response(http_call *call, int status, const char *ct, void *ud) {
    rec *r = ud;
    assert_ptr_equal(call, r->call);
    if (r->cancelled) r->late++;
    r->n_response++;
    r->status = status;
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
}

static inline void rec_on_data(http_call *call, const char *data, size_t len, void *ud) {
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

static inline void rec_on_done(http_call *call, const http_call_result *res, void *ud) {
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

static inline void rec_init(rec *r, fx *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
    buf_init(&r->body);
}

static inline http_call *rec_start(rec *r, const char *method, const char *url, long first_byte,
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

static inline http_call *rec_get(rec *r, const char *path, long first_byte, long stall,
                                 long total) {
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->f->s.port, path);
    return rec_start(r, "GET", url, first_byte, stall, total);
}
#endif
