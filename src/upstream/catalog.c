#include "upstream/catalog.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Client-facing aliases → upstream keys (lingma-upstream.md §1.9, LP and L2A tables). */
const catalog_alias catalog_aliases[] = {
    {"kimi-k2.6", "kmodel"},
    {"kimi-k2", "kmodel"},
    {"minimax-m2.7", "mmodel"},
    {"qwen3-coder", "dashscope_qwen3_coder"},
    {"qwen3-coder-default", "dashscope_qwen3_coder_default"},
    {"qwen3-max", "dashscope_qwen_max_latest"},
    {"qwen-max", "dashscope_qwen_max_latest"},
    {"qwen3-thinking", "dashscope_qwen_plus_20250428_thinking"},
    {"qwen-plus-thinking", "dashscope_qwen_plus_20250428_thinking"},
    {"qwen3.6-plus", "dashscope_qmodel"},
    {"auto", "org_auto"},
};
const size_t catalog_n_aliases = sizeof catalog_aliases / sizeof catalog_aliases[0];

void catalog_init(catalog *c) { memset(c, 0, sizeof *c); }

void catalog_free(catalog *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->models[i].key);
        free(c->models[i].display_name);
    }
    free(c->models);
    memset(c, 0, sizeof *c);
}

static const char *obj_str(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static bool obj_bool(json_object *o, const char *k, bool def) {
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !v) return def;
    return json_object_get_boolean(v);
}

int catalog_parse(catalog *c, const char *json, size_t len) {
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok) return -1;
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    json_tokener_free(tok);
    json_object *chat;
    if (!root || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "chat", &chat) ||
        !json_object_is_type(chat, json_type_array)) {
        json_object_put(root);
        return -1;
    }
    catalog next;
    catalog_init(&next);
    size_t n = json_object_array_length(chat);
    next.models = xcalloc(n ? n : 1, sizeof *next.models);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(chat, i);
        if (!json_object_is_type(m, json_type_object)) continue;
        const char *key = obj_str(m, "key");
        if (!key || !*key || strlen(key) >= 64 || !obj_bool(m, "enable", true)) continue;
        catalog_model *cm = &next.models[next.n++];
        cm->key = xstrdup(key);
        const char *dn = obj_str(m, "display_name");
        cm->display_name = xstrdup(dn && *dn ? dn : key);
        cm->is_vl = obj_bool(m, "is_vl", false) || obj_bool(m, "multiModalSupported", false);
        cm->is_reasoning = obj_bool(m, "is_reasoning", false);
        json_object *mit;
        cm->max_input_tokens =
            json_object_object_get_ex(m, "max_input_tokens", &mit) ? json_object_get_int64(mit) : 0;
    }
    json_object_put(root);
    next.fetched_ms = clock_wall_ms();
    catalog_free(c);
    *c = next;
    return 0;
}

const catalog_model *catalog_find(const catalog *c, const char *key) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->models[i].key, key) == 0) return &c->models[i];
    return NULL;
}

const char *resolve_model(const catalog *c, const char *requested, const char *default_model,
                          resolve_kind *kind) {
    if (requested && *requested) {
        const catalog_model *m = catalog_find(c, requested);
        if (m) return *kind = RESOLVE_EXACT, m->key;
        if (c->n == 0) /* not fetched yet: the known keys pass as they are */
            for (size_t i = 0; i < catalog_n_aliases; i++)
                if (strcmp(catalog_aliases[i].key, requested) == 0)
                    return *kind = RESOLVE_EXACT, catalog_aliases[i].key;
        for (size_t i = 0; i < c->n; i++)
            if (strcasecmp(c->models[i].display_name, requested) == 0)
                return *kind = RESOLVE_DISPLAY, c->models[i].key;
        for (size_t i = 0; i < catalog_n_aliases; i++)
            if (strcasecmp(catalog_aliases[i].alias, requested) == 0 &&
                (c->n == 0 || catalog_find(c, catalog_aliases[i].key) ||
                 strcmp(catalog_aliases[i].key, "org_auto") == 0))
                return *kind = RESOLVE_ALIAS, catalog_aliases[i].key;
    }
    if (default_model && *default_model) return *kind = RESOLVE_DEFAULT, default_model;
    *kind = RESOLVE_UNKNOWN;
    return NULL;
}

size_t catalog_attempt_order(const catalog *c, const char *primary, const char *fallback_csv,
                             char storage[][64], size_t max) {
    size_t n = 0;
    if (!max) return 0;
    snprintf(storage[n++], 64, "%s", primary);
    char list[32][64];
    size_t nl = 0;
    const char *p = fallback_csv ? fallback_csv : "";
    while (*p && nl < 32) {
        size_t l = strcspn(p, ",");
        const char *s = p;
        while (l && *s == ' ')
            s++, l--;
        while (l && s[l - 1] == ' ')
            l--;
        if (l && l < 64) {
            memcpy(list[nl], s, l);
            list[nl++][l] = '\0';
        }
        p += strcspn(p, ",");
        if (*p == ',') p++;
    }
    size_t start = 0;
    for (size_t i = 0; i < nl; i++)
        if (strcmp(list[i], primary) == 0) start = i + 1;
    for (size_t i = start; i < nl && n < max; i++) {
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strcmp(storage[k], list[i]) == 0;
        if (dup || (c->n && !catalog_find(c, list[i]))) continue;
        snprintf(storage[n++], 64, "%s", list[i]);
    }
    return n;
}
