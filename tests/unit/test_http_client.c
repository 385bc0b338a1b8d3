/* http_client against a scripted HTTP/1.1 server written here on raw libuv TCP, on the same loop
 * as the client (everything is non-blocking, so one thread is enough). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "upstream/http_client.h"
#include "util/buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    {"/login",
     END_KEEP,
     {{0, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 18\r\n"
          "\r\n<html>login</html>"}}},
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

static int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    srv_start(&f->s, &f->loop);
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_init(&f->loop, &f->aux);
    f->guard.data = f->aux.data = f;
    http_client_options o;
    http_client_options_defaults(&o);
    o.connect_timeout_ms = 2000;
    o.first_byte_timeout_ms = 3000;
    o.stall_timeout_ms = 3000;
    o.buffer_size = 1024;
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
    CURLcode code;
    /* behaviour */
    bool pause_on_first_data, paused;
    int data_while_paused;
    bool cancel_on_data, cancelled;
    uint64_t cancel_ns;
    void (*on_done_hook)(struct rec *r);
} rec;

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
    r->code = res->curl_code;
    assert_non_null(res->message);
    if (r->on_done_hook) r->on_done_hook(r);
}

static const http_call_callbacks REC_CB = {rec_on_response, rec_on_data, rec_on_done};

static void rec_init(rec *r, fx *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
    buf_init(&r->body);
}

static http_call *rec_get(rec *r, const char *path, long first_byte, long stall, long total) {
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->f->s.port, path);
    http_call_request req = {.method = "GET",
                             .url = url,
                             .first_byte_timeout_ms = first_byte,
                             .stall_timeout_ms = stall,
                             .total_timeout_ms = total};
    r->call = http_call_start(r->f->c, &req, &REC_CB, r);
    assert_non_null(r->call);
    return r->call;
}

/* ---- tests ---- */

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
    assert_non_null(strstr(q, "GET /plain HTTP/1.1\r\n"));
    assert_non_null(ci_find(q, "\r\nAccept-Encoding: identity\r\n"));
    buf_free(&r.body);
}

static void test_post_copies_body_and_owns_headers(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    char url[160], body[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", f->s.port);
    snprintf(body, sizeof body, "{\"a\":1}");
    struct curl_slist *h = curl_slist_append(NULL, "X-Test: yes");
    h = curl_slist_append(h, "Content-Type: application/json");
    http_call_request req = {
        .method = "POST", .url = url, .headers = h, .body = body, .body_len = strlen(body)};
    r.call = http_call_start(f->c, &req, &REC_CB, &r);
    assert_non_null(r.call);
    memset(body, 'x', sizeof body); /* the call copied it */
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/x-POST");
    assert_string_equal(r.body.data, "{\"a\":1}");
    const char *q = f->s.last_request.data;
    assert_non_null(strstr(q, "POST /echo HTTP/1.1\r\n"));
    assert_non_null(strstr(q, "\r\nX-Test: yes\r\n"));
    assert_null(ci_find(q, "Expect:"));
    buf_free(&r.body);
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

static void test_redirect_reports_final_response(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r, f);
    rec_get(&r, "/redirect", 0, 0, 0);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_true(r.ok);
    assert_int_equal(r.n_response, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_string_equal(r.body.data, "<html>login</html>"); /* not the 302's "moved" */
    assert_int_equal(f->s.n_requests, 2);
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
    http_call_request req = {.method = "GET", .url = url};
    r.call = http_call_start(f->c, &req, &REC_CB, &r);
    assert_non_null(r.call);
    RUN_UNTIL(f, r.n_done == 1, 2000);
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_CONNECT);
    assert_int_equal(r.code, CURLE_COULDNT_CONNECT);
    assert_int_equal(r.n_response, 0);
    buf_free(&r.body);
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

static rec *g_pause_rec;
static uint64_t g_resumed_at;

static void resume_later(fx *f) {
    /* Everything after the first chunk was held while paused, the end of the body included. */
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

static rec *g_reuse_second;

static void start_second(rec *first) { rec_get(g_reuse_second, "/plain", 0, 0, 0); }

static void test_connection_reuse(void **state) {
    fx *f = *state;
    rec a, b, c;
    rec_init(&a, f);
    rec_init(&b, f);
    rec_init(&c, f);
    g_reuse_second = &b;
    a.on_done_hook = start_second; /* from inside on_done: the deferred-add path */
    rec_get(&a, "/plain", 0, 0, 0);
    RUN_UNTIL(f, b.n_done == 1, 2000);
    rec_get(&c, "/plain", 0, 0, 0); /* from the loop: the direct path */
    RUN_UNTIL(f, c.n_done == 1, 2000);
    assert_true(a.ok && b.ok && c.ok);
    assert_string_equal(c.body.data, "hello");
    assert_int_equal(f->s.n_requests, 3);
    assert_int_equal(f->s.n_accepted, 1);
    buf_free(&a.body);
    buf_free(&b.body);
    buf_free(&c.body);
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

int main(void) {
    if (http_client_global_init() != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_200, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_post_copies_body_and_owns_headers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_chunks_not_coalesced, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_redirect_reports_final_response, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_status_429_is_transport_ok, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_first_byte_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stall_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_total_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reset_mid_stream, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pause_then_resume, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_inside_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_loop, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_with_calls_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_callback, fx_setup, fx_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return failed;
}
