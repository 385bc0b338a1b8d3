/* Private to the HTTP client's files (src/upstream/http_client*.c, http_conn.c,
 * http_response.c): the objects they share and the functions one calls in another.
 *
 *   http_client.c    calls: public API, watchdog, completion, the pool, deferred work, origins
 *   http_conn.c      a connection's life: connecting (DNS, TCP, TLS start), writing, reading
 *   http_response.c  response parsing: the llhttp settings and callbacks
 *
 * Objects. A call (http_call) is one request/response exchange; a connection (http_conn) is one
 * TCP socket with its response parser and, for https, its SSL session; a host (http_host) is
 * the pool of one origin: its idle connections (a LIFO list) and the calls waiting for a
 * connection when max_host_connections is reached (a FIFO). While a call runs, call->conn and
 * conn->call point at each other; the connection is detached when the call finishes and then
 * either goes back to the pool (complete response, request fully written, keep-alive), straight
 * to the host's oldest waiting call, or is closed. */
#ifndef LGW_UPSTREAM_HTTP_CLIENT_INTERNAL_H
#define LGW_UPSTREAM_HTTP_CLIENT_INTERNAL_H
#include "upstream/http_client.h"
#include "util/buf.h"
#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct http_host http_host;
typedef struct http_conn http_conn;

/* A resolved address list, shared by the host's cache and the connections trying it. */
typedef struct http_addrs {
    struct addrinfo *ai;
    unsigned refs;
    uint64_t expires_ms;
} http_addrs;

struct http_host {
    http_host *next;
    http_conn *idle;                  /* most recently used first */
    http_call *wait_head, *wait_tail; /* calls waiting for a connection, oldest first */
    unsigned n_conns, n_idle;         /* open (connecting, busy or idle) / idle */
    uint16_t port;
    bool tls;
    bool numeric; /* an IP literal: addr holds it, no DNS */
    struct sockaddr_storage addr;
    http_addrs *addrs; /* the last resolution, until HTTP_DNS_TTL_MS (http_conn.c) */
    char name[];       /* without IPv6 brackets */
};

typedef enum { CONN_CONNECTING, CONN_HANDSHAKE, CONN_ACTIVE, CONN_IDLE, CONN_CLOSED } conn_state;

typedef struct http_dns {
    uv_getaddrinfo_t req;
    http_conn *conn; /* NULL once the connection gave up on it */
    http_client *client;
} http_dns;

struct http_conn {
    uv_tcp_t tcp;
    llhttp_t parser;
    http_client *client;
    http_host *host;
    http_call *call;          /* attached call, NULL when idle */
    SSL *ssl;                 /* https only */
    http_conn *prev, *next;   /* client->conns */
    http_conn *iprev, *inext; /* host->idle */
    http_dns *dns;            /* resolution in progress */
    http_addrs *addrs;        /* while connecting: the addresses... */
    struct addrinfo *ai_next; /* ...and those left to try */
    uint64_t idle_since;
    uint8_t state;    /* conn_state */
    bool reading;     /* uv_read_start in effect */
    bool reused;      /* served a call before: a failure before any response byte is stale */
    bool keep;        /* the response allows reuse and nothing followed it */
    bool req_written; /* the attached call's request is fully written */
};

struct http_call {
    http_client *client;
    http_host *host;
    http_conn *conn;
    http_call_callbacks cb;
    void *ud;
    uv_timer_t watchdog;
    http_call *prev, *next;   /* client->calls: not finished */
    http_call *qprev, *qnext; /* host wait queue */
    http_call *pprev, *pnext; /* client->pending: deferred work */
    char *req;                /* request head + body; freed once no retry can need it */
    size_t req_len;
    char *held; /* body pieces parsed while paused: [u32 len][bytes]... */
    size_t held_len, held_off;
    buf ctype;      /* Content-Type of the response being parsed */
    char *fail_msg; /* deferred failure */
    uint64_t start_ms, wait_from_ms, connect_from_ms;
    long connect_ms, first_byte_ms, stall_ms, total_ms;
    uint32_t hdr_bytes;
    int status;
    int8_t ct_match; /* chars of "content-type" matched by the header name, -1 = other */
    uint8_t fail_kind;
    bool ct_field; /* the current header is Content-Type */
    bool head;     /* HEAD request: the response has no body */
    bool queued;   /* on client->pending */
    bool waiting;  /* on the host's wait queue */
    bool connecting, got_byte, complete, retried;
    bool paused, cancelled, finished;
};

struct http_client {
    uv_loop_t *loop;
    http_client_options opt;
    char *ca_file;
    SSL_CTX *ssl_ctx; /* created at the first https connection */
    char *rbuf;       /* the receive buffer of every connection */
    char *pbuf;       /* TLS plaintext, allocated with the first https connection */
    http_host *hosts;
    http_conn *conns;
    http_call *calls, *pending;
    size_t n_calls;
    uv_timer_t sweep;   /* closes idle connections */
    uv_idle_t idle;     /* runs `pending` */
    unsigned n_handles; /* uv handles and DNS requests not yet released */
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

/* ---- http_client.c ---- */

/* Finishes the call with a failure now (its on_done runs here). */
void hc_call_fail(http_call *call, http_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, reported from the idle phase: for where no callback may run, and for a failure
 * found behind body pieces held during a pause (it follows them, after resume). */
void hc_call_fail_soon(http_call *call, http_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The response ended: finish now, or after the pieces held during a pause. */
void hc_call_complete(http_call *call);
/* (Re)starts the watchdog for the nearest of the call's deadlines. */
void hc_call_arm(http_call *call);
/* Response bytes arrived: moves the stall deadline. */
void hc_call_touch(http_call *call);
/* Starts the host's oldest waiting calls on new connections while the limit allows. */
void hc_host_kick(http_client *c, http_host *h);
/* One of the client's handles or DNS requests is released; the last one frees the client. */
void hc_client_release(http_client *c);
/* Takes k off the host's idle list. */
void hc_idle_unlink(http_host *h, http_conn *k);

/* ---- http_conn.c ---- */

/* A new connection for the call: DNS, TCP, then TLS for https. */
void hc_conn_open(http_call *call);
/* Closes at once; kick: the freed slot may start a waiting call. */
void hc_conn_close(http_conn *k, bool kick);
/* Starts or stops reading as the connection's state and call want. */
void hc_conn_sync_reading(http_conn *k);
/* Writes the attached call's request. */
void hc_conn_send_request(http_conn *k);
/* Drops one reference to a resolved address list. */
void hc_addrs_unref(http_addrs *a);

/* ---- http_response.c ---- */

/* The parser callbacks of every connection (parser->data is the connection). */
extern const llhttp_settings_t hc_response_settings;
#endif
