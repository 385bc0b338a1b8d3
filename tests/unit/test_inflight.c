/* inflight: one turn per upstream session (acquire / release), the wait queue (grant order,
 * timeout, queue full, cancel), the global cap, and freeing with waiters queued. Runs a real
 * libuv loop for the timers. */
#include "core/inflight.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct waiter_rec {
    int id;
    int calls;
    bool granted;
    int order; /* global callback sequence number */
    uint64_t at_ms;
} waiter_rec;

static int seq;
static uv_loop_t *cur_loop;

static void on_wait(bool granted, void *ud) {
    waiter_rec *r = ud;
    r->calls++;
    r->granted = granted;
    r->order = ++seq;
    r->at_ms = uv_now(cur_loop);
}

static int setup(void **state) {
    uv_loop_t *loop = malloc(sizeof *loop);
    assert_int_equal(uv_loop_init(loop), 0);
    cur_loop = loop;
    seq = 0;
    *state = loop;
    return 0;
}

static int teardown(void **state) {
    uv_loop_t *loop = *state;
    uv_run(loop, UV_RUN_DEFAULT); /* close callbacks */
    assert_int_equal(uv_loop_close(loop), 0);
    free(loop);
    return 0;
}

static void test_parse_policy(void **state) {
    (void)state;
    inflight_policy p = INFLIGHT_REJECT;
    assert_int_equal(inflight_parse_policy("fork", &p), 0);
    assert_int_equal(p, INFLIGHT_FORK);
    assert_int_equal(inflight_parse_policy("WAIT", &p), 0);
    assert_int_equal(p, INFLIGHT_WAIT);
    assert_int_equal(inflight_parse_policy("reject", &p), 0);
    assert_int_equal(p, INFLIGHT_REJECT);
    assert_int_equal(inflight_parse_policy("queue", &p), -1);
}

static void test_acquire_release(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_REJECT, 4, 1000, 0);
    assert_int_equal(inflight_get_policy(g), INFLIGHT_REJECT);
    assert_true(inflight_try_acquire(g, "s1"));
    assert_false(inflight_try_acquire(g, "s1"));
    assert_true(inflight_try_acquire(g, "s2")); /* other sessions are independent */
    inflight_release(g, "s1");
    assert_true(inflight_try_acquire(g, "s1"));
    inflight_release(g, "s1");
    inflight_release(g, "s2");
    inflight_release(g, "never-held"); /* harmless */
    /* many sessions (hash collisions in the table) */
    char id[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "sess-%d", i);
        assert_true(inflight_try_acquire(g, id));
    }
    for (int i = 0; i < 10000; i += 2) {
        snprintf(id, sizeof id, "sess-%d", i);
        inflight_release(g, id);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "sess-%d", i);
        assert_int_equal(inflight_try_acquire(g, id), i % 2 == 0);
    }
    inflight_free(g);
}

static void test_wait_grants_in_order(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_WAIT, 4, 5000, 0);
    waiter_rec w[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    assert_true(inflight_try_acquire(g, "s"));
    for (int i = 0; i < 3; i++)
        assert_non_null(inflight_wait(g, "s", on_wait, &w[i]));
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].calls, 0);
    inflight_release(g, "s"); /* the slot goes straight to waiter 1 */
    assert_int_equal(w[0].calls, 1);
    assert_true(w[0].granted);
    assert_int_equal(w[1].calls, 0);
    assert_false(inflight_try_acquire(g, "s")); /* still held, by waiter 1 */
    inflight_release(g, "s");
    assert_true(w[1].granted);
    inflight_release(g, "s");
    assert_true(w[2].granted);
    assert_true(w[0].order < w[1].order && w[1].order < w[2].order);
    inflight_release(g, "s");
    assert_true(inflight_try_acquire(g, "s"));
    inflight_release(g, "s");
    uv_run(*state, UV_RUN_DEFAULT); /* no timer fires late */
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].calls, 1);
    inflight_free(g);
}

