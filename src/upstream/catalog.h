/* The upstream model catalog (GET /algo/api/v2/model/list, lingma-upstream.md §1.5),
 * resolve_model, and the pre-first-byte fallback list (§1.9). */
#ifndef LGW_UPSTREAM_CATALOG_H
#define LGW_UPSTREAM_CATALOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct catalog_model {
    char *key;          /* the id sent back upstream */
    char *display_name; /* "Kimi-K2.6" */
    bool is_vl, is_reasoning;
    int64_t max_input_tokens;
} catalog_model;

typedef struct catalog {
    catalog_model *models;
    size_t n;
    int64_t fetched_ms; /* wall clock of the last successful fetch, 0 = never */
} catalog;

void catalog_init(catalog *c);
void catalog_free(catalog *c);
/* Parses a model-list body ({"chat":[…],"inline":[…]}; only enabled chat models are kept).
 * Returns 0, or -1 (the catalog is unchanged). */
int catalog_parse(catalog *c, const char *json, size_t len);
const catalog_model *catalog_find(const catalog *c, const char *key);

typedef enum {
    RESOLVE_EXACT,   /* a catalog key */
    RESOLVE_DISPLAY, /* a display name, case-insensitive */
    RESOLVE_ALIAS,   /* the alias table (kimi-k2.6 → kmodel, …) */
    RESOLVE_DEFAULT, /* anything else (claude-*, gpt-*): the configured default */
    RESOLVE_UNKNOWN, /* no default configured: 404 model_not_found */
} resolve_kind;

/* Client model name → upstream key. With an empty catalog (not fetched yet) exact keys and
 * aliases are trusted as they are. Returns the key (borrowed from the catalog, the alias table
 * or default_model) or NULL for RESOLVE_UNKNOWN. */
const char *resolve_model(const catalog *c, const char *requested, const char *default_model,
                          resolve_kind *kind);

/* Attempt order for a primary key: the primary, then the fallback entries after it (all of
 * them if it is not in the list), without duplicates and without keys the catalog lacks.
 * fallback_csv: "kmodel,mmodel,…". Copies the keys into storage[], returns the count. */
size_t catalog_attempt_order(const catalog *c, const char *primary, const char *fallback_csv,
                             char storage[][64], size_t max);

/* The alias table, for /v1/models. */
typedef struct catalog_alias {
    const char *alias, *key;
} catalog_alias;
extern const catalog_alias catalog_aliases[];
extern const size_t catalog_n_aliases;
#endif
