/* TLS client sessions over caller-owned memory, for the upstream HTTP client (no I/O here).
 *
 * The SSL object reads ciphertext from a window the caller sets over the bytes it just
 * received (nothing is copied in; a partial record stays in OpenSSL's own buffer) and writes
 * ciphertext straight into a caller's buf, which the caller hands to the socket. So a session
 * holds no per-connection I/O buffer of its own, unlike a pair of BIO_s_mem, which keeps its
 * high-water mark. Records buffers are released while empty (SSL_MODE_RELEASE_BUFFERS).
 *
 * Every call returns at once: TLS_AGAIN means "needs more input from the network". */
#ifndef LGW_UPSTREAM_TLS_STREAM_H
#define LGW_UPSTREAM_TLS_STREAM_H
#include "util/buf.h"
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { TLS_OK, TLS_AGAIN, TLS_CLOSED, TLS_FAIL } tls_status;

/* One per http_client: TLS 1.2+, peer verification against ca_file (NULL = the system's
 * default paths) unless insecure. NULL on failure, with a reason in err. */
SSL_CTX *tls_ctx_new(const char *ca_file, bool insecure, char *err, size_t err_cap);

/* A client session for host (SNI unless host is an IP literal; certificate name or IP checked
 * when the context verifies), ALPN "http/1.1". NULL on failure. Free with tls_stream_free. */
SSL *tls_stream_new(SSL_CTX *ctx, const char *host, bool verify);
void tls_stream_free(SSL *ssl);

/* The ciphertext OpenSSL reads next: valid until replaced; set it to NULL, 0 before the bytes
 * go away. Output of the calls below is appended to `out`. */
void tls_stream_set_input(SSL *ssl, const char *data, size_t len);
/* Input bytes not read yet by OpenSSL (0 once it wants more). */
size_t tls_stream_input_left(SSL *ssl);

tls_status tls_stream_handshake(SSL *ssl, buf *out);
/* Decrypts into dst: TLS_OK with *n > 0, TLS_AGAIN (no complete record), TLS_CLOSED
 * (close_notify) or TLS_FAIL. */
tls_status tls_stream_read(SSL *ssl, char *dst, size_t cap, size_t *n, buf *out);
/* Encrypts all of data into out (after the handshake). TLS_OK or TLS_FAIL. */
tls_status tls_stream_write(SSL *ssl, const void *data, size_t len, buf *out);

/* Why the last call failed, for a result message: certificate verification or the OpenSSL
 * error queue (which this clears). */
void tls_stream_error(SSL *ssl, char *msg, size_t cap);
#endif
