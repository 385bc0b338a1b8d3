/* json_tape_scan's refusals (the scanner's contract, see test_json_tape.c): every document of the
 * refuse tables, every byte and escape it must not take, the limits just past its own, and every
 * truncation of real requests is refused with the tape left empty (n == 0). Each refusal states
 * json-c's own verdict: JC_NO for invalid JSON, JC_YES for valid JSON outside the scanner's
 * shapes (json-c reads those), JC_ANY where it does not matter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "json_tape_test_util.h"
#include <math.h>

static const refusal refuse_grammar[] = {
    /* nothing, or only whitespace */
    R(JC_NO, ""),
    R(JC_NO, " "),
    R(JC_NO, " \t\n\r"),
    /* unbalanced, misnested, unterminated */
    R(JC_NO, "["),
    R(JC_NO, "]"),
    R(JC_NO, "{"),
    R(JC_NO, "}"),
    R(JC_NO, "[}"),
    R(JC_NO, "{]"),
    R(JC_NO, "[[]"),
    R(JC_NO, "[]]"),
    R(JC_NO, "{\"a\":1}}"),
    R(JC_NO, "{\"a\":[1}"),
    R(JC_NO, "[{\"a\":1]"),
    R(JC_NO, "{{}}"),
    R(JC_NO, "\"abc"),
    R(JC_NO, "[\"abc]"),
    R(JC_NO, "\"abc\\\""),
    R(JC_NO, "\"abc\\"),
    /* commas and colons */
    R(JC_NO, "[1,]"),
    R(JC_NO, "[,1]"),
    R(JC_NO, "[,]"),
    R(JC_NO, "[1,,2]"),
    R(JC_NO, "[1 2]"),
    R(JC_NO, "[1;2]"),
    R(JC_NO, "[\"a\" \"b\"]"),
    R(JC_NO, "{,}"),
    R(JC_NO, "{\"a\":1,}"),
    R(JC_NO, "{,\"a\":1}"),
    R(JC_NO, "{\"a\":1,,\"b\":2}"),
    R(JC_NO, "{\"a\":1 \"b\":2}"),
    R(JC_NO, "{\"a\":1;\"b\":2}"),
    R(JC_NO, "{\"a\" 1}"),
    R(JC_NO, "{\"a\"}"),
    R(JC_NO, "{\"a\":}"),
    R(JC_NO, "{\"a\"::1}"),
    R(JC_NO, "{\"a\":1:2}"),
    R(JC_NO, "{\"a\",1}"),
    R(JC_NO, "{:1}"),
    R(JC_NO, "[\"a\":1]"),
    /* keys that are not strings */
    R(JC_NO, "{1:1}"),
    R(JC_NO, "{a:1}"),
    R(JC_NO, "{true:1}"),
    R(JC_NO, "{null:1}"),
    R(JC_NO, "{[]:1}"),
    R(JC_NO, "{{}:1}"),
    /* single quotes, comments */
    R(JC_NO, "'a'"),
    R(JC_NO, "['a']"),
    R(JC_YES, "{'a':1}"), /* json-c's strict mode takes a single-quoted key */
    R(JC_NO, "{\"a\":'b'}"),
    R(JC_NO, "/*c*/{}"),
    R(JC_NO, "{}/*c*/"),
    R(JC_NO, "{/*c*/}"),
    R(JC_NO, "[1,/*c*/2]"),
    R(JC_NO, "{}//c"),
    R(JC_NO, "//c\n{}"),
    R(JC_NO, "#c\n{}"),
    /* bare words, wrong case, cut literals */
    R(JC_NO, "[tru]"),
    R(JC_NO, "[nul]"),
    R(JC_NO, "[fals]"),
    R(JC_NO, "[True]"),
    R(JC_NO, "[TRUE]"),
    R(JC_NO, "[Null]"),
    R(JC_NO, "[FALSE]"),
    R(JC_NO, "[nulll]"),
    R(JC_NO, "[truex]"),
    R(JC_NO, "[true false]"),
    R(JC_NO, "[t]"),
    R(JC_NO, "[undefined]"),
    R(JC_NO, "[none]"),
    R(JC_NO, "[nan]"),
    R(JC_NO, "[inf]"),
    R(JC_NO, "[NaN]"),
    R(JC_NO, "[Infinity]"),
    R(JC_NO, "[-Infinity]"),
    R(JC_NO, "{\"a\":NaN}"),
    R(JC_NO, "abc"),
    R(JC_NO, "x{}"),
    /* two values, trailing garbage */
    R(JC_NO, "{} {}"),
    R(JC_NO, "{}{}"),
    R(JC_NO, "[] []"),
    R(JC_NO, "[],[]"),
    R(JC_NO, "\"a\" \"b\""),
    R(JC_NO, "1 2"),
    R(JC_NO, "{}x"),
    R(JC_NO, "[]1"),
    R(JC_NO, "{}]"),
    R(JC_NO, "{} ,"),
    R(JC_NO, "{}\n\n}"),
    R(JC_NO, "\"a\"\"b\""),
    /* a NUL byte anywhere */
    R(JC_NO, "\0"),
    R(JC_NO, "\0{}"),
    R(JC_NO, "{}\0"),
    R(JC_NO, "{} \0"),
    R(JC_NO, "[1,\0 2]"),
    R(JC_NO, "[\"a\0b\"]"),
    R(JC_NO, "{\"a\0\":1}"),
    R(JC_NO, "{\"a\":\0}"),
    R(JC_NO, "[\"a\\\0\"]"),
    R(JC_NO, "[\"\\u00\0e9\"]"),
    /* a UTF-8 BOM; whitespace JSON does not have (form feed, vertical tab, NBSP, U+2028) */
    R(JC_NO, "\xef\xbb\xbf{}"),
    R(JC_NO, "\xef\xbb\xbf[]"),
    R(JC_NO, "[\xef\xbb\xbf]"),
    R(JC_NO, "\f{}"),
    R(JC_NO, "{}\f"),
    R(JC_NO, "\v[]"),
    R(JC_NO, "[]\v"),
    R(JC_NO, "[\f1]"),
    R(JC_NO, "\xc2\xa0{}"),
    R(JC_NO, "{}\xe2\x80\xa8"),
    R(JC_NO, "[1]\x1a"),
    /* a top-level number or literal at the very end: json-c waits for more and reports the end
     * of input; a top-level null is never accepted (json-c returns NULL for it) */
    R(JC_NO, "1"),
    R(JC_NO, "-5"),
    R(JC_NO, "1.5"),
    R(JC_NO, "1e5"),
    R(JC_NO, "123456789012345678"),
    R(JC_NO, "true"),
    R(JC_NO, "false"),
    R(JC_NO, "null"),
    R(JC_NO, "null "),
    R(JC_NO, " null\n"),
    /* json-c reads these; the scanner takes a root only as a container or a string */
    R(JC_YES, "1 "),
    R(JC_YES, "-12.5e3\n"),
    R(JC_YES, "true "),
    R(JC_YES, "false\r\n"),
};

