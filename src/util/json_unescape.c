#include "util/json_unescape.h"

static long hex4(const char *p) {
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            x = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | x;
    }
    return v;
}

static char *put_utf8(char *w, long cp) {
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

const char *json_unescape_one(const char *p, const char *end, char **w) {
    if (p == end) return NULL;
    char e;
    switch (*p++) {
    case '"': e = '"'; break;
    case '\\': e = '\\'; break;
    case '/': e = '/'; break;
    case 'b': e = '\b'; break;
    case 'f': e = '\f'; break;
    case 'n': e = '\n'; break;
    case 'r': e = '\r'; break;
    case 't': e = '\t'; break;
    case 'u': {
        if (end - p < 4) return NULL;
        long cp = hex4(p);
        p += 4;
        if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return NULL;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return NULL;
            long lo = hex4(p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            if ((cp & 0xF800) == 0xD800) return NULL;
        }
        if (w) *w = put_utf8(*w, cp);
        return p;
    }
    default: return NULL;
    }
    if (w) *(*w)++ = e;
    return p;
}
