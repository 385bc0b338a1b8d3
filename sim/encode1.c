#include "encode1.h"
#include "util/xalloc.h"
#include <openssl/evp.h>
#include <string.h>

/* Custom alphabet: index i stands for the standard base64 character of index i; '$' is '='. */
static const char CUSTOM[] = "_doRTgHZBKcGVjlvpC,@aFSx#DPuNJme&i*MzLOEn)sUrthbf%Y^w.(kIQyXqWA!";
static const char STANDARD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Maps custom characters back to standard base64 in place; -1 on a foreign character. */
static int unmap(char *s, size_t n) {
    static char table[256];
    if (!table['$']) {
        for (size_t i = 0; i < 64; i++)
            table[(unsigned char)CUSTOM[i]] = STANDARD[i];
        table['$'] = '=';
    }
    for (size_t i = 0; i < n; i++) {
        char c = table[(unsigned char)s[i]];
        if (!c) return -1;
        s[i] = c;
    }
    return 0;
}

/* Standard padded base64 → bytes. */
static int b64_decode(const char *s, size_t n, buf *out) {
    if (n % 4 != 0 || n > (size_t)INT32_MAX) return -1;
    size_t pad = 0;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (s[i] == '=') return -1; /* padding only at the end */
    buf_reset(out);
    buf_reserve(out, n / 4 * 3 + 1);
    int w = EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)s, (int)n);
    if (w < 0 || (size_t)w < pad) return -1;
    out->len = (size_t)w - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    out->data[out->len] = '\0';
    return 0;
}

/* Variant Q: encoded = map(tail + middle + head) with both outer blocks of n/3 characters,
 * so the same rotation restores the original order. */
static int decode_q(char *m, size_t n, buf *out) {
    size_t a = n / 3;
    char *orig = xmalloc(n + 1);
    memcpy(orig, m + n - a, a);
    memcpy(orig + a, m + a, n - 2 * a);
    memcpy(orig + n - a, m, a);
    int rc = b64_decode(orig, n, out);
    free(orig);
    return rc;
}

/* LA variant: padding stripped to E characters, blocks b0 = E/3, b1 = 2*ceil(E/3) - E/3,
 * b2 = the rest; encoded = b2 + '$' x pad + b1 + b0. */
static int decode_la(char *m, size_t n, buf *out) {
    size_t pad = 0, e = 0;
    char *orig = xmalloc(n + 1);
    char *packed = xmalloc(n + 1);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '=')
            pad++;
        else
            packed[e++] = m[i];
    }
    size_t ceil3 = (e + 2) / 3, b0 = e / 3;
    if (pad > 2 || 2 * ceil3 > e) goto out;
    size_t b1 = 2 * ceil3 - b0, b2 = e - b0 - b1;
    memcpy(orig, packed + b2 + b1, b0);
    memcpy(orig + b0, packed + b2, b1);
    memcpy(orig + b0 + b1, packed, b2);
    memset(orig + e, '=', pad);
    rc = b64_decode(orig, e + pad, out);
out:
    free(orig);
    free(packed);
    return rc;
}

int sim_encode1_decode(sim_encode1_variant v, const char *in, size_t len, buf *out) {
    char *m = xmalloc(len + 1);
    memcpy(m, in, len);
    int rc = -1;
    if (unmap(m, len) < 0) goto out;
    rc = v == SIM_ENCODE1_Q ? decode_q(m, len, out) : decode_la(m, len, out);
out:
    free(m);
    return rc;
}
