#include "net/request_parser.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { PART_NONE, PART_FIELD, PART_VALUE };

void request_parsed_free(request_parsed *r) {
    buf_free(&r->store);
    buf_free(&r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

void request_parsed_release_payload(request_parsed *r) {
    /* The path is a copy of its own only when a query follows it in the target. */
    bool has_query = r->path != r->target;
    size_t tlen = strlen(r->target), plen = strlen(r->path);
    size_t size = tlen + 1 + (has_query ? plen + 1 : 0);
    char *s = xmalloc(size);
    memcpy(s, r->target, tlen + 1);
    if (has_query) memcpy(s + tlen + 1, r->path, plen + 1);
    buf_free(&r->store);
    buf_free(&r->body);
    free(r->headers);
    r->store = (buf){.data = s, .len = size - 1, .cap = size};
    r->headers = NULL;
    r->n_headers = 0;
    r->target = s;
    r->path = has_query ? s + tlen + 1 : s;
    r->query = has_query ? s + plen + 1 : "";
}

static void reset_message(request_parser *p) {
    buf_reset(&p->store);
    buf_reset(&p->body);
    p->n_spans = 0;
    p->part = PART_NONE;
    p->url_len = 0;
    p->url_seen = false;
    p->header_bytes = 0;
    p->reject_status = 0;
}

static int over_header_budget(request_parser *p, size_t n) {
    p->header_bytes += n;
    if (p->header_bytes <= p->max_header_bytes) return 0;
    p->reject_status = 431;
    return 1;
}

static int on_message_begin(llhttp_t *l) {
    request_parser *p = l->data;
    reset_message(p);
    if (p->events && p->events->on_begin) p->events->on_begin(p->ud);
    return HPE_OK;
}

static int on_url(llhttp_t *l, const char *at, size_t len) {
    request_parser *p = l->data;
    if (over_header_budget(p, len)) return HPE_USER;
    buf_append(&p->store, at, len);
    return HPE_OK;
}

static int on_url_complete(llhttp_t *l) {
    request_parser *p = l->data;
    p->url_len = (uint32_t)p->store.len;
    p->url_seen = true;
    buf_putc(&p->store, '\0');
    return HPE_OK;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
    request_parser *p = l->data;
    if (over_header_budget(p, len)) return HPE_USER;
    if (p->part != PART_FIELD) {
        if (p->n_spans == REQUEST_PARSER_MAX_HEADERS) {
            p->reject_status = 431;
            return HPE_USER;
        }
        if (p->n_spans == p->spans_cap) {
            p->spans_cap = p->spans_cap ? p->spans_cap * 2 : 16;
            if (p->spans_cap > REQUEST_PARSER_MAX_HEADERS)
                p->spans_cap = REQUEST_PARSER_MAX_HEADERS;
            p->spans = xrealloc(p->spans, p->spans_cap * sizeof *p->spans);
        }
        p->spans[p->n_spans].name_off = (uint32_t)p->store.len;
        p->part = PART_FIELD;
    }
    buf_append(&p->store, at, len);
    return HPE_OK;
}

static int on_header_field_complete(llhttp_t *l) {
    request_parser *p = l->data;
    if (p->n_spans == p->spans_cap) return HPE_USER; /* no header was started */
    if (p->part != PART_FIELD) p->spans[p->n_spans].name_off = (uint32_t)p->store.len;
    p->spans[p->n_spans].name_len = (uint32_t)p->store.len - p->spans[p->n_spans].name_off;
    buf_putc(&p->store, '\0');
    p->part = PART_NONE;
    return HPE_OK;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len) {
    request_parser *p = l->data;
    if (over_header_budget(p, len)) return HPE_USER;
    if (p->part != PART_VALUE) {
        p->spans[p->n_spans].val_off = (uint32_t)p->store.len;
        p->part = PART_VALUE;
    }
    buf_append(&p->store, at, len);
    return HPE_OK;
}

static int on_header_value_complete(llhttp_t *l) {
    request_parser *p = l->data;
    if (p->n_spans == p->spans_cap) return HPE_USER; /* no header was started */
    if (p->part != PART_VALUE) p->spans[p->n_spans].val_off = (uint32_t)p->store.len;
    size_t start = p->spans[p->n_spans].val_off, end = p->store.len;
    while (end > start && (p->store.data[end - 1] == ' ' || p->store.data[end - 1] == '\t'))
        end--;
    p->store.len = end;
    p->spans[p->n_spans].val_len = (uint32_t)(end - start);
    buf_putc(&p->store, '\0');
    p->n_spans++;
    p->part = PART_NONE;
    return HPE_OK;
}

static const char *find_header(const request_parser *p, const char *name) {
    for (size_t i = 0; i < p->n_spans; i++)
        if (strcasecmp(p->store.data + p->spans[i].name_off, name) == 0)
            return p->store.data + p->spans[i].val_off;
    return NULL;
}

static int on_headers_complete(llhttp_t *l) {
    request_parser *p = l->data;
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body_bytes) {
        p->reject_status = 413;
        return HPE_USER;
    }
    /* We never switch protocols: an Upgrade offer (e.g. h2c) is an ordinary request, and the
     * connection stays HTTP/1.1 (else llhttp pauses for the new protocol and the next request
     * on the connection fails to parse). CONNECT keeps llhttp's upgrade and closes. */
    if (l->method != HTTP_CONNECT) l->upgrade = 0;
    const char *expect = find_header(p, "expect");
    bool cont = expect && strcasecmp(expect, "100-continue") == 0 && l->http_minor >= 1;
    if (p->events && p->events->on_headers) p->events->on_headers(p->ud, cont);
    return HPE_OK;
}

static int on_body(llhttp_t *l, const char *at, size_t len) {
    request_parser *p = l->data;
    if (p->body.len + len > p->max_body_bytes) {
        p->reject_status = 413;
        return HPE_USER;
    }
    buf_append(&p->body, at, len);
    return HPE_OK;
}

/* Hands the finished request over and pauses, so one request is handled at a time. */
static int on_message_complete(llhttp_t *l) {
    request_parser *p = l->data;
    request_parsed *r = p->out;
    memset(r, 0, sizeof *r);
    if (!p->store.data) buf_putc(&p->store, '\0');
    /* The path without the query becomes its own string, before any pointer is taken. */
    const char *qm = memchr(p->store.data, '?', p->url_len);
    size_t qoff = qm ? (size_t)(qm - p->store.data) : 0, path_off = 0;
    if (qm) {
        /* Grow first: appending from the buffer itself must not realloc it under memcpy. */
        buf_reserve(&p->store, qoff + 1);
        path_off = p->store.len;
        buf_append(&p->store, p->store.data, qoff);
        buf_putc(&p->store, '\0');
    }
    r->store = p->store;
    r->body = p->body;
    buf_init(&p->store);
    buf_init(&p->body);
    if (!r->body.data) buf_reserve(&r->body, 0), r->body.data[0] = '\0';
    r->headers = xcalloc(p->n_spans ? p->n_spans : 1, sizeof *r->headers);
    for (size_t i = 0; i < p->n_spans; i++)
        r->headers[i] =
            (http_header){r->store.data + p->spans[i].name_off, r->store.data + p->spans[i].val_off,
                          p->spans[i].name_len, p->spans[i].val_len};
    r->n_headers = p->n_spans;
    /* The headers now live in the request: a connection that is handling (or streaming) it
     * needs no span array until its next request. */
    free(p->spans);
    p->spans = NULL;
    p->n_spans = p->spans_cap = 0;
    r->method = llhttp_method_name((llhttp_method_t)l->method);
    r->target = r->store.data;
    r->query = qm ? r->store.data + qoff + 1 : "";
    r->path = r->store.data + path_off;
    r->http_minor = l->http_minor;
    r->keep_alive = llhttp_should_keep_alive(l) && !l->upgrade;
    r->head = l->method == HTTP_HEAD;
    p->complete = true;
    return HPE_PAUSED;
}

/* One callback table for every connection (llhttp keeps a pointer to it): a copy per
 * connection would cost 184 bytes on each idle or streaming connection. */
static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void request_parser_init(request_parser *p, size_t max_header_bytes, size_t max_body_bytes,
                         const request_parser_events *events, void *ud) {
    memset(p, 0, sizeof *p);
    llhttp_init(&p->llhttp, HTTP_REQUEST, &parser_settings);
    p->llhttp.data = p;
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
    p->events = events;
    p->ud = ud;
}

void request_parser_free(request_parser *p) {
    free(p->spans);
    p->spans = NULL;
    buf_free(&p->store);
    buf_free(&p->body);
}

request_parser_result request_parser_feed(request_parser *p, const char *data, size_t len,
                                          size_t *consumed, request_parsed *out) {
    p->out = out;
    p->complete = false;
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);
    if (err == HPE_PAUSED && p->complete) {
        const char *pos = llhttp_get_error_pos(&p->llhttp);
        llhttp_resume(&p->llhttp);
        *consumed = pos ? (size_t)(pos - data) : len;
        return REQUEST_PARSER_REQUEST;
    }
    *consumed = len;
    if (err == HPE_OK) return REQUEST_PARSER_MORE;
    if (!p->reject_status) p->reject_status = 400;
    return REQUEST_PARSER_ERROR;
}

int request_parser_status(const request_parser *p) {
    return p->reject_status ? p->reject_status : 400;
}

void request_parser_path(const request_parser *p, char *out, size_t cap) {
    out[0] = '\0';
    if (!cap || !p->store.data || !p->url_seen) return;
    size_t n = strcspn(p->store.data, "?");
    if (n >= cap) n = cap - 1;
    memcpy(out, p->store.data, n);
    out[n] = '\0';
}
