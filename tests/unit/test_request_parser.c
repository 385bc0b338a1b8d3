/* request_parser: requests out of bytes, split reads, pipelining, limits (413/431), Expect,
 * smuggling attempts and malformed input. No sockets. */
#include "net/request_parser.h"
#include "util/buf.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct events_seen {
    int begins, headers, continues;
} events_seen;

static void on_begin(void *ud) { ((events_seen *)ud)->begins++; }
static void on_headers(void *ud, bool expect_continue) {
    events_seen *e = ud;
    e->headers++;
    if (expect_continue) e->continues++;
}
static const request_parser_events EVENTS = {on_begin, on_headers};

static const char *header(const request_parsed *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

/* Feeds everything in one read and expects exactly one complete request. */
static void parse_ok(const char *raw, size_t max_header, size_t max_body, request_parsed *out) {
    request_parser p;
    request_parser_init(&p, max_header, max_body, NULL, NULL);
    size_t consumed = 0;
    request_parser_result res = request_parser_feed(&p, raw, strlen(raw), &consumed, out);
    if (res != REQUEST_PARSER_REQUEST)
        fail_msg("want a request, got result %d (status %d) for [%s]", res,
                 request_parser_status(&p), raw);
    assert_int_equal(consumed, strlen(raw));
    request_parser_free(&p);
}

/* Feeds everything (byte by byte when `bytewise`) and expects an error with `status`. */
static void parse_error(const char *raw, size_t len, size_t max_header, size_t max_body, int status,
                        bool bytewise) {
    request_parser p;
    request_parser_init(&p, max_header, max_body, NULL, NULL);
    request_parser_result res = REQUEST_PARSER_MORE;
    size_t off = 0;
    while (off < len) {
        size_t n = bytewise ? 1 : len - off, consumed = 0;
        request_parsed r;
        res = request_parser_feed(&p, raw + off, n, &consumed, &r);
        if (res == REQUEST_PARSER_ERROR) break;
        if (res == REQUEST_PARSER_REQUEST) request_parsed_free(&r);
        off += consumed;
    }
    if (res != REQUEST_PARSER_ERROR)
        fail_msg("want error %d, got result %d for [%.80s]", status, res, raw);
    assert_int_equal(request_parser_status(&p), status);
    request_parser_free(&p);
}

static void test_simple_get(void **state) {
    (void)state;
    request_parsed r;
    parse_ok("GET /health HTTP/1.1\r\nHost: example\r\nX-Pad:   spaced value \t \r\n\r\n", 8192,
             8192, &r);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.target, "/health");
    assert_string_equal(r.path, "/health");
    assert_string_equal(r.query, "");
    assert_int_equal(r.http_minor, 1);
    assert_true(r.keep_alive);
    assert_false(r.head);
    assert_int_equal(r.n_headers, 2);
    assert_string_equal(r.headers[0].name, "Host");
    assert_string_equal(r.headers[0].value, "example");
    assert_string_equal(header(&r, "X-Pad"), "spaced value");
    assert_int_equal(r.headers[1].value_len, strlen("spaced value"));
    assert_int_equal(r.body.len, 0);
    assert_non_null(r.body.data);
    assert_string_equal(r.body.data, "");
    request_parsed_free(&r);
}

static void test_post_with_body_and_query(void **state) {
    (void)state;
    request_parsed r;
    parse_ok("POST /v1/messages?beta=true&x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
             "{\"a\":\"b\"}\r\n",
             8192, 8192, &r);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/v1/messages");
    assert_string_equal(r.query, "beta=true&x=1");
    assert_string_equal(r.target, "/v1/messages?beta=true&x=1");
    assert_int_equal(r.body.len, 11);
    assert_memory_equal(r.body.data, "{\"a\":\"b\"}\r\n", 11);
    request_parsed_free(&r);
}

/* Regression: the query-less copy of the path was appended from the parser's own buffer, which
 * the append could reallocate first (use after free). Vary the sizes so every growth point of
 * the buffer is crossed; ASan catches a regression, the asserts catch a corrupted path. */
static void test_query_path_copy_across_buffer_growth(void **state) {
    (void)state;
    char raw[2048], path[256], pad[600];
    for (size_t plen = 1; plen < 200; plen += 7) {
        for (size_t hlen = 0; hlen < 520; hlen += 13) {
            memset(path, 'p', plen);
            path[0] = '/';
            path[plen] = '\0';
            memset(pad, 'v', hlen);
            pad[hlen] = '\0';
            snprintf(raw, sizeof raw, "GET %s?q=%zu HTTP/1.1\r\nX: %s\r\n\r\n", path, hlen, pad);
            request_parsed r;
            parse_ok(raw, 8192, 8192, &r);
            assert_string_equal(r.path, path);
            assert_string_equal(r.target + plen + 1, r.query);
            request_parsed_free(&r);
        }
    }
}

