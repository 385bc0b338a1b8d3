/* http_client over https, against a small blocking OpenSSL server in a thread with a
 * self-signed certificate made here; the fixture and the recording consumer come from
 * http_client_test_util.h.
 *
 * Besides the handshake and verification, the paths the plain tests cover over TCP run again
 * over TLS, where each read is a window of ciphertext that the window BIO (tls_stream.c) hands to
 * OpenSSL record by record, and a record is parsed as one buffer: large and tiny-chunked bodies
 * with pauses in the middle of a decrypted buffer (with a 1 KiB receive buffer a 16 KiB record
 * spans many reads; with a large one a read holds many records), the stale keep-alive retry,
 * cancel mid-stream, and responses cut into records (and records into TCP segments) at awkward
 * places. The server serves one connection at a time. */
#include "http_client_test_util.h"
#include <netinet/tcp.h>
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

/* ---- bodies: deterministic chunked responses, rebuilt by the test to compare ---- */

typedef struct body_plan {
    const char *path;
    size_t total;       /* body bytes */
    unsigned max_chunk; /* chunk sizes 1..max_chunk, from a fixed pseudo-random sequence */
    size_t write_size;  /* 0: one SSL_write per chunk (a record, or a few for a large chunk);
                           else the whole response in writes of this size, cut anywhere */
    unsigned post_hs;   /* TLS 1.3, a write per chunk: before every post_hs-th chunk, a
                           KeyUpdate the client must answer, or a NewSessionTicket, in turn */
} body_plan;

enum { PLAN_BIG, PLAN_BIG_ONE, PLAN_TINY, PLAN_TINY_PACKED, PLAN_REKEY, N_PLANS };

static const body_plan PLANS[N_PLANS] = {
    [PLAN_BIG] = {"/big", 256 * 1024, 8192, 0, 0},
    /* one SSL_write: full 16 KiB records, chunk lines cut by record boundaries */
    [PLAN_BIG_ONE] = {"/big-one", 256 * 1024, 20000, SIZE_MAX, 0},
    /* a record per chunk of 1..8 bytes: many records in every read */
    [PLAN_TINY] = {"/tiny", 8 * 1024, 8, 0, 0},
    /* ~90 chunks per 1000-byte record, size lines and CRLFs cut between records */
    [PLAN_TINY_PACKED] = {"/tiny-packed", 64 * 1024, 8, 1000, 0},
    /* handshake records between the data records; the client's KeyUpdate answers are written
     * from inside its reads, and a lost or misordered one breaks its next request */
    [PLAN_REKEY] = {"/rekey", 128 * 1024, 4096, 0, 4},
};

static unsigned char body_byte(size_t i) {
    uint32_t x = (uint32_t)i * 2654435761u;
    return (unsigned char)(x >> 24 ^ x >> 11);
}

