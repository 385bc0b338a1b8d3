/* Upstream accounts: the accounts file, import from a desktop login cache, expiry
 * (lingma-upstream.md §1.2, §3).
 *
 * Accounts file (JSON, mode 0600):
 *   {"accounts":[{"name":"a1","user_id":"…","machine_id":"…","cosy_key":"…",
 *                 "encrypt_user_info":"…","expire_time":1783600000000}, …]}
 * An entry may give "oauth_token" (optionally "refresh_token") instead of cosy_key and
 * encrypt_user_info; those are then minted locally (§3.3). expire_time is unix ms, a number or
 * a decimal string; absent or 0 = unknown (treated as valid).
 *
 * Errors are written to err (NUL-terminated, cut to err_cap) and name the account and the field;
 * they never contain a secret. Return convention: 0 on success, -1 on failure. */
#ifndef LGW_UPSTREAM_CREDENTIALS_H
#define LGW_UPSTREAM_CREDENTIALS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CREDENTIALS_EXPIRY_MARGIN_MS (5 * 60 * 1000)
#define CREDENTIALS_NAME_MAX         64
#define CREDENTIALS_FILE_MAX         (4u << 20) /* accounts file size limit */

/* Every string is a heap copy owned by the account; lingma_account_free releases them. */
typedef struct lingma_account {
    char *name; /* 1–64 chars of [A-Za-z0-9._@+-]: safe in logs and metric labels */
    char *user_id;
    char *machine_id;
    char *cosy_key;
    char *encrypt_user_info;
    char *oauth_token;      /* security_oauth_token (pt-…); NULL if unknown */
    char *refresh_token;    /* NULL if unknown */
    int64_t expire_time_ms; /* 0 = unknown */
    bool minted;            /* cosy_key / encrypt_user_info were minted from oauth_token */
} lingma_account;

typedef struct lingma_account_list {
    lingma_account *items;
    size_t n;
} lingma_account_list;

/* Wipes and frees the strings; the struct itself is the caller's. */
void lingma_account_free(lingma_account *a);
void lingma_account_list_free(lingma_account_list *l);

/* Parses an accounts file body. pubkey_pem: RSA key for minting (NULL = vendor key). */
int credentials_parse(const char *json, size_t len, const char *pubkey_pem,
                      lingma_account_list *out, char *err, size_t err_cap);
int credentials_load(const char *path, const char *pubkey_pem, lingma_account_list *out, char *err,
                     size_t err_cap);

/* Mints a fresh cosy_key / encrypt_user_info (new temp key) from the account's oauth_token. */
int lingma_account_mint(lingma_account *a, const char *pubkey_pem, char *err, size_t err_cap);

/* Imports DIR/cache/{id,user} (or DIR/{id,user} when DIR is the cache folder itself).
 * name: the account name, NULL = the cache's user name if it is a valid name, else the uid. */
int credentials_import_cache(const char *dir, const char *name, lingma_account *out, char *err,
                             size_t err_cap);

/* Adds the account to the accounts file at path (created if missing), replacing an entry with
 * the same name; other content is preserved. Atomic (temp file + rename), mode 0600.
 * *replaced (may be NULL) tells whether an entry was replaced. */
int credentials_append(const char *path, const lingma_account *a, bool *replaced, char *err,
                       size_t err_cap);

/* Expired iff expire_time_ms > 0 and now + margin_ms > expire_time_ms (clock_wall_ms). */
bool lingma_account_expired(const lingma_account *a, int64_t margin_ms);

/* True if s is a valid account name. */
bool credentials_valid_name(const char *s);

/* Every configured account: the accounts file (NULL or "" = none) and the desktop login cache
 * directory (NULL or "" = none), in that order. */
int credentials_load_sources(const char *accounts_file, const char *cache_dir,
                             lingma_account_list *out, char *err, size_t err_cap);
/* Removes the entry `name` from the accounts file (atomic, like credentials_append). *found
 * tells whether it was there; a missing file is not an error. */
int credentials_remove(const char *path, const char *name, bool *found, char *err, size_t err_cap);
#endif
