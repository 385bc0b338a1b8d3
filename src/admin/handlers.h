/* Private to src/admin: the /internal/… handlers (one file per concern) and their helpers.
 *
 *   internal.c  auth gate, dispatch, pool / config / stats
 *   accounts.c  add (credentials, OAuth token, cache directory), delete, reload
 *   login.c     browser auto-login (lingma-upstream.md §3.2): start, callback
 *   sessions.c  affinity entries: summary, export, import (JSON lines)
 *
 * Errors use the OpenAI envelope. Responses never carry a credential: accounts are rendered by
 * admin_account_json, which writes only names, states and numbers. */
#ifndef LGW_ADMIN_HANDLERS_H
#define LGW_ADMIN_HANDLERS_H
#include "admin/admin.h"
#include "util/buf.h"
#include <json-c/json_object.h>

void admin_respond_json(http_exchange *ex, int status, const buf *b);
void admin_error(http_exchange *ex, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The request body as a JSON object, or NULL after a 400 was sent. */
json_object *admin_parse_object(http_exchange *ex, const http_request *req);
/* A string member, or NULL when absent / not a string. */
const char *admin_json_str(json_object *o, const char *key);
/* {"name":…,"state":…,"reason":…,…} of one account. */
void admin_account_json(buf *b, const pool_account *acc);

/* Adds an account to the pool (takes ownership of *acc) and, when an accounts file is
 * configured, to that file first. Responds 201 (new) or 200 (replaced) with the account. */
void admin_add_account(admin_ctx *a, http_exchange *ex, lingma_account *acc);

void admin_accounts_post(admin_ctx *a, http_exchange *ex, const http_request *req);
void admin_accounts_delete(admin_ctx *a, http_exchange *ex, const char *name);
void admin_pool_reload(admin_ctx *a, http_exchange *ex);
void admin_login_start(admin_ctx *a, http_exchange *ex, const http_request *req);
void admin_login_callback(admin_ctx *a, http_exchange *ex, const http_request *req);
void admin_login_free(struct admin_logins *l);
void admin_sessions_summary(admin_ctx *a, http_exchange *ex, const http_request *req);
void admin_sessions_export(admin_ctx *a, http_exchange *ex);
void admin_sessions_import(admin_ctx *a, http_exchange *ex, const http_request *req);
#endif
