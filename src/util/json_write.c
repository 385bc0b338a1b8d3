#include "util/json_write.h"
#include "util/swar.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HEX[] = "0123456789abcdef";

/* Length of a valid UTF-8 sequence starting at s (n bytes available), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
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

/* Non-zero iff a byte of x needs a look: a control character, '"', '\\' or a non-ASCII byte. */
static inline uint64_t needs_look(uint64_t x) {
    return swar_any_below(x, 0x20) | swar_eq_mask(x, '"') | swar_eq_mask(x, '\\') | (x & SWAR_HIGH);
}

static void put_escape(buf *b, unsigned char c) {
    switch (c) {
    case '"': buf_append(b, "\\\"", 2); break;
    case '\\': buf_append(b, "\\\\", 2); break;
    case '\n': buf_append(b, "\\n", 2); break;
    case '\r': buf_append(b, "\\r", 2); break;
    case '\t': buf_append(b, "\\t", 2); break;
    case '\b': buf_append(b, "\\b", 2); break;
    case '\f': buf_append(b, "\\f", 2); break;
    default:
        if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
            buf_append(b, u, 6);
        } else {
            buf_append(b, "\\ufffd", 6); /* invalid UTF-8 byte */
        }
    }
}

/* Bytes that go out verbatim are copied as runs; the scan steps 8 bytes at a time over ASCII
 * text that needs no escape (a byte-at-a-time loop was the body build's largest cost). */
void json_put_escaped(buf *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    size_t run = 0; /* start of the current run of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t m = needs_look(swar_load(p + i));
            if (!m) {
                i += 8;
                continue;
            }
            i += swar_first(m);
        }
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { /* only in the last 7 bytes */
            i++;
            continue;
        }
        if (c >= 0x80) { /* stay here through a run of non-ASCII text (CJK, emoji) */
            size_t l;
            while (i < n && p[i] >= 0x80 && (l = utf8_seq_len(p + i, n - i)) != 0)
                i += l;
            if (i == n || p[i] < 0x80) continue;
            c = p[i];
        }
        buf_append(b, s + run, i - run);
        put_escape(b, c);
        i++;
        run = i;
    }
    buf_append(b, s + run, n - run);
}

void json_put_strn(buf *b, const char *s, size_t n) {
    buf_putc(b, '"');
    json_put_escaped(b, s, n);
    buf_putc(b, '"');
}

void json_put_str(buf *b, const char *s) {
    if (!s) {
        buf_append(b, "null", 4);
        return;
    }
    json_put_strn(b, s, strlen(s));
}

void json_put_key(buf *b, const char *key) {
    json_put_str(b, key);
    buf_putc(b, ':');
}

void json_put_bool(buf *b, bool v) { buf_puts(b, v ? "true" : "false"); }

void json_put_double(buf *b, double v) {
    if (!isfinite(v)) {
        buf_append(b, "null", 4);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    /* Prefer the shortest representation that round-trips. */
    for (int prec = 1; prec <= 17; prec++) {
        char t2[32];
        int m = snprintf(t2, sizeof t2, "%.*g", prec, v);
        if (strtod(t2, NULL) == v) {
            memcpy(tmp, t2, (size_t)m + 1);
            n = m;
            break;
        }
    }
    buf_append(b, tmp, (size_t)n);
}
