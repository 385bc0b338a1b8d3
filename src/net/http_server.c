/* HTTP/1.1 server: listener, connections, request parsing (llhttp), response writing.
 *
 * A connection moves through phases: IDLE (waiting for a request; header or idle timeout),
 * HEADERS (header timeout), BODY (body timeout), HANDLING (the handler owns an exchange; the
 * socket is still read so a disconnect aborts the exchange; output that stops draining trips
 * the write timeout), LINGER (response sent, write side shut, discarding input briefly so the
 * client reads the response before the close), CLOSED.
 *
 * Pipelining: the parser is paused at each message end; bytes that arrive while a request is
 * being handled are buffered (bounded, then reading stops) and parsed after the response ends,
 * so responses always leave in request order. */
#include "net/http_server.h"
#include "net/request_parser.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LINGER_MS 2000

typedef enum { PHASE_IDLE, PHASE_HEADERS, PHASE_BODY, PHASE_HANDLING, PHASE_LINGER } conn_phase;

typedef struct conn conn;

struct http_exchange {
    conn *c;
    http_request req;
    request_parsed parsed; /* owns the request's bytes */
    char request_id[32];
    bool keep_alive;
    bool head_only;
    bool started; /* status line written */
    bool chunked;
    int status;
    uint64_t bytes_out;
    http_abort_fn on_abort;
    http_drain_fn on_drain;
    void *cb_ud;
    char key_id[24];
    buf log_extra;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    /* The write and shutdown requests are allocated while in flight only (272 bytes an idle or
     * streaming connection does not carry: a stream's writes almost always go out at once). */
    http_server *srv;
    conn *prev, *next;
    request_parser rp;
    conn_phase phase;
    int pending_closes;
    bool closing;
    bool reading;
    bool close_after_write; /* then linger and close */
    bool dispatching;
    bool finished_in_dispatch;
    bool write_inflight;
    bool draining_notified;
    bool parse_error;
    bool broken; /* a write failed: close from the loop, never inside a caller's write */
    bool first_request;
    uint64_t request_start_ns;
    /* input received while a request is handled */
    buf pending_in;
    /* output */
    buf out_inflight, out_next;
    http_exchange *ex;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t drain_timer;
    http_server_config cfg;
    request_parser_events parser_events;
    conn *conns;
    unsigned n_conns;
    bool shutting_down;
    bool listener_closed, finishing;
    void (*done_cb)(void *);
    void *done_ud;
    char host[64];
    int port;
};

static void conn_close(conn *c, const char *reason);
static void conn_free(conn *c);
static void conn_process_pending(conn *c);
static void conn_reject(conn *c, int status);
static void conn_arm_timer(conn *c);
static void conn_start_reading(conn *c);

void http_server_config_defaults(http_server_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->max_header_bytes = 64 * 1024;
    cfg->max_body_bytes = 32 * 1024 * 1024;
    cfg->max_connections = 20000;
    cfg->header_timeout_ms = 10000;
    cfg->body_timeout_ms = 60000;
    cfg->idle_timeout_ms = 75000;
    cfg->write_timeout_ms = 60000;
    cfg->output_high_water = 256 * 1024;
    cfg->backlog = 1024;
    cfg->access_log = true;
}

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return "Status";
    }
}

const char *http_request_header(const http_request *req, const char *name) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- output */

/* Output buffers keep their capacity between writes, except after a large response: an idle
 * keep-alive connection must not hold hundreds of KB (10,000 connections). */
#define OUTPUT_KEEP_CAP (64 * 1024)
static void buf_shrink_or_reset(buf *b) {
    if (b->cap > OUTPUT_KEEP_CAP)
        buf_free(b);
    else
        buf_reset(b);
}

static size_t conn_pending_output(const conn *c) { return c->out_inflight.len + c->out_next.len; }

static void on_write_done(uv_write_t *req, int status);

static void on_fail_timer(uv_timer_t *t) { conn_close(t->data, "client write error"); }

/* Write errors surface inside callers' write calls; closing there would free the exchange
 * under their feet, so the close is deferred to the next loop turn. */
static void conn_fail(conn *c) {
    if (c->broken || c->closing) return;
    c->broken = true;
    uv_timer_start(&c->timer, on_fail_timer, 0, 0);
}

