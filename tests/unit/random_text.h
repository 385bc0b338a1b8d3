/* Deterministic random text for the scanner tests (header-only: each test is one executable). */
#ifndef LGW_TEST_RANDOM_TEXT_H
#define LGW_TEST_RANDOM_TEXT_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* xorshift32: the same sequence on every run, so a failure names its seed. */
static inline uint32_t next_rand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Fills out with pieces drawn at random until the next one would pass cap; returns the length.
 * Pieces are copied without their terminators (they may hold any byte but NUL). */
static inline size_t random_pieces(unsigned char *out, size_t cap, uint32_t *seed,
                                   const char *const *pieces, size_t n_pieces) {
    size_t n = 0;
    for (;;) {
        const char *p = pieces[next_rand(seed) % n_pieces];
        size_t l = strlen(p);
        if (n + l > cap) return n;
        for (size_t k = 0; k < l; k++) /* binary text: no terminator wanted */
            out[n++] = (unsigned char)p[k];
    }
}
#endif
