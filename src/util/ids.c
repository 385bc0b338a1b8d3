#include "util/ids.h"
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Ids are drawn from a pool refilled 4 KB at a time: one RAND_bytes call costs about as much
 * as generating the 4 KB, and a request mints half a dozen ids. The pool is per thread. */
#define RANDOM_POOL 4096
static _Thread_local unsigned char pool[RANDOM_POOL];
static _Thread_local size_t pool_left;

static void random_bytes(unsigned char *p, size_t n) {
    while (n) {
        if (!pool_left) {
            if (RAND_bytes(pool, RANDOM_POOL) != 1) abort(); /* no entropy: ids would collide */
            pool_left = RANDOM_POOL;
        }
        size_t k = n < pool_left ? n : pool_left;
        unsigned char *src = pool + (RANDOM_POOL - pool_left);
        memcpy(p, src, k);
        memset(src, 0, k); /* handed out once */
        pool_left -= k;
        p += k;
        n -= k;
    }
}

void ids_hex(char *out, size_t nbytes) {
    static const char hex[] = "0123456789abcdef";
    unsigned char tmp[64];
    while (nbytes) {
        size_t n = nbytes > sizeof tmp ? sizeof tmp : nbytes;
        random_bytes(tmp, n);
        for (size_t i = 0; i < n; i++) {
            *out++ = hex[tmp[i] >> 4];
            *out++ = hex[tmp[i] & 15];
        }
        nbytes -= n;
    }
    *out = '\0';
}

void ids_uuid4(char out[37]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char u[16];
    random_bytes(u, sizeof u);
    u[6] = (u[6] & 0x0F) | 0x40;
    u[8] = (u[8] & 0x3F) | 0x80;
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = '\0';
}

void ids_prefixed(char *out, size_t cap, const char *prefix, size_t nchars) {
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t pl = strlen(prefix);
    if (pl + nchars + 1 > cap) nchars = cap > pl + 1 ? cap - pl - 1 : 0;
    memcpy(out, prefix, pl < cap ? pl : cap - 1);
    unsigned char r[64];
    size_t i = 0;
    while (i < nchars) {
        random_bytes(r, sizeof r);
        for (size_t k = 0; k < sizeof r && i < nchars; k++) {
            if (r[k] >= 248) continue; /* 248 = 4*62: keep the distribution uniform */
            out[pl + i++] = b62[r[k] % 62];
        }
    }
    out[pl + nchars] = '\0';
}
