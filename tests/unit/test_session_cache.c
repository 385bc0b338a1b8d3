/* session_cache: prefix matching (hit on the longest strict prefix, miss, fork after a recorded
 * prefix was continued), LRU eviction at capacity and idle TTL expiry on a fake clock.
 *
 * Conversations are chains of made-up boundary hashes: chain c, boundary i → a distinct hash,
 * so "request = recorded turn + one more message" is prefixes[0..i+1] of the same chain. */
#include "core/session_cache.h"
#include "util/clock.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int64_t now_ms;
static int64_t fake_now(void) { return now_ms; }

static int setup(void **state) {
    (void)state;
    now_ms = 1000000;
    clock_set_fake_wall_ms(fake_now);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    clock_set_fake_wall_ms(NULL);
    return 0;
}

/* Boundary i of chain c (chains share nothing unless fork_at says so). */
static conv_hash h(unsigned c, unsigned i) {
    conv_hash x;
    for (unsigned k = 0; k < 16; k++)
        x.b[k] = (uint8_t)(c * 131u + i * 17u + k * 7u + (c ^ i) * k);
    x.b[0] = (uint8_t)c;
    x.b[1] = (uint8_t)i;
    return x;
}

static void chain(unsigned c, size_t n, conv_hash *out) {
    for (size_t i = 0; i < n; i++)
        out[i] = h(c, (unsigned)i);
}

static session_binding make_binding(const char *sid, const char *acct) {
    session_binding b;
    memset(&b, 0, sizeof b);
    snprintf(b.session_id, sizeof b.session_id, "%s", sid);
    snprintf(b.account, sizeof b.account, "%s", acct);
    b.turns = 1;
    return b;
}

static void record(session_cache *c, const conv_hash *continued, conv_hash key, const char *sid,
                   const char *acct) {
    session_binding b = make_binding(sid, acct);
    session_cache_record(c, continued, &key, &b);
}

static affinity_result lookup(session_cache *c, const conv_hash *p, size_t n, session_binding *out,
                              conv_hash *matched) {
    memset(out, 0, sizeof *out);
    memset(matched, 0, sizeof *matched);
    return session_cache_lookup(c, p, n, out, matched);
}

static void test_miss_on_empty_and_unknown(void **state) {
    (void)state;
    session_cache *c = session_cache_new(16, 60000);
    conv_hash p[4];
    session_binding b;
    conv_hash m;
    chain(1, 4, p);
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_MISS);
    record(c, NULL, h(2, 2), "s-other", "acct-a");
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_MISS);
    assert_int_equal(lookup(c, p, 1, &b, &m), AFFINITY_MISS);
    assert_int_equal(lookup(c, p, 0, &b, &m), AFFINITY_MISS);
    session_cache_free(c);
}

static void test_hit_on_strict_extension(void **state) {
    (void)state;
    session_cache *c = session_cache_new(16, 60000);
    /* turn 1 of chain 1: [sys, u1] answered with a1 → recorded at boundary 2 */
    record(c, NULL, h(1, 2), "sess-1", "acct-b");
    conv_hash p[4];
    chain(1, 4, p); /* turn 2: sys, u1, a1, u2 */
    session_binding b;
    conv_hash m;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    assert_string_equal(b.session_id, "sess-1");
    assert_string_equal(b.account, "acct-b");
    assert_memory_equal(m.b, h(1, 2).b, 16);
    /* not strict: a request that IS the recorded conversation does not hit */
    assert_int_equal(lookup(c, p, 3, &b, &m), AFFINITY_MISS);
    session_cache_free(c);
}

static void test_hit_takes_longest_recorded_prefix(void **state) {
    (void)state;
    session_cache *c = session_cache_new(16, 60000);
    record(c, NULL, h(1, 2), "sess-1", "acct-a");
    record(c, NULL, h(1, 4), "sess-1b", "acct-c"); /* recorded without continuing (import) */
    conv_hash p[6];
    chain(1, 6, p);
    session_binding b;
    conv_hash m;
    assert_int_equal(lookup(c, p, 6, &b, &m), AFFINITY_HIT);
    assert_string_equal(b.session_id, "sess-1b");
    assert_memory_equal(m.b, h(1, 4).b, 16);
    /* a shorter request only reaches the shorter record */
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    assert_string_equal(b.session_id, "sess-1");
    session_cache_free(c);
}

static void test_turns_continue_then_fork(void **state) {
    (void)state;
    session_cache *c = session_cache_new(16, 60000);
    session_binding b;
    conv_hash m, p[8];
    chain(1, 8, p);
    record(c, NULL, p[2], "sess-1", "acct-a"); /* turn 1 done */
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    b.turns++;
    session_cache_record(c, &m, &p[4], &b); /* turn 2 done, continues p[2] */
    assert_int_equal(session_cache_size(c), 2);

    /* turn 3 extends turn 2: hit, same session */
    assert_int_equal(lookup(c, p, 6, &b, &m), AFFINITY_HIT);
    assert_string_equal(b.session_id, "sess-1");
    assert_int_equal(b.turns, 2);
    assert_memory_equal(m.b, p[4].b, 16);

    /* replaying turn 2 (same history as before) → p[2] was continued: fork */
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_FORK);
    /* an edited turn 2 (different last user message) → also a fork */
    conv_hash q[4] = {p[0], p[1], p[2], h(9, 3)};
    assert_int_equal(lookup(c, q, 4, &b, &m), AFFINITY_FORK);
    /* an edit before the recorded prefix → a miss */
    conv_hash r[4] = {p[0], h(8, 1), h(8, 2), h(8, 3)};
    assert_int_equal(lookup(c, r, 4, &b, &m), AFFINITY_MISS);
    session_cache_free(c);
}

