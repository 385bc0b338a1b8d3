/* What test_json_tape.c (the importer and the documents the scanner takes) and
 * test_json_tape_refuse.c (the documents it refuses) share: exact-size copies of documents, the
 * importer's tape, and the take/refuse checks with their tally (header-only: each test is one
 * executable). */
#ifndef LGW_TESTS_JSON_TAPE_TEST_UTIL_H
#define LGW_TESTS_JSON_TAPE_TEST_UTIL_H
#include "front/codec_util.h"
#include "json_tape_check.h"
#include "util/buf.h"
#include "util/json_tape.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES TEST_DATA_DIR "/json_tape" /* TEST_DATA_DIR: set by tests/CMakeLists.txt */

enum { JC_NO, JC_YES, JC_ANY }; /* json-c's verdict on a document the scanner refuses */

/* ------------------------------------------------------------------------------------ helpers */

/* A document for a failure message: printable ASCII as is, other bytes as \xNN, cut at ~200. */
static inline const char *show(const char *s, size_t n) {
    static char out[256];
    size_t o = 0, i = 0;
    for (; i < n && o < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    snprintf(out + o, sizeof out - o, "%s (%zu bytes)", i < n ? "..." : "", n);
    return out;
}

static inline char *copy_exact(const char *s, size_t n) {
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n) memcpy(p, s, n);
    return p;
}

static inline char *read_file(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    buf b = BUF_INIT;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, got);
    fclose(f);
    return buf_detach(&b, len);
}

static inline char *dump_of(const json_tape *t) {
    buf b = BUF_INIT;
    if (json_tape_root(t))
        jt_dump(&b, json_tape_root(t));
    else
        buf_puts(&b, "(empty)");
    return buf_detach(&b, NULL);
}

static inline char *json_of(const jt_node *n) {
    buf b = BUF_INIT;
    jt_put_json(&b, n);
    return buf_detach(&b, NULL);
}

/* The importer's tape of a document json-c must accept. */
static inline void import(json_tape *t, const char *s, size_t n) {
    const char *why = NULL;
    json_object *root = codec_parse_json(s, n, &why);
    if (!root) fail_msg("json-c rejects %s: %s", show(s, n), why);
    json_tape_from_jsonc(t, root);
    if (!tape_well_formed(t)) fail_msg("importer tape malformed for %s", show(s, n));
}
#define IMPORT(t, lit) import(t, lit, sizeof(lit) - 1)

static inline bool json_c_accepts(const char *s, size_t n) {
    const char *why = NULL;
    json_object *root = codec_parse_json(s, n, &why);
    json_object_put(root);
    return root != NULL;
}

/* A document the scanner must take. With scan false only json-c is asked (the table's check);
 * with scan true the scanner must take it and build the importer's tape. */
/* takes() and refuses() count their documents and keep the first failure; a test reports it at
 * its end (tally_check), so a table runs to its end, frees what it built and tells how many of
 * its documents failed. */
static struct {
    size_t docs, failed;
    char first[2600];
} tally;

static inline void tally_reset(void) {
    tally.docs = tally.failed = 0;
    tally.first[0] = '\0';
}

static inline void tally_check(void) {
    if (tally.failed)
        fail_msg("%zu of %zu documents failed; the first: %s", tally.failed, tally.docs,
                 tally.first);
}

/* What differs between the scanner's tape of body and the importer's (ref), into err; "" when
 * the scanner takes body and builds the same tape. */
static inline void compare_scan(const char *body, size_t n, const json_tape *ref, char *err,
                                size_t cap) {
    json_tape t = JSON_TAPE_INIT;
    if (!json_tape_scan(&t, body, n)) {
        snprintf(err, cap, "not taken");
    } else if (!tape_well_formed(&t)) {
        snprintf(err, cap, "malformed tape (%zu nodes)", t.n);
    } else {
        char *got = dump_of(&t), *want = dump_of(ref);
        if (strcmp(got, want) != 0)
            snprintf(err, cap, "tapes differ\nscanner: %.600s\njson-c:  %.600s\nfor", got, want);
        free(got);
        free(want);
        got = json_of(json_tape_root(&t));
        want = json_of(json_tape_root(ref));
        if (!err[0] && strcmp(got, want) != 0)
            snprintf(err, cap, "jt_put_json differs\nscanner: %.600s\njson-c:  %.600s\nfor", got,
                     want);
        free(got);
        free(want);
    }
    json_tape_free(&t);
}

/* A document the scanner must take. With scan false only json-c is asked (the table's check);
 * with scan true the scanner must take it and build the importer's tape. */
