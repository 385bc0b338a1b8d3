#include "util/json_tape.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

jt_node *json_tape_push(json_tape *t) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    jt_node *n = &t->nodes[t->n++];
    memset(n, 0, sizeof *n);
    return n;
}

void json_tape_free(json_tape *t) {
    free(t->nodes);
    free(t->strings);
    json_object_put(t->owner);
    *t = (json_tape)JSON_TAPE_INIT;
}

bool jt_str_eq(const jt_node *n, const char *lit) {
    if (!jt_is(n, JT_STRING)) return false;
    size_t l = strlen(lit);
    return n->len == l && memcmp(n->s, lit, l) == 0;
}

const jt_node *jt_get(const jt_node *o, const char *key) {
    if (!jt_is(o, JT_OBJECT)) return NULL;
    size_t l = strlen(key);
    for (const jt_node *k = JT_FIRST(o), *end = jt_next(o); k < end; k = jt_next(k + 1))
        if (k->len == l && memcmp(k->s, key, l) == 0) return k + 1;
    return NULL;
}

const jt_node *jt_get_str(const jt_node *o, const char *key) {
    const jt_node *v = jt_get(o, key);
    return jt_is(v, JT_STRING) ? v : NULL;
}

double jt_number(const jt_node *n) {
    if (jt_is(n, JT_INT)) return (double)n->v.i;
    if (jt_is(n, JT_DOUBLE)) return n->v.d;
    return 0;
}

/* Depth is bounded by the builders (JSON_TAPE_MAX_DEPTH), so recursion is safe. */
void jt_put_json(buf *b, const jt_node *v) {
    switch ((jt_type)v->type) {
    case JT_NULL: buf_append(b, "null", 4); return;
    case JT_BOOL: json_put_bool(b, v->v.b); return;
    case JT_INT:
    case JT_DOUBLE: buf_append(b, v->s, v->len); return;
    case JT_STRING: json_put_strn(b, v->s, v->len); return;
    case JT_ARRAY:
        buf_putc(b, '[');
        for (const jt_node *e = JT_FIRST(v), *end = jt_next(v); e < end; e = jt_next(e)) {
            if (e != JT_FIRST(v)) buf_putc(b, ',');
            jt_put_json(b, e);
        }
        buf_putc(b, ']');
        return;
    case JT_OBJECT:
        buf_putc(b, '{');
        for (const jt_node *k = JT_FIRST(v), *end = jt_next(v); k < end; k = jt_next(k + 1)) {
            if (k != JT_FIRST(v)) buf_putc(b, ',');
            json_put_strn(b, k->s, k->len);
            buf_putc(b, ':');
            jt_put_json(b, k + 1);
        }
        buf_putc(b, '}');
        return;
    }
}

static void dump_bytes(buf *b, const jt_node *n) {
    buf_printf(b, "%" PRIu32 ":", n->len);
    for (uint32_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\')
            buf_putc(b, (char)c);
        else
            buf_printf(b, "\\x%02x", c);
    }
}

void jt_dump(buf *b, const jt_node *n) {
    buf_printf(b, "[%" PRIu32 "]", n->span);
    switch ((jt_type)n->type) {
    case JT_NULL: buf_puts(b, "null"); return;
    case JT_BOOL: buf_puts(b, n->v.b ? "true" : "false"); return;
    case JT_INT:
        buf_printf(b, "int %" PRId64 " ", n->v.i);
        dump_bytes(b, n);
        return;
    case JT_DOUBLE:
        buf_printf(b, "double %a ", n->v.d);
        dump_bytes(b, n);
        return;
    case JT_STRING:
        buf_puts(b, "str ");
        dump_bytes(b, n);
        return;
    case JT_ARRAY:
    case JT_OBJECT:
        buf_printf(b, "%s %" PRIu32 " (", n->type == JT_ARRAY ? "array" : "object", n->len);
        for (const jt_node *c = JT_FIRST(n), *end = jt_next(n); c < end; c = jt_next(c)) {
            jt_dump(b, c);
            buf_putc(b, ' ');
        }
        buf_putc(b, ')');
        return;
    }
}
