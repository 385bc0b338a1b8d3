/* http_client calls against the scripted server (http_client_test_util.h): requests and
 * response framing, errors and deadlines, backpressure (pause / resume), cancel and free. */
#include "http_client_test_util.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
