#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "core/pool.h"
#include "core/session_cache.h"
#include "core/state_store.h"
#include "core/stats.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One run of the gateway's services, as app.c wires them. */
typedef struct world {
    uv_loop_t loop;
    pool pool;
    session_cache *sessions;
    stats *stats;
    state_store *store;
} world;

static char tmpdir[64];
static char db_path[128];

static lingma_account account(const char *name, const char *key) {
    lingma_account a = {0};
    a.name = xstrdup(name);
    a.user_id = xstrdup("1001");
    a.machine_id = xstrdup("machine-0123456789");
    a.cosy_key = xstrdup(key);
    a.encrypt_user_info = xstrdup("eui");
    return a;
}

static int world_open(world *w, const char *key_b, size_t session_max, int64_t ttl_ms) {
    memset(w, 0, sizeof *w);
    uv_loop_init(&w->loop);
    lingma_account_list l = {xcalloc(2, sizeof(lingma_account)), 2};
    l.items[0] = account("acct-a", "key-a");
    l.items[1] = account("acct-b", key_b);
    pool_options o;
    pool_options_defaults(&o);
    pool_init(&w->pool, &l, &o, NULL);
    pool_reserve(&w->pool, 8);
    w->sessions = session_cache_new(100, 0);
    w->stats = stats_new();
    char err[256];
    state_store_options so = {db_path, 20, ttl_ms, session_max};
    if (state_store_open(&w->store, &w->loop, &so, err, sizeof err) != 0) return -1;
    assert_int_equal(0,
                     state_store_load(w->store, w->sessions, &w->pool, w->stats, err, sizeof err));
    state_store_start(w->store, w->sessions, &w->pool, w->stats);
    return 0;
}

static void on_stop_timer(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop for ms (flush ticks happen), waiting for any write job to end. */
static void world_run(world *w, uint64_t ms) {
    uv_timer_t t;
    uv_timer_init(&w->loop, &t);
    uv_timer_start(&t, on_stop_timer, ms, 0);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&w->loop, UV_RUN_NOWAIT);
}

/* Shutdown as app.c does it: stop, let the loop run dry, final flush, free. */
static void world_close(world *w) {
    state_store_stop(w->store);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    state_store_free(w->store);
    pool_free(&w->pool);
    session_cache_free(w->sessions);
    stats_free(w->stats);
    assert_int_equal(0, uv_loop_close(&w->loop));
}

static conv_hash hash_of(uint8_t seed) {
    conv_hash h;
    for (size_t i = 0; i < sizeof h.b; i++)
        h.b[i] = (uint8_t)(seed * 31 + i);
    return h;
}

static session_binding binding(const char *sid, const char *acct) {
    session_binding b;
    memset(&b, 0, sizeof b);
    snprintf(b.session_id, sizeof b.session_id, "%s", sid);
    snprintf(b.account, sizeof b.account, "%s", acct);
    b.created_ms = clock_wall_ms();
    b.turns = 1;
    return b;
}