static const refusal refuse_numbers[] = {
    /* -0: json-c prints it as 0 */
    R(JC_YES, "[-0]"),
    R(JC_YES, "{\"n\":-0}"),
    R(JC_YES, "-0 "),
    /* integers of 19 digits and more */
    R(JC_YES, "[1234567890123456789]"),
    R(JC_YES, "[-1234567890123456789]"),
    R(JC_YES, "[1000000000000000000]"),
    R(JC_YES, "[9223372036854775807]"),
    R(JC_YES, "[-9223372036854775808]"),
    R(JC_YES, "[9223372036854775808]"),
    R(JC_YES, "[18446744073709551615]"),
    R(JC_YES, "[18446744073709551616]"),
    R(JC_YES, "[-9223372036854775809]"),
    R(JC_YES, "[123456789012345678901234567890]"),
    /* a fraction or exponent over 32 characters, or an exponent over 3 digits */
    R(JC_YES, "[1.2345678901234567890123456789012]"),
    R(JC_YES, "[-1.234567890123456789012345678901]"),
    R(JC_YES, "[0.0000000000000000000000000000001]"),
    R(JC_YES, "[123456789012345678901234567.5e+10]"),
    R(JC_YES, "[1e0001]"),
    R(JC_YES, "[1e-0400]"),
    R(JC_YES, "[1.5E+0010]"),
    R(JC_YES, "[0e0000]"),
    /* not finite (json-c's tree is refused by codec_parse_json) */
    R(JC_NO, "[1e999]"),
    R(JC_NO, "[-1e999]"),
    R(JC_NO, "[1e309]"),
    R(JC_NO, "[1.8e308]"),
    R(JC_NO, "[-1.7976931348623159e308]"),
    R(JC_NO, "{\"a\":[0,{\"b\":9e999}]}"),
    /* leading zeros; json-c takes some of them */
    R(JC_NO, "[01]"),
    R(JC_YES, "[00]"),
    R(JC_YES, "[-01]"),
    R(JC_ANY, "[000]"),
    R(JC_ANY, "[00.5]"),
    R(JC_ANY, "[01.5]"),
    R(JC_ANY, "[-00]"),
    R(JC_ANY, "[0123]"),
    /* "1.", ".5", "+1" and other broken forms */
    R(JC_YES, "[1.]"),
    R(JC_YES, "[1.e5]"),
    R(JC_ANY, "[-1.]"),
    R(JC_ANY, "[1.E-2]"),
    R(JC_NO, "[.5]"),
    R(JC_YES, "[-.5]"),
    R(JC_NO, "[+1]"),
    R(JC_NO, "[+0.5]"),
    R(JC_NO, "[-]"),
    R(JC_NO, "[- 1]"),
    R(JC_NO, "[--1]"),
    R(JC_NO, "[1e]"),
    R(JC_NO, "[1E]"),
    R(JC_NO, "[1e+]"),
    R(JC_NO, "[1e-]"),
    R(JC_NO, "[1e+-2]"),
    R(JC_NO, "[1.5.5]"),
    R(JC_NO, "[1e5e5]"),
    R(JC_NO, "[1e5.5]"),
    R(JC_NO, "[0x10]"),
    R(JC_NO, "[1-2]"),
    R(JC_NO, "[1_000]"),
    R(JC_NO, "[1,000.5.]"),
    R(JC_NO, "[\xd9\xa1]"),
    R(JC_NO, "[1true]"),
    R(JC_NO, "[1\"a\"]"),
    R(JC_YES, "{\"n\":1.}"),
    R(JC_NO, "{\"n\":-}"),
};

