#include "upstream/tls_stream.h"
#include "util/xalloc.h"
#include <arpa/inet.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the window BIO: reads from the caller's input window, writes into the caller's buf ---- */

typedef struct tls_io {
    const char *in;
    size_t in_len;
    buf *out; /* set only during a tls_stream_* call */
} tls_io;

static BIO_METHOD *g_method;
static pthread_once_t g_method_once = PTHREAD_ONCE_INIT;

static int io_create(BIO *b) {
    BIO_set_data(b, xcalloc(1, sizeof(tls_io)));
    BIO_set_init(b, 1);
    return 1;
}

static int io_destroy(BIO *b) {
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static int io_read(BIO *b, char *dst, int cap) {
    tls_io *io = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (io->in_len == 0) {
        BIO_set_retry_read(b); /* more will come from the socket */
        return -1;
    }
    size_t n = io->in_len < (size_t)cap ? io->in_len : (size_t)cap;
    memcpy(dst, io->in, n);
    io->in += n;
    io->in_len -= n;
    return (int)n;
}

static int io_write(BIO *b, const char *src, int len) {
    tls_io *io = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!io->out || len < 0) return -1;
    buf_append(io->out, src, (size_t)len);
    return len;
}

static long io_ctrl(BIO *b, int cmd, long num, void *ptr) {
    tls_io *io = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return io->in_len > LONG_MAX ? LONG_MAX : (long)io->in_len;
    case BIO_CTRL_WPENDING: return 0;
    default: return 0;
    }
}

static void method_init(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lgw-window");
    if (!m) return;
    BIO_meth_set_create(m, io_create);
    BIO_meth_set_destroy(m, io_destroy);
    BIO_meth_set_read(m, io_read);
    BIO_meth_set_write(m, io_write);
    BIO_meth_set_ctrl(m, io_ctrl);
    g_method = m; /* lives for the process: OpenSSL has no owner to hand it back to */
}

static tls_io *io_of(SSL *ssl) { return BIO_get_data(SSL_get_rbio(ssl)); }

/* ---- context and sessions ---- */

static void queue_error(char *msg, size_t cap, const char *what) {
    unsigned long e = ERR_get_error();
    char detail[200] = "";
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    ERR_clear_error();
    snprintf(msg, cap, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

SSL_CTX *tls_ctx_new(const char *ca_file, bool insecure, char *err, size_t err_cap) {
    pthread_once(&g_method_once, method_init);
    ERR_clear_error();
    SSL_CTX *ctx = g_method ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (!ctx) {
        queue_error(err, err_cap, "cannot create the TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        queue_error(err, err_cap, ca_file ? "cannot load the CA file" : "no default CA paths");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool is_ip_literal(const char *host) {
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *tls_stream_new(SSL_CTX *ctx, const char *host, bool verify) {
    SSL *ssl = SSL_new(ctx);
    BIO *b = ssl ? BIO_new(g_method) : NULL;
    if (!b) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_bio(ssl, b, b); /* one BIO both ways; SSL owns it */
    SSL_set_connect_state(ssl);
    static const unsigned char alpn[] = "\x08http/1.1";
    bool bad = SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1) != 0; /* 0 = success here */
    bool ip = is_ip_literal(host);
    if (!ip) bad |= SSL_set_tlsext_host_name(ssl, host) != 1; /* SNI never carries an IP */
    if (verify) {
        if (ip) {
            bad |= X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            bad |= SSL_set1_host(ssl, host) != 1;
        }
    }
    if (bad) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

void tls_stream_free(SSL *ssl) { SSL_free(ssl); }

void tls_stream_set_input(SSL *ssl, const char *data, size_t len) {
    tls_io *io = io_of(ssl);
    io->in = data;
    io->in_len = len;
}

size_t tls_stream_input_left(SSL *ssl) { return io_of(ssl)->in_len; }

/* Maps an SSL_* return into a status; `out` collected what OpenSSL wrote meanwhile. */
static tls_status status_of(SSL *ssl, int rc) {
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_NONE: return TLS_OK;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return TLS_AGAIN;
    case SSL_ERROR_ZERO_RETURN: return TLS_CLOSED;
    default: return TLS_FAIL;
    }
}

tls_status tls_stream_handshake(SSL *ssl, buf *out) {
    tls_io *io = io_of(ssl);
    io->out = out;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    tls_status st = rc == 1 ? TLS_OK : status_of(ssl, rc);
    io->out = NULL;
    return st == TLS_CLOSED ? TLS_FAIL : st;
}

tls_status tls_stream_read(SSL *ssl, char *dst, size_t cap, size_t *n, buf *out) {
    tls_io *io = io_of(ssl);
    io->out = out; /* a read may answer (key update, alerts) */
    ERR_clear_error();
    size_t got = 0;
    int rc = SSL_read_ex(ssl, dst, cap, &got);
    tls_status st = rc == 1 ? TLS_OK : status_of(ssl, rc);
    io->out = NULL;
    *n = got;
    return st;
}

tls_status tls_stream_write(SSL *ssl, const void *data, size_t len, buf *out) {
    tls_io *io = io_of(ssl);
    io->out = out;
    ERR_clear_error();
    size_t done = 0;
    int rc = len ? SSL_write_ex(ssl, data, len, &done) : 1;
    io->out = NULL;
    return rc == 1 && done == len ? TLS_OK : TLS_FAIL;
}

void tls_stream_error(SSL *ssl, char *msg, size_t cap) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(msg, cap, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        return;
    }
    queue_error(msg, cap, "TLS error");
}
