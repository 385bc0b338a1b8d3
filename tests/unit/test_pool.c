/* pool: the account state machine on a fake clock — every error class, bounded exponential
 * backoff, half-open probes, pick order, per-account cap, admin reset, credential reload. */
#include "core/pool.h"
#include "util/clock.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define T0 1700000000000LL

static int64_t now_ms;
static int64_t fake_now(void) { return now_ms; }

static const char ACCOUNTS[] = "{\"accounts\":["
                               "{\"name\":\"a\",\"user_id\":\"1\",\"machine_id\":\"m1\",\"cosy_"
                               "key\":\"CKA\",\"encrypt_user_info\":\"EA\"},"
                               "{\"name\":\"b\",\"user_id\":\"2\",\"machine_id\":\"m2\",\"cosy_"
                               "key\":\"CKB\",\"encrypt_user_info\":\"EB\"},"
                               "{\"name\":\"c\",\"user_id\":\"3\",\"machine_id\":\"m3\",\"cosy_"
                               "key\":\"CKC\",\"encrypt_user_info\":\"EC\"}]}";

static pool_options opts(void) {
    pool_options o;
    pool_options_defaults(&o);
    o.rate_limit_base_ms = 1000;
    o.rate_limit_cap_ms = 5000;
    o.quota_cooldown_ms = 3600000;
    o.transient_cooldown_ms = 700;
    o.transient_threshold = 3;
    return o;
}

static void make_pool_from(pool *p, const char *json, const pool_options *o, const char *file) {
    lingma_account_list l = {0};
    char err[256];
    if (credentials_parse(json, strlen(json), NULL, &l, err, sizeof err) != 0) fail_msg("%s", err);
    pool_init(p, &l, o, file);
    lingma_account_list_free(&l); /* emptied by pool_init */
}

static void make_pool(pool *p, const pool_options *o) { make_pool_from(p, ACCOUNTS, o, NULL); }

static int setup(void **state) {
    (void)state;
    now_ms = T0;
    clock_set_fake_wall_ms(fake_now);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    clock_set_fake_wall_ms(NULL);
    return 0;
}

#define assert_state(acc, st)                                                                      \
    assert_string_equal(account_state_name((acc)->state), account_state_name(st))

/* One attempt on `a` that ends with cls. */
static void attempt(pool *p, pool_account *a, conv_error_class cls) {
    bool probe = pool_acquire(p, a);
    pool_release(p, a, probe, cls);
}

static const char *picked(pool *p, const char *preferred, const char *const *ex, size_t n_ex) {
    pool_account *a = pool_pick(p, preferred, ex, n_ex);
    return a ? a->cred.name : "(none)";
}

/* ---------------------------------------------------------------- error classes */

static void test_success_keeps_ready(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_NONE);
    assert_state(a, ACCOUNT_READY);
    assert_int_equal(a->ok_total, 1);
    assert_int_equal(a->inflight, 0);
    pool_free(&p);
}

static void test_rate_limit_backoff_doubles_to_cap(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    const int64_t want[] = {1000, 2000, 4000, 5000, 5000};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        attempt(&p, a, CONV_ERR_RATE_LIMIT);
        assert_state(a, ACCOUNT_COOLING);
        assert_int_equal(a->cool_until_ms - now_ms, want[i]);
        /* not usable before its time */
        now_ms = a->cool_until_ms - 1;
        const char *only_a[] = {"b", "c"};
        assert_string_equal(picked(&p, "a", only_a, 2), "(none)");
        assert_false(pool_any_usable(&p) && pool_pick(&p, NULL, only_a, 2));
        now_ms = a->cool_until_ms; /* the probe's time has come */
        assert_string_equal(picked(&p, "a", only_a, 2), "a");
    }
    assert_int_equal(a->err_total, 5);
    /* the probe succeeds: ready, and the backoff starts over */
    attempt(&p, a, CONV_ERR_NONE);
    assert_state(a, ACCOUNT_READY);
    assert_string_equal(a->reason, "probe succeeded");
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    assert_int_equal(a->cool_until_ms - now_ms, 1000);
    pool_free(&p);
}