static uint32_t next_rand(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* ---- TLS: a blocking OpenSSL server in a thread, self-signed certificate made here ---- */

enum { CLOSE_NONE, CLOSE_NOTIFY, CLOSE_RAW };

typedef struct tls_srv {
    pthread_t thread;
    int fd, port;
    SSL_CTX *ctx;
    char dir[64], cert_path[96];
    bool running;
    atomic_bool stop;
    atomic_int n_accepted, n_handshakes, n_requests, n_handshake_failed;
    atomic_int n_idle_closed; /* connections closed on close_idle */
    atomic_int n_gone;        /* connections the client closed or broke (read or write failed) */
    atomic_uint_fast64_t gone_ns; /* uv_hrtime() when the last of those was seen */
    /* Set by the test. */
    atomic_int close_idle;   /* CLOSE_NOTIFY / CLOSE_RAW: close the connection waiting for a
                                request (then back to CLOSE_NONE) */
    atomic_bool drop_reused; /* a connection's second request is read, then the connection
                                closed without an answer (a keep-alive timeout racing it) */
} tls_srv;

typedef struct tls_peer {
    tls_srv *t;
    SSL *ssl;
    int fd;
    BIO *frag; /* the SSL's write BIO once a route cuts ciphertext into segments */
} tls_peer;

static void peer_gone(tls_peer *p) {
    p->t->gone_ns = uv_hrtime();
    p->t->n_gone++;
}

/* Sends the ciphertext collected in p->frag in TCP segments of 1 to 7 bytes, 1 ms apart, so
 * record headers and bodies arrive cut (the client's window BIO sees partial records). */
static bool peer_flush_frag(tls_peer *p) {
    static const size_t seg[] = {1, 2, 4, 3, 7, 5};
    char *data;
    long len = BIO_get_mem_data(p->frag, &data);
    size_t off = 0;
    for (size_t i = 0; off < (size_t)len; i++) {
        size_t n = seg[i % (sizeof seg / sizeof *seg)];
        if (n > (size_t)len - off) n = (size_t)len - off;
        if (send(p->fd, data + off, n, MSG_NOSIGNAL) != (ssize_t)n) return false;
        off += n;
        usleep(1000);
    }
    (void)BIO_reset(p->frag);
    return true;
}

/* One SSL_write: at least one record of its own. */
static bool peer_write(tls_peer *p, const void *data, size_t len) {
    if (SSL_write(p->ssl, data, (int)len) != (int)len || (p->frag && !peer_flush_frag(p))) {
        peer_gone(p);
        return false;
    }
    return true;
}

static bool peer_puts(tls_peer *p, const char *s) { return peer_write(p, s, strlen(s)); }

/* Chunked response of a plan, written as the plan says. */
static bool route_plan(tls_peer *p, const body_plan *pl) {
    buf resp = BUF_INIT;
    buf_puts(&resp, CHUNKED_200);
    bool ok = true;
    uint32_t seed = 0x9e3779b9u;
    bool tls13 = SSL_version(p->ssl) >= TLS1_3_VERSION;
    for (size_t chunk = 0, off = 0; ok && off < pl->total; chunk++) {
        if (!pl->write_size) {
            ok = peer_write(p, resp.data, resp.len);
            buf_reset(&resp);
        }
        if (pl->post_hs && tls13 && chunk % pl->post_hs == 0) {
            if (chunk / pl->post_hs % 2)
                ok = ok && SSL_new_session_ticket(p->ssl) == 1;
            else
                ok = ok && SSL_key_update(p->ssl, SSL_KEY_UPDATE_REQUESTED) == 1;
        }
        size_t n = 1 + next_rand(&seed) % pl->max_chunk;
        if (n > pl->total - off) n = pl->total - off;
        buf_printf(&resp, "%zx\r\n", n);
        for (size_t i = 0; i < n; i++)
            buf_putc(&resp, (char)body_byte(off + i));
        buf_puts(&resp, "\r\n");
        off += n;
    }
    buf_puts(&resp, "0\r\n\r\n");
    size_t step = pl->write_size ? pl->write_size : resp.len;
    for (size_t off = 0; ok && off < resp.len; off += step)
        ok = peer_write(p, resp.data + off, resp.len - off < step ? resp.len - off : step);
    buf_free(&resp);
    return ok;
}

/* A chunked response cut at awkward places: inside the status line, a header name and a header
 * value, between CR and LF, inside a chunk-size line, chunk data and the last chunk. Each piece
 * is its own record, 10 ms after the previous one. Body "0123456789abcdefhello". */
static const char *const SPLIT_PIECES[] = {
    "HTTP/1.1 20",
    "0 OK\r",
    "\nContent-Ty",
    "pe: text/event-",
    "stream\r\nTransfer-Encoding: chu",
    "nked\r\n",
    "\r",
    "\n1",
    "0\r\n0123456789ab",
    "cdef\r",
    "\n5",
    "\r\nhel",
    "lo\r\n0\r",
    "\n\r",
    "\n",
};

static bool route_split(tls_peer *p, bool frag) {
    if (frag && !p->frag) {
        p->frag = BIO_new(BIO_s_mem());
        SSL_set0_wbio(p->ssl, p->frag); /* the handshake is over: nothing left unsent */
    }
    for (size_t i = 0; i < sizeof SPLIT_PIECES / sizeof *SPLIT_PIECES; i++) {
        if (i) usleep(10 * 1000);
        if (!peer_puts(p, SPLIT_PIECES[i])) return false;
    }
    return true;
}

/* Headers and a first chunk, then a chunk every 20 ms until the client goes away (10 s at
 * most). The client sends nothing meanwhile, so input means it closed. */
static bool route_stream(tls_peer *p) {
    if (!peer_puts(p, CHUNKED_200 "5\r\nfirst\r\n")) return false;
    for (int i = 0; i < 500 && !p->t->stop; i++) {
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0) {
            char b[256];
            if (SSL_read(p->ssl, b, sizeof b) <= 0) {
                peer_gone(p);
                return false;
            }
            continue;
        }
        if (!peer_puts(p, "4\r\ntick\r\n")) return false;
    }
    return peer_puts(p, "0\r\n\r\n");
}

