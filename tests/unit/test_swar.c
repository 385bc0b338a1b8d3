/* swar.h's 16-byte block kernels, both forms (SSE2 and the portable words), against the byte-wise
 * definition of the bytes they must stop at: every byte value at every position, pairs of
 * interesting bytes, random blocks from an alphabet of the edge values, and the copy they make. */
#include "util/swar.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "random_text.h"

static unsigned ref_json(const unsigned char *p) {
    for (unsigned i = 0; i < 16; i++)
        if (p[i] < 0x20 || p[i] >= 0x80 || p[i] == '"' || p[i] == '\\') return i;
    return 16;
}

static unsigned ref_str_end(const unsigned char *p) {
    for (unsigned i = 0; i < 16; i++)
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') return i;
    return 16;
}

static unsigned ref_norm(const unsigned char *p, bool space_before) {
    for (unsigned i = 0; i < 16; i++) {
        bool after = i ? p[i - 1] == ' ' : space_before;
        if (p[i] < 0x20 || (p[i] == ' ' && after)) return i;
    }
    return 16;
}

static void check_block(const unsigned char *p) {
    char o[16];
    unsigned want = ref_json(p);
    memset(o, 0, sizeof o);
    assert_int_equal(swar_json_clean16_swar(p, o), want);
    assert_memory_equal(o, p, 16);
#ifdef SWAR_HAVE_SSE2
    memset(o, 0, sizeof o);
    assert_int_equal(swar_json_clean16_sse2(p, o), want);
    assert_memory_equal(o, p, 16);
#endif
    want = ref_str_end(p);
    assert_int_equal(swar_str_end16_swar(p), want);
#ifdef SWAR_HAVE_SSE2
    assert_int_equal(swar_str_end16_sse2(p), want);
#endif
    for (int sb = 0; sb < 2; sb++) {
        want = ref_norm(p, sb);
        memset(o, 0, sizeof o);
        assert_int_equal(swar_norm_clean16_swar(p, o, sb), want);
        assert_memory_equal(o, p, 16);
#ifdef SWAR_HAVE_SSE2
        memset(o, 0, sizeof o);
        assert_int_equal(swar_norm_clean16_sse2(p, o, sb), want);
        assert_memory_equal(o, p, 16);
#endif
    }
}

static void every_byte_at_every_position(void **state) {
    (void)state;
    unsigned char p[16];
    for (int c = 0; c < 256; c++)
        for (int at = 0; at < 16; at++)
            for (int second = 0; second < 256; second += 1) {
                memset(p, 'a', sizeof p);
                p[at] = (unsigned char)c;
                if (at < 15) p[15] = (unsigned char)second; /* a second byte above it */
                check_block(p);
                if (at) { /* and one right below it: borrows must not flag falsely */
                    memset(p, 'a', sizeof p);
                    p[at] = (unsigned char)c;
                    p[at - 1] = (unsigned char)second;
                    check_block(p);
                }
            }
}

static void random_blocks(void **state) {
    (void)state;
    static const unsigned char alphabet[] = {0x00, 0x01, 0x08, 0x09, 0x0a, 0x0d, 0x1f, ' ',  '!',
                                             '"',  '#',  '[',  '\\', ']',  'a',  0x7f, 0x80, 0x9f,
                                             0xa0, 0xc3, 0xdf, 0xe0, 0xff, 0x21, 0x5c, 0x5d};
    uint32_t seed = 12345;
    unsigned char p[16];
    for (int round = 0; round < 400000; round++) {
        unsigned density = 1 + next_rand(&seed) % 16; /* sometimes mostly plain letters */
        for (int i = 0; i < 16; i++) {
            uint32_t r = next_rand(&seed);
            p[i] = r % 16 < density ? alphabet[(r >> 8) % sizeof alphabet]
                                    : (unsigned char)('a' + r % 26);
        }
        check_block(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_byte_at_every_position),
        cmocka_unit_test(random_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
