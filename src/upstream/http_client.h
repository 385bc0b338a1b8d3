/* Streaming HTTP/1.1 client on libuv: llhttp parses responses, OpenSSL (tls_stream) does https.
 *
 * One http_client per uv loop. It owns the keep-alive connection pool (per scheme, host and
 * port; reused most-recent-first; idle connections close after idle_timeout_ms or when the
 * server closes them; a host name's addresses are reused for 60 s), ONE receive buffer of
 * buffer_size bytes that every read of every connection uses in turn (data is parsed and delivered
 * before the read callback returns), an SSL_CTX created at the first https call, a timer that
 * sweeps idle connections and an idle handle for work deferred out of callers' stacks. Each
 * http_call has one watchdog timer for its connect / first-byte / stall / total deadlines.
 *
 * Callbacks of a call, all on the loop thread:
 *   on_response  at most once, when the final response's headers are complete (1xx blocks
 *                are skipped; redirects are NOT followed: a 3xx arrives here like any status,
 *                since a COSY signature covers the path and would not survive a hop). Not
 *                called if the transfer fails first.
 *   on_data      for each body piece as it is parsed from a read (a chunked body gives one
 *                piece per chunk span in that read), never buffered or coalesced here.
 *   on_done      exactly once, unless the call was cancelled (http_call_cancel or
 *                http_client_free). An HTTP error status is still ok=true: `ok` is about the
 *                transport. The call is freed when on_done returns.
 *
 * From inside any callback (of this call or another one) every function below may be called.
 *
 * Wire behaviour: requests are HTTP/1.1 with Host, the caller's header lines, then
 * `Accept-Encoding: identity` unless the caller sent one, and Content-Length when there is a
 * body (or the method is POST, PUT or PATCH). Responses: Content-Length, chunked, or read until
 * the server closes (that end is a success); HEAD, 204 and 304 carry no body; response headers
 * are limited to 64 KiB (HTTP_ERR_OTHER). A connection returns to the pool only after a
 * complete response to a fully written request without `Connection: close` (nor HTTP/1.0
 * without keep-alive). A reused connection that fails before any response byte (the server
 * closed it meanwhile) is replaced once by a fresh one and the request sent again. Proxies are
 * not supported (no configuration sets one; the environment is never read). */
#ifndef LGW_UPSTREAM_HTTP_CLIENT_H
#define LGW_UPSTREAM_HTTP_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct http_client http_client;
typedef struct http_call http_call;

typedef struct http_client_options {
    long connect_timeout_ms;    /* DNS + TCP + TLS handshake (default 10000; 0 = none) */
    long first_byte_timeout_ms; /* call start → first response byte, including any wait for a
                                   free connection and the connect (default 60000; 0 = none) */
    long stall_timeout_ms;      /* max gap between received bytes after the first one, not
                                   counted while paused (default 60000; 0 = none) */
    long total_timeout_ms;      /* whole call, pauses included (default 0 = none) */
    long buffer_size;           /* the client's one receive buffer, shared by all its calls,
                                   clamped to 1024..524288 (default 16384) */
    long max_host_connections;  /* per origin; 0 = unlimited, else extra calls wait in FIFO order
                                   for a free connection (the wait counts toward first byte) */
    long idle_timeout_ms;       /* pooled connection unused this long is closed (default 60000) */
    bool insecure;              /* skip TLS peer and host verification (tests only) */
    const char *ca_file;        /* PEM bundle; NULL = system default. Copied. */
} http_client_options;

void http_client_options_defaults(http_client_options *opt);

/* opt NULL = defaults. Returns 0 or a negative libuv-style error (*out untouched). */
int http_client_new(http_client **out, uv_loop_t *loop, const http_client_options *opt);

/* Cancels every call (no more callbacks of any call), closes all connections and handles and
 * calls done(ud) once every resource is released; `c` is invalid from this call on. done may
 * be NULL. Safe inside callbacks. */
void http_client_free(http_client *c, void (*done)(void *ud), void *ud);

/* Number of calls started and not yet finished or cancelled. */
size_t http_client_active_calls(const http_client *c);

typedef struct http_call_request {
    const char *method; /* "GET", "POST", or any token */
    const char *url;    /* http:// or https://, no user info; copied */
    /* Header block: zero or more complete "Name: value\r\n" lines (no blank line), NULL =
     * none. Copied. Host, Content-Length, Transfer-Encoding and Connection are the client's. */
    const char *headers;
    const char *body; /* copied before http_call_start returns; may be NULL */
    size_t body_len;
    /* Per-call overrides: 0 = the client's option, < 0 = none, > 0 = milliseconds. */
    long connect_timeout_ms, first_byte_timeout_ms, stall_timeout_ms, total_timeout_ms;
} http_call_request;

typedef enum {
    HTTP_ERR_NONE,
    HTTP_ERR_CONNECT, /* refused, unreachable, DNS failure */
    HTTP_ERR_TIMEOUT_CONNECT,
    HTTP_ERR_TIMEOUT_FIRST_BYTE,
    HTTP_ERR_TIMEOUT_STALL,
    HTTP_ERR_TIMEOUT_TOTAL,
    HTTP_ERR_RESET, /* connection broken or closed early mid-response */
    HTTP_ERR_TLS,   /* handshake or certificate verification failed, bad TLS data */
    HTTP_ERR_OTHER, /* malformed response, headers over 64 KiB, local failure */
} http_error_kind;

const char *http_error_kind_name(http_error_kind k);

typedef struct http_call_result {
    bool ok; /* transport succeeded; kind == HTTP_ERR_NONE */
    http_error_kind kind;
    const char *message; /* human text, valid only during on_done */
} http_call_result;

typedef struct http_call_callbacks {
    /* content_type: NULL when absent; valid only during the callback. */
    void (*on_response)(http_call *call, int http_status, const char *content_type, void *ud);
    void (*on_data)(http_call *call, const char *data, size_t len, void *ud);
    void (*on_done)(http_call *call, const http_call_result *result, void *ud);
} http_call_callbacks;

/* Starts a call; callbacks run later, never from inside this function. `cb` is copied; any of
 * its members may be NULL. Returns NULL if the client is being freed, or the method, URL or
 * header block is missing or malformed. */
http_call *http_call_start(http_client *c, const http_call_request *req,
                           const http_call_callbacks *cb, void *ud);

/* Backpressure. Pausing stops reading the call's connection at once (then TCP backs up); body
 * pieces already received in the current read are kept, in order, in a heap buffer of the
 * call's own, and on_data is not called until resume; the end of the connection found in that
 * read (over TLS a whole read is decrypted) is reported after them. The stall and first-byte
 * deadlines restart at resume; the total deadline keeps running. Both are idempotent and no-ops
 * on a cancelled call. Resume delivers held data from the loop, not from inside this function. */
void http_call_pause(http_call *call);
void http_call_resume(http_call *call);

/* Aborts the call: no callback of it runs any more, and its connection is closed at once
 * (never returned to the pool). `call` is invalid afterwards. Must not be called after on_done
 * began (the call is gone then); calling it from the call's own on_done is a no-op. */
void http_call_cancel(http_call *call);
#endif
