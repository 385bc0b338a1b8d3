/* The tape of a json-c tree: the path for every body the scanner does not take. Strings point
 * into the tree, which the tape keeps until json_tape_free. */
#include "util/json_tape.h"
#include <string.h>

static void str_node(json_tape *t, const char *s, size_t len) {
    jt_node *n = json_tape_push(t);
    n->type = JT_STRING;
    n->s = s;
    n->len = (uint32_t)len;
    n->span = 1;
}

/* Depth is bounded by the tokener that built the tree (64), so recursion is safe. */
static void add(json_tape *t, json_object *v) {
    size_t at = t->n;
    jt_node *n = json_tape_push(t);
    n->span = 1;
    switch (json_object_get_type(v)) {
    case json_type_null: n->type = JT_NULL; return;
    case json_type_boolean:
        n->type = JT_BOOL;
        n->v.b = json_object_get_boolean(v);
        return;
    case json_type_int:
    case json_type_double: {
        bool is_int = json_object_is_type(v, json_type_int);
        n->type = is_int ? JT_INT : JT_DOUBLE;
        if (is_int)
            n->v.i = json_object_get_int64(v);
        else
            n->v.d = json_object_get_double(v);
        n->s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN); /* cached in v */
        n->len = (uint32_t)strlen(n->s);
        return;
    }
    case json_type_string:
        n->type = JT_STRING;
        n->s = json_object_get_string(v);
        n->len = (uint32_t)json_object_get_string_len(v);
        return;
    case json_type_array: {
        n->type = JT_ARRAY;
        size_t count = json_object_array_length(v);
        for (size_t i = 0; i < count; i++)
            add(t, json_object_array_get_idx(v, i));
        n = &t->nodes[at]; /* the array may have moved */
        n->len = (uint32_t)count;
        break;
    }
    case json_type_object: {
        n->type = JT_OBJECT;
        uint32_t count = 0;
        json_object_object_foreach(v, key, val) {
            str_node(t, key, strlen(key));
            add(t, val);
            count++;
        }
        n = &t->nodes[at];
        n->len = count;
        break;
    }
    }
    n->span = (uint32_t)(t->n - at);
}

void json_tape_from_jsonc(json_tape *t, json_object *root) {
    t->owner = root;
    add(t, root);
}