static void test_quota_long_cooldown(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_QUOTA);
    assert_state(a, ACCOUNT_COOLING);
    assert_int_equal(a->cool_until_ms, now_ms + 3600000);
    assert_string_equal(a->reason, "quota exhausted");
    now_ms += 3599999;
    assert_string_equal(picked(&p, "a", NULL, 0), "b");
    now_ms += 1;
    assert_string_equal(picked(&p, "a", NULL, 0), "a");
    pool_free(&p);
}

static void test_auth_needs_login(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_AUTH);
    assert_state(a, ACCOUNT_NEEDS_LOGIN);
    assert_int_equal(a->cool_until_ms, 0);
    now_ms += 365LL * 86400000; /* time does not heal it */
    assert_string_equal(picked(&p, "a", NULL, 0), "b");
    const char *ex[] = {"b", "c"};
    assert_null(pool_pick(&p, NULL, ex, 2));
    pool_free(&p);
}

static void test_transient_cools_after_threshold(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_TRANSIENT);
    attempt(&p, a, CONV_ERR_TIMEOUT);
    assert_state(a, ACCOUNT_READY);
    attempt(&p, a, CONV_ERR_NONE); /* a success breaks the run */
    attempt(&p, a, CONV_ERR_TRANSIENT);
    attempt(&p, a, CONV_ERR_TRANSIENT);
    assert_state(a, ACCOUNT_READY);
    attempt(&p, a, CONV_ERR_TRANSIENT);
    assert_state(a, ACCOUNT_COOLING);
    assert_int_equal(a->cool_until_ms, now_ms + 700);
    assert_int_equal(a->err_total, 5);
    pool_free(&p);
}

static void test_request_fatal_and_cancel_no_penalty(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    for (int i = 0; i < 10; i++) {
        attempt(&p, a, CONV_ERR_REQUEST_FATAL);
        attempt(&p, a, CONV_ERR_CANCELLED);
    }
    assert_state(a, ACCOUNT_READY);
    assert_int_equal(a->err_total, 0);
    assert_int_equal(a->backoff_level, 0);
    assert_int_equal(a->transient_run, 0);
    assert_int_equal(a->inflight, 0);
    pool_free(&p);
}

static void test_config_fatal_disables(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_CONFIG_FATAL);
    assert_state(a, ACCOUNT_DISABLED);
    now_ms += 86400000;
    assert_string_equal(picked(&p, "a", NULL, 0), "b");
    pool_free(&p);
}

/* An attempt that was in flight when the account was disabled must not bring it back. */
static void test_disabled_is_sticky(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    const conv_error_class classes[] = {CONV_ERR_NONE,  CONV_ERR_RATE_LIMIT,
                                        CONV_ERR_QUOTA, CONV_ERR_TRANSIENT,
                                        CONV_ERR_AUTH,  CONV_ERR_REQUEST_FATAL};
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) {
        pool_acquire(&p, a);
        pool_transition(&p, a, ACCOUNT_DISABLED, "admin", 0);
        pool_release(&p, a, a->probing, classes[i]);
        assert_state(a, ACCOUNT_DISABLED);
        assert_int_equal(a->inflight, 0);
        now_ms += 10 * 3600000LL;
        assert_string_equal(picked(&p, "a", NULL, 0), "b");
    }
    pool_reset(&p, a);
    assert_state(a, ACCOUNT_READY);
    pool_free(&p);
}

/* ---------------------------------------------------------------- half-open probes */

static void test_one_probe_at_a_time(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    now_ms = a->cool_until_ms + 5;
    const char *only_a[] = {"b", "c"};
    pool_account *probe = pool_pick(&p, "a", only_a, 2);
    assert_ptr_equal(probe, a);
    pool_acquire(&p, a);
    assert_true(a->probing);
    assert_state(a, ACCOUNT_COOLING); /* still cooling until the probe answers */
    /* a second turn meanwhile does not get a second probe */
    assert_null(pool_pick(&p, "a", only_a, 2));
    assert_string_equal(picked(&p, "a", NULL, 0), "b");
    assert_false(pool_any_usable(&p) && pool_pick(&p, NULL, only_a, 2));
    pool_release(&p, a, a->probing, CONV_ERR_NONE);
    assert_state(a, ACCOUNT_READY);
    assert_false(a->probing);
    assert_string_equal(picked(&p, "a", NULL, 0), "a");
    pool_free(&p);
}

