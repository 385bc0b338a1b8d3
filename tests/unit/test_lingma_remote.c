/* lingma_remote against a tiny scripted upstream on raw libuv TCP (same loop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "upstream/lingma_remote.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_HEAD                                                                                   \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

typedef struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_tcp_t conn;
    uv_timer_t timer;
    int port;
    bool accepted, answered;
    buf in;
} srv;

static void on_write(uv_write_t *w, int status) {
    (void)status;
    free(w);
}

static void srv_write(srv *s, const char *text) {
    size_t len = strlen(text);
    uv_write_t *w = xmalloc(sizeof *w + len);
    memcpy(w + 1, text, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&s->conn, &b, 1, on_write) != 0) free(w);
}

static void srv_chunk(srv *s, const char *data) {
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", strlen(data));
    srv_write(s, head);
    srv_write(s, data);
    srv_write(s, "\r\n");
}

/* After [DONE] the upstream still sends a comment line, then ends the body. */
static void on_tail(uv_timer_t *t) {
    srv *s = t->data;
    srv_chunk(s, ": trailing comment after [DONE]\n\n");
    srv_write(s, "0\r\n\r\n");
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    b->base = xmalloc(sz);
    b->len = sz;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    srv *s = st->data;
    if (n > 0) buf_append(&s->in, b->base, (size_t)n);
    free(b->base);
    if (n < 0) {
        uv_read_stop(st);
        return;
    }
    const char *end = s->in.data ? strstr(s->in.data, "\r\n\r\n") : NULL;
    if (s->answered || !end) return;
    const char *cl = strstr(s->in.data, "Content-Length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    if (s->in.len < (size_t)(end + 4 - s->in.data) + body) return;
    s->answered = true;
    srv_write(s, SSE_HEAD);
    srv_chunk(s,
              "data:{\"body\":\"{\\\"choices\\\":[{\\\"delta\\\":{\\\"content\\\":\\\"Hi\\\"}}]}\","
              "\"statusCodeValue\":200}\n\n"
              "data:{\"body\":\"{\\\"choices\\\":[{\\\"delta\\\":{},\\\"finish_reason\\\":"
              "\\\"stop\\\"}]}\",\"statusCodeValue\":200}\n\n"
              "data:[DONE]\n\n");
    uv_timer_start(&s->timer, on_tail, 50, 0);
}

static void on_conn(uv_stream_t *l, int status) {
    srv *s = l->data;
    assert_int_equal(status, 0);
    assert_false(s->accepted);
    s->accepted = true;
    uv_tcp_init(s->loop, &s->conn);
    s->conn.data = s;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&s->conn), 0);
    uv_read_start((uv_stream_t *)&s->conn, on_alloc, on_read);
}

static void srv_start(srv *s, uv_loop_t *loop) {
    memset(s, 0, sizeof *s);
    s->loop = loop;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, on_conn), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static void srv_stop(srv *s) {
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
    if (s->accepted) uv_close((uv_handle_t *)&s->conn, NULL);
    buf_free(&s->in);
}

typedef struct turn_sim {
    lingma_call *call;
    int texts, finishes, errors;
} turn_sim;

/* Like core/turn: pauses on backpressure, forgets the call at its terminal event. */
static void on_event(const conv_event *ev, void *ud) {
    turn_sim *t = ud;
    if (ev->type == CONV_EV_TEXT_DELTA) {
        t->texts++;
        lingma_call_pause(t->call); /* the client is slow */
    } else if (ev->type == CONV_EV_FINISH) {
        t->finishes++;
        t->call = NULL;
    } else if (ev->type == CONV_EV_ERROR) {
        t->errors++;
        t->call = NULL;
    }
}

static void on_stop(uv_timer_t *t) { uv_stop(t->loop); }

static void run_for(uv_loop_t *loop, uint64_t ms) {
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_stop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void on_remote_freed(void *ud) { *(bool *)ud = true; }

/* A call paused by its consumer when the terminal event arrives is never resumed by it (the
 * consumer has let go): the remote must drain the rest of the body and free the call, not hold
 * it (and its connection) paused forever — a paused call has no stall deadline. */
static void test_paused_call_ends_after_terminal(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv s;
    srv_start(&s, &loop);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    lingma_remote_options o = {.base_url = url};
    http_client_options_defaults(&o.http);
    lingma_remote *r = NULL;
    assert_int_equal(lingma_remote_new(&r, &loop, &o), 0);
    lingma_account a = {.name = "a",
                        .user_id = "1",
                        .machine_id = "machine-0123456789",
                        .cosy_key = "CK",
                        .encrypt_user_info = "EUI"};
    turn_sim t = {0};
    t.call = lingma_chat_start(r, &a, "{}", 2, on_event, &t);
    assert_non_null(t.call);
    run_for(&loop, 400);
    assert_int_equal(t.texts, 1);
    assert_int_equal(t.finishes, 1);
    assert_int_equal(t.errors, 0);
    assert_int_equal(lingma_remote_active_calls(r), 0);
    bool freed = false;
    lingma_remote_free(r, on_remote_freed, &freed);
    srv_stop(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(freed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paused_call_ends_after_terminal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
