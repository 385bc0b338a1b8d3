/* Word-at-a-time byte tests ("SIMD within a register"): the text scanners of a request (JSON
 * escaping, canonical whitespace, token estimate) look at 8 bytes per step and fall back to one
 * byte at a time only in the words that hold something interesting.
 *
 * The two block kernels below (16 bytes per step) copy a block while finding the first byte that
 * needs a look; each has an SSE2 form (x86-64 always has SSE2) and a portable SWAR form. Both
 * forms are always compiled so the unit tests hold them to the same byte-wise definition. */
#ifndef LGW_UTIL_SWAR_H
#define LGW_UTIL_SWAR_H
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && !defined(LGW_NO_SIMD)
#include <emmintrin.h>
#define SWAR_HAVE_SSE2 1
#endif

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

/* JSON escaping: non-zero iff a byte of x is a control character, '"', '\\' or non-ASCII, and
 * the lowest flagged byte is the first such byte. Each subtraction can flag a byte falsely only
 * above a true one of its own (borrows run upwards), and a byte ≥ 0x80 is always a true one, so
 * the union's lowest flag is exact: 9 operations instead of three exact masks' 17. */
static inline uint64_t swar_json_look(uint64_t x) {
    return ((x - SWAR_ONES * 0x20) | ((x ^ (SWAR_ONES * '"')) - SWAR_ONES) |
            ((x ^ (SWAR_ONES * '\\')) - SWAR_ONES) | x) &
           SWAR_HIGH;
}

/* Copies the 16 bytes at p to o and returns how many of them lead up to the first byte JSON
 * escaping must look at (16: none). */
static inline unsigned swar_json_clean16_swar(const unsigned char *p, char *o) {
    uint64_t a = swar_load(p), b = swar_load(p + 8);
    memcpy(o, &a, 8);
    memcpy(o + 8, &b, 8);
    uint64_t m = swar_json_look(a);
    if (m) return swar_first(m);
    m = swar_json_look(b);
    return m ? 8 + swar_first(m) : 16;
}

/* Canonical whitespace: copies the 16 bytes at p to o and returns how many lead up to the first
 * byte that normalising must look at: a control character (whitespace \t..\r included) or a
 * space right after a space (or first, when `space_before`). */
static inline unsigned swar_norm_clean16_swar(const unsigned char *p, char *o, bool space_before) {
    uint64_t a = swar_load(p), b = swar_load(p + 8);
    memcpy(o, &a, 8);
    memcpy(o + 8, &b, 8);
    uint64_t sa = swar_eq_mask(a, ' ');
    uint64_t m = swar_any_below(a, 0x20) | (sa & ((sa << 8) | (space_before ? 0x80u : 0u)));
    if (m) return swar_first(m);
    uint64_t sb = swar_eq_mask(b, ' ');
    m = swar_any_below(b, 0x20) | (sb & ((sb << 8) | (sa >> 63 << 7)));
    return m ? 8 + swar_first(m) : 16;
}

/* Reading a JSON string: how many of the 16 bytes at p lead up to the first '"', '\\' or control
 * character (16: none). Bytes ≥ 0x80 are plain here: they pass through a parse unchanged. */
static inline unsigned swar_str_end16_swar(const unsigned char *p) {
    uint64_t a = swar_load(p), b = swar_load(p + 8);
    uint64_t m = swar_any_below(a, 0x20) | swar_eq_mask(a, '"') | swar_eq_mask(a, '\\');
    if (m) return swar_first(m);
    m = swar_any_below(b, 0x20) | swar_eq_mask(b, '"') | swar_eq_mask(b, '\\');
    return m ? 8 + swar_first(m) : 16;
}

#ifdef SWAR_HAVE_SSE2
static inline unsigned swar_str_end16_sse2(const unsigned char *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x),
                             _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    return bits ? (unsigned)__builtin_ctz(bits) : 16;
}

static inline unsigned swar_json_clean16_sse2(const unsigned char *p, char *o) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)o, x);
    /* signed x < 0x20: the control characters and every byte ≥ 0x80 */
    __m128i m = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                             _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    return bits ? (unsigned)__builtin_ctz(bits) : 16;
}

static inline unsigned swar_norm_clean16_sse2(const unsigned char *p, char *o, bool space_before) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)o, x);
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x); /* x ≤ 0x1F */
    unsigned sp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')));
    unsigned bits = (unsigned)_mm_movemask_epi8(ctl) | (sp & ((sp << 1) | (unsigned)space_before));
    return bits ? (unsigned)__builtin_ctz(bits) : 16;
}
#define swar_json_clean16 swar_json_clean16_sse2
#define swar_norm_clean16 swar_norm_clean16_sse2
#define swar_str_end16    swar_str_end16_sse2
#else
#define swar_json_clean16 swar_json_clean16_swar
#define swar_norm_clean16 swar_norm_clean16_swar
#define swar_str_end16    swar_str_end16_swar
#endif
#endif