/* A response that never ends (head and three chunks, in two records), then the end of the
 * connection, all in one TCP send so that the client reads them in one window: close_notify,
 * or a record that cannot be decrypted. */
static bool route_cut(tls_peer *p, bool bad_record) {
    static const char head[] = CHUNKED_200 "5\r\nfirst\r\n",
                      rest[] = "6\r\nsecond\r\n5\r\nthird\r\n";
    BIO *mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(p->ssl, mem); /* the SSL owns it */
    SSL_write(p->ssl, head, (int)sizeof head - 1);
    SSL_write(p->ssl, rest, (int)sizeof rest - 1);
    if (bad_record) {
        static const char junk[5 + 32] = "\x17\x03\x03\x00\x20"; /* application data, 32 bytes */
        BIO_write(mem, junk, (int)sizeof junk);
    } else {
        SSL_shutdown(p->ssl);
    }
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    if (send(p->fd, data, (size_t)len, MSG_NOSIGNAL) != len) peer_gone(p);
    return false;
}

/* Answers one request; false: close the connection. */
static bool serve_route(tls_peer *p, const char *path) {
    for (int i = 0; i < N_PLANS; i++)
        if (strcmp(path, PLANS[i].path) == 0) return route_plan(p, &PLANS[i]);
    if (strcmp(path, "/stream") == 0) return route_stream(p);
    if (strcmp(path, "/split") == 0) return route_split(p, false);
    if (strcmp(path, "/split-frag") == 0) return route_split(p, true);
    if (strcmp(path, "/cut-notify") == 0) return route_cut(p, false);
    if (strcmp(path, "/cut-bad-record") == 0) return route_cut(p, true);
    return peer_puts(p, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 6\r\n\r\nsecure");
}

/* Waits for the client's next bytes: true when there are some; false when the test asks to
 * close the idle connection or the server stops. */
static bool peer_wait(tls_peer *p) {
    for (;;) {
        if (SSL_pending(p->ssl) > 0) return true;
        if (p->t->stop || p->t->close_idle != CLOSE_NONE) return false;
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 10) > 0) return true;
    }
}

static void tls_serve(tls_srv *t, int cfd) {
    struct timeval rcv = {.tv_sec = 2}, snd = {.tv_sec = 5}; /* never blocks for long */
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
    setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* a record, a segment */
    SSL *ssl = SSL_new(t->ctx);
    SSL_set_fd(ssl, cfd);
    tls_peer p = {t, ssl, cfd, NULL};
    int close_how = CLOSE_NONE; /* else the test asked to close it while idle */
    if (SSL_accept(ssl) != 1) {
        t->n_handshake_failed++;
    } else {
        t->n_handshakes++;
        char in[8192];
        size_t have = 0;
        int served = 0;
        for (;;) { /* keep-alive: one answer per request head (requests here have no body) */
            in[have] = '\0';
            char *end = strstr(in, "\r\n\r\n");
            if (!end) {
                if (!peer_wait(&p)) {
                    close_how = atomic_exchange(&t->close_idle, CLOSE_NONE);
                    break;
                }
                int n = have < sizeof in - 1 ? SSL_read(ssl, in + have, (int)(sizeof in - 1 - have))
                                             : 0;
                if (n <= 0) {
                    peer_gone(&p);
                    break;
                }
                have += (size_t)n;
                continue;
            }
            t->n_requests++;
            char path[128] = "";
            sscanf(in, "%*s %127s", path);
            size_t used = (size_t)(end + 4 - in);
            memmove(in, in + used, have - used);
            have -= used;
            if (t->drop_reused && served > 0) break;
            served++;
            if (!serve_route(&p, path)) break;
        }
    }
    if (close_how == CLOSE_NOTIFY) {
        SSL_shutdown(ssl);
        if (p.frag) peer_flush_frag(&p);
    }
    SSL_free(ssl); /* frees p.frag too */
    close(cfd);
    if (close_how != CLOSE_NONE) t->n_idle_closed++; /* counted once closed */
}