static void test_lru_eviction_at_capacity(void **state) {
    (void)state;
    session_cache *c = session_cache_new(3, 0);
    record(c, NULL, h(1, 2), "s1", "a");
    now_ms += 10;
    record(c, NULL, h(2, 2), "s2", "a");
    now_ms += 10;
    record(c, NULL, h(3, 2), "s3", "a");
    assert_int_equal(session_cache_size(c), 3);
    /* touch s1: s2 becomes the least recently used */
    conv_hash p[4];
    session_binding b;
    conv_hash m;
    chain(1, 4, p);
    now_ms += 10;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    now_ms += 10;
    record(c, NULL, h(4, 2), "s4", "a");
    assert_int_equal(session_cache_size(c), 3);
    chain(2, 4, p);
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_MISS); /* evicted */
    for (unsigned k = 1; k <= 4; k++) {
        if (k == 2) continue;
        chain(k, 4, p);
        assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
        char want[8];
        snprintf(want, sizeof want, "s%u", k);
        assert_string_equal(b.session_id, want);
    }
    /* re-recording an existing key does not grow the cache */
    record(c, NULL, h(4, 2), "s4b", "a");
    assert_int_equal(session_cache_size(c), 3);
    session_cache_free(c);
}

static void test_idle_ttl_expiry(void **state) {
    (void)state;
    const int64_t ttl = 60000;
    session_cache *c = session_cache_new(16, ttl);
    conv_hash p[4], q[4];
    session_binding b;
    conv_hash m;
    chain(1, 4, p);
    chain(2, 4, q);
    record(c, NULL, p[2], "s1", "a");
    record(c, NULL, q[2], "s2", "a");
    /* a hit refreshes the idle time */
    now_ms += ttl - 1;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    now_ms += ttl - 1;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    /* q was idle for 2·ttl − 2: gone */
    assert_int_equal(lookup(c, q, 4, &b, &m), AFFINITY_MISS);
    assert_int_equal(session_cache_size(c), 1);
    /* exactly ttl idle is still alive, one more ms is not */
    now_ms += ttl;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_HIT);
    now_ms += ttl + 1;
    assert_int_equal(lookup(c, p, 4, &b, &m), AFFINITY_MISS);
    assert_int_equal(session_cache_size(c), 0);
    session_cache_free(c);
}

typedef struct visited {
    unsigned n, continued;
    char first[SESSION_ID_CAP];
} visited;

static void on_visit(const conv_hash *key, const session_binding *b, bool continued, void *ud) {
    (void)key;
    visited *v = ud;
    if (!v->n++) snprintf(v->first, sizeof v->first, "%s", b->session_id);
    v->continued += continued;
}

static void test_visit_and_import_keep_continued(void **state) {
    (void)state;
    session_cache *c = session_cache_new(16, 60000);
    conv_hash p[6];
    chain(1, 6, p);
    record(c, NULL, p[2], "old", "a");
    now_ms += 1;
    record(c, &p[2], p[4], "new", "a");
    visited v = {0};
    session_cache_visit(c, on_visit, &v);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.continued, 1);
    assert_string_equal(v.first, "old"); /* oldest first */

    session_cache *d = session_cache_new(16, 60000);
    session_binding b = make_binding("imp", "a");
    b.last_used_ms = now_ms;
    session_cache_insert_raw(d, &p[2], &b, true);
    conv_hash m;
    assert_int_equal(lookup(d, p, 4, &b, &m), AFFINITY_FORK);
    session_cache_free(d);
    session_cache_free(c);
}

/* Imported entries arrive in any order: an idle entry that is not at the LRU's cold end must
 * still be expired at lookup, not served. */
static void test_idle_entry_off_the_tail_expires(void **state) {
    (void)state;
    session_cache *c = session_cache_new(100, 60000);
    conv_hash p[3], q[3];
    chain(1, 3, p);
    chain(2, 3, q);
    session_binding fresh = make_binding("s-fresh", "acct");
    fresh.last_used_ms = now_ms;
    session_binding stale = make_binding("s-stale", "acct");
    stale.last_used_ms = now_ms - 3600000; /* idle for an hour, TTL one minute */
    session_cache_insert_raw(c, &q[1], &fresh, false);
    session_cache_insert_raw(c, &p[1], &stale, false); /* lands at the LRU head */
    session_binding out;
    conv_hash matched;
    assert_int_equal(AFFINITY_MISS, session_cache_lookup(c, p, 3, &out, &matched));
    assert_int_equal(AFFINITY_HIT, session_cache_lookup(c, q, 3, &out, &matched));
    assert_string_equal(out.session_id, "s-fresh");
    session_cache_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_on_empty_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_on_strict_extension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_takes_longest_recorded_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turns_continue_then_fork, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_eviction_at_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_ttl_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_and_import_keep_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_entry_off_the_tail_expires, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
