/* token_calibration: starts neutral, converges to the upstream's ratio, ignores small prompts
 * and clamps absurd figures. */
#include "core/token_calibration.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_neutral_until_observed(void **state) {
    (void)state;
    token_calibration c;
    token_calibration_init(&c);
    assert_int_equal(token_calibration_apply(&c, 1000), 1000);
    assert_int_equal(token_calibration_apply(&c, 0), 1); /* never 0 */
    token_calibration_observe(&c, 10, 40);               /* too small to learn from */
    assert_int_equal(c.samples, 0);
    assert_int_equal(token_calibration_apply(&c, 1000), 1000);
}

static void test_converges_to_upstream_ratio(void **state) {
    (void)state;
    token_calibration c;
    token_calibration_init(&c);
    token_calibration_observe(&c, 400, 300); /* the first sample is taken as is */
    assert_int_equal(token_calibration_apply(&c, 1000), 750);
    for (int i = 0; i < 30; i++)
        token_calibration_observe(&c, 1000, 1200); /* the upstream now counts 20 % more */
    int64_t v = token_calibration_apply(&c, 1000);
    assert_in_range(v, 1195, 1205);
    token_calibration_observe(&c, 1000, 100000); /* an outlier moves it only a bounded step */
    assert_in_range(token_calibration_apply(&c, 1000), 1200, 1800);
}

static void test_clamped(void **state) {
    (void)state;
    token_calibration c;
    token_calibration_init(&c);
    token_calibration_observe(&c, 1000, 1);
    assert_int_equal(token_calibration_apply(&c, 1000), 250);
    token_calibration_init(&c);
    token_calibration_observe(&c, 100, 1000000);
    assert_int_equal(token_calibration_apply(&c, 1000), 4000);
    token_calibration_observe(&c, 100, 0); /* no usage: ignored */
    assert_int_equal(c.samples, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neutral_until_observed),
        cmocka_unit_test(test_converges_to_upstream_ratio),
        cmocka_unit_test(test_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