static void *tls_srv_main(void *arg) {
    tls_srv *t = arg;
    while (!t->stop) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) continue;
        int cfd = accept(t->fd, NULL, NULL);
        if (cfd < 0) continue;
        t->n_accepted++;
        tls_serve(t, cfd);
    }
    return NULL;
}

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

/* max_version: 0 = OpenSSL's default (TLS 1.3), else TLS1_2_VERSION. */
static void tls_srv_start(tls_srv *t, int max_version) {
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
    if (max_version) assert_int_equal(SSL_CTX_set_max_proto_version(t->ctx, max_version), 1);
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
    t->running = true;
}

static void tls_srv_stop(tls_srv *t) {
    if (!t->running) return;
    t->running = false;
    t->stop = true;
    pthread_join(t->thread, NULL);
    close(t->fd);
    SSL_CTX_free(t->ctx);
    unlink(t->cert_path);
    rmdir(t->dir);
}

/* ---- fixture: the shared one, plus the server and a tick ---- */

/* Static, so that the teardown stops it when a test fails midway. */
static tls_srv g_srv;
/* Wakes the loop every 5 ms while a test waits on a counter of the server thread (unreferenced:
 * it keeps no uv_run alive by itself). */
static uv_timer_t g_tick;

static void tick_on_timer(uv_timer_t *t) {}

static int tls_setup_version(void **state, int max_version) {
    fx_setup(state);
    fx *f = *state;
    tls_srv_start(&g_srv, max_version);
    uv_timer_init(&f->loop, &g_tick);
    uv_timer_start(&g_tick, tick_on_timer, 5, 5);
    uv_unref((uv_handle_t *)&g_tick);
    return 0;
}

static int tls_setup(void **state) { return tls_setup_version(state, 0); }
static int tls12_setup(void **state) { return tls_setup_version(state, TLS1_2_VERSION); }

static int tls_teardown(void **state) {
    uv_close((uv_handle_t *)&g_tick, NULL);
    fx_teardown(state); /* the client goes first: the server sees its connections close */
    tls_srv_stop(&g_srv);
    return 0;
}