/* An attempt that started before the cooldown and ends during the probe does not end the probe:
 * only the probe's own verdict does, so a second probe cannot start meanwhile. */
static void test_probe_owned_by_its_attempt(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    assert_false(pool_acquire(&p, a));   /* an ordinary attempt, still running */
    attempt(&p, a, CONV_ERR_RATE_LIMIT); /* another one cools the account */
    assert_state(a, ACCOUNT_COOLING);
    now_ms = a->cool_until_ms + 5;
    const char *only_a[] = {"b", "c"};
    assert_ptr_equal(pool_pick(&p, "a", only_a, 2), a);
    assert_true(pool_acquire(&p, a));                   /* the probe */
    pool_release(&p, a, false, CONV_ERR_REQUEST_FATAL); /* the old attempt ends */
    assert_true(a->probing);
    assert_null(pool_pick(&p, "a", only_a, 2)); /* no second probe */
    pool_release(&p, a, true, CONV_ERR_NONE);
    assert_state(a, ACCOUNT_READY);
    assert_false(a->probing);
    pool_free(&p);
}

static void test_probe_failure_cools_longer(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    /* rate limit: 1000, then the failed probe 2000 */
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    now_ms = a->cool_until_ms;
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    assert_state(a, ACCOUNT_COOLING);
    assert_int_equal(a->cool_until_ms - now_ms, 2000);

    /* transient: a failed probe goes straight back to cooling (no threshold), each time longer */
    pool_account *b = pool_find(&p, "b");
    for (int i = 0; i < 3; i++)
        attempt(&p, b, CONV_ERR_TRANSIENT);
    assert_state(b, ACCOUNT_COOLING);
    int64_t first = b->cool_until_ms - now_ms;
    assert_int_equal(first, 700);
    now_ms = b->cool_until_ms;
    attempt(&p, b, CONV_ERR_TRANSIENT); /* the probe */
    assert_state(b, ACCOUNT_COOLING);
    int64_t second = b->cool_until_ms - now_ms;
    assert_true(second > first);
    assert_true(second <= o.rate_limit_cap_ms);
    now_ms = b->cool_until_ms;
    attempt(&p, b, CONV_ERR_TIMEOUT);
    assert_true(b->cool_until_ms - now_ms > second);
    /* bounded */
    for (int i = 0; i < 20; i++) {
        now_ms = b->cool_until_ms;
        attempt(&p, b, CONV_ERR_TRANSIENT);
        assert_true(b->cool_until_ms - now_ms <= o.rate_limit_cap_ms);
    }
    now_ms = b->cool_until_ms;
    attempt(&p, b, CONV_ERR_NONE);
    assert_state(b, ACCOUNT_READY);
    pool_free(&p);
}

static void test_cancelled_probe_can_probe_again(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    now_ms = a->cool_until_ms + 1;
    attempt(&p, a, CONV_ERR_CANCELLED); /* the probe's client left: no verdict */
    assert_state(a, ACCOUNT_COOLING);
    assert_false(a->probing);
    const char *only_a[] = {"b", "c"};
    assert_string_equal(picked(&p, NULL, only_a, 2), "a");
    pool_free(&p);
}

/* ---------------------------------------------------------------- pick order and caps */

