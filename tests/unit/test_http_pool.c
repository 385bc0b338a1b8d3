/* http_client's connection pool against the scripted server (http_client_test_util.h):
 * keep-alive reuse, non-reusable responses, the stale keep-alive retry, the per-host queue,
 * idle expiry, many concurrent calls. */
#include "http_client_test_util.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_connection_reuse),
        CASE(test_close_responses_not_reused),
        CASE(test_stale_keepalive_retried),
        CASE(test_max_host_connections_queue),
        CASE(test_queue_wait_counts_toward_first_byte),
        CASE(test_idle_connections_expire),
        CASE(test_many_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
