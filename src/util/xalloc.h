/* Allocation that aborts on failure: out-of-memory is not a recoverable state for a gateway. */
#ifndef LGW_UTIL_XALLOC_H
#define LGW_UTIL_XALLOC_H
#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
#endif