static void conn_start_write(conn *c) {
    if (c->write_inflight || c->closing || c->out_next.len == 0) return;
    buf tmp = c->out_inflight;
    c->out_inflight = c->out_next;
    c->out_next = tmp;
    buf_shrink_or_reset(&c->out_next);
    uv_buf_t b = uv_buf_init(c->out_inflight.data, (unsigned)c->out_inflight.len);
    uv_write_t *wr = xmalloc(sizeof *wr);
    int rc = uv_write(wr, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
    if (rc < 0) {
        free(wr);
        conn_fail(c);
        return;
    }
    c->write_inflight = true;
    conn_arm_timer(c);
}

static void conn_after_output_drained(conn *c);

/* Writes now when the socket accepts it (no coalescing delay); queues the rest. */
static void conn_writev(conn *c, uv_buf_t *bufs, unsigned n) {
    if (c->closing || c->broken) return;
    unsigned i = 0;
    if (!c->write_inflight && c->out_next.len == 0) {
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (w < 0 && w != UV_EAGAIN) {
            conn_fail(c);
            return;
        }
        size_t left = w > 0 ? (size_t)w : 0;
        while (i < n && left >= bufs[i].len)
            left -= bufs[i++].len;
        if (i < n && left) {
            bufs[i].base += left;
            bufs[i].len -= left;
        }
    }
    for (; i < n; i++)
        buf_append(&c->out_next, bufs[i].base, bufs[i].len);
    conn_start_write(c);
    if (!c->write_inflight && conn_pending_output(c) == 0) conn_after_output_drained(c);
}

static void conn_write(conn *c, const char *data, size_t len) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    conn_writev(c, &b, 1);
}

static void on_shutdown_done(uv_shutdown_t *req, int status) {
    conn *c = req->data;
    free(req);
    c->pending_closes--;
    if (c->closing) {
        if (c->pending_closes == 0) conn_free(c);
        return;
    }
    if (status < 0) conn_close(c, "shutdown failed");
    /* else keep reading (and discarding) until EOF or the linger timer */
}

static void conn_begin_linger(conn *c) {
    c->phase = PHASE_LINGER;
    uv_shutdown_t *sr = xmalloc(sizeof *sr);
    sr->data = c;
    if (uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0) {
        free(sr);
        conn_close(c, NULL);
        return;
    }
    c->pending_closes++;
    conn_arm_timer(c);
}

static void conn_after_output_drained(conn *c) {
    if (c->closing) return;
    if (c->close_after_write && !c->ex && c->phase != PHASE_LINGER) {
        conn_begin_linger(c);
        return;
    }
    conn_arm_timer(c);
}

static void on_write_done(uv_write_t *req, int status) {
    conn *c = (conn *)req->handle->data;
    free(req);
    c->write_inflight = false;
    buf_shrink_or_reset(&c->out_inflight);
    if (c->closing) return; /* cancelled by uv_close */
    if (status < 0) {
        conn_close(c, "client write error");
        return;
    }
    conn_start_write(c);
    http_exchange *ex = c->ex;
    if (ex && ex->on_drain && c->draining_notified &&
        conn_pending_output(c) < c->srv->cfg.output_high_water / 2) {
        c->draining_notified = false;
        ex->on_drain(ex, ex->cb_ud);
        if (c->closing) return;
    }
    if (!c->write_inflight) conn_after_output_drained(c);
}

/* ---------------------------------------------------------------- timers */

static void on_conn_timer(uv_timer_t *t) {
    conn *c = t->data;
    switch (c->phase) {
    case PHASE_IDLE: conn_close(c, NULL); break; /* idle keep-alive expired */
    case PHASE_HEADERS: conn_reject(c, 408); break;
    case PHASE_BODY: conn_reject(c, 408); break;
    case PHASE_HANDLING: conn_close(c, "write timeout"); break;
    case PHASE_LINGER: conn_close(c, NULL); break;
    }
}

