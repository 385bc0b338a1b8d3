/* json_write: the word-at-a-time string escaper against a byte-at-a-time reference.
 *
 * The reference below is the escaper as it was before the fast path: every byte value, invalid
 * and truncated UTF-8, control characters, U+2028/2029 (sent raw: JSON allows them) and long
 * mixed strings at every alignment must come out byte-identical. */
#include "util/json_write.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "random_text.h"

static size_t ref_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static void ref_escape(buf *b, const unsigned char *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t l = c >= 0x80 ? ref_seq_len(p + i, n - i) : 0;
        if (l) {
            buf_append(b, p + i, l);
            i += l;
            continue;
        }
        i++;
        switch (c) {
        case '"': buf_puts(b, "\\\""); continue;
        case '\\': buf_puts(b, "\\\\"); continue;
        case '\n': buf_puts(b, "\\n"); continue;
        case '\r': buf_puts(b, "\\r"); continue;
        case '\t': buf_puts(b, "\\t"); continue;
        case '\b': buf_puts(b, "\\b"); continue;
        case '\f': buf_puts(b, "\\f"); continue;
        default: break;
        }
        if (c < 0x20) {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(b, u);
        } else if (c >= 0x80) {
            buf_puts(b, "\\ufffd");
        } else {
            buf_putc(b, (char)c);
        }
    }
}

static void check_same(const unsigned char *p, size_t n) {
    buf want = BUF_INIT, got = BUF_INIT;
    buf_putc(&want, 'x'); /* both start mid-buffer, as in a body */
    buf_putc(&got, 'x');
    ref_escape(&want, p, n);
    json_put_escaped(&got, (const char *)p, n);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    assert_int_equal(got.data[got.len], '\0');
    buf_free(&want);
    buf_free(&got);
}

static void every_byte_value(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        unsigned char s[20];
        memset(s, 'a', sizeof s);
        for (size_t at = 0; at < sizeof s; at++) { /* at every position of a word and the tail */
            s[at] = (unsigned char)c;
            check_same(s, sizeof s);
            check_same(s, at + 1);
            s[at] = 'a';
        }
    }
}

static void fixed_expectations(void **state) {
    (void)state;
    buf b = BUF_INIT;
    json_put_strn(&b, "a\"b\\c\n\x01\x7f/\xe2\x80\xa8\xe2\x80\xa9\xff", 16);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\x7f/\xe2\x80\xa8\xe2\x80\xa9\\ufffd\"");
    buf_free(&b);
}