/* Polls a condition set by the server thread without running the loop. */
#define SPIN_UNTIL(cond, ms)                                                                       \
    do {                                                                                           \
        for (int spin_ = 0; spin_ < (ms) && !(cond); spin_++)                                      \
            usleep(1000);                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

/* A new client for the server: verified against its certificate, with this receive buffer. */
static void tls_client(fx *f, long buffer_size) {
    http_client_options o;
    test_options(&o);
    o.ca_file = g_srv.cert_path;
    o.buffer_size = buffer_size;
    fx_recreate(f, &o);
}

static void tls_url(char *url, size_t cap, const char *host, const char *path) {
    snprintf(url, cap, "https://%s:%d%s", host, g_srv.port, path);
}

/* Runs one GET of `host`'s root on the TLS server with the fixture's client. */
static void tls_get(fx *f, const char *host, rec *r) {
    char url[160];
    rec_init(r, f);
    tls_url(url, sizeof url, host, "/");
    rec_start(r, "GET", url, 0, 0, 0);
    RUN_UNTIL(f, r->n_done == 1, 3000);
}

/* ---- a consumer that pauses, resumes and cancels on cue ---- */

typedef struct prec {
    rec r;              /* first: the rec_* callbacks take a prec for its rec */
    int pause_every;    /* pause inside every pause_every-th body piece (0 = never)... */
    unsigned resume_ms; /* ...and resume this long after, from the fixture's aux timer */
    int cancel_at;      /* cancel inside the cancel_at-th body piece (0 = never) */
    int n_pauses;
} prec;

static prec *g_prec; /* the one the aux timer resumes */

static void prec_resume(fx *f) {
    prec *p = g_prec;
    if (p->r.n_done || p->r.cancelled || !p->r.paused) return; /* ended on a paused last piece */
    p->r.paused = false;
    http_call_resume(p->r.call);
}

static void prec_on_data(http_call *call, const char *data, size_t len, void *ud) {
    prec *p = ud;
    rec_on_data(call, data, len, &p->r);
    if (p->r.cancelled) return;
    if (p->cancel_at && p->r.n_data == p->cancel_at) {
        p->r.cancelled = true;
        p->r.cancel_ns = uv_hrtime();
        http_call_cancel(call);
        return;
    }
    if (p->pause_every && !p->r.paused && p->r.n_data % p->pause_every == 0) {
        http_call_pause(call);
        p->r.paused = true;
        p->n_pauses++;
        g_prec = p;
        p->r.f->aux_fn = prec_resume;
        uv_timer_start(&p->r.f->aux, aux_on_timer, p->resume_ms, 0);
    }
}

static const http_call_callbacks PREC_CB = {rec_on_response, prec_on_data, rec_on_done};

static void prec_get(prec *p, fx *f, const char *path) {
    memset(p, 0, sizeof *p);
    rec_init(&p->r, f);
    char url[160];
    tls_url(url, sizeof url, "127.0.0.1", path);
    http_call_request req = {.method = "GET", .url = url};
    p->r.call = http_call_start(f->c, &req, &PREC_CB, p);
    assert_non_null(p->r.call);
}

static void assert_done_ok(const rec *r) {
    if (!r->ok) fail_msg("call failed: %s: %s", http_error_kind_name(r->kind), r->msg);
    assert_int_equal(r->n_done, 1);
    assert_int_equal(r->n_response, 1);
    assert_int_equal(r->status, 200);
}

static void assert_plan_body(const body_plan *pl, const rec *r) {
    if (r->body.len != pl->total)
        fail_msg("%s: %zu body bytes, expected %zu", pl->path, r->body.len, pl->total);
    for (size_t i = 0; i < pl->total; i++)
        if ((unsigned char)r->body.data[i] != body_byte(i))
            fail_msg("%s: body byte %zu differs", pl->path, i);
}

/* ---- tests: handshake and verification ---- */

static void test_tls_verified_with_ca_file(void **state) {
    fx *f = *state;
    tls_client(f, 1024);
    rec a, b;
    tls_get(f, "127.0.0.1", &a);
    assert_true(a.ok);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body.data, "secure");
    tls_get(f, "127.0.0.1", &b); /* the TLS connection is pooled too */
    assert_true(b.ok);
    assert_string_equal(b.body.data, "secure");
    assert_int_equal(g_srv.n_accepted, 1);
    assert_int_equal(g_srv.n_requests, 2);
    buf_free(&a.body);
    buf_free(&b.body);
}

static void test_tls_unverified_peer_fails(void **state) {
    fx *f = *state;
    rec r;
    tls_get(f, "127.0.0.1", &r); /* the system CAs do not know this certificate */
    assert_false(r.ok);
    assert_int_equal(r.kind, HTTP_ERR_TLS);
    assert_non_null(strstr(r.msg, "verif"));
    assert_int_equal(r.n_response, 0);
    tls_client(f, 1024);
    rec m;
    tls_get(f, "localhost", &m); /* trusted, but not issued for that name */
    assert_false(m.ok);
    assert_int_equal(m.kind, HTTP_ERR_TLS);
    assert_int_equal(g_srv.n_requests, 0);
    buf_free(&r.body);
    buf_free(&m.body);
}

static void test_tls_insecure(void **state) {
    fx *f = *state;
    http_client_options o;
    test_options(&o);
    o.insecure = true;
    fx_recreate(f, &o);
    rec r;
    tls_get(f, "localhost", &r);
    assert_true(r.ok);
    assert_string_equal(r.body.data, "secure");
    buf_free(&r.body);
}

/* ---- tests: flow control over TLS ---- */

/* Pauses inside the first body piece: nothing more is delivered while paused, though the rest
 * of that read (the rest of the decrypted record, and the records after it in the window) was
 * parsed meanwhile; after resume the whole body arrives byte-exact. */
static void pause_once(fx *f, const body_plan *pl) {
    prec p;
    prec_get(&p, f, pl->path);
    p.r.pause_on_first_data = true;
    RUN_UNTIL(f, p.r.paused, 5000);
    run_for(f, 300);
    assert_int_equal(p.r.n_data, 1);
    assert_int_equal(p.r.n_done, 0);
    p.r.paused = false;
    http_call_resume(p.r.call);
    assert_int_equal(p.r.n_data, 1); /* delivered from the loop, not inside resume */
    RUN_UNTIL(f, p.r.n_done == 1, 20000);
    assert_done_ok(&p.r);
    assert_int_equal(p.r.data_while_paused, 0);
    assert_plan_body(pl, &p.r);
    buf_free(&p.r.body);
}