static void test_wait_timeout(void **state) {
    uv_loop_t *loop = *state;
    inflight *g = inflight_new(loop, INFLIGHT_WAIT, 4, 60, 0);
    waiter_rec a = {.id = 1}, b = {.id = 2};
    assert_true(inflight_try_acquire(g, "s"));
    uv_update_time(loop);
    uint64_t t0 = uv_now(loop);
    assert_non_null(inflight_wait(g, "s", on_wait, &a));
    assert_non_null(inflight_wait(g, "s", on_wait, &b));
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(a.calls, 1);
    assert_false(a.granted);
    assert_int_equal(b.calls, 1);
    assert_false(b.granted);
    assert_true(a.at_ms - t0 >= 60);
    /* the holder still has it; releasing frees it (nobody queued any more) */
    assert_false(inflight_try_acquire(g, "s"));
    inflight_release(g, "s");
    assert_true(inflight_try_acquire(g, "s"));
    inflight_release(g, "s");
    inflight_free(g);
}

static void test_queue_full(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_WAIT, 2, 1000, 0);
    waiter_rec w[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    assert_true(inflight_try_acquire(g, "s"));
    assert_non_null(inflight_wait(g, "s", on_wait, &w[0]));
    assert_non_null(inflight_wait(g, "s", on_wait, &w[1]));
    assert_null(inflight_wait(g, "s", on_wait, &w[2]));
    assert_int_equal(w[2].calls, 0);
    /* a grant frees a queue place */
    inflight_release(g, "s");
    assert_true(w[0].granted);
    assert_non_null(inflight_wait(g, "s", on_wait, &w[2]));
    inflight_release(g, "s");
    inflight_release(g, "s");
    assert_true(w[1].granted && w[2].granted);
    assert_true(w[1].order < w[2].order);
    inflight_release(g, "s");
    /* zero places: never queues */
    inflight *z = inflight_new(*state, INFLIGHT_WAIT, 0, 1000, 0);
    assert_true(inflight_try_acquire(z, "s"));
    assert_null(inflight_wait(z, "s", on_wait, &w[0]));
    inflight_release(z, "s");
    inflight_free(z);
    inflight_free(g);
}

static void test_cancel(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_WAIT, 4, 50, 0);
    waiter_rec w[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    assert_true(inflight_try_acquire(g, "s"));
    inflight_waiter *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = inflight_wait(g, "s", on_wait, &w[i]);
    inflight_wait_cancel(g, h[0]); /* head */
    inflight_wait_cancel(g, h[2]); /* tail */
    inflight_release(g, "s");
    assert_int_equal(w[0].calls, 0);
    assert_true(w[1].granted);
    /* a cancelled tail does not break appending */
    waiter_rec late = {.id = 4};
    assert_non_null(inflight_wait(g, "s", on_wait, &late));
    inflight_release(g, "s");
    assert_true(late.granted);
    inflight_release(g, "s");
    uv_run(*state, UV_RUN_DEFAULT); /* cancelled timers never fire */
    assert_int_equal(w[0].calls, 0);
    assert_int_equal(w[2].calls, 0);
    assert_true(inflight_try_acquire(g, "s"));
    inflight_release(g, "s");
    inflight_free(g);
}

/* Waiting on a session that is free gets the slot (asynchronously) and never leaves the
 * session busy for ever. */
static void test_wait_on_free_session(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_WAIT, 4, 50, 0);
    waiter_rec w = {.id = 1};
    assert_non_null(inflight_wait(g, "free", on_wait, &w));
    assert_int_equal(w.calls, 0); /* not from inside inflight_wait */
    uv_run(*state, UV_RUN_DEFAULT);
    assert_int_equal(w.calls, 1);
    assert_true(w.granted);
    assert_false(inflight_try_acquire(g, "free")); /* held by the waiter now */
    inflight_release(g, "free");
    assert_true(inflight_try_acquire(g, "free"));
    inflight_release(g, "free");
    /* cancelled before the grant: the slot is given back */
    waiter_rec c = {.id = 2};
    inflight_waiter *h = inflight_wait(g, "free2", on_wait, &c);
    assert_non_null(h);
    inflight_wait_cancel(g, h);
    uv_run(*state, UV_RUN_DEFAULT);
    assert_int_equal(c.calls, 0);
    assert_true(inflight_try_acquire(g, "free2"));
    inflight_release(g, "free2");
    inflight_free(g);
}

