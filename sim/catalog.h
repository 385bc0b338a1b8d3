/* Model catalogs (spec §1.5). A catalog is immutable once built; its model-list response body is
 * rendered once. Catalogs differ per account, so scripts may carry their own. */
#ifndef LGW_SIM_CATALOG_H
#define LGW_SIM_CATALOG_H
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sim_catalog sim_catalog;

/* Kimi, MiniMax, the Qwen family (one reasoning model) and a VL model. */
sim_catalog *sim_catalog_new_default(void);
/* From a JSON array of model entries; each needs "key", other §1.5 fields get defaults.
 * Returns NULL with a message in err. */
sim_catalog *sim_catalog_from_json(json_object *arr, char *err, size_t cap);
void sim_catalog_free(sim_catalog *c);

/* True for a listed key, "" (auto/default) and "org_auto". */
bool sim_catalog_accepts(const sim_catalog *c, const char *key);
/* The model that answers for "" / org_auto (the first entry; "auto" if the catalog is empty). */
const char *sim_catalog_default_key(const sim_catalog *c);
/* {"chat":[...],"inline":[],"developer":[],"assistant":[]} */
const char *sim_catalog_body(const sim_catalog *c, size_t *len);
#endif
