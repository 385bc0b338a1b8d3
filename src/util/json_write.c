#include "util/json_write.h"
#include "util/swar.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a valid UTF-8 sequence starting at s (n bytes available), or 0 if invalid:
 * the well-formed sequences of Unicode's table 3-7 (no overlongs, surrogates or > U+10FFFF). */
static inline size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0xC2) return 0; /* continuation byte, or C0/C1 (overlong) */
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)) return 0;
        return 3;
    }
    if (c > 0xF4 || n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
        (s[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)) return 0;
    return 4;
}

/* The escape of each byte that needs one (its length first); 0 for bytes sent as they are. */
static const char ESCAPES[256][8] = {
    ['"'] = "\2\\\"",     ['\\'] = "\2\\\\",    ['\n'] = "\2\\n",     ['\r'] = "\2\\r",
    ['\t'] = "\2\\t",     ['\b'] = "\2\\b",     ['\f'] = "\2\\f",     [0x00] = "\6\\u0000",
    [0x01] = "\6\\u0001", [0x02] = "\6\\u0002", [0x03] = "\6\\u0003", [0x04] = "\6\\u0004",
    [0x05] = "\6\\u0005", [0x06] = "\6\\u0006", [0x07] = "\6\\u0007", [0x0B] = "\6\\u000b",
    [0x0E] = "\6\\u000e", [0x0F] = "\6\\u000f", [0x10] = "\6\\u0010", [0x11] = "\6\\u0011",
    [0x12] = "\6\\u0012", [0x13] = "\6\\u0013", [0x14] = "\6\\u0014", [0x15] = "\6\\u0015",
    [0x16] = "\6\\u0016", [0x17] = "\6\\u0017", [0x18] = "\6\\u0018", [0x19] = "\6\\u0019",
    [0x1A] = "\6\\u001a", [0x1B] = "\6\\u001b", [0x1C] = "\6\\u001c", [0x1D] = "\6\\u001d",
    [0x1E] = "\6\\u001e", [0x1F] = "\6\\u001f",
};
static const char FFFD[8] = "\6\\ufffd"; /* an invalid UTF-8 byte */

/* Output room the escaper keeps ahead of itself: the input left, the 16 bytes a block store may
 * write past the bytes it keeps, the longest escape and the NUL. */
#define ESC_SLACK (16 + 6 + 1)

/* Bytes that go out verbatim are copied 16 at a time straight into the buffer, which is
 * reserved once for the input (escapes grow it only when they eat the slack); a run of
 * non-ASCII text is validated and copied whole. No call per piece: the body build's pieces are
 * ~100 bytes between newlines. */
static char *escape_into(buf *b, char *o, const unsigned char *p, size_t n) {
    size_t i = 0;
    for (;;) {
        while (n - i >= 16) {
            unsigned k = swar_json_clean16(p + i, o);
            o += k;
            i += k;
            if (k < 16) goto look;
        }
        while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
            *o++ = (char)p[i++];
        if (i == n) return o;
    look:;
        unsigned char c = p[i];
        if (c >= 0x80) { /* stay here through a run of non-ASCII text (CJK, emoji) */
            size_t start = i, l;
            while (i < n && p[i] >= 0x80 && (l = utf8_seq_len(p + i, n - i)) != 0)
                i += l;
            memcpy(o, p + start, i - start);
            o += i - start;
            if (i == n) return o;
            if (p[i] < 0x80) continue;
            c = p[i];
        }
        const char *e = c >= 0x80 ? FFFD : ESCAPES[c];
        /* keep the slack: room for the rest of the input after this escape's 6 bytes */
        size_t used = (size_t)(o - b->data);
        if (b->cap - used < (n - i) + ESC_SLACK) {
            b->len = used;
            buf_reserve(b, 2 * (n - i) + ESC_SLACK);
            o = b->data + used;
        }
        memcpy(o, e + 1, 6);
        o += (unsigned char)e[0];
        i++;
    }
}

void json_put_escaped(buf *b, const char *s, size_t n) {
    buf_reserve(b, n + ESC_SLACK);
    char *o = escape_into(b, b->data + b->len, (const unsigned char *)s, n);
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void json_put_strn(buf *b, const char *s, size_t n) {
    buf_reserve(b, n + ESC_SLACK + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    o = escape_into(b, o, (const unsigned char *)s, n);
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
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
