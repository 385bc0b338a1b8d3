/* One JSON string escape, read the way json-c 0.16 reads it or refused: shared by the two readers
 * that take JSON without json-c (upstream/sse_fast.c, D33; util/json_tape_scan.c, D35), which hand
 * whatever this refuses to json-c. */
#ifndef LGW_UTIL_JSON_UNESCAPE_H
#define LGW_UTIL_JSON_UNESCAPE_H
#include <stddef.h>

/* p is just after the backslash. Appends the decoded bytes at *w when w is not NULL (at most 4,
 * never more than the escape's own length, so *w may trail p in the same memory) and returns the
 * position after the escape; NULL for an unknown or truncated escape, \u0000, a lone or reversed
 * surrogate, or a pair whose code point's low 16 bits fall in D800–DFFF (json-c 0.16 turns those
 * into U+FFFD). */
const char *json_unescape_one(const char *p, const char *end, char **w);
#endif