static inline void takes(bool scan, const char *s, size_t n, const char *label) {
    static char err[2048];
    err[0] = '\0';
    char *body = copy_exact(s, n);
    const char *why = NULL;
    json_object *root = codec_parse_json(body, n, &why);
    json_tape ref = JSON_TAPE_INIT;
    if (!root) {
        snprintf(err, sizeof err, "json-c rejects a document of the take table (%s)", why);
    } else {
        json_tape_from_jsonc(&ref, root);
        if (scan) compare_scan(body, n, &ref, err, sizeof err);
    }
    json_tape_free(&ref);
    free(body);
    tally.docs++;
    if (err[0] && !tally.failed++)
        snprintf(tally.first, sizeof tally.first, "%s: %s: %s", label, err, show(s, n));
}
#define TAKES(scan, lit) takes(scan, lit, sizeof(lit) - 1, #lit)

/* A document the scanner must refuse, leaving the tape empty; json-c's verdict is `jc`. */
static inline void refuses(const char *s, size_t n, int jc, const char *label) {
    char *body = copy_exact(s, n);
    bool jc_wrong = jc != JC_ANY && json_c_accepts(body, n) != (jc == JC_YES);
    json_tape t = JSON_TAPE_INIT;
    bool taken = json_tape_scan(&t, body, n);
    size_t left = t.n;
    bool root = json_tape_root(&t) != NULL;
    json_tape_free(&t);
    free(body);
    tally.docs++;
    if (!jc_wrong && !taken && !left && !root) return;
    if (tally.failed++) return;
    if (jc_wrong)
        snprintf(tally.first, sizeof tally.first, "%s: json-c %s %s (the table says it %s)", label,
                 jc == JC_YES ? "rejects" : "accepts", show(s, n),
                 jc == JC_YES ? "accepts" : "rejects");
    else if (taken)
        snprintf(tally.first, sizeof tally.first, "%s: taken: %s", label, show(s, n));
    else
        snprintf(tally.first, sizeof tally.first, "%s: tape not left empty (%zu nodes): %s", label,
                 left, show(s, n));
}

typedef struct refusal {
    const char *s;
    size_t n;
    int jc;
} refusal;
#define R(jc, lit)                                                                                 \
    { lit, sizeof(lit) - 1, jc }

static inline void refuse_table(const refusal *r, size_t count, const char *table) {
    char label[64];
    for (size_t i = 0; i < count; i++) {
        snprintf(label, sizeof label, "%s[%zu]", table, i);
        refuses(r[i].s, r[i].n, r[i].jc, label);
    }
}
#define REFUSE_TABLE(t) refuse_table((t), sizeof(t) / sizeof((t)[0]), #t)

static inline void takes_buf(bool scan, const buf *b, const char *label) {
    takes(scan, b->data, b->len, label);
}
static inline void refuses_buf(const buf *b, int jc, const char *label) {
    refuses(b->data, b->len, jc, label);
}

/* form with each '#' replaced by value. */
static inline void put_form(buf *b, const char *form, const char *value) {
    for (const char *p = form; *p; p++) {
        if (*p == '#')
            buf_puts(b, value);
        else
            buf_putc(b, *p);
    }
}

/* depth nested containers: '[' arrays, '{' objects ({"a":...}), 'm' both in turn from an array;
 * the innermost holds leaf, or is empty when leaf is NULL. */
static inline void nest(buf *b, int depth, char shape, const char *leaf) {
    for (int i = 0; i < depth; i++) {
        bool obj = shape == '{' || (shape == 'm' && i % 2);
        if (!obj)
            buf_putc(b, '[');
        else
            buf_puts(b, i < depth - 1 || leaf ? "{\"a\":" : "{");
    }
    if (leaf) buf_puts(b, leaf);
    for (int i = depth - 1; i >= 0; i--)
        buf_putc(b, shape == '{' || (shape == 'm' && i % 2) ? '}' : ']');
}

/* An object of `count` members "k0".."k<count-1>" with values of every kind; the last key is
 * `last` instead when given. */
static inline void members(buf *b, int count, const char *last) {
    static const char *const values[] = {"0", "\"v\"", "true", "null", "[]", "{}", "1.5", "false"};
    buf_putc(b, '{');
    for (int i = 0; i < count; i++) {
        if (i) buf_putc(b, ',');
        if (last && i == count - 1)
            buf_printf(b, "\"%s\":", last);
        else
            buf_printf(b, "\"k%d\":", i);
        buf_puts(b, values[i % 8]);
    }
    buf_putc(b, '}');
}

/* A high surrogate whose pairs json-c 0.16 mangles: the code point's low 16 bits are in
 * D800-DFFF (its IS_HIGH_SURROGATE test masks with 0xFC00), which is every pair of the 32 high
 * surrogates D836, D837, D876, D877, ..., DBF6, DBF7. */
static inline bool mangled_high(unsigned hi) {
    unsigned plane_part = (hi - 0xd800) & 0x3f;
    return plane_part == 0x36 || plane_part == 0x37;
}
#endif
