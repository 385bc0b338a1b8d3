#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "upstream/error_class.h"
#include <string.h>

typedef struct row {
    int http, envelope;
    const char *code, *text;
    conv_error_class want;
} row;

static const row ROWS[] = {
    /* auth */
    {401, 0, NULL, "unauthorized", CONV_ERR_AUTH},
    {403, 0, NULL, NULL, CONV_ERR_AUTH},
    {200, 403, "105", "{\"code\":\"105\",\"message\":\"Login expired\"}", CONV_ERR_AUTH},
    {200, 0, NULL, "Login expired", CONV_ERR_AUTH},
    {0, 0, NULL, "token is not active", CONV_ERR_AUTH},
    {0, 0, NULL, "The token has expired", CONV_ERR_AUTH},
    {0, 0, NULL, "Invalid Token", CONV_ERR_AUTH},
    {200, 0, NULL, "  <!DOCTYPE html><html><body>login</body></html>", CONV_ERR_AUTH},
    {302, 0, NULL, "<html><head><title>Sign in</title>", CONV_ERR_AUTH},
    /* rate limit */
    {429, 0, NULL, "slow down", CONV_ERR_RATE_LIMIT},
    {200, 429, NULL, NULL, CONV_ERR_RATE_LIMIT},
    {200, 403, "10605", "{\"isQueued\":true}", CONV_ERR_RATE_LIMIT},
    {200, 0, NULL, "{\"message\":{\"isQueued\":true}}", CONV_ERR_RATE_LIMIT},
    /* quota */
    {200, 403, "110", "daily limit", CONV_ERR_QUOTA},
    {200, 403, "112", "credits exhausted", CONV_ERR_QUOTA},
    {200, 403, NULL, "{\"pricingUrl\":\"https://x\"}", CONV_ERR_QUOTA},
    /* transient */
    {408, 0, NULL, NULL, CONV_ERR_TRANSIENT},
    {500, 0, NULL, "oops", CONV_ERR_TRANSIENT},
    {200, 503, NULL, NULL, CONV_ERR_TRANSIENT},
    {502, 0, NULL, "<html><head><title>502 Bad Gateway</title></head></html>", CONV_ERR_TRANSIENT},
    {0, 0, NULL, NULL, CONV_ERR_TRANSIENT},
    /* request fatal */
    {400, 0, NULL, "bad", CONV_ERR_REQUEST_FATAL},
    {200, 400, "INVALID_REQUEST", NULL, CONV_ERR_REQUEST_FATAL},
    {200, 0, NULL, "This model's maximum context length is 131072 tokens", CONV_ERR_REQUEST_FATAL},
    {500, 0, NULL, "context_length_exceeded", CONV_ERR_REQUEST_FATAL},
    {200, 0, NULL, "{\"error\":{\"message\":\"model not found\"}}", CONV_ERR_REQUEST_FATAL},
    {422, 0, NULL, NULL, CONV_ERR_REQUEST_FATAL},
    /* config fatal */
    {404, 0, NULL, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>",
     CONV_ERR_CONFIG_FATAL},
    {404, 0, NULL, NULL, CONV_ERR_CONFIG_FATAL},
};

static void test_rows(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof ROWS / sizeof *ROWS; i++) {
        const row *r = &ROWS[i];
        conv_error_class got = upstream_classify(r->http, r->envelope, r->code, r->text);
        if (got != r->want)
            fail_msg("row %zu (%d/%d/%s/%s): got %s want %s", i, r->http, r->envelope,
                     r->code ? r->code : "-", r->text ? r->text : "-", conv_error_class_name(got),
                     conv_error_class_name(r->want));
    }
}

static void test_actions(void **state) {
    (void)state;
    for (int c = CONV_ERR_NONE; c <= CONV_ERR_CANCELLED; c++)
        assert_string_not_equal(upstream_pool_action((conv_error_class)c), "unknown");
    assert_string_equal(upstream_pool_action((conv_error_class)99), "unknown");
    assert_non_null(strstr(upstream_pool_action(CONV_ERR_AUTH), "needs_login"));
}

static void test_html(void **state) {
    (void)state;
    const char *h = "\r\n<!doctype html><html>";
    assert_true(upstream_looks_like_html(h, strlen(h)));
    assert_false(upstream_looks_like_html("<?xml?><Error/>", 15));
    assert_false(upstream_looks_like_html("data: <html>", 12));
    assert_false(upstream_looks_like_html(NULL, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