/* One timer per connection; its meaning follows the phase. */
static void conn_arm_timer(conn *c) {
    if (c->closing || c->broken) return;
    const http_server_config *cfg = &c->srv->cfg;
    uint64_t ms = 0;
    switch (c->phase) {
    case PHASE_IDLE: ms = c->first_request ? cfg->header_timeout_ms : cfg->idle_timeout_ms; break;
    case PHASE_HEADERS: ms = cfg->header_timeout_ms; break;
    case PHASE_BODY: ms = cfg->body_timeout_ms; break;
    case PHASE_HANDLING: ms = c->write_inflight ? cfg->write_timeout_ms : 0; break;
    case PHASE_LINGER: ms = LINGER_MS; break;
    }
    if (c->phase == PHASE_HEADERS || c->phase == PHASE_BODY) {
        /* These limits count from the request's first byte, not from the last read. */
        uint64_t elapsed = (clock_mono_ns() - c->request_start_ns) / 1000000u;
        if (c->phase == PHASE_HEADERS) ms = elapsed >= ms ? 1 : ms - elapsed;
    }
    if (ms)
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

/* ---------------------------------------------------------------- exchange */

static void access_log(http_exchange *ex) {
    const http_server_config *cfg = &ex->c->srv->cfg;
    if (!cfg->access_log || !log_enabled(LOG_INFO)) return;
    char ts[40];
    clock_format_rfc3339(clock_wall_ms(), ts, sizeof ts);
    double dur_ms = (double)(clock_mono_ns() - ex->req.start_ns) / 1e6;
    buf b = BUF_INIT;
    buf_printf(&b, "{\"time\":\"%s\",\"kind\":\"access\",\"request_id\":\"%s\",\"method\":", ts,
               ex->request_id);
    json_put_str(&b, ex->req.method);
    buf_puts(&b, ",\"path\":");
    json_put_str(&b, ex->req.path);
    buf_printf(&b, ",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%.3f", ex->status,
               (unsigned long long)ex->bytes_out, dur_ms);
    if (ex->key_id[0]) buf_printf(&b, ",\"key_id\":\"%s\"", ex->key_id);
    if (ex->log_extra.len) {
        buf_putc(&b, ',');
        buf_append(&b, ex->log_extra.data, ex->log_extra.len);
    }
    buf_puts(&b, "}\n");
    log_raw_line(b.data, b.len);
    buf_free(&b);
}

static void exchange_free(http_exchange *ex) {
    request_parsed_free(&ex->parsed);
    buf_free(&ex->log_extra);
    free(ex);
}

/* The response is complete: log, then go back to reading the next request (or close). */
static void exchange_finish(http_exchange *ex) {
    conn *c = ex->c;
    access_log(ex);
    bool keep = ex->keep_alive && !c->srv->shutting_down;
    c->ex = NULL;
    exchange_free(ex);
    c->draining_notified = false;
    if (c->broken) return; /* the deferred close is on its way */
    if (!keep) {
        c->close_after_write = true;
        if (!c->write_inflight && conn_pending_output(c) == 0) conn_begin_linger(c);
        return;
    }
    c->phase = PHASE_IDLE;
    c->request_start_ns = 0;
    c->first_request = false;
    conn_arm_timer(c);
    if (c->dispatching)
        c->finished_in_dispatch = true;
    else
        conn_process_pending(c);
}

static void write_head(http_exchange *ex, int status, const char *content_type,
                       const char *extra_headers, long long content_length) {
    conn *c = ex->c;
    buf h = BUF_INIT;
    buf_reserve(&h, 256);
    buf_printf(&h, "HTTP/1.%d %d %s\r\n", ex->req.http_minor >= 1 ? 1 : 0, status,
               http_status_text(status));
    if (content_type) buf_printf(&h, "Content-Type: %s\r\n", content_type);
    if (content_length >= 0)
        buf_printf(&h, "Content-Length: %lld\r\n", content_length);
    else if (ex->chunked)
        buf_puts(&h, "Transfer-Encoding: chunked\r\n");
    buf_printf(&h, "request-id: %s\r\nx-request-id: %s\r\n", ex->request_id, ex->request_id);
    if (c->srv->shutting_down) ex->keep_alive = false;
    if (!ex->keep_alive)
        buf_puts(&h, "Connection: close\r\n");
    else if (ex->req.http_minor == 0)
        buf_puts(&h, "Connection: keep-alive\r\n");
    if (extra_headers) buf_puts(&h, extra_headers);
    buf_puts(&h, "\r\n");
    ex->status = status;
    ex->started = true;
    ex->bytes_out += h.len;
    conn_write(c, h.data, h.len);
    buf_free(&h);
}

void http_respond(http_exchange *ex, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers) {
    write_head(ex, status, content_type, extra_headers, (long long)body_len);
    if (!ex->head_only && body_len) {
        ex->bytes_out += body_len;
        conn_write(ex->c, body, body_len);
    }
    exchange_finish(ex);
}

void http_stream_start(http_exchange *ex, int status, const char *content_type,
                       const char *extra_headers) {
    ex->chunked = ex->req.http_minor >= 1;
    if (!ex->chunked) ex->keep_alive = false; /* HTTP/1.0: the close delimits the body */
    write_head(ex, status, content_type, extra_headers, -1);
}

bool http_stream_write(http_exchange *ex, const char *data, size_t len) {
    conn *c = ex->c;
    if (c->closing || c->broken) return false;
    if (len == 0 || ex->head_only) return true;
    if (!ex->chunked) {
        ex->bytes_out += len;
        conn_write(c, data, len);
    } else {
        char head[20];
        int hl = snprintf(head, sizeof head, "%zx\r\n", len);
        uv_buf_t bufs[3] = {uv_buf_init(head, (unsigned)hl),
                            uv_buf_init((char *)data, (unsigned)len),
                            uv_buf_init((char *)"\r\n", 2)};
        ex->bytes_out += (uint64_t)hl + len + 2;
        conn_writev(c, bufs, 3);
    }
    if (c->closing || c->broken) return false;
    if (conn_pending_output(c) >= c->srv->cfg.output_high_water) c->draining_notified = true;
    return true;
}

void http_stream_end(http_exchange *ex) {
    if (ex->chunked && !ex->head_only && !ex->c->closing) {
        ex->bytes_out += 5;
        conn_write(ex->c, "0\r\n\r\n", 5);
    }
    if (ex->c->closing) return; /* the abort path owns the exchange */
    exchange_finish(ex);
}

size_t http_exchange_pending_output(const http_exchange *ex) { return conn_pending_output(ex->c); }

bool http_exchange_congested(const http_exchange *ex) {
    return conn_pending_output(ex->c) >= ex->c->srv->cfg.output_high_water;
}

void http_exchange_set_callbacks(http_exchange *ex, http_abort_fn on_abort, http_drain_fn on_drain,
                                 void *ud) {
    ex->on_abort = on_abort;
    ex->on_drain = on_drain;
    ex->cb_ud = ud;
}

uv_loop_t *http_exchange_loop(const http_exchange *ex) { return ex->c->srv->loop; }
const http_request *http_exchange_request(const http_exchange *ex) { return &ex->req; }

char *http_exchange_take_body(http_exchange *ex, size_t *len) {
    return buf_detach(&ex->parsed.body, len);
}

void http_exchange_release_request(http_exchange *ex) {
    request_parsed_release_payload(&ex->parsed);
    http_request *r = &ex->req;
    r->target = ex->parsed.target;
    r->path = ex->parsed.path;
    r->query = ex->parsed.query;
    r->headers = NULL;
    r->n_headers = 0;
    r->body = "";
    r->body_len = 0;
}

void http_exchange_log_key_id(http_exchange *ex, const char *key_id) {
    snprintf(ex->key_id, sizeof ex->key_id, "%s", key_id ? key_id : "");
}

void http_exchange_log_field(http_exchange *ex, const char *json_fragment) {
    if (ex->log_extra.len) buf_putc(&ex->log_extra, ',');
    buf_puts(&ex->log_extra, json_fragment);
}

/* ---------------------------------------------------------------- parsing */

static void on_request_begin(void *ud) {
    conn *c = ud;
    c->phase = PHASE_HEADERS;
    if (!c->request_start_ns) c->request_start_ns = clock_mono_ns();
    conn_arm_timer(c);
}

static void on_request_headers(void *ud, bool expect_continue) {
    conn *c = ud;
    c->phase = PHASE_BODY;
    conn_arm_timer(c);
    if (expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, cont, sizeof cont - 1);
    }
}

