/* Random identifiers (request ids, message ids, upstream request/session ids). */
#ifndef LGW_UTIL_IDS_H
#define LGW_UTIL_IDS_H
#include <stddef.h>

/* Fills out with `nbytes` random bytes as lowercase hex (out needs 2*nbytes+1). */
void ids_hex(char *out, size_t nbytes);
/* RFC 4122 version-4 UUID, 36 chars + NUL. */
void ids_uuid4(char out[37]);
/* prefix + base62 random, total length < cap. E.g. ids_prefixed(buf, 40, "msg_", 24). */
void ids_prefixed(char *out, size_t cap, const char *prefix, size_t nchars);
#endif
