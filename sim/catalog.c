#include "catalog.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

struct sim_catalog {
    size_t n;
    char **keys;
    char *body;
    size_t body_len;
};

typedef struct default_model {
    const char *key, *display_name;
    bool is_vl, is_reasoning;
    int max_input_tokens;
} default_model;

static const default_model DEFAULTS[] = {
    {"kmodel", "Kimi-K2.6", false, false, 131072},
    {"mmodel", "MiniMax-M2.7", false, false, 196608},
    {"dashscope_qwen3_coder", "Qwen3-Coder", false, false, 262144},
    {"dashscope_qmodel", "Qwen3.6-Plus", false, false, 131072},
    {"dashscope_qwen_max_latest", "Qwen3-Max", false, false, 131072},
    {"dashscope_qwen_plus_20250428_thinking", "Qwen3-Thinking", false, true, 131072},
    {"dashscope_qwen_vl_max", "Qwen-VL-Max", true, false, 32768},
};

static void add_default(json_object *e, const char *name, json_object *v) {
    if (json_object_object_get_ex(e, name, NULL))
        json_object_put(v);
    else
        json_object_object_add(e, name, v);
}

sim_catalog *sim_catalog_from_json(json_object *arr, char *err, size_t cap) {
    if (!json_object_is_type(arr, json_type_array)) {
        snprintf(err, cap, "catalog must be a JSON array of model entries");
        return NULL;
    }
    size_t n = json_object_array_length(arr);
    sim_catalog *c = xcalloc(1, sizeof *c);
    c->keys = xcalloc(n ? n : 1, sizeof *c->keys);
    json_object *chat = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *in = json_object_array_get_idx(arr, i);
        json_object *key = NULL;
        if (!json_object_is_type(in, json_type_object) ||
            !json_object_object_get_ex(in, "key", &key) ||
            !json_object_is_type(key, json_type_string) || !json_object_get_string_len(key)) {
            snprintf(err, cap, "catalog[%zu]: an entry is an object with a non-empty \"key\"", i);
            json_object_put(chat);
            sim_catalog_free(c);
            return NULL;
        }
        const char *k = json_object_get_string(key);
        c->keys[c->n++] = xstrdup(k);
        /* Copy so the caller's tree stays untouched, then fill the §1.5 fields it left out. */
        json_object *e = NULL;
        json_object_deep_copy(in, &e, NULL);
        add_default(e, "display_name", json_object_new_string(k));
        add_default(e, "model", json_object_new_string(k));
        add_default(e, "enable", json_object_new_boolean(1));
        add_default(e, "format", json_object_new_string("openai"));
        add_default(e, "source", json_object_new_string("system"));
        add_default(e, "order", json_object_new_int((int)i + 1));
        add_default(e, "is_vl", json_object_new_boolean(0));
        add_default(e, "is_reasoning", json_object_new_boolean(strstr(k, "thinking") != NULL));
        add_default(e, "max_input_tokens", json_object_new_int(131072));
        json_object_array_add(chat, e);
    }
    json_object *root = json_object_new_object();
    json_object_object_add(root, "chat", chat);
    json_object_object_add(root, "inline", json_object_new_array());
    json_object_object_add(root, "developer", json_object_new_array());
    json_object_object_add(root, "assistant", json_object_new_array());
    size_t len = 0;
    const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
    c->body = xstrndup(s, len);
    c->body_len = len;
    json_object_put(root);
    return c;
}

sim_catalog *sim_catalog_new_default(void) {
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < sizeof DEFAULTS / sizeof DEFAULTS[0]; i++) {
        const default_model *m = &DEFAULTS[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "key", json_object_new_string(m->key));
        json_object_object_add(e, "display_name", json_object_new_string(m->display_name));
        json_object_object_add(e, "is_vl", json_object_new_boolean(m->is_vl));
        json_object_object_add(e, "is_reasoning", json_object_new_boolean(m->is_reasoning));
        json_object_object_add(e, "max_input_tokens", json_object_new_int(m->max_input_tokens));
        json_object_array_add(arr, e);
    }
    char err[128];
    sim_catalog *c = sim_catalog_from_json(arr, err, sizeof err);
    json_object_put(arr);
    return c;
}

void sim_catalog_free(sim_catalog *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        free(c->keys[i]);
    free(c->keys);
    free(c->body);
    free(c);
}

bool sim_catalog_accepts(const sim_catalog *c, const char *key) {
    if (!*key || strcmp(key, "org_auto") == 0) return true;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0) return true;
    return false;
}

const char *sim_catalog_default_key(const sim_catalog *c) { return c->n ? c->keys[0] : "auto"; }

const char *sim_catalog_body(const sim_catalog *c, size_t *len) {
    *len = c->body_len;
    return c->body;
}
