/* auth: client keys (OpenAI and Anthropic styles), /metrics and /internal gating, key ids.
 * Expected key ids are the first 8 hex of `printf %s KEY | sha256sum`, computed outside the
 * code under test. */
#include "core/auth.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define ID_K1      "6ab9f1eb" /* sha256("k1") */
#define ID_K2      "015f7e6b" /* sha256("k2") */
#define ID_SK_TEST "f3abf2a6" /* sha256("sk-test") */

static const char *result_name(auth_result r) {
    switch (r) {
    case AUTH_OK: return "AUTH_OK";
    case AUTH_MISSING: return "AUTH_MISSING";
    case AUTH_INVALID: return "AUTH_INVALID";
    case AUTH_DISABLED: return "AUTH_DISABLED";
    }
    return "?";
}

#define assert_auth(got, want) assert_string_equal(result_name(got), result_name(want))

/* Runs a client check and returns the key id through `id`. */
static auth_result client(const auth *a, auth_style style, const char *x_api_key,
                          const char *authorization, char id[9]) {
    memset(id, 'X', 9);
    return auth_check_client(a, style, x_api_key, authorization, id, NULL);
}

/* ---------------------------------------------------------------- key ids and digests */

static void test_key_id_is_8_hex_of_sha256(void **state) {
    (void)state;
    char id[9];
    auth_key_id("k1", 2, id);
    assert_string_equal(id, ID_K1);
    auth_key_id("sk-test", 7, id);
    assert_string_equal(id, ID_SK_TEST);
    /* only `len` bytes count */
    auth_key_id("k2-and-more", 2, id);
    assert_string_equal(id, ID_K2);
}

static void test_digest_is_sha256(void **state) {
    (void)state;
    /* FIPS 180-2 test vector for "abc" */
    static const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                     0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                     0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                     0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t d[32];
    auth_digest("abc", 3, d);
    assert_memory_equal(d, want, 32);
}

/* ---------------------------------------------------------------- disabled */

static void test_empty_api_keys_disables_client_auth(void **state) {
    (void)state;
    const char *empties[] = {"", " ", ",", " , ,\t,", NULL};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        auth a;
        auth_init(&a, empties[i], NULL, false, NULL);
        assert_false(auth_enabled(&a));
        assert_int_equal(a.n_keys, 0);
        char id[9];
        uint8_t digest[32];
        memset(digest, 0xAA, sizeof digest);
        static const uint8_t zero[32] = {0};
        assert_auth(auth_check_client(&a, AUTH_STYLE_OPENAI, NULL, NULL, id, digest), AUTH_OK);
        assert_string_equal(id, "");
        assert_memory_equal(digest, zero, 32);
        assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "whatever", "Bearer junk", id), AUTH_OK);
        assert_string_equal(id, "");
        auth_free(&a);
    }
}

/* ---------------------------------------------------------------- OpenAI style */

static void test_openai_bearer_ok(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1,k2", NULL, false, NULL);
    assert_true(auth_enabled(&a));
    char id[9];
    uint8_t digest[32], want[32];
    assert_auth(auth_check_client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer k1", id, digest), AUTH_OK);
    assert_string_equal(id, ID_K1);
    auth_digest("k1", 2, want);
    assert_memory_equal(digest, want, 32);
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer k2", id), AUTH_OK);
    assert_string_equal(id, ID_K2);
    /* scheme is case-insensitive, surrounding blanks of the token are ignored */
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "bearer k1", id), AUTH_OK);
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "BEARER  k1 \t", id), AUTH_OK);
    assert_string_equal(id, ID_K1);
    auth_free(&a);
}

static void test_openai_ignores_x_api_key(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", NULL, false, NULL);
    char id[9];
    assert_auth(client(&a, AUTH_STYLE_OPENAI, "k1", NULL, id), AUTH_MISSING);
    assert_string_equal(id, "");
    assert_auth(client(&a, AUTH_STYLE_OPENAI, "k1", "Bearer nope", id), AUTH_INVALID);
    assert_string_equal(id, "");
    auth_free(&a);
}

static void test_openai_missing(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", NULL, false, NULL);
    char id[9];
    const char *missing[] = {NULL,         "",           "Bearer", "Bearer ",
                             "Bearer    ", "Basic azE6", "k1",     "Token k1"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, missing[i], id), AUTH_MISSING);
        assert_string_equal(id, "");
    }
    auth_free(&a);
}