static void test_pick_order(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a"), *b = pool_find(&p, "b"), *c = pool_find(&p, "c");
    /* all idle and unused: the first account */
    assert_string_equal(picked(&p, NULL, NULL, 0), "a");
    /* least recently used among equals */
    attempt(&p, a, CONV_ERR_NONE);
    assert_string_equal(picked(&p, NULL, NULL, 0), "b");
    attempt(&p, b, CONV_ERR_NONE);
    assert_string_equal(picked(&p, NULL, NULL, 0), "c");
    attempt(&p, c, CONV_ERR_NONE);
    assert_string_equal(picked(&p, NULL, NULL, 0), "a");
    /* fewest in flight wins over LRU */
    pool_acquire(&p, a);
    pool_acquire(&p, b);
    pool_acquire(&p, a);
    pool_acquire(&p, c);
    pool_acquire(&p, c);
    assert_string_equal(picked(&p, NULL, NULL, 0), "b"); /* b: 1, a: 2, c: 2 */
    /* the preferred account wins if usable, however busy */
    assert_string_equal(picked(&p, "c", NULL, 0), "c");
    /* unknown preferred name: normal order */
    assert_string_equal(picked(&p, "zz", NULL, 0), "b");
    /* exclusions apply to the preferred account too */
    const char *ex_b[] = {"b"};
    assert_string_equal(picked(&p, NULL, ex_b, 1), "a"); /* a and c tie at 2; a used longer ago */
    const char *ex_bc[] = {"b", "c"};
    assert_string_equal(picked(&p, "c", ex_bc, 2), "a");
    const char *ex_all[] = {"a", "b", "c"};
    assert_null(pool_pick(&p, "a", ex_all, 3));
    /* preferred but cooling → another one */
    pool_release(&p, c, c->probing, CONV_ERR_RATE_LIMIT);
    assert_string_equal(picked(&p, "c", NULL, 0), "b");
    pool_release(&p, a, a->probing, CONV_ERR_NONE);
    pool_release(&p, a, a->probing, CONV_ERR_NONE);
    pool_release(&p, b, b->probing, CONV_ERR_NONE);
    pool_release(&p, c, c->probing, CONV_ERR_NONE);
    assert_int_equal(a->inflight + b->inflight + c->inflight, 0);
    pool_free(&p);
}

static void test_per_account_cap(void **state) {
    (void)state;
    pool_options o = opts();
    o.max_inflight_per_account = 2;
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a");
    pool_acquire(&p, a);
    assert_string_equal(picked(&p, "a", NULL, 0), "a");
    pool_acquire(&p, a);
    assert_string_equal(picked(&p, "a", NULL, 0), "b"); /* a is full */
    pool_acquire(&p, pool_find(&p, "b"));
    pool_acquire(&p, pool_find(&p, "b"));
    pool_acquire(&p, pool_find(&p, "c"));
    pool_acquire(&p, pool_find(&p, "c"));
    assert_null(pool_pick(&p, NULL, NULL, 0));
    assert_false(pool_any_usable(&p));
    pool_release(&p, a, a->probing, CONV_ERR_NONE);
    assert_string_equal(picked(&p, NULL, NULL, 0), "a");
    pool_free(&p);
}

static void test_next_ready_and_any_usable(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a"), *b = pool_find(&p, "b"), *c = pool_find(&p, "c");
    assert_int_equal(pool_next_ready_ms(&p), now_ms);
    attempt(&p, a, CONV_ERR_QUOTA);      /* +3600 s */
    attempt(&p, b, CONV_ERR_RATE_LIMIT); /* +1 s */
    attempt(&p, c, CONV_ERR_RATE_LIMIT);
    now_ms += 400;
    attempt(&p, c, CONV_ERR_RATE_LIMIT); /* +2 s from now (not usable: still cooling) */
    assert_false(pool_any_usable(&p));
    assert_int_equal(pool_next_ready_ms(&p), b->cool_until_ms);
    assert_int_equal(b->cool_until_ms, T0 + 1000);
    now_ms = T0 + 1000;
    assert_true(pool_any_usable(&p));
    /* nothing will ever be ready: 0 */
    pool_transition(&p, a, ACCOUNT_NEEDS_LOGIN, "t", 0);
    pool_transition(&p, b, ACCOUNT_DISABLED, "t", 0);
    pool_transition(&p, c, ACCOUNT_NEEDS_LOGIN, "t", 0);
    assert_int_equal(pool_next_ready_ms(&p), 0);
    assert_false(pool_any_usable(&p));
    pool_free(&p);
}

