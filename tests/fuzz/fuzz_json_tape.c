/* Differential libFuzzer target: json_tape_scan against json-c (codec_parse_json, then
 * json_tape_from_jsonc). Whatever the scanner takes, json-c must accept too, and the two tapes
 * must be the same document (equal jt_dump) and print the same (equal jt_put_json); whatever the
 * scanner refuses must leave the tape empty. The importer's tape of every body json-c accepts is
 * checked for shape and printed as well: every refused body takes that path in the gateway.
 *
 * Each input is read twice: as a body, and as the contents of a JSON string (between quotes), so
 * that mutations reach escapes and raw bytes directly. Both bodies are heap buffers of exactly
 * their size, never NUL-terminated, so a read past the end is caught by ASan. */
#include "../unit/json_tape_check.h"
#include "front/codec_util.h"
#include "util/buf.h"
#include "util/json_tape.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_shape(const json_tape *t, const char *who) {
    if (!tape_well_formed(t)) {
        fprintf(stderr, "the %s's tape is malformed (%zu nodes)\n", who, t->n);
        abort();
    }
}

static void differ(const char *what, const buf *scan, const buf *ref) {
    fprintf(stderr, "%s differ\nscanner: %s\njson-c:  %s\n", what, scan->data, ref->data);
    abort();
}

static void check(const char *body, size_t len) {
    json_tape scan = JSON_TAPE_INIT, ref = JSON_TAPE_INIT;
    bool took = json_tape_scan(&scan, body, len);
    if (took)
        check_shape(&scan, "scanner");
    else if (scan.n || json_tape_root(&scan)) {
        fprintf(stderr, "refused, but the tape holds %zu nodes\n", scan.n);
        abort();
    }
    const char *why = NULL;
    json_object *root = codec_parse_json(body, len, &why);
    if (!root) {
        if (took) {
            fprintf(stderr, "the scanner took a body json-c rejects (%s)\n", why);
            abort();
        }
        json_tape_free(&scan);
        return;
    }
    json_tape_from_jsonc(&ref, root); /* the tape owns root now */
    check_shape(&ref, "importer");
    buf a = BUF_INIT, b = BUF_INIT;
    jt_put_json(&b, json_tape_root(&ref));
    if (took) {
        jt_put_json(&a, json_tape_root(&scan));
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) differ("jt_put_json", &a, &b);
        buf_reset(&a);
        buf_reset(&b);
        jt_dump(&a, json_tape_root(&scan));
        jt_dump(&b, json_tape_root(&ref));
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) differ("tapes", &a, &b);
    }
    buf_free(&a);
    buf_free(&b);
    json_tape_free(&scan);
    json_tape_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    char *body = malloc(size ? size : 1);
    if (!body) abort();
    if (size) memcpy(body, data, size);
    check(body, size);
    free(body);

    body = malloc(size + 2);
    if (!body) abort();
    body[0] = '"';
    if (size) memcpy(body + 1, data, size);
    body[size + 1] = '"';
    check(body, size + 2);
    free(body);
    return 0;
}