static const refusal refuse_strings[] = {
    /* \u0000 anywhere */
    R(JC_YES, "[\"\\u0000\"]"),
    R(JC_YES, "[\"a\\u0000b\"]"),
    R(JC_YES, "{\"\\u0000\":1}"),
    R(JC_YES, "{\"a\\u0000\":1}"),
    /* unknown escapes */
    R(JC_NO, "[\"\\a\"]"),
    R(JC_NO, "[\"\\x41\"]"),
    R(JC_NO, "[\"\\'\"]"),
    R(JC_NO, "[\"\\0\"]"),
    R(JC_NO, "[\"\\U0041\"]"),
    R(JC_NO, "[\"\\e\"]"),
    R(JC_NO, "[\"\\v\"]"),
    R(JC_NO, "[\"\\ \"]"),
    R(JC_NO, "{\"\\a\":1}"),
    /* short or bad \u */
    R(JC_NO, "[\"\\u\"]"),
    R(JC_NO, "[\"\\u1\"]"),
    R(JC_NO, "[\"\\u12\"]"),
    R(JC_NO, "[\"\\u123\"]"),
    R(JC_NO, "[\"\\u12G4\"]"),
    R(JC_NO, "[\"\\uGGGG\"]"),
    R(JC_NO, "[\"\\u 123\"]"),
    R(JC_NO, "[\"\\u-123\"]"),
    R(JC_NO, "[\"\\u+123\"]"),
    R(JC_NO, "[\"\\u00e\"]"),
    R(JC_NO, "[\"\\uD83D\\u\"]"),
    R(JC_NO, "[\"\\uD83D\\uDE0\"]"),
    R(JC_NO, "[\"\\uD83D\\uDE0G\"]"),
    /* lone and reversed surrogates (json-c puts U+FFFD) */
    R(JC_YES, "[\"\\uD800\"]"),
    R(JC_YES, "[\"\\uDBFF\"]"),
    R(JC_YES, "[\"\\uDC00\"]"),
    R(JC_YES, "[\"\\uDFFF\"]"),
    R(JC_YES, "[\"\\uD83Dx\"]"),
    R(JC_YES, "[\"\\uD83D \\uDE00\"]"),
    R(JC_YES, "[\"\\uD83D\\n\"]"),
    R(JC_YES, "[\"\\uD83D\\u0041\"]"),
    R(JC_YES, "[\"\\uD83D\\uD83D\"]"),
    R(JC_YES, "[\"\\uD83D\\uD83D\\uDE00\"]"),
    R(JC_YES, "[\"\\uD83D\\uE000\"]"),
    R(JC_YES, "[\"\\uD83D\\uDBFF\"]"),
    R(JC_YES, "[\"\\uDE00\\uD83D\"]"),
    R(JC_YES, "[\"\\uDC00\\uDC00\"]"),
    R(JC_YES, "[\"a\\uDE00\"]"),
    R(JC_YES, "{\"\\uD800\":1}"),
    R(JC_ANY, "[\"\\uD83D\\\"]"),
    R(JC_ANY, "[\"\\uD83D\\"),
    /* pairs json-c 0.16 mangles (U+1D800, U+1DFFF, U+10FFFF's neighbours...) */
    R(JC_YES, "[\"\\uD836\\uDC00\"]"),
    R(JC_YES, "[\"\\uD837\\uDFFF\"]"),
    R(JC_YES, "[\"\\udbf6\\udc00\"]"),
    R(JC_YES, "{\"\\uD876\\uDE00\":1}"),
    /* raw control characters (json-c takes all but NUL) */
    R(JC_YES, "[\"a\nb\"]"),
    R(JC_YES, "[\"\t\"]"),
    R(JC_YES, "[\"\r\"]"),
    R(JC_YES, "{\"a\x01\":1}"),
    R(JC_YES, "[\"\x1f\"]"),
    /* keys in an object's place that are not strings, strings not closed */
    R(JC_NO, "{\"a\":\"b}"),
    R(JC_NO, "{\"a:1}"),
};