static void test_chunked_body(void **state) {
    (void)state;
    request_parsed r;
    parse_ok("POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
             8192, 8192, &r);
    assert_int_equal(r.body.len, 11);
    assert_string_equal(r.body.data, "hello world");
    request_parsed_free(&r);
}

static void test_head_and_http10(void **state) {
    (void)state;
    request_parsed r;
    parse_ok("HEAD /health HTTP/1.1\r\nHost: h\r\n\r\n", 8192, 8192, &r);
    assert_true(r.head);
    assert_string_equal(r.method, "HEAD");
    request_parsed_free(&r);
    parse_ok("GET /health HTTP/1.0\r\n\r\n", 8192, 8192, &r);
    assert_int_equal(r.http_minor, 0);
    assert_false(r.keep_alive);
    request_parsed_free(&r);
    parse_ok("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 8192, 8192, &r);
    assert_true(r.keep_alive);
    request_parsed_free(&r);
    parse_ok("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", 8192, 8192, &r);
    assert_false(r.keep_alive);
    request_parsed_free(&r);
}

/* Every split point of a request gives the same result. */
static void test_split_reads(void **state) {
    (void)state;
    const char *raw = "POST /v1/messages?beta=true HTTP/1.1\r\nHost: h\r\nX-Api-Key: k1\r\n"
                      "Content-Length: 4\r\n\r\nbody";
    size_t len = strlen(raw);
    for (size_t split = 0; split <= len; split++) {
        request_parser p;
        events_seen ev = {0, 0, 0};
        request_parser_init(&p, 8192, 8192, &EVENTS, &ev);
        request_parsed r;
        size_t consumed = 0;
        request_parser_result res = request_parser_feed(&p, raw, split, &consumed, &r);
        if (split < len) {
            assert_int_equal(res, REQUEST_PARSER_MORE);
            assert_int_equal(consumed, split);
            res = request_parser_feed(&p, raw + split, len - split, &consumed, &r);
        }
        assert_int_equal(res, REQUEST_PARSER_REQUEST);
        assert_string_equal(r.path, "/v1/messages");
        assert_string_equal(r.query, "beta=true");
        assert_string_equal(header(&r, "X-Api-Key"), "k1");
        assert_string_equal(r.body.data, "body");
        assert_int_equal(ev.begins, 1);
        assert_int_equal(ev.headers, 1);
        request_parsed_free(&r);
        request_parser_free(&p);
    }
}

static void test_pipelined_requests_one_at_a_time(void **state) {
    (void)state;
    const char *raw = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                      "GET /c?x HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *want[] = {"/a", "/b", "/c"};
    request_parser p;
    events_seen ev = {0, 0, 0};
    request_parser_init(&p, 8192, 8192, &EVENTS, &ev);
    size_t off = 0, len = strlen(raw);
    for (int i = 0; i < 3; i++) {
        request_parsed r;
        size_t consumed = 0;
        assert_int_equal(request_parser_feed(&p, raw + off, len - off, &consumed, &r),
                         REQUEST_PARSER_REQUEST);
        assert_string_equal(r.path, want[i]);
        if (i == 1) assert_string_equal(r.body.data, "hi");
        request_parsed_free(&r);
        off += consumed;
        /* the parser stops at each message end: the next request is not consumed yet */
        assert_int_equal(ev.begins, i + 1);
    }
    assert_int_equal(off, len);
    request_parser_free(&p);
}

/* We never switch protocols, so an Upgrade offer (curl --http2 sends "Upgrade: h2c" on every
 * cleartext request) is an ordinary request: the connection stays HTTP/1.1 and the next request
 * on it parses. CONNECT cannot be answered on a kept connection: it closes. */
static void test_upgrade_offer_is_ignored(void **state) {
    (void)state;
    const char *raw = "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
                      "Content-Length: 2\r\n\r\nhi"
                      "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *want[] = {"/a", "/b", "/c"};
    request_parser p;
    request_parser_init(&p, 8192, 8192, NULL, NULL);
    size_t off = 0, len = strlen(raw);
    for (int i = 0; i < 3; i++) {
        request_parsed r;
        size_t consumed = 0;
        assert_int_equal(request_parser_feed(&p, raw + off, len - off, &consumed, &r),
                         REQUEST_PARSER_REQUEST);
        assert_string_equal(r.path, want[i]);
        assert_true(r.keep_alive);
        if (i == 1) assert_string_equal(r.body.data, "hi");
        request_parsed_free(&r);
        off += consumed;
    }
    assert_int_equal(off, len);
    request_parser_free(&p);

    request_parsed r;
    parse_ok("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 8192, 8192, &r);
    assert_false(r.keep_alive);
    request_parsed_free(&r);
}

static void test_expect_continue_event(void **state) {
    (void)state;
    const char *cases[] = {"Expect: 100-continue", "expect: 100-Continue"};
    for (size_t i = 0; i < 2; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "POST /v1/messages HTTP/1.1\r\n%s\r\nContent-Length: 2\r\n\r\n",
                 cases[i]);
        request_parser p;
        events_seen ev = {0, 0, 0};
        request_parser_init(&p, 8192, 8192, &EVENTS, &ev);
        request_parsed r;
        size_t consumed = 0;
        assert_int_equal(request_parser_feed(&p, raw, strlen(raw), &consumed, &r),
                         REQUEST_PARSER_MORE);
        assert_int_equal(ev.continues, 1); /* before any body byte arrives */
        assert_int_equal(request_parser_feed(&p, "ok", 2, &consumed, &r), REQUEST_PARSER_REQUEST);
        request_parsed_free(&r);
        request_parser_free(&p);
    }
    /* not on HTTP/1.0 */
    request_parser p;
    events_seen ev = {0, 0, 0};
    request_parser_init(&p, 8192, 8192, &EVENTS, &ev);
    const char *raw10 = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
    request_parsed r;
    size_t consumed = 0;
    assert_int_equal(request_parser_feed(&p, raw10, strlen(raw10), &consumed, &r),
                     REQUEST_PARSER_REQUEST);
    assert_int_equal(ev.continues, 0);
    request_parsed_free(&r);
    request_parser_free(&p);
}

static void test_body_limit_413(void **state) {
    (void)state;
    /* declared over the limit: rejected at the headers, before any body */
    const char *cl = "POST /v1/messages HTTP/1.1\r\nContent-Length: 1025\r\n\r\n";
    parse_error(cl, strlen(cl), 8192, 1024, 413, false);
    /* exactly at the limit is fine */
    char raw[2048];
    int n = snprintf(raw, sizeof raw, "POST /x HTTP/1.1\r\nContent-Length: 1024\r\n\r\n");
    memset(raw + n, 'b', 1024);
    raw[n + 1024] = '\0';
    request_parsed r;
    parse_ok(raw, 8192, 1024, &r);
    assert_int_equal(r.body.len, 1024);
    request_parsed_free(&r);
    /* chunked: crossing the limit in the middle of the stream */
    buf b = BUF_INIT;
    buf_puts(&b, "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        buf_puts(&b, "190\r\n"); /* 400 bytes */
        for (int k = 0; k < 400; k++)
            buf_putc(&b, 'c');
        buf_puts(&b, "\r\n");
    }
    buf_puts(&b, "0\r\n\r\n");
    parse_error(b.data, b.len, 8192, 1024, 413, false);
    parse_error(b.data, b.len, 8192, 1024, 413, true);
    buf_free(&b);
}

static void test_header_limit_431(void **state) {
    (void)state;
    buf b = BUF_INIT;
    buf_puts(&b, "GET /health HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < 2000; i++)
        buf_putc(&b, 'h');
    buf_puts(&b, "\r\n\r\n");
    parse_error(b.data, b.len, 1024, 1024, 431, false);
    parse_error(b.data, b.len, 1024, 1024, 431, true);
    buf_free(&b);
    /* a long URL counts too */
    buf_puts(&b, "GET /");
    for (int i = 0; i < 2000; i++)
        buf_putc(&b, 'u');
    buf_puts(&b, " HTTP/1.1\r\n\r\n");
    parse_error(b.data, b.len, 1024, 1024, 431, false);
    buf_free(&b);
    /* too many headers */
    buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < REQUEST_PARSER_MAX_HEADERS + 1; i++)
        buf_printf(&b, "H%d: v\r\n", i);
    buf_puts(&b, "\r\n");
    parse_error(b.data, b.len, 1 << 20, 1024, 431, false);
    buf_free(&b);
}

static void test_malformed_400(void **state) {
    (void)state;
    const char *bad[] = {
        "GARBAGE\r\n\r\n", "GET /health XTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nBad Header\r\n\r\n",
        /* request smuggling: both Content-Length and Transfer-Encoding */
        "POST / HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
        /* conflicting Content-Length */
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", /* bare CR */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_error(bad[i], strlen(bad[i]), 8192, 8192, 400, false);
        parse_error(bad[i], strlen(bad[i]), 8192, 8192, 400, true);
    }
}

/* llhttp 8 accepts obs-fold; the value must come out unfolded (no CR or LF inside). */
static void test_obs_fold_unfolded(void **state) {
    (void)state;
    request_parsed r;
    parse_ok("GET / HTTP/1.1\r\nX-Folded: a\r\n  b\r\nY: z\r\n\r\n", 8192, 8192, &r);
    const char *v = header(&r, "X-Folded");
    assert_non_null(v);
    assert_null(strpbrk(v, "\r\n"));
    assert_non_null(strchr(v, 'a'));
    assert_non_null(strchr(v, 'b'));
    assert_string_equal(header(&r, "Y"), "z");
    request_parsed_free(&r);
}

static void test_path_of_rejected_request(void **state) {
    (void)state;
    request_parser p;
    request_parser_init(&p, 8192, 1024, NULL, NULL);
    const char *raw = "POST /v1/messages?beta=true HTTP/1.1\r\nContent-Length: 5000\r\n\r\n";
    request_parsed r;
    size_t consumed = 0;
    assert_int_equal(request_parser_feed(&p, raw, strlen(raw), &consumed, &r),
                     REQUEST_PARSER_ERROR);
    char path[64];
    request_parser_path(&p, path, sizeof path);
    assert_string_equal(path, "/v1/messages");
    char tiny[4];
    request_parser_path(&p, tiny, sizeof tiny);
    assert_string_equal(tiny, "/v1");
    request_parser_free(&p);
    /* nothing known yet */
    request_parser_init(&p, 8192, 1024, NULL, NULL);
    assert_int_equal(request_parser_feed(&p, "GET /par", 8, &consumed, &r), REQUEST_PARSER_MORE);
    request_parser_path(&p, path, sizeof path);
    assert_string_equal(path, "");
    request_parser_free(&p);
}

/* A handled request keeps only its request line; the parser keeps no header spans meanwhile. */
static void test_release_payload_keeps_request_line(void **state) {
    (void)state;
    const char *raw = "POST /v1/chat?x=1&y=2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
                      "hello";
    request_parser p;
    request_parser_init(&p, 8192, 8192, NULL, NULL);
    size_t consumed = 0;
    request_parsed r;
    assert_int_equal(request_parser_feed(&p, raw, strlen(raw), &consumed, &r),
                     REQUEST_PARSER_REQUEST);
    assert_null(p.spans);
    assert_int_equal(p.spans_cap, 0);
    request_parsed_release_payload(&r);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.target, "/v1/chat?x=1&y=2");
    assert_string_equal(r.path, "/v1/chat");
    assert_string_equal(r.query, "x=1&y=2");
    assert_int_equal(r.n_headers, 0);
    assert_null(r.headers);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(r.store.cap, sizeof "/v1/chat?x=1&y=2" + sizeof "/v1/chat");
    request_parsed_free(&r);

    /* the next request on the connection parses with fresh spans */
    const char *next = "GET /health HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(request_parser_feed(&p, next, strlen(next), &consumed, &r),
                     REQUEST_PARSER_REQUEST);
    assert_string_equal(header(&r, "Host"), "h");
    request_parsed_release_payload(&r);
    assert_string_equal(r.target, "/health");
    assert_string_equal(r.path, "/health");
    assert_string_equal(r.query, "");
    request_parsed_free(&r);
    request_parser_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_post_with_body_and_query),
        cmocka_unit_test(test_query_path_copy_across_buffer_growth),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_head_and_http10),
        cmocka_unit_test(test_split_reads),
        cmocka_unit_test(test_pipelined_requests_one_at_a_time),
        cmocka_unit_test(test_upgrade_offer_is_ignored),
        cmocka_unit_test(test_expect_continue_event),
        cmocka_unit_test(test_body_limit_413),
        cmocka_unit_test(test_header_limit_431),
        cmocka_unit_test(test_malformed_400),
        cmocka_unit_test(test_obs_fold_unfolded),
        cmocka_unit_test(test_path_of_rejected_request),
        cmocka_unit_test(test_release_payload_keeps_request_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
