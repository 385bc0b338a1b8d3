/* libFuzzer target: the HTTP/1.1 request parser (net/request_parser.h), the way the server
 * drives it. The first input byte picks where the rest is split into two reads; each read is
 * fed until it is consumed, every complete request is checked and freed, and a parse error
 * ends the "connection". Limits are small so the 413 and 431 paths are reached. */
#include "net/request_parser.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_HEADER_BYTES 512
#define FUZZ_MAX_BODY_BYTES   256

typedef struct fuzz_counts {
    size_t begins, headers, requests;
} fuzz_counts;

static void on_begin(void *ud) { ((fuzz_counts *)ud)->begins++; }
static void on_headers(void *ud, bool expect_continue) {
    (void)expect_continue;
    ((fuzz_counts *)ud)->headers++;
}

static const request_parser_events EVENTS = {on_begin, on_headers};

/* Invariants of a parsed request; a violation aborts so libFuzzer reports it. */
static void check_request(const request_parsed *r) {
    if (!r->method || !r->target || !r->path || !r->query || !r->body.data) abort();
    size_t plen = strlen(r->path);
    if (memchr(r->path, '?', plen)) abort();             /* the query is not in the path */
    if (strncmp(r->target, r->path, plen) != 0) abort(); /* the path is the target's prefix */
    if (r->body.len > FUZZ_MAX_BODY_BYTES) abort();      /* the body limit held */
    if (r->n_headers > REQUEST_PARSER_MAX_HEADERS) abort();
    if (r->body.data[r->body.len] != '\0') abort(); /* bodies are NUL-terminated */
    for (size_t i = 0; i < r->n_headers; i++) {
        const http_header *h = &r->headers[i];
        if (!h->name || !h->value) abort();
        if (h->name[h->name_len] != '\0' || h->value[h->value_len] != '\0') abort();
        if (h->value_len &&
            (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
            abort(); /* trailing blanks are trimmed */
    }
}

/* Feeds one read. Returns false when the connection would be closed (parse error). */
static bool feed(request_parser *p, fuzz_counts *counts, const char *data, size_t len) {
    while (len) {
        size_t consumed = 0;
        request_parsed r;
        request_parser_result res = request_parser_feed(p, data, len, &consumed, &r);
        if (consumed > len) abort();
        if (res == REQUEST_PARSER_ERROR) {
            int st = request_parser_status(p);
            if (st != 400 && st != 413 && st != 431) abort();
            char path[256];
            request_parser_path(p, path, sizeof path);
            if (strlen(path) >= sizeof path) abort();
            return false;
        }
        if (res == REQUEST_PARSER_MORE) return true;
        check_request(&r);
        request_parsed_free(&r);
        counts->requests++;
        if (counts->requests > counts->begins) abort(); /* every request had a beginning */
        if (consumed == 0) abort();                     /* would loop forever in the server */
        data += consumed;
        len -= consumed;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t n = size - 1;
    size_t split = n ? data[0] % (n + 1) : 0;
    const char *rest = (const char *)data + 1;

    fuzz_counts counts = {0, 0, 0};
    request_parser p;
    request_parser_init(&p, FUZZ_MAX_HEADER_BYTES, FUZZ_MAX_BODY_BYTES, &EVENTS, &counts);
    if (feed(&p, &counts, rest, split)) feed(&p, &counts, rest + split, n - split);
    request_parser_free(&p);
    return 0;
}
