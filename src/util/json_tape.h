/* A parsed JSON document as one flat array of nodes in document order (a "tape"): a container's
 * children follow it, and every node's `span` skips its whole subtree, so a walk needs no
 * pointers between nodes and the whole document is freed with two free() calls.
 *
 * Both request decoders read requests through it (DESIGN D35). It is built one of two ways, with
 * identical results (tests/fuzz/fuzz_json_tape.c holds them to that):
 *   - json_tape_scan reads the shapes real clients send straight from the bytes in one pass
 *     (json_tape_scan.c); it refuses anything unusual rather than judge it;
 *   - anything refused is parsed by json-c in strict mode and copied (json_tape_from_jsonc,
 *     json_tape_jsonc.c), so json-c stays the judge of what is valid JSON.
 *
 * Objects: the member count is the object's `len`; each member is a key node (JT_STRING) directly
 * followed by its value. A tape never holds two equal keys in one object (json-c keeps the last
 * value at the first key's place; the scanner refuses duplicates). */
#ifndef LGW_UTIL_JSON_TAPE_H
#define LGW_UTIL_JSON_TAPE_H
#include "util/buf.h"
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JT_NULL, JT_BOOL, JT_INT, JT_DOUBLE, JT_STRING, JT_ARRAY, JT_OBJECT } jt_type;

typedef struct jt_node {
    /* STRING: the decoded bytes (not NUL-terminated; a NUL only from json-c's "\u0000", which the
     * scanner refuses); INT, DOUBLE: the number as json-c prints it; NULL otherwise */
    const char *s;
    uint32_t len;  /* STRING, INT, DOUBLE: bytes at s; ARRAY: elements; OBJECT: members */
    uint32_t span; /* nodes in this value's subtree, itself included: next sibling = this + span */
    uint8_t type;  /* jt_type */
    union {
        bool b;    /* BOOL */
        int64_t i; /* INT */
        double d;  /* DOUBLE (finite) */
    } v;
} jt_node;

typedef struct json_tape {
    jt_node *nodes;
    size_t n, cap;
    char *strings;      /* decoded strings that could not point into the source (scanner) */
    json_object *owner; /* the json-c tree the strings point into (json_tape_from_jsonc) */
} json_tape;

#define JSON_TAPE_INIT                                                                             \
    { NULL, 0, 0, NULL, NULL }
#define JSON_TAPE_MAX_DEPTH 64 /* as codec_parse_json's tokener */

/* Reads `body` as exactly one JSON object, array or string (surrounding whitespace allowed) when
 * it is made only of what the scanner takes; false means "not taken", never "invalid": the caller
 * parses the body with json-c instead. The tape's strings may point into `body`, which must outlive
 * the tape. On false the tape is left empty (and may be reused). */
bool json_tape_scan(json_tape *t, const char *body, size_t len);
/* Copies a json-c tree into an empty tape, which takes over the reference to root (put by
 * json_tape_free): the tape's strings point into the tree. */
void json_tape_from_jsonc(json_tape *t, json_object *root);
void json_tape_free(json_tape *t);
/* For the two builders: appends a zeroed node (the array grows; earlier pointers go stale). */
jt_node *json_tape_push(json_tape *t);

/* The document's value; NULL for an empty tape. */
static inline const jt_node *json_tape_root(const json_tape *t) { return t->n ? t->nodes : NULL; }

/* ---- reading (every function takes NULL for "absent") ---- */

/* The node after n's subtree: its next sibling, or the end of its parent. */
static inline const jt_node *jt_next(const jt_node *n) { return n + n->span; }
static inline bool jt_is(const jt_node *n, jt_type t) { return n && n->type == t; }
/* The value of `key` in object o; NULL when o is not an object or has no such member. */
const jt_node *jt_get(const jt_node *o, const char *key);
/* The value of `key` in o if it is a string, else NULL. */
const jt_node *jt_get_str(const jt_node *o, const char *key);
/* n is a string whose bytes are exactly `lit`. */
bool jt_str_eq(const jt_node *n, const char *lit);
/* A number as a double (INT or DOUBLE); 0 otherwise. */
double jt_number(const jt_node *n);

/* Elements of an array: for (const jt_node *e = JT_FIRST(a); e < jt_next(a); e = jt_next(e)).
 * Members of an object: for (const jt_node *k = JT_FIRST(o); k < jt_next(o); k = jt_next(k + 1)),
 * the value being k + 1. */
#define JT_FIRST(n) ((n) + 1)

/* ---- writing ---- */

/* Appends v as compact JSON, exactly what json-c prints with PLAIN | NOSLASHESCAPE (numbers keep
 * their source text), except that invalid UTF-8 becomes U+FFFD as on every output of the
 * gateway. */
void jt_put_json(buf *b, const jt_node *v);
/* Appends an exact description of n's subtree (types, bytes, numbers' values and text, spans):
 * two tapes are the same document iff their dumps are equal. For tests and the fuzzer. */
void jt_dump(buf *b, const jt_node *n);
#endif