/* Two plans on one connection per receive buffer size: a record spanning many reads (1 KiB),
 * many records per read (64 KiB). The connection is pooled after each paused response. */
static void pause_once_plans(fx *f, int plan_a, int plan_b) {
    static const long sizes[] = {1024, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        tls_client(f, sizes[i]);
        int accepted = g_srv.n_accepted;
        pause_once(f, &PLANS[plan_a]);
        pause_once(f, &PLANS[plan_b]);
        assert_int_equal(g_srv.n_accepted, accepted + 1);
    }
}

static void test_tls_pause_large_body(void **state) {
    pause_once_plans(*state, PLAN_BIG, PLAN_BIG_ONE);
}

static void test_tls_pause_tiny_chunks(void **state) {
    pause_once_plans(*state, PLAN_TINY, PLAN_TINY_PACKED);
}

/* Pauses inside every n-th piece and resumes 1 ms later, over every plan and receive buffer
 * size: pauses land at every kind of place (mid-record, between records of one read, inside
 * the delivery of held pieces), and the body still arrives byte-exact, in order, once. */
static void pause_often(fx *f) {
    static const long sizes[] = {1024, 16384, 524288};
    static const int every[N_PLANS] = {[PLAN_BIG] = 3,
                                       [PLAN_BIG_ONE] = 3,
                                       [PLAN_TINY] = 13,
                                       [PLAN_TINY_PACKED] = 97,
                                       [PLAN_REKEY] = 3};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        tls_client(f, sizes[i]);
        int accepted = g_srv.n_accepted;
        for (int k = 0; k < N_PLANS; k++) {
            prec p;
            prec_get(&p, f, PLANS[k].path);
            p.pause_every = every[k];
            p.resume_ms = 1;
            RUN_UNTIL(f, p.r.n_done == 1, 30000);
            uv_timer_stop(&f->aux);
            assert_done_ok(&p.r);
            assert_int_equal(p.r.data_while_paused, 0);
            assert_true(p.n_pauses >= 3);
            assert_plan_body(&PLANS[k], &p.r);
            buf_free(&p.r.body);
        }
        rec last; /* after /rekey's KeyUpdates: the client's own keys must match the server's */
        tls_get(f, "127.0.0.1", &last);
        assert_done_ok(&last);
        assert_string_equal(last.body.data, "secure");
        buf_free(&last.body);
        assert_int_equal(g_srv.n_accepted, accepted + 1); /* all on one connection */
    }
}

static void test_tls_pause_often(void **state) { pause_often(*state); }

static void test_tls12_pause_often(void **state) { pause_often(*state); }

/* The rest of a response and the end of the connection come in the read where the call pauses
 * (TLS decrypts the whole window, so the end is seen while paused; over TCP it is a later read):
 * the pieces received before the end are still delivered, after resume, then the failure. Used
 * to fail at once, while paused, dropping "secondthird". Then the same, cancelled while paused:
 * no callback, nothing left behind. */
static void test_tls_end_after_held_pieces(void **state) {
    fx *f = *state;
    static const struct {
        const char *path;
        http_error_kind kind;
    } cases[] = {{"/cut-notify", HTTP_ERR_RESET}, {"/cut-bad-record", HTTP_ERR_TLS}};
    tls_client(f, 65536);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int cancel = 0; cancel < 2; cancel++) {
            prec p;
            prec_get(&p, f, cases[i].path);
            p.r.pause_on_first_data = true;
            RUN_UNTIL(f, p.r.paused, 3000);
            run_for(f, 200);
            assert_int_equal(p.r.n_data, 1);
            assert_int_equal(p.r.n_done, 0); /* the end waits behind the held pieces */
            if (cancel) {
                p.r.cancelled = true;
                http_call_cancel(p.r.call);
                run_for(f, 50);
                assert_int_equal(p.r.late, 0);
                assert_int_equal(p.r.n_done, 0);
            } else {
                p.r.paused = false;
                http_call_resume(p.r.call);
                RUN_UNTIL(f, p.r.n_done == 1, 3000);
                assert_false(p.r.ok);
                assert_int_equal(p.r.kind, cases[i].kind);
                assert_string_equal(p.r.body.data, "firstsecondthird");
                assert_int_equal(p.r.data_while_paused, 0);
            }
            assert_int_equal(http_client_active_calls(f->c), 0);
            buf_free(&p.r.body);
        }
    }
}

