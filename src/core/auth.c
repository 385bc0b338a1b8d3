#include "core/auth.h"
#include "util/xalloc.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

void auth_digest(const char *s, size_t len, uint8_t out[32]) {
    unsigned int n = 32;
    if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1) abort();
}

void auth_key_id(const char *s, size_t len, char out[9]) {
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];
    auth_digest(s, len, d);
    for (int i = 0; i < 4; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[8] = '\0';
}

static void trim(const char **s, size_t *n) {
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

void auth_init(auth *a, const char *api_keys_csv, const char *metrics_token, bool metrics_public,
               const char *admin_token) {
    memset(a, 0, sizeof *a);
    const char *p = api_keys_csv ? api_keys_csv : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *k = p;
        trim(&k, &n);
        if (n) {
            a->keys = xrealloc(a->keys, (a->n_keys + 1) * sizeof *a->keys);
            auth_digest(k, n, a->keys[a->n_keys++]);
        }
        p = comma ? comma + 1 : p + strlen(p);
    }
    if (metrics_token && *metrics_token) {
        auth_digest(metrics_token, strlen(metrics_token), a->metrics_token);
        a->has_metrics_token = true;
    }
    a->metrics_public = metrics_public;
    if (admin_token && *admin_token) {
        auth_digest(admin_token, strlen(admin_token), a->admin_token);
        a->has_admin_token = true;
    }
}

void auth_free(auth *a) {
    free(a->keys);
    memset(a, 0, sizeof *a);
}

bool auth_enabled(const auth *a) { return a->n_keys > 0; }

/* Value of "Bearer <token>" (scheme case-insensitive), or NULL. */
static const char *bearer_token(const char *authorization, size_t *len) {
    if (!authorization || strncasecmp(authorization, "bearer ", 7) != 0) return NULL;
    const char *t = authorization + 7;
    size_t n = strlen(t);
    trim(&t, &n);
    if (!n) return NULL;
    *len = n;
    return t;
}

/* Compares against every key so the time does not depend on which one matched. */
static bool key_matches(const auth *a, const uint8_t d[32]) {
    int hit = 0;
    for (size_t i = 0; i < a->n_keys; i++)
        hit |= CRYPTO_memcmp(a->keys[i], d, 32) == 0;
    return hit != 0;
}

auth_result auth_check_client(const auth *a, auth_style style, const char *x_api_key,
                              const char *authorization, char key_id[9], uint8_t digest_out[32]) {
    key_id[0] = '\0';
    if (digest_out) memset(digest_out, 0, 32);
    if (!auth_enabled(a)) return AUTH_OK;
    const char *tok = NULL;
    size_t n = 0;
    if (style == AUTH_STYLE_ANTHROPIC && x_api_key && *x_api_key) {
        tok = x_api_key;
        n = strlen(tok);
        trim(&tok, &n);
    }
    if (!tok || !n) tok = bearer_token(authorization, &n);
    if (!tok) return AUTH_MISSING;
    uint8_t d[32];
    auth_digest(tok, n, d);
    if (!key_matches(a, d)) return AUTH_INVALID;
    auth_key_id(tok, n, key_id);
    if (digest_out) memcpy(digest_out, d, 32);
    return AUTH_OK;
}

auth_result auth_check_metrics(const auth *a, const char *authorization) {
    if (a->metrics_public) return AUTH_OK;
    if (!a->has_metrics_token && !auth_enabled(a)) return AUTH_DISABLED;
    size_t n;
    const char *tok = bearer_token(authorization, &n);
    if (!tok) return AUTH_MISSING;
    uint8_t d[32];
    auth_digest(tok, n, d);
    bool ok = (a->has_metrics_token && CRYPTO_memcmp(a->metrics_token, d, 32) == 0);
    ok |= key_matches(a, d);
    return ok ? AUTH_OK : AUTH_INVALID;
}

auth_result auth_check_admin(const auth *a, const char *authorization, const char *x_api_key) {
    if (!a->has_admin_token && !auth_enabled(a)) return AUTH_DISABLED;
    size_t n = 0;
    const char *tok = bearer_token(authorization, &n);
    if (!tok && x_api_key && *x_api_key) tok = x_api_key, n = strlen(x_api_key);
    if (!tok) return AUTH_MISSING;
    uint8_t d[32];
    auth_digest(tok, n, d);
    if (a->has_admin_token)
        return CRYPTO_memcmp(a->admin_token, d, 32) == 0 ? AUTH_OK : AUTH_INVALID;
    return key_matches(a, d) ? AUTH_OK : AUTH_INVALID;
}