static void invalid_and_truncated_utf8(void **state) {
    (void)state;
    static const char *const cases[] = {
        "\xc0\x80",             /* overlong NUL */
        "\xe0\x80\x80",         /* overlong 3-byte */
        "\xed\xa0\x80",         /* surrogate */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\x80\xbf",             /* lone continuations */
        "abcdefg\xe4\xb8",      /* truncated at the end */
        "abcdefgh\xf0\x9f\x98", /* truncated after a full word */
        "\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80 mixed \xc3\xa9t\xc3\xa9", /* valid */
        "\xe4\xb8\xad\xe6\x96\x87\xff\xe6\x96\x87\"\xe6\x96\x87",           /* bad inside a run */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_same((const unsigned char *)cases[i], strlen(cases[i]));
}

/* Random text from pieces that exercise every branch: plain words, escapes, control bytes,
 * valid multi-byte characters, broken ones. */
static size_t random_text(unsigned char *out, size_t cap, uint32_t *seed) {
    static const char *const pieces[] = {
        "lorem ",
        "ipsum dolor sit amet ",
        "x",
        "\"",
        "\\",
        "\n",
        "\t",
        "\r\n",
        "\x01",
        "\x1f",
        "\x7f",
        "\xc3\xa9",
        "\xe4\xb8\xad",
        "\xf0\x9f\x98\x80",
        "\xe2\x80\xa8",
        "\xff",
        "\x80",
        "\xc3",
        "\xed\xa0\x80",
        "{\"k\":[1,2]}",
    };
    return random_pieces(out, cap, seed, pieces, sizeof pieces / sizeof *pieces);
}

static void random_strings_match_reference(void **state) {
    (void)state;
    static unsigned char text[72 * 1024];
    uint32_t seed = 0x9e3779b9u;
    for (int round = 0; round < 2000; round++) {
        size_t n = random_text(text, 1 + next_rand(&seed) % 300, &seed);
        for (size_t off = 0; off < 8 && off <= n; off++) /* every alignment */
            check_same(text + off, n - off);
    }
    size_t n = random_text(text, sizeof text, &seed); /* a 60 KB-sized string */
    check_same(text, n);
}

static void long_plain_ascii(void **state) {
    (void)state;
    static unsigned char text[70000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (unsigned char)(' ' + i % 95 == '"' || ' ' + i % 95 == '\\' ? 'q' : ' ' + i % 95);
    check_same(text, sizeof text);
    text[sizeof text - 1] = '"'; /* the only escape is the last byte */
    check_same(text, sizeof text);
}

/* Every lead byte with every second byte, third and fourth bytes at the edges of the
 * continuation range, at every length: the well-formedness check against the reference's. */
static void every_utf8_sequence(void **state) {
    (void)state;
    static const unsigned char edge[] = {0x41, 0x7f, 0x80, 0x8f, 0x90,
                                         0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    buf want = BUF_INIT, got = BUF_INIT;
    unsigned char s[4];
    for (int c = 0x80; c < 0x100; c++)
        for (int c1 = 0; c1 < 0x100; c1++)
            for (size_t e2 = 0; e2 < sizeof edge; e2++)
                for (size_t e3 = 0; e3 < sizeof edge; e3 += (c >= 0xf0 ? 1 : sizeof edge)) {
                    s[0] = (unsigned char)c, s[1] = (unsigned char)c1, s[2] = edge[e2],
                    s[3] = edge[e3];
                    for (size_t n = 2; n <= 4; n++) {
                        buf_reset(&want);
                        buf_reset(&got);
                        ref_escape(&want, s, n);
                        json_put_escaped(&got, (const char *)s, n);
                        assert_int_equal(got.len, want.len);
                        assert_memory_equal(got.data, want.data, want.len);
                    }
                }
    buf_free(&want);
    buf_free(&got);
}

/* Output six times the input (every byte a \u00XX escape), into buffers of every small start
 * size: the escaper's room check and regrowth. Then long CJK, and CJK with a broken byte. */
static void escape_heavy_and_cjk(void **state) {
    (void)state;
    static unsigned char text[30000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (unsigned char)(i % 0x20);
    for (size_t n = 0; n < 80; n++)
        check_same(text, n);
    check_same(text, sizeof text);
    buf b = BUF_INIT, want = BUF_INIT;
    for (size_t pre = 0; pre < 200; pre++) { /* a buffer already part full */
        buf_reset(&b);
        buf_reset(&want);
        for (size_t k = 0; k < pre; k++)
            buf_putc(&b, 'p'), buf_putc(&want, 'p');
        json_put_strn(&b, (const char *)text, 100 + pre);
        buf_putc(&want, '"');
        ref_escape(&want, text, 100 + pre);
        buf_putc(&want, '"');
        assert_int_equal(b.len, want.len);
        assert_memory_equal(b.data, want.data, want.len);
    }
    buf_free(&want);
    buf_free(&b);
    for (size_t i = 0; i + 3 <= sizeof text; i += 3)
        text[i] = 0xe4, text[i + 1] = 0xb8, text[i + 2] = 0xad;
    check_same(text, sizeof text / 3 * 3);
    for (size_t off = 0; off < 20; off++)
        check_same(text + off, 1000 + off);
    text[1501] = 0xff;
    text[2000] = '"';
    check_same(text, sizeof text / 3 * 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_byte_value),
        cmocka_unit_test(fixed_expectations),
        cmocka_unit_test(invalid_and_truncated_utf8),
        cmocka_unit_test(random_strings_match_reference),
        cmocka_unit_test(long_plain_ascii),
        cmocka_unit_test(every_utf8_sequence),
        cmocka_unit_test(escape_heavy_and_cjk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
