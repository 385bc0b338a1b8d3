/* Growable byte buffer, always NUL-terminated. Owner calls buf_free. */
#ifndef LGW_UTIL_BUF_H
#define LGW_UTIL_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

#define BUF_INIT                                                                                   \
    { NULL, 0, 0 }

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b); /* len = 0, keeps capacity */
void buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *data, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_put_i64(buf *b, int64_t v);
void buf_put_u64(buf *b, uint64_t v);
/* Removes the first n bytes. */
void buf_consume(buf *b, size_t n);
/* Shrinks the storage to the contents: for a buffer built once and then kept a long time. */
void buf_fit(buf *b);
/* Hands the storage to the caller (who frees it) and resets b. */
char *buf_detach(buf *b, size_t *len);
#endif
