/* The SSE decoder's fast path: bounded hand-written readers for the two shapes nearly every
 * Lingma data line has — the success envelope {"headers":{},"body":"<chunk>",
 * "statusCodeValue":200,…} and, inside it, the OpenAI chat.completion.chunk — so the common
 * event is decoded without a json-c tree (DESIGN §4).
 *
 * Both readers accept only text that json-c (strict, as the decoder configures it) accepts with
 * the same meaning, and return false for anything else — other shapes, unknown or repeated keys,
 * escaped keys, numbers that are not small non-negative integers, lone surrogates, \u0000,
 * control characters, whitespace other than space and tab — so that the decoder reads those
 * with json-c. tests/fuzz/fuzz_sse_fast_path.c checks the equivalence. */
#ifndef LGW_UPSTREAM_SSE_FAST_H
#define LGW_UPSTREAM_SSE_FAST_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_FAST_MAX_TOOLS 4 /* tool-call fragments in one delta (Lingma sends one) */

/* A string value: p NULL when the key is absent or null. */
typedef struct sse_fast_str {
    char *p;
    size_t n;
    bool escaped; /* internal: unescaped in place once the whole chunk is read */
} sse_fast_str;

typedef struct sse_fast_tool {
    int64_t index; /* -1 when absent or null */
    sse_fast_str id, name, args;
} sse_fast_tool;

/* Token counts, each with whether it was given (prompt/input, completion/output, cached). */
typedef struct sse_fast_usage {
    bool has_input, has_output, has_cached;
    int64_t input, output, cached;
} sse_fast_usage;

typedef struct sse_fast_chunk {
    bool choice; /* choices held exactly one choice (else none: [], null or absent) */
    sse_fast_str reasoning, content, tool_call_id, finish_reason;
    size_t n_tools; /* delta.tool_calls[] items */
    sse_fast_tool tools[SSE_FAST_MAX_TOOLS];
    sse_fast_usage usage;
} sse_fast_chunk;

/* Reads a success envelope: its body unescaped into body (reset first) and its statusCodeValue
 * (200 if absent, always below 400). */
bool sse_fast_envelope(const char *s, size_t n, buf *body, int64_t *status);

/* Reads an inner chunk. On success every string of c points into s, unescaped and
 * NUL-terminated in place (s is modified); on failure s is unchanged. */
bool sse_fast_chunk_read(sse_fast_chunk *c, char *s, size_t n);
#endif
