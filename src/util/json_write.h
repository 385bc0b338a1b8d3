/* Streaming JSON emitter into a buf. Hot-path responses are written directly rather than
 * built as json-c trees (see DESIGN.md D5). Strings are escaped per RFC 8259; invalid UTF-8
 * is replaced by U+FFFD so the output is always valid JSON. */
#ifndef LGW_UTIL_JSON_WRITE_H
#define LGW_UTIL_JSON_WRITE_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends "..." with escaping. */
void json_put_str(buf *b, const char *s);
void json_put_strn(buf *b, const char *s, size_t n);
/* Appends the escaped body without the surrounding quotes. */
void json_put_escaped(buf *b, const char *s, size_t n);
/* Appends "key": */
void json_put_key(buf *b, const char *key);
void json_put_bool(buf *b, bool v);
void json_put_double(buf *b, double v);
#endif
