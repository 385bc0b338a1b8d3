/* The one-pass reader from bytes to a tape (DESIGN D35). It takes the JSON real clients send and
 * refuses, without judging, anything where json-c's reading could differ from a plain one: the
 * caller then parses with json-c (strict), which also words the error for invalid input.
 *
 * Refused: a root that is not an object, array or string, control characters inside strings,
 * \u0000, lone or reversed surrogates and the pairs json-c 0.16 turns into U+FFFD, unknown escapes,
 * "-0", integers over 18 digits, decimals over 32 characters or with over 3 exponent digits, depth
 * over 32, objects over 256 members or with a repeated key, and everything invalid.
 * tests/fuzz/fuzz_json_tape.c holds what it takes to json-c's tape, node for node. */
#include "util/json_tape.h"
#include "util/json_unescape.h"
#include "util/swar.h"
#include "util/xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_MAX_DEPTH    32
#define SCAN_MAX_MEMBERS  256
#define SCAN_MAX_INT      18 /* digits: always an int64, printed by json-c as written */
#define SCAN_MAX_DECIMAL  32 /* characters of a number with a fraction or an exponent */
#define SCAN_MAX_EXPONENT 3  /* digits: strtod stays finite and normal-ranged */

typedef struct scan {
    json_tape *t;
    const char *p, *end;
    size_t body_len;
    char *w; /* next free byte of t->strings (decoded strings; allocated at the first escape) */
} scan;

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static void skip_ws(scan *s) {
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

/* The first '"', '\\' or control character at or after p, or end. */
static const char *string_stop(const char *p, const char *end) {
    while (end - p >= 16) {
        unsigned k = swar_str_end16((const unsigned char *)p);
        if (k < 16) return p + k;
        p += 16;
    }
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
        p++;
    return p;
}

/* A string at s->p (its opening quote) into node n. Without escapes the node points into the
 * body; with them the decoded bytes go to the tape's string buffer, which is sized once to the
 * body (decoding never lengthens) so earlier nodes' pointers stay valid. */
static bool string(scan *s, jt_node *n) {
    const char *start = ++s->p;
    const char *p = string_stop(start, s->end);
    if (p == s->end || (unsigned char)*p < 0x20) return false;
    n->type = JT_STRING;
    n->span = 1;
    if (*p == '"') {
        n->s = start;
        n->len = (uint32_t)(p - start);
        s->p = p + 1;
        return true;
    }
    if (!s->w) s->w = s->t->strings = xmalloc(s->body_len);
    char *o = s->w, *first = o;
    memcpy(o, start, (size_t)(p - start));
    o += p - start;
    while (*p == '\\') {
        p = json_unescape_one(p + 1, s->end, &o);
        if (!p) return false;
        const char *q = string_stop(p, s->end);
        if (q == s->end || (unsigned char)*q < 0x20) return false;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
    }
    n->s = first;
    n->len = (uint32_t)(o - first);
    s->w = o;
    s->p = p + 1;
    return true;
}

static bool digits(scan *s, size_t *count) {
    const char *from = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    *count = (size_t)(s->p - from);
    return *count > 0;
}

static bool number(scan *s, jt_node *n) {
    const char *start = s->p;
    bool neg = *s->p == '-';
    if (neg) s->p++;
    size_t int_digits;
    if (!digits(s, &int_digits) || (int_digits > 1 && start[neg] == '0')) return false;
    bool decimal = false;
    size_t k;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s, &k)) return false;
        decimal = true;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!digits(s, &k) || k > SCAN_MAX_EXPONENT) return false;
        decimal = true;
    }
    n->s = start;
    n->len = (uint32_t)(s->p - start);
    n->span = 1;
    if (decimal) {
        if (n->len > SCAN_MAX_DECIMAL) return false;
        char tmp[SCAN_MAX_DECIMAL + 1];
        memcpy(tmp, start, n->len);
        tmp[n->len] = '\0';
        n->type = JT_DOUBLE;
        n->v.d = strtod(tmp, NULL);
        return isfinite(n->v.d);
    }
    if (int_digits > SCAN_MAX_INT) return false;
    int64_t v = 0;
    for (const char *d = start + neg; d < s->p; d++)
        v = v * 10 + (*d - '0');
    if (neg && v == 0) return false; /* json-c prints "-0" as 0 */
    n->type = JT_INT;
    n->v.i = neg ? -v : v;
    return true;
}