static const refusal refuse_duplicates[] = {
    R(JC_YES, "{\"a\":1,\"a\":2}"),
    R(JC_YES, "{\"a\":1,\"a\":1}"),
    R(JC_YES, "{\"a\":1,\"b\":2,\"a\":3}"),
    R(JC_YES, "{\"\":1,\"\":2}"),
    R(JC_YES, "{\"a\":{},\"a\":[]}"),
    R(JC_YES, "[{\"x\":{\"k\":1,\"k\":2}}]"),
    R(JC_YES, "{\"x\":{\"k\":1},\"y\":{\"k\":1,\"z\":0,\"k\":2}}"),
    /* equal after unescaping */
    R(JC_YES, "{\"a\":1,\"\\u0061\":2}"),
    R(JC_YES, "{\"\\u0061\":1,\"a\":2}"),
    R(JC_YES, "{\"\\u0061\":1,\"\\u0061\":2}"),
    R(JC_YES, "{\"\\u00e9\":1,\"\\u00E9\":2}"),
    R(JC_YES, "{\"/\":1,\"\\/\":2}"),
    R(JC_YES, "{\"\\n\":1,\"\\u000a\":2}"),
    R(JC_YES, "{\"\\\"\":1,\"\\u0022\":2}"),
    R(JC_YES, "{\"\\\\\":1,\"\\u005c\":2}"),
    R(JC_YES, "{\"\xc3\xa9\":1,\"\\u00e9\":2}"),
    R(JC_YES, "{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}"),
    R(JC_YES, "{\"key\":1,\"k\\u0065y\":2}"),
    R(JC_YES, "{\"\xff\":1,\"\xff\":2}"),
};

static void scan_refuses_grammar(void **state) {
    (void)state;
    tally_reset();
    REFUSE_TABLE(refuse_grammar);
    tally_check();
}

static void scan_refuses_numbers(void **state) {
    (void)state;
    tally_reset();
    REFUSE_TABLE(refuse_numbers);
    /* every refused number as an object member and inside a container too */
    buf b = BUF_INIT;
    char label[64];
    for (size_t i = 0; i < sizeof refuse_numbers / sizeof refuse_numbers[0]; i++) {
        const refusal *r = &refuse_numbers[i];
        if (r->s[0] != '[' || r->s[r->n - 1] != ']') continue;
        buf_reset(&b);
        buf_puts(&b, "{\"ok\":[1,2.5],\"n\":");
        buf_append(&b, r->s + 1, r->n - 2);
        buf_puts(&b, ",\"after\":true}");
        snprintf(label, sizeof label, "refuse_numbers[%zu] as a member", i);
        refuses_buf(&b, JC_ANY, label);
    }
    buf_free(&b);
    tally_check();
}

static void scan_refuses_strings(void **state) {
    (void)state;
    tally_reset();
    REFUSE_TABLE(refuse_strings);
    tally_check();
}

