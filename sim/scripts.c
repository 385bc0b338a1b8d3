#include "scripts.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

#define MAX_ACCOUNTS 100000 /* bounds memory against a runaway test */

struct sim_scripts {
    sim_account *head;
    size_t n;
};

sim_scripts *sim_scripts_new(void) { return xcalloc(1, sizeof(sim_scripts)); }

static void account_free(sim_account *a) {
    free(a->user);
    sim_directive_clear(&a->behaviour);
    sim_catalog_free(a->catalog);
    free(a);
}

void sim_scripts_clear(sim_scripts *s) {
    while (s->head) {
        sim_account *a = s->head;
        s->head = a->next;
        account_free(a);
    }
    s->n = 0;
}

void sim_scripts_free(sim_scripts *s) {
    if (!s) return;
    sim_scripts_clear(s);
    free(s);
}

sim_account *sim_scripts_find(sim_scripts *s, const char *user) {
    for (sim_account *a = s->head; a; a = a->next)
        if (strcmp(a->user, user) == 0) return a;
    return NULL;
}

static void unlink_user(sim_scripts *s, const char *user) {
    for (sim_account **pp = &s->head; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->user, user) != 0) continue;
        sim_account *a = *pp;
        *pp = a->next;
        account_free(a);
        s->n--;
        return;
    }
}

static const char *const OWN_KEYS[] = {"times", "scope", "catalog", NULL};

int sim_scripts_set(sim_scripts *s, const char *user, json_object *obj, char *err, size_t cap) {
    if (!*user) {
        snprintf(err, cap, "account id must not be empty");
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(err, cap, "account %s: script must be a JSON object", user);
        return -1;
    }
    sim_account *a = xcalloc(1, sizeof *a);
    char sub[200] = "";
    sim_directive_init(&a->behaviour);
    a->user = xstrdup(user);
    a->times_left = -1;
    json_object *v;
    if (sim_directive_from_json(&a->behaviour, obj, OWN_KEYS, sub, sizeof sub) < 0) goto fail;
    if (json_object_object_get_ex(obj, "times", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            snprintf(sub, sizeof sub, "times must be a non-negative integer");
            goto fail;
        }
        a->times_left = json_object_get_int64(v);
    }
    a->scope_all = a->times_left < 0;
    if (json_object_object_get_ex(obj, "scope", &v)) {
        const char *sc = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) ||
            (strcmp(sc, "all") != 0 && strcmp(sc, "chat") != 0)) {
            snprintf(sub, sizeof sub, "scope must be \"chat\" or \"all\"");
            goto fail;
        }
        a->scope_all = strcmp(sc, "all") == 0;
    }
    if (json_object_object_get_ex(obj, "catalog", &v)) {
        a->catalog = sim_catalog_from_json(v, sub, sizeof sub);
        if (!a->catalog) goto fail;
    }
    if (json_object_object_length(obj) == 0) { /* {} clears */
        unlink_user(s, user);
        account_free(a);
        return 0;
    }
    if (!sim_scripts_find(s, user) && s->n >= MAX_ACCOUNTS) {
        snprintf(sub, sizeof sub, "too many scripted accounts (max %d)", MAX_ACCOUNTS);
        goto fail;
    }
    unlink_user(s, user);
    a->next = s->head;
    s->head = a;
    s->n++;
    return 0;
fail:
    snprintf(err, cap, "account %s: %s", user, sub);
    account_free(a);
    return -1;
}

int sim_scripts_load(sim_scripts *s, json_object *accounts, char *err, size_t cap) {
    if (!json_object_is_type(accounts, json_type_object)) {
        snprintf(err, cap, "accounts must be an object keyed by Cosy-User");
        return -1;
    }
    json_object_object_foreach(accounts, user, obj) {
        if (sim_scripts_set(s, user, obj, err, cap) < 0) return -1;
    }
    return 0;
}

const sim_directive *sim_account_take(sim_account *a, bool is_chat) {
    if (!a || a->times_left == 0 || sim_directive_is_empty(&a->behaviour)) return NULL;
    /* The model list is not a stream: only HTTP-level errors (and the login redirect) apply. */
    if (!is_chat &&
        (!a->scope_all || !a->behaviour.error || a->behaviour.error->kind == SIM_ERR_ENVELOPE))
        return NULL;
    if (a->times_left > 0) a->times_left--;
    return &a->behaviour;
}
