/* Per-account scripted behaviour, keyed by Cosy-User. An account script is a directive object
 * (same keys as `@sim`, see directives.c) plus:
 *   "times": N     the behaviour serves N requests, then normal service resumes (omit: forever)
 *   "scope": "chat" | "all"   which requests it applies to; "all" adds the model list (which only
 *                  honours HTTP-level errors). Default: "all" without times (a persistent state
 *                  such as an expired login), "chat" with times (so model-list refreshes don't
 *                  consume the budget).
 *   "catalog": [...]  this account's model catalog (independent of times)
 * An empty object removes the account's script. */
#ifndef LGW_SIM_SCRIPTS_H
#define LGW_SIM_SCRIPTS_H
#include "catalog.h"
#include "directives.h"
#include <json-c/json.h>
#include <stdbool.h>

typedef struct sim_scripts sim_scripts;

typedef struct sim_account {
    char *user;
    sim_directive behaviour; /* may be empty (catalog-only scripts) */
    int64_t times_left;      /* -1: forever */
    bool scope_all;
    sim_catalog *catalog; /* NULL: the global catalog */
    struct sim_account *next;
} sim_account;

sim_scripts *sim_scripts_new(void);
void sim_scripts_free(sim_scripts *s);
void sim_scripts_clear(sim_scripts *s);

/* Replaces the script of `user` ({} removes it). Returns 0 or -1 with a message in err. */
int sim_scripts_set(sim_scripts *s, const char *user, json_object *obj, char *err, size_t cap);
/* {"user": {...}, ...} as in the config's "accounts". */
int sim_scripts_load(sim_scripts *s, json_object *accounts, char *err, size_t cap);

sim_account *sim_scripts_find(sim_scripts *s, const char *user);
/* The behaviour if it applies to this request (chat or model list), consuming one use. */
const sim_directive *sim_account_take(sim_account *a, bool is_chat);
#endif