/* ---- tests: the stale keep-alive retry over TLS ---- */

/* The server closes a pooled connection while it sits idle, and the next call takes it before
 * the loop has seen the close (nothing runs the loop in between): the request goes out on the
 * dead connection, fails before any response byte and is sent again, once, on a new TLS
 * connection. With close_notify, and with a bare TCP close. */
static void test_tls_stale_idle_connection_retried(void **state) {
    fx *f = *state;
    static const int how[] = {CLOSE_NOTIFY, CLOSE_RAW};
    for (size_t i = 0; i < sizeof how / sizeof *how; i++) {
        tls_client(f, 16384);
        SPIN_UNTIL(g_srv.n_gone == (int)i, 2000); /* the previous client's connection */
        int accepted = g_srv.n_accepted, handshakes = g_srv.n_handshakes;
        int requests = g_srv.n_requests, closed = g_srv.n_idle_closed;
        rec a, b;
        tls_get(f, "127.0.0.1", &a);
        assert_done_ok(&a);
        g_srv.close_idle = how[i];
        SPIN_UNTIL(g_srv.n_idle_closed == closed + 1, 2000);
        usleep(50 * 1000); /* the close reaches the client's socket */
        tls_get(f, "127.0.0.1", &b);
        assert_done_ok(&b);
        assert_string_equal(b.body.data, "secure");
        assert_int_equal(g_srv.n_accepted, accepted + 2);
        assert_int_equal(g_srv.n_handshakes, handshakes + 2);
        assert_int_equal(g_srv.n_requests, requests + 2); /* the first try never reached it */
        buf_free(&a.body);
        buf_free(&b.body);
    }
    /* Control: when the loop does run meanwhile, the pool sees the close itself. */
    int accepted = g_srv.n_accepted, closed = g_srv.n_idle_closed;
    g_srv.close_idle = CLOSE_NOTIFY;
    SPIN_UNTIL(g_srv.n_idle_closed == closed + 1, 2000);
    run_for(f, 100);
    rec c;
    tls_get(f, "127.0.0.1", &c);
    assert_done_ok(&c);
    assert_int_equal(g_srv.n_accepted, accepted + 1);
    buf_free(&c.body);
}

/* The server reads the request on the reused connection and closes it unanswered (its
 * keep-alive timeout racing the request): the request is sent again on a new connection. */
static void test_tls_stale_keepalive_dropped_at_request(void **state) {
    fx *f = *state;
    tls_client(f, 1024);
    rec a, b;
    tls_get(f, "127.0.0.1", &a);
    assert_done_ok(&a);
    g_srv.drop_reused = true;
    tls_get(f, "127.0.0.1", &b);
    assert_done_ok(&b);
    assert_string_equal(b.body.data, "secure");
    assert_int_equal(g_srv.n_accepted, 2);
    assert_int_equal(g_srv.n_handshakes, 2);
    assert_int_equal(g_srv.n_requests, 3); /* /, the dropped one, the retried one */
    buf_free(&a.body);
    buf_free(&b.body);
}

/* ---- tests: cancel mid-stream over TLS ---- */

/* After cancel: no callback, the server sees the connection closed promptly (generous bound:
 * the close is immediate, the server polls every 10-20 ms), no call left. */
static void assert_cancelled_cleanly(fx *f, prec *p, int gone_before) {
    assert_true(p->r.cancelled);
    assert_int_equal(http_client_active_calls(f->c), 0);
    RUN_UNTIL(f, g_srv.n_gone == gone_before + 1, 3000);
    assert_true(g_srv.gone_ns - p->r.cancel_ns < 500 * 1000000ull);
    run_for(f, 100);
    assert_int_equal(p->r.late, 0);
    assert_int_equal(p->r.n_done, 0);
    assert_int_equal(g_srv.n_gone, gone_before + 1);
    buf_free(&p->r.body);
}