static void scan_refuses_duplicate_keys(void **state) {
    (void)state;
    tally_reset();
    REFUSE_TABLE(refuse_duplicates);
    /* a duplicate far apart, at the member limit */
    buf b = BUF_INIT;
    members(&b, 256, "k0");
    refuses_buf(&b, JC_YES, "256 members, the last repeating the first key");
    buf_reset(&b);
    members(&b, 200, "k198");
    refuses_buf(&b, JC_YES, "200 members, the last two equal");
    buf_free(&b);
    tally_check();
}

/* Every raw byte below 0x20 in strings and keys; every byte after a backslash but the eight
 * escapes and u; every byte but the four whitespace bytes around and between tokens. */
static void scan_refuses_every_bad_byte(void **state) {
    (void)state;
    tally_reset();
    buf b = BUF_INIT;
    char label[64];
    for (int c = 0; c < 0x20; c++) {
        buf_reset(&b);
        buf_printf(&b, "[\"a%cz\"]", 'X');
        b.data[3] = (char)c;
        snprintf(label, sizeof label, "raw 0x%02x in a string", c);
        refuses_buf(&b, c ? JC_YES : JC_NO, label);
        buf_reset(&b);
        buf_printf(&b, "{\"%c\":0}", 'X');
        b.data[2] = (char)c;
        snprintf(label, sizeof label, "raw 0x%02x in a key", c);
        refuses_buf(&b, c ? JC_YES : JC_NO, label);
    }
    for (int c = 0; c < 0x100; c++) {
        if (strchr("\"\\/bfnrtu", c) && c) continue;
        buf_reset(&b);
        buf_printf(&b, "[\"a\\%cz\"]", 'X');
        b.data[4] = (char)c;
        snprintf(label, sizeof label, "escape \\ then 0x%02x", c);
        refuses_buf(&b, JC_NO, label);
    }
    for (int c = 0; c < 0x100; c++) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        static const char *const forms[] = {"X{}",     "{}X",        "{\"a\":X[]}",
                                            "[1,X{}]", "{X\"a\":1}", "{\"a\"X:1}"};
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            buf_reset(&b);
            buf_puts(&b, forms[f]);
            *strchr(b.data, 'X') = (char)c;
            snprintf(label, sizeof label, "byte 0x%02x in %s", c, forms[f]);
            refuses_buf(&b, JC_ANY, label);
        }
    }
    buf_free(&b);
    tally_check();
}

/* Every lone surrogate, every pair json-c mangles. */
static void scan_refuses_every_bad_surrogate(void **state) {
    (void)state;
    tally_reset();
    buf b = BUF_INIT;
    char label[64];
    for (unsigned cu = 0xd800; cu <= 0xdfff; cu++) {
        buf_reset(&b);
        buf_printf(&b, "[\"\\u%04x\"]", cu);
        snprintf(label, sizeof label, "lone \\u%04X", cu);
        refuses_buf(&b, JC_YES, label);
    }
    for (unsigned hi = 0xdc00; hi <= 0xdfff; hi += 0x3f) {
        buf_reset(&b);
        buf_printf(&b, "[\"\\u%04X\\u%04X\"]", hi, 0xdbff - (hi - 0xdc00));
        snprintf(label, sizeof label, "reversed pair at \\u%04X", hi);
        refuses_buf(&b, JC_YES, label);
    }
    int mangled = 0;
    for (unsigned hi = 0xd800; hi <= 0xdbff; hi++) {
        if (!mangled_high(hi)) continue;
        for (unsigned lo = 0xdc00; lo <= 0xdfff; lo++, mangled++) {
            buf_reset(&b);
            buf_printf(&b, "[\"\\u%04X\\u%04X\"]", hi, lo);
            snprintf(label, sizeof label, "mangled pair \\u%04X\\u%04X", hi, lo);
            refuses_buf(&b, JC_YES, label);
        }
    }
    assert_int_equal(mangled, 32768);
    buf_free(&b);
    tally_check();
}

