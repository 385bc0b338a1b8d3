/* The tape's structural invariant, for test_json_tape.c and fuzz_json_tape.c: every subtree tiles
 * [n, n + span) exactly, with len children (arrays) or len key/value pairs whose keys are single
 * STRING nodes (objects); scalars have span 1; the root spans the whole tape. */
#ifndef LGW_TESTS_JSON_TAPE_CHECK_H
#define LGW_TESTS_JSON_TAPE_CHECK_H
#include "util/json_tape.h"
#include <stdbool.h>
#include <stddef.h>

static bool jt_well_formed(const jt_node *n, const jt_node *end) {
    if (n->span < 1 || n->span > (size_t)(end - n) || n->type > JT_OBJECT) return false;
    if (n->type != JT_ARRAY && n->type != JT_OBJECT) return n->span == 1;
    const jt_node *stop = n + n->span;
    uint32_t count = 0;
    for (const jt_node *c = n + 1; c < stop; c += c->span, count++) {
        if (n->type == JT_OBJECT) {
            if (c->type != JT_STRING || c->span != 1 || c + 1 >= stop) return false;
            c++;
        }
        if (!jt_well_formed(c, stop)) return false;
    }
    return count == n->len;
}

static inline bool tape_well_formed(const json_tape *t) {
    return t->n && t->nodes[0].span == t->n && jt_well_formed(t->nodes, t->nodes + t->n);
}
#endif