/* Wraps a parsed request into an exchange owned by the connection. */
static void conn_take_request(conn *c, request_parsed *parsed) {
    http_exchange *ex = xcalloc(1, sizeof *ex);
    ex->c = c;
    ex->parsed = *parsed;
    ids_prefixed(ex->request_id, sizeof ex->request_id, "req_", 24);
    http_request *r = &ex->req;
    r->method = parsed->method;
    r->target = parsed->target;
    r->path = parsed->path;
    r->path_len = strlen(parsed->path);
    r->query = parsed->query;
    r->headers = parsed->headers;
    r->n_headers = parsed->n_headers;
    r->body = parsed->body.data;
    r->body_len = parsed->body.len;
    r->request_id = ex->request_id;
    r->start_ns = c->request_start_ns;
    r->http_minor = parsed->http_minor;
    ex->keep_alive = parsed->keep_alive;
    ex->head_only = parsed->head;
    c->ex = ex;
    c->phase = PHASE_HANDLING;
    c->request_start_ns = 0;
    conn_arm_timer(c);
}

static void conn_dispatch(conn *c) {
    http_exchange *ex = c->ex;
    c->dispatching = true;
    c->finished_in_dispatch = false;
    c->srv->cfg.handler(ex, &ex->req, c->srv->cfg.ud);
    c->dispatching = false;
}

