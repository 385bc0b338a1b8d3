/* The request side of the upstream HTTP client, socket-free: URL parsing, the checks on what a
 * caller may put on the wire, and the request bytes. */
#ifndef LGW_UPSTREAM_HTTP_REQUEST_H
#define LGW_UPSTREAM_HTTP_REQUEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pointers into the parsed URL string. */
typedef struct http_url {
    bool tls;         /* https */
    const char *host; /* without IPv6 brackets */
    size_t host_len;
    bool bracketed; /* an IPv6 literal */
    uint16_t port;
    bool default_port;
    const char *path; /* from the first '/' or '?', up to '#'; may be empty */
    size_t path_len;
} http_url;

/* http:// or https://, a host (name, IPv4 or [IPv6]), an optional port 1..65535, no user
 * info, no byte <= 0x20 or DEL (so nothing can break the request line). */
bool http_url_parse(const char *url, http_url *u);

/* A token (RFC 9110 tchar). */
bool http_method_ok(const char *m);

/* Complete "Name: value\r\n" lines, no blank line, no bare CR or LF; tells whether one of
 * them is Accept-Encoding. */
bool http_headers_ok(const char *h, bool *has_accept_encoding);

/* The request: request line, Host (with the port when not the scheme's default), the
 * caller's header lines, Accept-Encoding: identity unless the caller has one, Content-Length
 * when there is a body or the method is POST, PUT or PATCH, the blank line, the body. Head and
 * body in one allocation (*len bytes, caller frees), so one write sends them and a retry can
 * send them again. */
char *http_request_build(const char *method, const http_url *u, const char *headers,
                         bool has_accept_encoding, const char *body, size_t body_len, size_t *len);
#endif