static void test_admin_reset(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    make_pool(&p, &o);
    pool_account *a = pool_find(&p, "a"), *b = pool_find(&p, "b");
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    now_ms = a->cool_until_ms;
    attempt(&p, a, CONV_ERR_RATE_LIMIT); /* backoff level 2 */
    attempt(&p, b, CONV_ERR_AUTH);
    pool_reset(&p, a);
    pool_reset(&p, b);
    assert_state(a, ACCOUNT_READY);
    assert_state(b, ACCOUNT_READY);
    assert_string_equal(a->reason, "admin reset");
    assert_int_equal(a->cool_until_ms, 0);
    assert_int_equal(a->since_ms, now_ms);
    attempt(&p, a, CONV_ERR_RATE_LIMIT);
    assert_int_equal(a->cool_until_ms - now_ms, 1000); /* backoff forgotten */
    pool_free(&p);
}

static void test_expired_token_starts_needs_login(void **state) {
    (void)state;
    pool_options o = opts();
    pool p;
    char json[512];
    snprintf(json, sizeof json,
             "{\"accounts\":[{\"name\":\"old\",\"user_id\":\"1\",\"machine_id\":\"m\",\"cosy_key\":"
             "\"k\",\"encrypt_user_info\":\"e\",\"expire_time\":%lld},"
             "{\"name\":\"new\",\"user_id\":\"2\",\"machine_id\":\"m\",\"cosy_key\":\"k\","
             "\"encrypt_user_info\":\"e\",\"expire_time\":%lld}]}",
             (long long)(T0 + 60000), (long long)(T0 + 86400000));
    make_pool_from(&p, json, &o, NULL);
    assert_state(pool_find(&p, "old"), ACCOUNT_NEEDS_LOGIN);
    assert_state(pool_find(&p, "new"), ACCOUNT_READY);
    pool_free(&p);
}

/* ---------------------------------------------------------------- credential reload */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_reload_after_auth_failure(void **state) {
    (void)state;
    char path[] = "/tmp/lgw-test-pool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, ACCOUNTS);
    pool_options o = opts();
    pool p;
    make_pool_from(&p, ACCOUNTS, &o, path);
    pool_account *a = pool_find(&p, "a");
    /* same credentials on disk: nothing to retry with */
    assert_false(pool_reload_after_auth_failure(&p, a));
    /* new credentials appear, but the one reload was spent */
    char *fresh = strdup(ACCOUNTS);
    memcpy(strstr(fresh, "CKA"), "CKX", 3);
    write_file(path, fresh);
    assert_false(pool_reload_after_auth_failure(&p, a));
    assert_string_equal(a->cred.cosy_key, "CKA");
    /* after a success the account may reload again */
    attempt(&p, a, CONV_ERR_NONE);
    /* Another turn keeps the name pointer in its exclude list (turn.c `tried`): the reload must
     * not free it. */
    const char *tried[] = {a->cred.name};
    assert_true(pool_reload_after_auth_failure(&p, a));
    assert_ptr_equal(tried[0], a->cred.name);
    assert_string_equal(picked(&p, NULL, tried, 1), "b");
    assert_string_equal(a->cred.cosy_key, "CKX");
    assert_string_equal(pool_find(&p, "b")->cred.cosy_key, "CKB");
    /* the retry with fresh credentials fails too: needs_login */
    attempt(&p, a, CONV_ERR_AUTH);
    assert_state(a, ACCOUNT_NEEDS_LOGIN);
    /* no accounts file: never */
    pool q;
    make_pool(&q, &o);
    assert_false(pool_reload_after_auth_failure(&q, pool_find(&q, "b")));
    pool_free(&q);
    free(fresh);
    unlink(path);
    pool_free(&p);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_success_keeps_ready),
        T(test_rate_limit_backoff_doubles_to_cap),
        T(test_quota_long_cooldown),
        T(test_auth_needs_login),
        T(test_transient_cools_after_threshold),
        T(test_request_fatal_and_cancel_no_penalty),
        T(test_config_fatal_disables),
        T(test_disabled_is_sticky),
        T(test_one_probe_at_a_time),
        T(test_probe_owned_by_its_attempt),
        T(test_probe_failure_cools_longer),
        T(test_cancelled_probe_can_probe_again),
        T(test_pick_order),
        T(test_per_account_cap),
        T(test_next_ready_and_any_usable),
        T(test_admin_reset),
        T(test_expired_token_starts_needs_login),
        T(test_reload_after_auth_failure),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
