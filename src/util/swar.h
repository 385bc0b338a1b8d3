/* Word-at-a-time byte tests ("SIMD within a register"): the text scanners of a request (JSON
 * escaping, canonical whitespace, token estimate) look at 8 bytes per step and fall back to one
 * byte at a time only in the words that hold something interesting. */
#ifndef LGW_UTIL_SWAR_H
#define LGW_UTIL_SWAR_H
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "swar.h assumes a little-endian target (byte i of a word is bits 8i..8i+7)"
#endif

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull
#define SWAR_LOW7 0x7F7F7F7F7F7F7F7Full

/* The 8 bytes at p as one word: byte i of the text is bits 8i..8i+7. */
static inline uint64_t swar_load(const unsigned char *p) {
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Non-zero iff some byte of x is below n (n ≤ 128). The lowest flagged byte is always a true
 * one (a borrow can only flag bytes above it), so swar_first() of the result is exact. */
static inline uint64_t swar_any_below(uint64_t x, unsigned char n) {
    return (x - SWAR_ONES * n) & ~x & SWAR_HIGH;
}

/* The high bit of exactly those bytes of x that equal c. */
static inline uint64_t swar_eq_mask(uint64_t x, unsigned char c) {
    uint64_t v = x ^ (SWAR_ONES * c);
    return ~(((v & SWAR_LOW7) + SWAR_LOW7) | v | SWAR_LOW7);
}

/* Index of the first flagged byte of a non-zero mask. */
static inline unsigned swar_first(uint64_t mask) { return (unsigned)__builtin_ctzll(mask) / 8; }
#endif
