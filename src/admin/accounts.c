/* /internal/accounts and /internal/pool/reload: accounts at run time.
 *
 * POST /internal/accounts, one of:
 *   {"name","user_id","machine_id","cosy_key","encrypt_user_info"[,"expire_time"]}  credentials
 *   {"user_id","oauth_token"[,"name","refresh_token","machine_id","expire_time"]}    minted (§3.3)
 *   {"cache_dir"[,"name"]}                              a desktop login cache directory (§3.1)
 * → 201 {"account":{…},"replaced":false,"persisted":true}  (200 and "replaced":true for a name
 * already in the pool). With an accounts file configured the account is written there first, so
 * it survives a restart and a reload; without one it lives in memory only ("persisted":false).
 *
 * DELETE /internal/accounts/{name} → 200 {"removed":"name","persisted":bool}
 * POST /internal/pool/reload → 200 {"added":N,"updated":N,"removed":N,"unchanged":N,"accounts":[…]}
 *   The pool becomes what the sources say: accounts added only in memory are removed. */
#include "admin/handlers.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/log.h"
#include <json-c/json_object.h>
#include <string.h>

void admin_add_account(admin_ctx *a, http_exchange *ex, lingma_account *acc) {
    char err[512];
    const char *file = a->cfg->accounts_file;
    bool persisted = file && *file;
    if (persisted && credentials_append(file, acc, NULL, err, sizeof err) != 0) {
        log_error("cannot write the accounts file", "\"error\":\"%s\"", err);
        admin_error(ex, 500, "accounts_file_error", "The account was not added: %s", err);
        lingma_account_free(acc);
        return;
    }
    bool replaced = false;
    pool_account *pa = pool_add_account(a->pool, acc, &replaced, err, sizeof err);
    if (!pa) {
        admin_error(ex, 409, "pool_full", "%s", err);
        return;
    }
    log_info("account added", "\"account\":\"%s\",\"replaced\":%s,\"persisted\":%s", pa->cred.name,
             replaced ? "true" : "false", persisted ? "true" : "false");
    if (a->accounts_changed) a->accounts_changed(a->app_ud);
    buf b = BUF_INIT;
    buf_puts(&b, "{\"account\":");
    admin_account_json(&b, pa);
    buf_printf(&b, ",\"replaced\":%s,\"persisted\":%s}", replaced ? "true" : "false",
               persisted ? "true" : "false");
    admin_respond_json(ex, replaced ? 200 : 201, &b);
    buf_free(&b);
}

/* Credentials or an OAuth token: the accounts-file parser does the checking and the minting. */
static int account_from_fields(json_object *o, lingma_account *out, char *err, size_t err_cap) {
    json_object *entry = NULL, *wrap = json_object_new_object(), *arr = json_object_new_array();
    lingma_account_list l = {0};
    int rc = -1;
    json_object_object_add(wrap, "accounts", arr);
    json_object_deep_copy(o, &entry, NULL);
    json_object_array_add(arr, entry);
    const char *uid = admin_json_str(o, "user_id");
    if (!admin_json_str(o, "name") && uid && credentials_valid_name(uid))
        json_object_object_add(entry, "name", json_object_new_string(uid));
    if (!json_object_object_get_ex(o, "machine_id", NULL)) {
        char mid[37];
        ids_uuid4(mid); /* a new install, as the desktop client would be */
        json_object_object_add(entry, "machine_id", json_object_new_string(mid));
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(wrap, JSON_C_TO_STRING_PLAIN, &len);
    if (credentials_parse(text, len, NULL, &l, err, err_cap) != 0) goto out;
    if (l.n != 1) {
        snprintf(err, err_cap, "expected one account");
        goto out;
    }
    *out = l.items[0];
    memset(&l.items[0], 0, sizeof l.items[0]);
    rc = 0;
out:
    lingma_account_list_free(&l);
    json_object_put(wrap);
    return rc;
}

void admin_accounts_post(admin_ctx *a, http_exchange *ex, const http_request *req) {
    json_object *o = admin_parse_object(ex, req);
    if (!o) return;
    char err[512];
    lingma_account acc = {0};
    const char *dir = admin_json_str(o, "cache_dir"), *name = admin_json_str(o, "name");
    int rc;
    if (dir) {
        if (name && !credentials_valid_name(name)) {
            snprintf(err, sizeof err, "invalid field \"name\"");
            rc = -1;
        } else {
            rc = credentials_import_cache(dir, name, &acc, err, sizeof err);
        }
    } else {
        rc = account_from_fields(o, &acc, err, sizeof err);
    }
    json_object_put(o);
    if (rc != 0) {
        admin_error(ex, 400, "invalid_account", "%s", err);
        return;
    }
    admin_add_account(a, ex, &acc);
}

void admin_accounts_delete(admin_ctx *a, http_exchange *ex, const char *name) {
    pool_account *acc = pool_find(a->pool, name);
    if (!acc) {
        admin_error(ex, 404, "account_not_found", "No such account.");
        return;
    }
    char err[512];
    bool found = false;
    const char *file = a->cfg->accounts_file;
    if (file && *file && credentials_remove(file, name, &found, err, sizeof err) != 0) {
        admin_error(ex, 500, "accounts_file_error", "The account was not removed: %s", err);
        return;
    }
    log_info("account removed", "\"account\":\"%s\",\"from_file\":%s", acc->cred.name,
             found ? "true" : "false");
    buf b = BUF_INIT;
    buf_puts(&b, "{\"removed\":");
    json_put_str(&b, acc->cred.name);
    buf_printf(&b, ",\"persisted\":%s}", found ? "true" : "false");
    pool_remove_account(a->pool, acc);
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
}

void admin_pool_reload(admin_ctx *a, http_exchange *ex) {
    char err[512];
    lingma_account_list fresh;
    if (credentials_load_sources(a->cfg->accounts_file, a->cfg->cache_dir, &fresh, err,
                                 sizeof err)) {
        admin_error(ex, 422, "accounts_unreadable", "Nothing changed: %s", err);
        return;
    }
    pool_reload_result res;
    int rc = pool_reload(a->pool, &fresh, &res, err, sizeof err);
    log_info("accounts reloaded", "\"added\":%u,\"updated\":%u,\"removed\":%u,\"unchanged\":%u",
             res.added, res.updated, res.removed, res.unchanged);
    if (res.added && a->accounts_changed) a->accounts_changed(a->app_ud);
    if (rc != 0) {
        admin_error(ex, 409, "pool_full", "%s", err);
        return;
    }
    buf b = BUF_INIT;
    buf_printf(&b, "{\"added\":%u,\"updated\":%u,\"removed\":%u,\"unchanged\":%u,\"accounts\":[",
               res.added, res.updated, res.removed, res.unchanged);
    bool first = true;
    for (size_t i = 0; i < a->pool->n; i++) {
        if (a->pool->accounts[i].removed) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        admin_account_json(&b, &a->pool->accounts[i]);
    }
    buf_puts(&b, "]}");
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
}