static void test_openai_invalid(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", NULL, false, NULL);
    char id[9];
    uint8_t digest[32];
    static const uint8_t zero[32] = {0};
    const char *invalid[] = {"Bearer k", "Bearer k1x", "Bearer K1", "Bearer k1 k1", "Bearer xk1"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        memset(digest, 0xAA, sizeof digest);
        assert_auth(auth_check_client(&a, AUTH_STYLE_OPENAI, NULL, invalid[i], id, digest),
                    AUTH_INVALID);
        assert_string_equal(id, "");
        assert_memory_equal(digest, zero, 32); /* no digest leaks out of a failed check */
    }
    auth_free(&a);
}

/* ---------------------------------------------------------------- Anthropic style */

static void test_anthropic_x_api_key_ok(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1,k2", NULL, false, NULL);
    char id[9];
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "k2", NULL, id), AUTH_OK);
    assert_string_equal(id, ID_K2);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, " k1 ", NULL, id), AUTH_OK);
    assert_string_equal(id, ID_K1);
    auth_free(&a);
}

static void test_anthropic_falls_back_to_bearer(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", NULL, false, NULL);
    char id[9];
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, NULL, "Bearer k1", id), AUTH_OK);
    assert_string_equal(id, ID_K1);
    /* an empty or blank x-api-key counts as absent */
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "", "Bearer k1", id), AUTH_OK);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "  ", "Bearer k1", id), AUTH_OK);
    assert_string_equal(id, ID_K1);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "", "Bearer nope", id), AUTH_INVALID);
    auth_free(&a);
}

static void test_anthropic_x_api_key_comes_first(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1,k2", NULL, false, NULL);
    char id[9];
    /* x-api-key decides when present: a wrong one is not rescued by a right Bearer */
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "wrong", "Bearer k1", id), AUTH_INVALID);
    assert_string_equal(id, "");
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "k2", "Bearer wrong", id), AUTH_OK);
    assert_string_equal(id, ID_K2);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "k2", "Bearer k1", id), AUTH_OK);
    assert_string_equal(id, ID_K2);
    auth_free(&a);
}

static void test_anthropic_missing_and_invalid(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", NULL, false, NULL);
    char id[9];
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, NULL, NULL, id), AUTH_MISSING);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "", "", id), AUTH_MISSING);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, NULL, "Basic azE6", id), AUTH_MISSING);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "k2", NULL, id), AUTH_INVALID);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "Bearer k1", NULL, id), AUTH_INVALID);
    assert_string_equal(id, "");
    auth_free(&a);
}

/* ---------------------------------------------------------------- API_KEYS parsing */

static void test_api_keys_whitespace_and_commas(void **state) {
    (void)state;
    auth a;
    auth_init(&a, " k1 ,,\tk2\t, , sk-test,", NULL, false, NULL);
    assert_int_equal(a.n_keys, 3);
    char id[9];
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer k1", id), AUTH_OK);
    assert_string_equal(id, ID_K1);
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer k2", id), AUTH_OK);
    assert_string_equal(id, ID_K2);
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer sk-test", id), AUTH_OK);
    assert_string_equal(id, ID_SK_TEST);
    /* the separators are not part of any key */
    assert_auth(client(&a, AUTH_STYLE_OPENAI, NULL, "Bearer  k1 ,", id), AUTH_INVALID);
    auth_free(&a);

    /* blanks inside a key belong to it */
    auth_init(&a, "a b", NULL, false, NULL);
    assert_int_equal(a.n_keys, 1);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "a b", NULL, id), AUTH_OK);
    assert_auth(client(&a, AUTH_STYLE_ANTHROPIC, "ab", NULL, id), AUTH_INVALID);
    auth_free(&a);
}

static void test_auth_free_resets(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", "m", true, "adm");
    auth_free(&a);
    assert_null(a.keys);
    assert_int_equal(a.n_keys, 0);
    assert_false(a.has_metrics_token);
    assert_false(a.has_admin_token);
}

/* ---------------------------------------------------------------- /metrics */

static void test_metrics_public_is_open(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "", NULL, true, NULL);
    assert_auth(auth_check_metrics(&a, NULL), AUTH_OK);
    auth_free(&a);
    auth_init(&a, "k1", "mt", true, "adm");
    assert_auth(auth_check_metrics(&a, NULL), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer wrong"), AUTH_OK);
    auth_free(&a);
}

static void test_metrics_nothing_configured_is_disabled(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "", "", false, NULL);
    assert_auth(auth_check_metrics(&a, NULL), AUTH_DISABLED);
    assert_auth(auth_check_metrics(&a, "Bearer anything"), AUTH_DISABLED);
    auth_free(&a);
    /* an admin token alone does not open /metrics */
    auth_init(&a, NULL, NULL, false, "adm");
    assert_auth(auth_check_metrics(&a, "Bearer adm"), AUTH_DISABLED);
    auth_free(&a);
}

