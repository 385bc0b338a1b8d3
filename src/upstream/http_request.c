#include "upstream/http_request.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <string.h>
#include <strings.h>

bool http_url_parse(const char *url, http_url *u) {
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = true;
        p = url + 8;
    } else {
        return false;
    }
    for (const char *q = url; *q && *q != '#'; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) return false; /* no blanks, no CR/LF */
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p))) return false; /* no user info */
    const char *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) return false;
        u->host = p + 1;
        u->host_len = (size_t)(rb - p - 1);
        u->bracketed = true;
        if (rb + 1 < end) {
            if (rb[1] != ':') return false;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        u->host = p;
        u->host_len = (size_t)((colon ? colon : end) - p);
        if (colon) port = colon + 1;
    }
    if (u->host_len == 0 || u->host_len > 255) return false;
    u->port = u->tls ? 443 : 80;
    u->default_port = true;
    if (port) {
        unsigned long v = 0;
        if (port == end || end - port > 5) return false;
        for (const char *d = port; d < end; d++) {
            if (*d < '0' || *d > '9') return false;
            v = v * 10 + (unsigned long)(*d - '0');
        }
        if (v == 0 || v > 65535) return false;
        u->port = (uint16_t)v;
        u->default_port = v == (u->tls ? 443u : 80u);
    }
    u->path = end;
    u->path_len = strcspn(end, "#");
    return true;
}

bool http_method_ok(const char *m) {
    if (!*m) return false;
    for (; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *m)))
            return false;
    return true;
}

bool http_headers_ok(const char *h, bool *has_accept_encoding) {
    while (*h) {
        const char *eol = strstr(h, "\r\n");
        if (!eol || eol == h || memchr(h, '\n', (size_t)(eol - h)) ||
            memchr(h, '\r', (size_t)(eol - h)))
            return false;
        const char *colon = memchr(h, ':', (size_t)(eol - h));
        if (!colon || colon == h) return false;
        if (colon - h == 15 && strncasecmp(h, "Accept-Encoding", 15) == 0)
            *has_accept_encoding = true;
        h = eol + 2;
    }
    return true;
}

char *http_request_build(const char *m, const http_url *u, const char *headers,
                         bool has_accept_encoding, const char *body, size_t body_len, size_t *len) {
    size_t hdr_len = headers ? strlen(headers) : 0;
    bool with_length = body || body_len || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
                       strcmp(m, "PATCH") == 0;
    /* An exact-enough capacity, not buf's next power of two: the request lives until the
     * response starts, for every call in flight. 128 covers the fixed text and numbers. */
    size_t cap = strlen(m) + u->path_len + u->host_len + hdr_len + 128 + body_len;
    buf b = {xmalloc(cap), 0, cap};
    buf_puts(&b, m);
    buf_putc(&b, ' ');
    if (u->path_len == 0 || u->path[0] != '/') buf_putc(&b, '/');
    buf_append(&b, u->path, u->path_len);
    buf_puts(&b, " HTTP/1.1\r\nHost: ");
    if (u->bracketed) buf_putc(&b, '[');
    buf_append(&b, u->host, u->host_len);
    if (u->bracketed) buf_putc(&b, ']');
    if (!u->default_port) {
        buf_putc(&b, ':');
        buf_put_u64(&b, u->port);
    }
    buf_puts(&b, "\r\n");
    buf_append(&b, headers, hdr_len);
    if (!has_accept_encoding) buf_puts(&b, "Accept-Encoding: identity\r\n");
    if (with_length) {
        buf_puts(&b, "Content-Length: ");
        buf_put_u64(&b, body_len);
        buf_puts(&b, "\r\n");
    }
    buf_puts(&b, "\r\n");
    if (body_len) buf_append(&b, body, body_len);
    return buf_detach(&b, len);
}