/* Renders a server-side rejection in the protocol of the path and closes after sending it. */
static void conn_reject(conn *c, int status) {
    if (c->closing) return;
    const http_server_config *cfg = &c->srv->cfg;
    char rid[32];
    ids_prefixed(rid, sizeof rid, "req_", 24);
    char path_copy[256];
    request_parser_path(&c->rp, path_copy, sizeof path_copy);
    const char *path = path_copy[0] ? path_copy : NULL;
    char *body = NULL;
    size_t len = 0;
    if (cfg->render_error) cfg->render_error(status, path, rid, &body, &len, cfg->ud);
    buf h = BUF_INIT;
    buf_printf(&h,
               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
               "request-id: %s\r\nx-request-id: %s\r\nConnection: close\r\n\r\n",
               status, http_status_text(status), len, rid, rid);
    if (body) buf_append(&h, body, len);
    free(body);
    c->close_after_write = true;
    c->parse_error = true;
    if (cfg->access_log && log_enabled(LOG_INFO))
        log_info("request rejected", "\"request_id\":\"%s\",\"status\":%d", rid, status);
    conn_write(c, h.data, h.len);
    buf_free(&h);
    if (!c->closing && c->phase != PHASE_LINGER && !c->write_inflight &&
        conn_pending_output(c) == 0)
        conn_begin_linger(c);
}

/* Feeds bytes to the parser. Returns the number consumed; stops at a message end. */
static size_t conn_parse(conn *c, const char *data, size_t len) {
    if (c->phase == PHASE_IDLE && len) {
        if (!c->request_start_ns) c->request_start_ns = clock_mono_ns();
        conn_arm_timer(c);
    }
    size_t consumed = 0;
    request_parsed parsed;
    request_parser_result res = request_parser_feed(&c->rp, data, len, &consumed, &parsed);
    if (res == REQUEST_PARSER_REQUEST)
        conn_take_request(c, &parsed);
    else if (res == REQUEST_PARSER_ERROR)
        conn_reject(c, request_parser_status(&c->rp));
    return consumed;
}

/* Parses buffered input while no request is being handled. */
static void conn_process_pending(conn *c) {
    while (!c->closing && !c->ex && !c->parse_error && c->phase != PHASE_LINGER &&
           c->pending_in.len) {
        size_t n = conn_parse(c, c->pending_in.data, c->pending_in.len);
        buf_consume(&c->pending_in, n);
        if (c->ex) {
            conn_dispatch(c);
            if (!c->finished_in_dispatch) break;
        }
    }
    if (!c->closing && !c->reading && c->phase != PHASE_LINGER) conn_start_reading(c);
}

/* ---------------------------------------------------------------- connection I/O */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)h;
    (void)suggested;
    static char slab[64 * 1024]; /* loop-thread only; data is consumed before the next read */
    *b = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    conn *c = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? (c->ex ? "client disconnected" : NULL) : "read error");
        return;
    }
    /* discard; a broken connection closes on the next turn: start no request on it */
    if (c->phase == PHASE_LINGER || c->parse_error || c->broken) return;
    size_t len = (size_t)nread;
    if (c->ex || c->pending_in.len) {
        buf_append(&c->pending_in, b->base, len);
        size_t limit = c->srv->cfg.max_header_bytes + 64 * 1024;
        if (c->pending_in.len > limit && c->reading) {
            uv_read_stop(s); /* backpressure on a pipelining client */
            c->reading = false;
        }
        return;
    }
    size_t n = conn_parse(c, b->base, len);
    if (c->ex) {
        if (n < len) buf_append(&c->pending_in, b->base + n, len - n);
        conn_dispatch(c);
        if (c->finished_in_dispatch && !c->closing) conn_process_pending(c);
    }
}

static void server_maybe_finish(http_server *srv);

static void conn_free(conn *c) {
    http_server *srv = c->srv;
    request_parser_free(&c->rp);
    buf_free(&c->pending_in);
    buf_free(&c->out_inflight);
    buf_free(&c->out_next);
    free(c);
    srv->n_conns--;
    server_maybe_finish(srv);
}

static void on_handle_closed(uv_handle_t *h) {
    conn *c = h->data;
    if (--c->pending_closes > 0) return;
    conn_free(c);
}

