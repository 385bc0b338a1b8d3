/* Who may call what (the seed's auth.py, in C).
 * Client keys are kept only as SHA-256 digests and compared in constant time; logs carry a
 * key id (first 8 hex of the digest), never a key. */
#ifndef LGW_CORE_AUTH_H
#define LGW_CORE_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth {
    uint8_t (*keys)[32];
    size_t n_keys;
    uint8_t metrics_token[32];
    bool has_metrics_token;
    bool metrics_public;
    uint8_t admin_token[32];
    bool has_admin_token;
} auth;

typedef enum {
    AUTH_OK,
    AUTH_MISSING,  /* no credential presented → 401 */
    AUTH_INVALID,  /* wrong credential → 401 */
    AUTH_DISABLED, /* nothing configured for this surface → 503 */
} auth_result;

typedef enum { AUTH_STYLE_OPENAI, AUTH_STYLE_ANTHROPIC } auth_style;

void auth_init(auth *a, const char *api_keys_csv, const char *metrics_token, bool metrics_public,
               const char *admin_token);
void auth_free(auth *a);
bool auth_enabled(const auth *a); /* false = API_KEYS empty: client routes are open */

/* Client routes. OpenAI: Authorization: Bearer. Anthropic: x-api-key, then Bearer.
 * key_id (9 bytes) receives the caller's key id, or "" when auth is disabled.
 * digest_out (32 bytes, may be NULL) receives the key's SHA-256 (zeroes when disabled): the
 * session cache scopes conversations by it. */
auth_result auth_check_client(const auth *a, auth_style style, const char *x_api_key,
                              const char *authorization, char key_id[9], uint8_t digest_out[32]);
/* /metrics: METRICS_PUBLIC → open; else METRICS_TOKEN or any API key; nothing → disabled. */
auth_result auth_check_metrics(const auth *a, const char *authorization);
/* /internal/…: ADMIN_TOKEN if set, else any API key; nothing → disabled. */
auth_result auth_check_admin(const auth *a, const char *authorization, const char *x_api_key);

/* SHA-256 of s → 32 bytes; and the 8-hex key id of s. */
void auth_digest(const char *s, size_t len, uint8_t out[32]);
void auth_key_id(const char *s, size_t len, char out[9]);
#endif