static void test_global_cap(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_FORK, 4, 1000, 2);
    assert_true(inflight_turn_begin(g));
    assert_true(inflight_turn_begin(g));
    assert_false(inflight_turn_begin(g));
    assert_int_equal(inflight_turns(g), 2);
    inflight_turn_end(g);
    assert_int_equal(inflight_turns(g), 1);
    assert_true(inflight_turn_begin(g));
    assert_false(inflight_turn_begin(g));
    inflight_turn_end(g);
    inflight_turn_end(g);
    inflight_turn_end(g); /* extra end does not underflow */
    assert_int_equal(inflight_turns(g), 0);
    inflight_free(g);
    /* cap 0 = unlimited */
    inflight *u = inflight_new(*state, INFLIGHT_FORK, 4, 1000, 0);
    for (int i = 0; i < 1000; i++)
        assert_true(inflight_turn_begin(u));
    assert_int_equal(inflight_turns(u), 1000);
    inflight_free(u);
}

/* Over the global cap, turns queue in order; a freed slot passes to the oldest waiter on a later
 * loop turn; a full queue refuses; a waiter times out; a cancelled grant passes the slot on. */
static void test_global_queue(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_FORK, 4, 60, 1);
    inflight_set_turn_queue(g, 2);
    assert_true(inflight_turn_begin(g));
    waiter_rec w[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    inflight_turn_waiter *h1 = inflight_turn_wait(g, on_wait, &w[0]);
    inflight_turn_waiter *h2 = inflight_turn_wait(g, on_wait, &w[1]);
    assert_non_null(h1);
    assert_non_null(h2);
    assert_null(inflight_turn_wait(g, on_wait, &w[2])); /* queue full */
    assert_false(inflight_turn_begin(g));               /* no jumping the queue */
    inflight_turn_end(g);                               /* the slot goes to waiter 1 */
    assert_int_equal(inflight_turns(g), 1);
    assert_int_equal(w[0].calls, 0); /* told on a later loop turn, not inside the release */
    uv_run(*state, UV_RUN_DEFAULT);  /* waiter 1 granted; waiter 2 times out (60 ms) */
    assert_int_equal(w[0].calls, 1);
    assert_true(w[0].granted);
    assert_int_equal(w[1].calls, 1);
    assert_false(w[1].granted);
    assert_int_equal(w[1].order, 2);
    /* a grant cancelled before it is told passes the slot to the next waiter */
    waiter_rec x[2] = {{.id = 4}, {.id = 5}};
    inflight_turn_waiter *hx = inflight_turn_wait(g, on_wait, &x[0]);
    assert_non_null(inflight_turn_wait(g, on_wait, &x[1]));
    inflight_turn_end(g); /* to x0 */
    inflight_turn_wait_cancel(g, hx);
    uv_run(*state, UV_RUN_DEFAULT);
    assert_int_equal(x[0].calls, 0);
    assert_int_equal(x[1].calls, 1);
    assert_true(x[1].granted);
    assert_int_equal(inflight_turns(g), 1);
    inflight_turn_end(g);
    assert_int_equal(inflight_turns(g), 0);
    inflight_free(g);
}

static void test_free_with_waiters(void **state) {
    inflight *g = inflight_new(*state, INFLIGHT_WAIT, 4, 10000, 0);
    waiter_rec w[2] = {{.id = 1}, {.id = 2}};
    assert_true(inflight_try_acquire(g, "s"));
    assert_true(inflight_try_acquire(g, "t"));
    assert_non_null(inflight_wait(g, "s", on_wait, &w[0]));
    assert_non_null(inflight_wait(g, "t", on_wait, &w[1]));
    waiter_rec pre = {.id = 3};
    assert_non_null(inflight_wait(g, "free", on_wait, &pre)); /* granted, not yet told */
    inflight_free(g); /* timers closed; teardown runs the loop and checks it is empty */
    uv_run(*state, UV_RUN_DEFAULT);
    assert_int_equal(w[0].calls + w[1].calls + pre.calls, 0);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_policy),
        T(test_acquire_release),
        T(test_wait_grants_in_order),
        T(test_wait_timeout),
        T(test_queue_full),
        T(test_cancel),
        T(test_wait_on_free_session),
        T(test_global_cap),
        T(test_global_queue),
        T(test_free_with_waiters),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