static bool literal(scan *s, jt_node *n, const char *word, size_t len) {
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0) return false;
    s->p += len;
    n->span = 1;
    return true;
}

static bool value(scan *s, int depth);

/* The key just added at index `key` against the object's earlier ones. */
static bool key_is_new(const json_tape *t, size_t obj, size_t key) {
    const jt_node *k = &t->nodes[key];
    for (const jt_node *e = &t->nodes[obj + 1]; e < k; e = jt_next(e + 1))
        if (e->len == k->len && memcmp(e->s, k->s, k->len) == 0) return false;
    return true;
}

static bool object(scan *s, size_t at, int depth) {
    uint32_t count = 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
    } else {
        for (;;) {
            if (s->p == s->end || *s->p != '"' || ++count > SCAN_MAX_MEMBERS) return false;
            size_t key = s->t->n;
            if (!string(s, json_tape_push(s->t)) || !key_is_new(s->t, at, key)) return false;
            skip_ws(s);
            if (s->p == s->end || *s->p != ':') return false;
            s->p++;
            skip_ws(s);
            if (!value(s, depth)) return false;
            skip_ws(s);
            if (s->p == s->end) return false;
            if (*s->p++ == '}') break;
            if (s->p[-1] != ',') return false;
            skip_ws(s);
        }
    }
    jt_node *n = &s->t->nodes[at];
    n->type = JT_OBJECT;
    n->len = count;
    n->span = (uint32_t)(s->t->n - at);
    return true;
}

static bool array(scan *s, size_t at, int depth) {
    uint32_t count = 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
    } else {
        for (;;) {
            if (!value(s, depth)) return false;
            count++;
            skip_ws(s);
            if (s->p == s->end) return false;
            if (*s->p++ == ']') break;
            if (s->p[-1] != ',') return false;
            skip_ws(s);
        }
    }
    jt_node *n = &s->t->nodes[at];
    n->type = JT_ARRAY;
    n->len = count;
    n->span = (uint32_t)(s->t->n - at);
    return true;
}

/* The value at s->p (whitespace already skipped), at nesting `depth` of its container. */
static bool value(scan *s, int depth) {
    if (s->p == s->end) return false;
    size_t at = s->t->n;
    jt_node *n = json_tape_push(s->t);
    switch (*s->p) {
    case '{': return depth < SCAN_MAX_DEPTH && object(s, at, depth + 1);
    case '[': return depth < SCAN_MAX_DEPTH && array(s, at, depth + 1);
    case '"': return string(s, n);
    case 't': n->type = JT_BOOL, n->v.b = true; return literal(s, n, "true", 4);
    case 'f': n->type = JT_BOOL; return literal(s, n, "false", 5);
    case 'n': n->type = JT_NULL; return literal(s, n, "null", 4);
    default: return number(s, n);
    }
}

bool json_tape_scan(json_tape *t, const char *body, size_t len) {
    t->n = 0; /* a tape is scanned into from empty; its node array is reused */
    free(t->strings);
    t->strings = NULL;
    if (!body || len >= UINT32_MAX) return false;
    /* About one node per 16 bytes of a typical request, so a 60 KB one never regrows; capped,
     * as a large body is mostly one long string (an image). */
    size_t want = len / 16 + 16 < 8192 ? len / 16 + 16 : 8192;
    if (t->cap < want) {
        t->cap = want;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    scan s = {.t = t, .p = body, .end = body + len, .body_len = len};
    skip_ws(&s);
    /* json-c reads a number or literal at the very end of its input as unfinished, and a null
     * document as no document: the root is taken only as a container or a string. */
    bool ok = s.p < s.end && (*s.p == '{' || *s.p == '[' || *s.p == '"') && value(&s, 0);
    if (ok) skip_ws(&s);
    if (ok && s.p == s.end) return true;
    t->n = 0;
    free(t->strings);
    t->strings = NULL;
    return false;
}
