#include "sim_json.h"
#include <limits.h>
#include <stdio.h>

static json_object *parse_with(const char *s, size_t len, size_t *used,
                               enum json_tokener_error *e) {
    json_object *v = NULL;
    *e = json_tokener_error_parse_eof;
    if (len > INT_MAX - 1) return NULL; /* json-c takes an int length */
    json_tokener *tok = json_tokener_new_ex(SIM_JSON_MAX_DEPTH);
    if (!tok) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    v = json_tokener_parse_ex(tok, s, (int)len);
    *e = json_tokener_get_error(tok);
    *used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (*e != json_tokener_success) {
        json_object_put(v);
        return NULL;
    }
    return v;
}

json_object *sim_json_parse(const char *s, size_t len, char *err, size_t cap) {
    size_t used = 0;
    enum json_tokener_error e;
    json_object *v = parse_with(s, len, &used, &e);
    if (!v) {
        snprintf(err, cap, "invalid JSON: %s", json_tokener_error_desc(e));
        return NULL;
    }
    for (size_t i = used; i < len; i++) {
        char c = s[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            snprintf(err, cap, "invalid JSON: trailing bytes at offset %zu", i);
            json_object_put(v);
            return NULL;
        }
    }
    return v;
}

json_object *sim_json_parse_prefix(const char *s, size_t len, size_t *used) {
    enum json_tokener_error e;
    return parse_with(s, len, used, &e);
}

const char *sim_json_get_str(json_object *obj, const char *key) {
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}
