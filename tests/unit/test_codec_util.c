/* codec_util: the token estimate's word-at-a-time counter against the per-byte rule
 * (ASCII ¼ token, 2-byte ½, 3-byte 1, 4-byte 2; continuation and invalid bytes nothing), and
 * the compact JSON text of a parsed value's tape against json-c's own printer, and the readings
 * of tape nodes that keep what the decoders saw through json-c. */
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

/* codec_json_text prints what json-c prints (PLAIN | NOSLASHESCAPE) for valid UTF-8. */
static void json_text_matches_json_c(void **state) {
    (void)state;
    static const char *const cases[] = {
        "{}",
        "[]",
        "[null]",
        "true",
        "{\"a\":false,\"b\":null,\"c\":[1,-2,3.50,-0.0,1e3,2E-7,9223372036854775807,"
        "18446744073709551615,123456789012345678901234567890,0.1]}",
        "{\"type\":\"object\",\"properties\":{\"file_path\":{\"type\":\"string\","
        "\"description\":\"The absolute path / to \\\"the\\\" file\\n\\ttab\"}},"
        "\"required\":[\"file_path\"],\"additionalProperties\":false,"
        "\"$schema\":\"http://json-schema.org/draft-07/schema#\"}",
        "[\"\\u0000\\u0001\\u001f\\u007f\\b\\f\\r\\/\",\"\\u00e9\\u4e2d\\ud83d\\ude00\","
        "\"ü中😀\"]",
        "{\"k\\\"ey\\n\":{\"\":[[],{},[{\"x\":[null]}]]},\"dup\":1,\"dup\":2}",
        "[\"\u2028\u2029\",\"\x7f\"]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *v = json_tokener_parse(cases[i]);
        if (!v) fail_msg("case %zu does not parse", i);
        json_tape t = JSON_TAPE_INIT;
        json_tape_from_jsonc(&t, v);
        arena a;
        arena_init(&a, 256);
        const char *ours = codec_json_text(&a, json_tape_root(&t));
        const char *theirs = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
        if (strcmp(ours, theirs) != 0) fail_msg("case %zu: ours %s, json-c %s", i, ours, theirs);
        arena_free(&a);
        json_tape_free(&t); /* puts v */
    }
}

/* Invalid UTF-8 inside a string comes out as U+FFFD: the text stays valid JSON. */
static void json_text_replaces_invalid_utf8(void **state) {
    (void)state;
    json_object *v = json_tokener_parse("{\"d\":\"a\xff\xc3\"}");
    assert_non_null(v);
    json_tape t = JSON_TAPE_INIT;
    json_tape_from_jsonc(&t, v);
    arena a;
    arena_init(&a, 256);
    assert_string_equal(codec_json_text(&a, json_tape_root(&t)), "{\"d\":\"a\\ufffd\\ufffd\"}");
    arena_free(&a);
    json_tape_free(&t);
}

/* The first node of the tape of a json-c parse of `text` (the tape owns the tree). */
static const jt_node *tape_of(json_tape *t, const char *text) {
    json_object *v = json_tokener_parse(text);
    assert_non_null(v);
    json_tape_from_jsonc(t, v);
    return json_tape_root(t);
}

/* Strings compare as strcmp compared json-c's: up to a NUL. */
static void str_is_reads_up_to_a_nul(void **state) {
    (void)state;
    json_tape t = JSON_TAPE_INIT;
    const jt_node *a = tape_of(&t, "[\"text\",\"text\\u0000x\",\"tex\",\"texts\",\"\",5]");
    const jt_node *e = JT_FIRST(a);
    assert_true(codec_str_is(e, "text"));
    assert_true(codec_str_is(e = jt_next(e), "text"));
    assert_false(codec_str_is(e = jt_next(e), "text"));
    assert_false(codec_str_is(e = jt_next(e), "text"));
    assert_true(codec_str_is(e = jt_next(e), ""));
    assert_false(codec_str_is(e = jt_next(e), "5"));
    assert_false(codec_str_is(NULL, "text"));
    json_tape_free(&t);
}

/* Numbers read as json_object_get_double reads them, integers beyond INT64_MAX included. */
static void number_reads_as_json_c(void **state) {
    (void)state;
    static const char *const cases[] = {"0",
                                        "-7",
                                        "1.5",
                                        "2E-7",
                                        "9223372036854775807",
                                        "9223372036854775808",
                                        "18446744073709551615",
                                        "123456789012345678901234567890",
                                        "-9223372036854775809",
                                        "1e300"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *v = json_tokener_parse(cases[i]);
        assert_non_null(v);
        double want = json_object_get_double(v);
        json_tape t = JSON_TAPE_INIT;
        json_tape_from_jsonc(&t, v);
        if (codec_number(json_tape_root(&t)) != want)
            fail_msg("case %s: %g, json-c %g", cases[i], codec_number(json_tape_root(&t)), want);
        json_tape_free(&t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_weights),
        cmocka_unit_test(every_byte_at_every_position),
        cmocka_unit_test(long_mixed_text),
        cmocka_unit_test(json_text_matches_json_c),
        cmocka_unit_test(json_text_replaces_invalid_utf8),
        cmocka_unit_test(str_is_reads_up_to_a_nul),
        cmocka_unit_test(number_reads_as_json_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
