/* Helpers shared by the front codec tests (header-only: each test is one executable). */
#ifndef LGW_TEST_CODEC_TEST_UTIL_H
#define LGW_TEST_CODEC_TEST_UTIL_H
#include "core/conv.h"
#include "util/buf.h"
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* o at a dotted path; numeric segments index arrays ("choices.0.delta.content"). Absent or
 * JSON null → NULL. */
static inline json_object *jget(json_object *o, const char *path) {
    char seg[128];
    const char *p = path;
    while (o && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof seg) return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n + (p[n] == '.');
        if (json_object_is_type(o, json_type_array)) {
            char *end;
            long i = strtol(seg, &end, 10);
            if (*end || i < 0 || (size_t)i >= json_object_array_length(o)) return NULL;
            o = json_object_array_get_idx(o, (size_t)i);
        } else if (!json_object_object_get_ex(o, seg, &o)) {
            return NULL;
        }
    }
    return o;
}

static inline int jhas(json_object *o, const char *path) {
    /* distinguishes a present null from an absent member */
    const char *dot = strrchr(path, '.');
    json_object *parent = o;
    const char *key = path;
    if (dot) {
        char head[256];
        size_t n = (size_t)(dot - path);
        if (n >= sizeof head) return 0;
        memcpy(head, path, n);
        head[n] = '\0';
        parent = jget(o, head);
        key = dot + 1;
    }
    return parent && json_object_is_type(parent, json_type_object) &&
           json_object_object_get_ex(parent, key, NULL);
}

static inline const char *jstr(json_object *o, const char *path) {
    json_object *v = jget(o, path);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static inline long long jint(json_object *o, const char *path) {
    return (long long)json_object_get_int64(jget(o, path));
}

/* Strict parse of a whole buffer; NULL unless it is exactly one valid JSON value. */
static inline json_object *jparse(const char *s, size_t n) {
    json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    json_tokener_free(tok);
    return o;
}

/* An encoder's output as JSON; the test fails when it is not exactly one valid value (cmocka must
 * be included before this header). */
static inline json_object *jparse_output(const buf *out) {
    json_object *o = jparse(out->data, out->len);
    if (!o) fail_msg("invalid JSON: %s", out->data);
    return o;
}

/* Folds one event into a response under construction. */
static inline void feed(conv_response *r, conv_event ev) { conv_response_add(r, &ev); }
#endif