static void scan_refuses_over_limits(void **state) {
    (void)state;
    tally_reset();
    buf b = BUF_INIT;
    char label[64];
    for (const char *shape = "[{m"; *shape; shape++) {
        /* json-c's limit (64) counts a scalar as a level */
        static const int depths[] = {33, 34, 63, 64};
        for (size_t i = 0; i < 4; i++) {
            for (int leaf = 0; leaf < 2; leaf++) {
                buf_reset(&b);
                nest(&b, depths[i], *shape, leaf ? "1" : NULL);
                snprintf(label, sizeof label, "depth %d shape %c%s", depths[i], *shape,
                         leaf ? " with a leaf" : "");
                refuses_buf(&b, depths[i] == 64 && leaf ? JC_NO : JC_YES, label);
            }
        }
        buf_reset(&b);
        nest(&b, 65, *shape, NULL);
        refuses_buf(&b, JC_NO, "depth 65 (over json-c's limit too)");
        buf_reset(&b);
        nest(&b, 1000, *shape, NULL);
        refuses_buf(&b, JC_NO, "depth 1000");
    }
    /* depth 33 reached on a later sibling only */
    buf_reset(&b);
    buf_putc(&b, '[');
    nest(&b, 31, 'm', "1");
    buf_putc(&b, ',');
    nest(&b, 32, '{', NULL);
    buf_putc(&b, ']');
    refuses_buf(&b, JC_YES, "depth 33 in the second element");
    /* 257 members and more, at the top or nested */
    static const int counts[] = {257, 258, 300, 1000};
    for (size_t i = 0; i < 4; i++) {
        buf_reset(&b);
        members(&b, counts[i], NULL);
        snprintf(label, sizeof label, "%d members", counts[i]);
        refuses_buf(&b, JC_YES, label);
    }
    buf_reset(&b);
    buf_puts(&b, "[1,{\"a\":");
    members(&b, 257, NULL);
    buf_puts(&b, "}]");
    refuses_buf(&b, JC_YES, "257 members nested");
    /* 257 members in an object that holds a full one */
    buf_reset(&b);
    buf_putc(&b, '{');
    for (int i = 0; i < 257; i++) {
        buf_printf(&b, "%s\"k%d\":", i ? "," : "", i);
        if (i == 3)
            members(&b, 256, NULL);
        else
            buf_puts(&b, "0");
    }
    buf_putc(&b, '}');
    refuses_buf(&b, JC_YES, "257 members around a full object");
    buf_free(&b);
    tally_check();
}

/* Every cut of a document that ends with its value: each prefix (what a short read gives) and
 * each suffix that lost more than leading whitespace; with a stride, only every stride-th cut
 * away from both ends. */
static void refuse_cuts(const char *s, size_t n, size_t stride, const char *name) {
    char label[96];
    bool lost_value = false; /* s[0, cut) holds more than whitespace */
    for (size_t cut = 0; cut < n; cut++) {
        if (cut) lost_value = lost_value || !strchr(" \t\n\r", s[cut - 1]);
        if (stride > 1 && cut > 512 && cut + 512 < n && cut % stride) continue;
        snprintf(label, sizeof label, "%s cut to its first %zu bytes", name, cut);
        refuses(s, cut, JC_NO, label);
        if (!lost_value) continue;
        snprintf(label, sizeof label, "%s without its first %zu bytes", name, cut);
        refuses(s + cut, n - cut, JC_NO, label);
    }
}

static void scan_refuses_every_truncation(void **state) {
    (void)state;
    tally_reset();
    static const char doc[] =
        " \r\n{\"model\" : \"m\",\t\"n\":[0,-1,2.5e-3,1E+2,-0.0,123456789012345678,true,false,"
        "null],\n  \"s\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\ude00 \xc3\xa9\xff\",\n"
        "  \"o\":{\"\":[],\"k\":{},\"e\":\"\"}, \"deep\":[[[{\"x\":[1.5,{\"y\":null}]}]]],"
        "\"t\":\"\\u0041\"}";
    takes(false, doc, sizeof doc - 1, "the document to cut"); /* whole, it is valid */
    refuse_cuts(doc, sizeof doc - 1, 1, "doc");
    size_t n;
    char *s = read_file("openai-chat-small.json", &n);
    refuse_cuts(s, n, 1, "openai-chat-small.json");
    free(s);
    s = read_file("anthropic-claude-code-60k.json", &n);
    refuse_cuts(s, n, 61, "anthropic-claude-code-60k.json");
    free(s);
    tally_check();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_refuses_grammar),
        cmocka_unit_test(scan_refuses_numbers),
        cmocka_unit_test(scan_refuses_strings),
        cmocka_unit_test(scan_refuses_duplicate_keys),
        cmocka_unit_test(scan_refuses_every_bad_byte),
        cmocka_unit_test(scan_refuses_every_bad_surrogate),
        cmocka_unit_test(scan_refuses_over_limits),
        cmocka_unit_test(scan_refuses_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