/* Inside on_data of a live stream (the server goes on writing). */
static void test_tls_cancel_inside_callback(void **state) {
    fx *f = *state;
    tls_client(f, 1024);
    prec p;
    prec_get(&p, f, "/stream");
    p.cancel_at = 3;
    RUN_UNTIL(f, p.r.cancelled, 3000);
    assert_int_equal(p.r.n_data, 3);
    assert_string_equal(p.r.body.data, "firstticktick");
    assert_cancelled_cleanly(f, &p, 0);
}

/* From the loop, between reads of a live stream. */
static void test_tls_cancel_from_loop(void **state) {
    fx *f = *state;
    tls_client(f, 1024);
    prec p;
    prec_get(&p, f, "/stream");
    RUN_UNTIL(f, p.r.n_data >= 3, 3000);
    p.r.cancelled = true;
    p.r.cancel_ns = uv_hrtime();
    http_call_cancel(p.r.call);
    assert_cancelled_cleanly(f, &p, 0);
}

/* Inside the 10th piece of a read that holds many more records: the rest of the window is not
 * delivered. */
static void test_tls_cancel_mid_window(void **state) {
    fx *f = *state;
    tls_client(f, 65536);
    prec p;
    prec_get(&p, f, PLANS[PLAN_TINY_PACKED].path);
    p.cancel_at = 10;
    RUN_UNTIL(f, p.r.cancelled, 3000);
    assert_int_equal(p.r.n_data, 10);
    assert_cancelled_cleanly(f, &p, 0);
}

/* While paused with the rest of a read held: the held pieces are dropped (freed, never
 * delivered) and the connection closed. */
static void test_tls_cancel_while_paused(void **state) {
    fx *f = *state;
    tls_client(f, 65536);
    prec p;
    prec_get(&p, f, PLANS[PLAN_BIG_ONE].path);
    p.r.pause_on_first_data = true;
    RUN_UNTIL(f, p.r.paused, 3000);
    run_for(f, 50);
    assert_int_equal(p.r.n_data, 1);
    p.r.cancelled = true;
    p.r.cancel_ns = uv_hrtime();
    http_call_cancel(p.r.call);
    assert_cancelled_cleanly(f, &p, 0);
}

/* ---- tests: records cut at awkward places ---- */

static void split_twice(fx *f, const char *path) {
    tls_client(f, 1024);
    int accepted = g_srv.n_accepted;
    for (int i = 0; i < 2; i++) { /* the second on the same connection */
        rec r;
        char url[160];
        rec_init(&r, f);
        tls_url(url, sizeof url, "127.0.0.1", path);
        rec_start(&r, "GET", url, 0, 0, 0);
        RUN_UNTIL(f, r.n_done == 1, 5000);
        assert_done_ok(&r);
        assert_string_equal(r.ctype, "text/event-stream");
        assert_string_equal(r.body.data, "0123456789abcdefhello");
        buf_free(&r.body);
    }
    assert_int_equal(g_srv.n_accepted, accepted + 1);
}

/* Each piece in a record of its own: headers cut mid-name, mid-value and between CR and LF,
 * chunk-size lines and chunk data cut. */
static void test_tls_records_split_awkwardly(void **state) { split_twice(*state, "/split"); }

/* The same records, their ciphertext sent in TCP segments of 1 to 7 bytes: record headers
 * arrive in pieces, and OpenSSL keeps partial records across reads. */
static void test_tls_records_in_tiny_segments(void **state) { split_twice(*state, "/split-frag"); }

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, tls_setup, tls_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_tls_verified_with_ca_file),
        CASE(test_tls_unverified_peer_fails),
        CASE(test_tls_insecure),
        CASE(test_tls_pause_large_body),
        CASE(test_tls_pause_tiny_chunks),
        CASE(test_tls_pause_often),
        cmocka_unit_test_setup_teardown(test_tls12_pause_often, tls12_setup, tls_teardown),
        CASE(test_tls_end_after_held_pieces),
        CASE(test_tls_stale_idle_connection_retried),
        CASE(test_tls_stale_keepalive_dropped_at_request),
        CASE(test_tls_cancel_inside_callback),
        CASE(test_tls_cancel_from_loop),
        CASE(test_tls_cancel_mid_window),
        CASE(test_tls_cancel_while_paused),
        CASE(test_tls_records_split_awkwardly),
        CASE(test_tls_records_in_tiny_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
