/* HTTP/1.1 request parsing on llhttp, with the header and body limits, and no sockets:
 * bytes in, complete requests out. The server feeds it; the fuzzer feeds it directly. */
#ifndef LGW_NET_REQUEST_PARSER_H
#define LGW_NET_REQUEST_PARSER_H
#include "net/http_server.h"
#include "util/buf.h"
#include <llhttp.h>
#include <stdbool.h>

#define REQUEST_PARSER_MAX_HEADERS 256

/* A complete request. Owns its storage; request_parsed_free releases it. */
typedef struct request_parsed {
    buf store; /* target, path copy, header names and values, all NUL-terminated */
    buf body;
    http_header *headers;
    size_t n_headers;
    const char *method;
    const char *target, *path, *query;
    int http_minor;
    bool keep_alive;
    bool head;
} request_parsed;

void request_parsed_free(request_parsed *r);
/* Frees the headers and the body and keeps the request line (method, target, path, query) in
 * storage of its exact size: what a response that outlives its request still needs. */
void request_parsed_release_payload(request_parsed *r);

typedef struct request_parser_events {
    void (*on_begin)(void *ud);                         /* first byte of a request */
    void (*on_headers)(void *ud, bool expect_continue); /* headers accepted, body follows */
} request_parser_events;

typedef struct request_parser {
    llhttp_t llhttp;
    size_t max_header_bytes, max_body_bytes;
    const request_parser_events *events;
    void *ud;
    buf store, body;
    /* Header spans grow on demand (up to REQUEST_PARSER_MAX_HEADERS) and are freed when a
     * request is handed over: a fixed array would cost 4 KiB on every idle or streaming
     * connection. */
    struct request_span {
        uint32_t name_off, name_len, val_off, val_len;
    } * spans;
    size_t n_spans, spans_cap;
    int part; /* 0 none, 1 field, 2 value */
    uint32_t url_len;
    size_t header_bytes;
    int reject_status;
    bool url_seen;
    request_parsed *out; /* where the next complete request goes */
    bool complete;
} request_parser;

typedef enum {
    REQUEST_PARSER_MORE,    /* everything consumed, no complete request yet */
    REQUEST_PARSER_REQUEST, /* a request is complete; bytes after it were not consumed */
    REQUEST_PARSER_ERROR, /* malformed or over a limit: respond request_parser_status() and close */
} request_parser_result;

void request_parser_init(request_parser *p, size_t max_header_bytes, size_t max_body_bytes,
                         const request_parser_events *events, void *ud);
void request_parser_free(request_parser *p);
/* On REQUEST_PARSER_REQUEST, *out is filled (the caller owns it) and *consumed tells how many
 * bytes belonged to it; feed the rest again after handling it. */
request_parser_result request_parser_feed(request_parser *p, const char *data, size_t len,
                                          size_t *consumed, request_parsed *out);
/* The status to answer a parse error with: 400, 413 or 431. */
int request_parser_status(const request_parser *p);
/* The path of the request being parsed (query stripped, copied into out), or "" if unknown. */
void request_parser_path(const request_parser *p, char *out, size_t cap);
#endif