static void conn_close(conn *c, const char *reason) {
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (reason && log_enabled(LOG_DEBUG))
        log_debug("connection closed", "\"reason\":\"%s\"", reason);
    http_exchange *ex = c->ex;
    if (ex) {
        c->ex = NULL;
        if (!ex->status) ex->status = 499; /* client closed before a response, as nginx logs it */
        if (ex->on_abort) ex->on_abort(ex, ex->cb_ud);
        access_log(ex);
        exchange_free(ex);
    }
    /* unlink */
    http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_timer_stop(&c->timer);
    c->pending_closes += 2;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void conn_start_reading(conn *c) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

static void on_connection(uv_stream_t *listener, int status) {
    http_server *srv = listener->data;
    if (status < 0) return;
    conn *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "accept failed");
        return;
    }
    if (srv->shutting_down || srv->n_conns > srv->cfg.max_connections) {
        conn_close(c, "connection limit");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    request_parser_init(&c->rp, srv->cfg.max_header_bytes, srv->cfg.max_body_bytes,
                        &srv->parser_events, c);
    c->phase = PHASE_IDLE;
    c->first_request = true; /* the first request must arrive within the header timeout */
    conn_arm_timer(c);
    conn_start_reading(c);
}

/* ---------------------------------------------------------------- server */

int http_server_start(http_server **out, uv_loop_t *loop, const http_server_config *cfg) {
    http_server *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->parser_events.on_begin = on_request_begin;
    srv->parser_events.on_headers = on_request_headers;

    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr);
    if (rc < 0) rc = uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr);
    if (rc < 0) goto fail;
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    uv_timer_init(loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, cfg->backlog, on_connection);
    if (rc < 0) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        uv_close((uv_handle_t *)&srv->drain_timer, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* let the close callbacks run before freeing */
        goto fail;
    }
    struct sockaddr_storage bound;
    int namelen = sizeof bound;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &namelen);
    if (bound.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&bound;
        uv_ip6_name(a6, srv->host, sizeof srv->host);
        srv->port = ntohs(a6->sin6_port);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&bound;
        uv_ip4_name(a4, srv->host, sizeof srv->host);
        srv->port = ntohs(a4->sin_port);
    }
    *out = srv;
    return 0;
fail:
    free(srv);
    *out = NULL;
    return rc;
}

void http_server_address(const http_server *srv, char *host_out, size_t cap, int *port_out) {
    snprintf(host_out, cap, "%s", srv->host);
    *port_out = srv->port;
}

unsigned http_server_connection_count(const http_server *srv) { return srv->n_conns; }

static void on_drain_timeout(uv_timer_t *t) {
    http_server *srv = t->data;
    conn *c = srv->conns;
    while (c) {
        conn *next = c->next;
        conn_close(c, "drain timeout");
        c = next;
    }
}

static void on_drain_timer_closed(uv_handle_t *h) {
    http_server *srv = h->data;
    void (*cb)(void *) = srv->done_cb;
    void *ud = srv->done_ud;
    free(srv);
    if (cb) cb(ud);
}

/* The server is freed once the listener and every connection are closed. */
static void server_maybe_finish(http_server *srv) {
    if (!srv->shutting_down || !srv->listener_closed || srv->n_conns || srv->finishing) return;
    srv->finishing = true;
    uv_timer_stop(&srv->drain_timer);
    uv_close((uv_handle_t *)&srv->drain_timer, on_drain_timer_closed);
}

static void on_listener_closed(uv_handle_t *h) {
    http_server *srv = h->data;
    srv->listener_closed = true;
    server_maybe_finish(srv);
}

void http_server_shutdown(http_server *srv, uint64_t drain_ms, void (*done_cb)(void *), void *ud) {
    if (srv->shutting_down) return;
    srv->shutting_down = true;
    srv->done_cb = done_cb;
    srv->done_ud = ud;
    conn *c = srv->conns;
    while (c) {
        conn *next = c->next;
        if (!c->ex) {
            if (!c->broken && c->phase != PHASE_LINGER &&
                (c->write_inflight || conn_pending_output(c))) {
                /* a finished response is still draining: let it out, then linger and close */
                c->close_after_write = true;
                c->parse_error = true; /* no further requests on this connection */
            } else {
                conn_close(c, NULL); /* idle: close now; busy ones close after responding */
            }
        }
        c = next;
    }
    if (srv->n_conns) uv_timer_start(&srv->drain_timer, on_drain_timeout, drain_ms, 0);
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}
