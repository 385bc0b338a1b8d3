/* Streaming HTTP/1.1 client: libcurl's multi interface driven by a libuv loop.
 *
 * One http_client per uv loop; it owns a CURLM (and so the connection cache shared by all its
 * calls), one uv_timer for curl's timeout, one uv_poll per socket curl asks to watch and one
 * uv_idle for work deferred out of callbacks. Each http_call owns an easy handle and a watchdog
 * uv_timer for the first-byte / stall / total deadlines (curl has no stall timeout); the easy
 * handles of cleanly finished calls are kept (up to 8) for later calls.
 *
 * Callbacks of a call, all on the loop thread:
 *   on_response  at most once, when the final response's headers are complete (after following
 *                redirects; 1xx blocks are skipped). Not called if the transfer fails first.
 *   on_data      for each body chunk as curl receives it, never buffered or coalesced here.
 *   on_done      exactly once, unless the call was cancelled (http_call_cancel or
 *                http_client_free). An HTTP error status is still ok=true: `ok` is about the
 *                transport. The call is freed when on_done returns.
 *
 * From inside any callback (of this call or another one) every function below may be called;
 * what cannot run inside a libcurl callback (removing, adding or unpausing a handle, tearing the
 * client down) is deferred to the loop's next idle phase. */
#ifndef LGW_UPSTREAM_HTTP_CLIENT_H
#define LGW_UPSTREAM_HTTP_CLIENT_H
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct http_client http_client;
typedef struct http_call http_call;

typedef struct http_client_options {
    long connect_timeout_ms;    /* DNS + TCP + TLS handshake (default 10000) */
    long first_byte_timeout_ms; /* call start → first response byte, including any wait for a
                                   free connection and the connect (default 60000; 0 = none) */
    long stall_timeout_ms;      /* max gap between received bytes after the first one, not
                                   counted while paused (default 60000; 0 = none) */
    long total_timeout_ms;      /* whole call, pauses included (default 0 = none) */
    long buffer_size;           /* CURLOPT_BUFFERSIZE per transfer, clamped to 1024..524288
                                   (default 16384; lower it for 10k streams) */
    long max_host_connections;  /* 0 = unlimited; extra calls queue inside curl */
    long max_redirects;         /* Location hops followed (default 5) */
    bool verbose;               /* curl's own trace on stderr */
    bool insecure;              /* skip TLS peer and host verification (tests only) */
    const char *ca_file;        /* PEM bundle; NULL = system default. Copied. */
    const char *proxy;          /* proxy URL; NULL = direct (proxy environment variables are
                                   ignored so the config table is the only source). Copied. */
} http_client_options;

void http_client_options_defaults(http_client_options *opt);

/* Once per process, before any client and before other threads start. 0 or -1. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

/* opt NULL = defaults. Returns 0 or a negative libuv-style error (*out untouched). */
int http_client_new(http_client **out, uv_loop_t *loop, const http_client_options *opt);

/* Cancels every call (no more callbacks of any call), closes all handles and calls done(ud)
 * from a close callback once every resource is released; `c` is invalid from this call on.
 * done may be NULL. Safe inside callbacks. */
void http_client_free(http_client *c, void (*done)(void *ud), void *ud);

/* Number of calls started and not yet finished or cancelled. */
size_t http_client_active_calls(const http_client *c);

typedef struct http_call_request {
    const char *method;         /* "GET", "POST", or any token (sent as a custom method) */
    const char *url;            /* copied */
    struct curl_slist *headers; /* TAKES OWNERSHIP, always (also when start fails); may be NULL */
    const char *body;           /* copied before http_call_start returns; may be NULL */
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
    HTTP_ERR_TLS,
    HTTP_ERR_OTHER,
} http_error_kind;

const char *http_error_kind_name(http_error_kind k);

typedef struct http_call_result {
    bool ok;            /* transport succeeded; kind == HTTP_ERR_NONE */
    CURLcode curl_code; /* CURLE_OPERATION_TIMEDOUT for the watchdog's timeouts */
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
 * its members may be NULL. Returns NULL (and frees req->headers) if the client is being freed,
 * the method or URL is missing, or curl refuses the handle. */
http_call *http_call_start(http_client *c, const http_call_request *req,
                           const http_call_callbacks *cb, void *ud);

/* Backpressure. Pausing takes effect at the next chunk: that chunk and later ones stay in curl
 * (then TCP backs up) and on_data is not called until resume. The stall and first-byte
 * deadlines restart at resume; the total deadline keeps running. Both are idempotent and
 * no-ops on a cancelled call. Resume delivers held data from the loop, not from inside this
 * function. */
void http_call_pause(http_call *call);
void http_call_resume(http_call *call);

/* Aborts the call: no callback of it runs any more, and its connection is closed (never
 * returned to the pool) at once, or at the loop's next idle phase when called from inside a
 * callback. `call` is invalid afterwards. Must not be called after on_done began (the call is
 * gone then); calling it from the call's own on_done is a no-op. */
void http_call_cancel(http_call *call);
#endif
