/* http_client over https, against a small blocking OpenSSL server in a thread with a
 * self-signed certificate made here; the fixture comes from http_client_test_util.h. */
#include "http_client_test_util.h"
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- TLS: a blocking OpenSSL server in a thread, self-signed certificate made here ---- */

typedef struct tls_srv {
    pthread_t thread;
    int fd, port;
    SSL_CTX *ctx;
    char dir[64], cert_path[96];
    atomic_bool stop;
    atomic_int n_accepted, n_requests, n_handshake_failed;
} tls_srv;

/* A P-256 key and a self-signed certificate for IP 127.0.0.1 and DNS lgw-test.invalid. */
static void make_cert(EVP_PKEY **key, X509 **cert) {
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, *key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"lgw-test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:lgw-test.invalid");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
    *cert = x;
}

static void tls_serve(tls_srv *t, int cfd) {
    struct timeval tv = {.tv_sec = 2};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* never blocks for long */
    SSL *ssl = SSL_new(t->ctx);
    SSL_set_fd(ssl, cfd);
    if (SSL_accept(ssl) != 1) {
        t->n_handshake_failed++;
    } else {
        char in[8192];
        size_t have = 0;
        for (;;) { /* keep-alive: one answer per request head */
            int n = SSL_read(ssl, in + have, (int)(sizeof in - 1 - have));
            if (n <= 0) break;
            have += (size_t)n;
            in[have] = '\0';
            char *end = strstr(in, "\r\n\r\n");
            if (!end) continue;
            t->n_requests++;
            static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 6\r\n\r\nsecure";
            SSL_write(ssl, resp, (int)sizeof resp - 1);
            size_t used = (size_t)(end + 4 - in);
            memmove(in, in + used, have - used);
            have -= used;
        }
    }
    SSL_free(ssl);
    close(cfd);
}

static void *tls_srv_main(void *arg) {
    tls_srv *t = arg;
    while (!t->stop) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int cfd = accept(t->fd, NULL, NULL);
        if (cfd < 0) continue;
        t->n_accepted++;
        tls_serve(t, cfd);
    }
    return NULL;
}

static void tls_srv_start(tls_srv *t) {
    memset(t, 0, sizeof *t);
    EVP_PKEY *key;
    X509 *cert;
    make_cert(&key, &cert);
    snprintf(t->dir, sizeof t->dir, "/tmp/lgw-tls-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->cert_path, sizeof t->cert_path, "%s/cert.pem", t->dir);
    FILE *fp = fopen(t->cert_path, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, cert);
    fclose(fp);
    t->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(t->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(t->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(t->fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(t->fd, (struct sockaddr *)&a, &len);
    t->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&t->thread, NULL, tls_srv_main, t), 0);
}

static void tls_srv_stop(tls_srv *t) {
    t->stop = true;
    pthread_join(t->thread, NULL);
    close(t->fd);
    SSL_CTX_free(t->ctx);
    unlink(t->cert_path);
    rmdir(t->dir);
}

/* Runs one GET of `host`'s root on the TLS server with the fixture's client. */
static void tls_get(fx *f, tls_srv *t, const char *host, rec *r) {
    char url[160];
    rec_init(r, f);
    snprintf(url, sizeof url, "https://%s:%d/", host, t->port);
    rec_start(r, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, r->n_done == 1, 3000);
}

static void test_tls_verified_with_ca_file(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    http_client_options o;
    test_options(&o);
    o.ca_file = t.cert_path;
    fx_recreate(f, &o);
    rec a, b;
    tls_get(f, &t, "127.0.0.1", &a);
    assert_true(a.ok);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body.data, "secure");
    tls_get(f, &t, "127.0.0.1", &b); /* the TLS connection is pooled too */
    assert_true(b.ok);
    assert_string_equal(b.body.data, "secure");
    assert_int_equal(t.n_accepted, 1);
    assert_int_equal(t.n_requests, 2);
    http_client_free(f->c, on_client_freed, f); /* before the server thread stops */
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&a.body);
    buf_free(&b.body);
}

static void test_tls_unverified_peer_fails(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    rec r;
    tls_get(f, &t, "127.0.0.1", &r); /* the system CAs do not know this certificate */
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TLS);
    assert_non_null(strstr(r.msg, "verif"));
    assert_int_equal(r.n_response, 0);
    http_client_options o;
    test_options(&o);
    o.ca_file = t.cert_path;
    fx_recreate(f, &o);
    rec m;
    tls_get(f, &t, "localhost", &m); /* trusted, but not issued for that name */
    assert_false(m.ok);
    assert_int_equal(m.kind, HTTP_ERR_TLS);
    assert_int_equal(t.n_requests, 0);
    http_client_free(f->c, on_client_freed, f);
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&r.body);
    buf_free(&m.body);
}

static void test_tls_insecure(void **state) {
    fx *f = *state;
    tls_srv t;
    tls_srv_start(&t);
    http_client_options o;
    test_options(&o);
    o.insecure = true;
    fx_recreate(f, &o);
    rec r;
    tls_get(f, &t, "localhost", &r);
    assert_true(r.ok);
    assert_string_equal(r.body.data, "secure");
    http_client_free(f->c, on_client_freed, f);
    f->c = NULL;
    RUN_UNTIL(f, f->client_freed, 2000);
    tls_srv_stop(&t);
    buf_free(&r.body);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_tls_verified_with_ca_file),
        CASE(test_tls_unverified_peer_fails),
        CASE(test_tls_insecure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