/* Looks a conversation up the way a turn does: its prefixes end with `last`. */
static affinity_result lookup(session_cache *c, conv_hash last, session_binding *out) {
    conv_hash prefixes[3] = {hash_of(200), last, hash_of(201)};
    conv_hash matched;
    return session_cache_lookup(c, prefixes, 3, out, &matched);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lgw-state-test.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(db_path, sizeof db_path, "%s/sub/dir/state.db", tmpdir); /* created on open */
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_round_trip(void **state) {
    (void)state;
    world w;
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    conv_hash t1 = hash_of(1), t2 = hash_of(2);
    session_binding b = binding("sess-1", "acct-a");
    session_cache_record(w.sessions, NULL, &t1, &b);
    b.turns = 2;
    session_cache_record(w.sessions, &t1, &t2, &b); /* t1 is now continued */
    pool_account *pb = pool_find(&w.pool, "acct-b");
    int64_t until = clock_wall_ms() + 60000;
    pb->backoff_level = 2;
    pool_transition(&w.pool, pb, ACCOUNT_COOLING, "rate limited", until);
    pb->ok_total = 7;
    stats_add(w.stats, STAT_requests,
              "openai\x1f"
              "chat_completions\x1f"
              "2xx",
              5);
    stats_add(w.stats, STAT_affinity, "hit", 2);
    world_run(&w, 120); /* a few flush ticks */
    stats_add(w.stats, STAT_requests,
              "openai\x1f"
              "chat_completions\x1f"
              "2xx",
              1); /* final flush */
    world_close(&w);

    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    session_binding got;
    assert_int_equal(AFFINITY_HIT, lookup(w.sessions, t2, &got));
    assert_string_equal("sess-1", got.session_id);
    assert_string_equal("acct-a", got.account);
    assert_int_equal(2, got.turns);
    assert_int_equal(AFFINITY_FORK, lookup(w.sessions, t1, &got)); /* continued survived */
    pb = pool_find(&w.pool, "acct-b");
    assert_int_equal(ACCOUNT_COOLING, pb->state);
    assert_int_equal(until, pb->cool_until_ms);
    assert_int_equal(2, pb->backoff_level);
    assert_int_equal(7, pb->ok_total);
    assert_string_equal("rate limited", pb->reason);
    assert_int_equal(ACCOUNT_READY, pool_find(&w.pool, "acct-a")->state);
    assert_true(stats_get(w.stats, STAT_requests,
                          "openai\x1f"
                          "chat_completions\x1f"
                          "2xx") == 6);
    assert_true(stats_get(w.stats, STAT_affinity, "hit") == 2);
    world_close(&w);
}

static void test_login_verdict_follows_credentials(void **state) {
    (void)state;
    world w;
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    pool_transition(&w.pool, pool_find(&w.pool, "acct-b"), ACCOUNT_NEEDS_LOGIN,
                    "credentials rejected", 0);
    world_close(&w);
    /* same credentials: still needs a login */
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    assert_int_equal(ACCOUNT_NEEDS_LOGIN, pool_find(&w.pool, "acct-b")->state);
    world_close(&w);
    /* the operator put new credentials in the file: ready */
    assert_int_equal(0, world_open(&w, "key-b-new", 100, 0));
    assert_int_equal(ACCOUNT_READY, pool_find(&w.pool, "acct-b")->state);
    world_close(&w);
}

static void test_removed_account_forgotten(void **state) {
    (void)state;
    world w;
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    pool_account *pa = pool_find(&w.pool, "acct-a");
    pool_transition(&w.pool, pa, ACCOUNT_COOLING, "rate limited", clock_wall_ms() + 60000);
    world_run(&w, 60);
    pool_remove_account(&w.pool, pa);
    assert_null(pool_find(&w.pool, "acct-a"));
    world_close(&w);
    /* it comes back (same name) with a clean state */
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    assert_int_equal(ACCOUNT_READY, pool_find(&w.pool, "acct-a")->state);
    world_close(&w);
}

static void test_pruned_to_bound_and_ttl(void **state) {
    (void)state;
    world w;
    assert_int_equal(0, world_open(&w, "key-b", 100, 0));
    int64_t now = clock_wall_ms();
    for (uint8_t i = 0; i < 5; i++) {
        session_binding b = binding("s", "acct-a");
        b.last_used_ms = now - 1000 * (5 - i); /* i = 4 is the newest */
        conv_hash k = hash_of(10 + i);
        session_cache_insert_raw(w.sessions, &k, &b, false);
    }
    session_binding old = binding("old", "acct-a");
    old.last_used_ms = now - 3600 * 1000;
    conv_hash ko = hash_of(30);
    session_cache_insert_raw(w.sessions, &ko, &old, false);
    world_close(&w);
    /* at most 3 rows, none idle for more than a minute */
    assert_int_equal(0, world_open(&w, "key-b", 3, 60000));
    assert_int_equal(3, session_cache_size(w.sessions));
    session_binding got;
    assert_int_equal(AFFINITY_HIT, lookup(w.sessions, hash_of(14), &got));
    assert_int_equal(AFFINITY_MISS, lookup(w.sessions, hash_of(10), &got));
    assert_int_equal(AFFINITY_MISS, lookup(w.sessions, ko, &got));
    world_close(&w);
}

static void test_memory_and_bad_path(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    state_store *s = NULL;
    char err[256] = "";
    state_store_options mem = {":memory:", 20, 0, 10};
    assert_int_equal(0, state_store_open(&s, &loop, &mem, err, sizeof err));
    buf b = BUF_INIT;
    state_store_info_json(s, &b);
    assert_non_null(strstr(b.data, "\"path\":\":memory:\""));
    buf_free(&b);
    state_store_free(s);
    state_store_options bad = {"/dev/null/state.db", 20, 0, 10};
    s = NULL;
    assert_int_equal(-1, state_store_open(&s, &loop, &bad, err, sizeof err));
    assert_null(s);
    assert_non_null(strstr(err, "/dev/null"));
    assert_int_equal(0, uv_loop_close(&loop));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_verdict_follows_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_account_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pruned_to_bound_and_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_and_bad_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
