/* Encode=1 body de-obfuscation (spec §1.4): a custom base64 alphabet plus a block rotation.
 * Two layouts exist in the wild; the fake accepts both (variant Q first, then the LA variant). */
#ifndef LGW_SIM_ENCODE1_H
#define LGW_SIM_ENCODE1_H
#include "util/buf.h"
#include <stddef.h>

typedef enum { SIM_ENCODE1_Q, SIM_ENCODE1_LA } sim_encode1_variant;

/* Decodes `in` with one layout into out (reset first). Returns 0, or -1 when `in` is not a
 * well-formed encoding for that layout. */
int sim_encode1_decode(sim_encode1_variant v, const char *in, size_t len, buf *out);
#endif