static void test_metrics_token(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "", "mt", false, NULL);
    assert_auth(auth_check_metrics(&a, "Bearer mt"), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer mt2"), AUTH_INVALID);
    assert_auth(auth_check_metrics(&a, NULL), AUTH_MISSING);
    assert_auth(auth_check_metrics(&a, "mt"), AUTH_MISSING);
    auth_free(&a);
}

static void test_metrics_any_api_key(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1,k2", NULL, false, NULL);
    assert_auth(auth_check_metrics(&a, "Bearer k1"), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer k2"), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer k3"), AUTH_INVALID);
    assert_auth(auth_check_metrics(&a, NULL), AUTH_MISSING);
    auth_free(&a);
    /* with both, either works; the admin token does not */
    auth_init(&a, "k1", "mt", false, "adm");
    assert_auth(auth_check_metrics(&a, "Bearer k1"), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer mt"), AUTH_OK);
    assert_auth(auth_check_metrics(&a, "Bearer adm"), AUTH_INVALID);
    auth_free(&a);
}

/* ---------------------------------------------------------------- /internal */

static void test_admin_nothing_configured_is_disabled(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "", NULL, false, "");
    assert_auth(auth_check_admin(&a, NULL, NULL), AUTH_DISABLED);
    assert_auth(auth_check_admin(&a, "Bearer x", "x"), AUTH_DISABLED);
    auth_free(&a);
    /* metrics settings do not open the admin API */
    auth_init(&a, "", "mt", true, NULL);
    assert_auth(auth_check_admin(&a, "Bearer mt", NULL), AUTH_DISABLED);
    auth_free(&a);
}

static void test_admin_token_only(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1", "mt", false, "adm");
    assert_auth(auth_check_admin(&a, "Bearer adm", NULL), AUTH_OK);
    assert_auth(auth_check_admin(&a, NULL, "adm"), AUTH_OK);
    assert_auth(auth_check_admin(&a, NULL, NULL), AUTH_MISSING);
    assert_auth(auth_check_admin(&a, "Bearer adm2", NULL), AUTH_INVALID);
    /* once ADMIN_TOKEN is set, API keys (and the metrics token) no longer work */
    assert_auth(auth_check_admin(&a, "Bearer k1", NULL), AUTH_INVALID);
    assert_auth(auth_check_admin(&a, NULL, "k1"), AUTH_INVALID);
    assert_auth(auth_check_admin(&a, "Bearer mt", NULL), AUTH_INVALID);
    auth_free(&a);
    /* an admin token without API keys */
    auth_init(&a, NULL, NULL, false, "adm");
    assert_auth(auth_check_admin(&a, "Bearer adm", NULL), AUTH_OK);
    assert_auth(auth_check_admin(&a, "Bearer nope", NULL), AUTH_INVALID);
    auth_free(&a);
}

static void test_admin_falls_back_to_api_keys(void **state) {
    (void)state;
    auth a;
    auth_init(&a, "k1,k2", NULL, false, NULL);
    assert_auth(auth_check_admin(&a, "Bearer k1", NULL), AUTH_OK);
    assert_auth(auth_check_admin(&a, NULL, "k2"), AUTH_OK);
    assert_auth(auth_check_admin(&a, "Bearer k3", NULL), AUTH_INVALID);
    assert_auth(auth_check_admin(&a, NULL, "k3"), AUTH_INVALID);
    assert_auth(auth_check_admin(&a, NULL, NULL), AUTH_MISSING);
    assert_auth(auth_check_admin(&a, NULL, ""), AUTH_MISSING);
    auth_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_id_is_8_hex_of_sha256),
        cmocka_unit_test(test_digest_is_sha256),
        cmocka_unit_test(test_empty_api_keys_disables_client_auth),
        cmocka_unit_test(test_openai_bearer_ok),
        cmocka_unit_test(test_openai_ignores_x_api_key),
        cmocka_unit_test(test_openai_missing),
        cmocka_unit_test(test_openai_invalid),
        cmocka_unit_test(test_anthropic_x_api_key_ok),
        cmocka_unit_test(test_anthropic_falls_back_to_bearer),
        cmocka_unit_test(test_anthropic_x_api_key_comes_first),
        cmocka_unit_test(test_anthropic_missing_and_invalid),
        cmocka_unit_test(test_api_keys_whitespace_and_commas),
        cmocka_unit_test(test_auth_free_resets),
        cmocka_unit_test(test_metrics_public_is_open),
        cmocka_unit_test(test_metrics_nothing_configured_is_disabled),
        cmocka_unit_test(test_metrics_token),
        cmocka_unit_test(test_metrics_any_api_key),
        cmocka_unit_test(test_admin_nothing_configured_is_disabled),
        cmocka_unit_test(test_admin_token_only),
        cmocka_unit_test(test_admin_falls_back_to_api_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
