/* codec_util: the token estimate's word-at-a-time counter against the per-byte rule
 * (ASCII ¼ token, 2-byte ½, 3-byte 1, 4-byte 2; continuation and invalid bytes nothing). */
#include "front/codec_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int64_t ref_quarters(const unsigned char *p, size_t n) {
    int64_t q = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x80)
            q += 1;
        else if ((c & 0xE0) == 0xC0)
            q += 2;
        else if ((c & 0xF0) == 0xE0)
            q += 4;
        else if ((c & 0xF8) == 0xF0)
            q += 8;
    }
    return q;
}

static void known_weights(void **state) {
    (void)state;
    assert_int_equal(codec_token_quarters("", 0), 0);
    assert_int_equal(codec_token_quarters("abcdefghijkl", 12), 12);
    assert_int_equal(codec_token_quarters("\xc3\xa9", 2), 2);              /* é */
    assert_int_equal(codec_token_quarters("\xe4\xb8\xad", 3), 4);          /* 中 */
    assert_int_equal(codec_token_quarters("\xf0\x9f\x98\x80", 4), 8);      /* 😀 */
    assert_int_equal(codec_token_quarters("abcdefg\xe4\xb8\xad", 10), 11); /* across a word */
    assert_int_equal(codec_estimate_tokens("abcdefghi", 9), 3);
}

static void every_byte_at_every_position(void **state) {
    (void)state;
    unsigned char s[19];
    for (int c = 0; c < 256; c++) {
        memset(s, 'a', sizeof s);
        for (size_t at = 0; at < sizeof s; at++) {
            s[at] = (unsigned char)c;
            for (size_t off = 0; off < 8; off++)
                assert_int_equal(codec_token_quarters((const char *)s + off, sizeof s - off),
                                 ref_quarters(s + off, sizeof s - off));
            s[at] = 'a';
        }
    }
}

static void long_mixed_text(void **state) {
    (void)state;
    static unsigned char text[65536];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof text; i++) {
        x = x * 1103515245u + 12345u;
        /* mostly ASCII with stretches of high bytes, as real prompts */
        text[i] = (unsigned char)((x >> 16) % 16 == 0 ? 0x80 | (x >> 8) : 'a' + (x >> 20) % 26);
    }
    assert_int_equal(codec_token_quarters((const char *)text, sizeof text),
                     ref_quarters(text, sizeof text));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_weights),
        cmocka_unit_test(every_byte_at_every_position),
        cmocka_unit_test(long_mixed_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
