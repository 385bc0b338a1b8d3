/* Browser auto-login (lingma-upstream.md §3.2) for headless servers.
 *
 * POST /internal/login/start [{"name":…}] → 200
 *   {"state":"2-<32 hex>","machine_id":"<uuid>","nonce":"<32 hex>","challenge":"<S256>",
 *    "challenge_method":"S256","login_url":"<LINGMA_LOGIN_URL>?state=…&challenge=…&
 *    challenge_method=S256&machine_id=…&nonce=…&port=37510","browser_url":"https://account.
 *    alibabacloud.com/login/login.htm?oauth_callback=<login_url, encoded>","expires_in_s":300}
 * The operator opens browser_url, logs in, and the browser ends on
 *   http://127.0.0.1:37510/auth/callback?state=2-…&auth=<Encode=1>&token=<Encode=1>
 * (nothing listens there on a server: the page fails to load, the address bar has the URL).
 *
 * POST /internal/login/callback {"callback_url":…[,"name":…]} → 201 {"account":{…},…}
 *   auth = "uid\naid\nname", token = "oauth_token\nrefresh_token\nexpire_time_ms" (§3.2 step 3);
 *   credentials are minted from the token with the login's machine id (§3.3) and the account is
 *   added as by POST /internal/accounts. A state is good for one callback, within 5 minutes.
 *
 * The PKCE verifier is not kept: Lingma's server does the code exchange itself and the callback
 * carries the tokens; the challenge is sent because the login page expects one. */
#include "admin/handlers.h"
#include "upstream/cosy.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_PENDING_MAX  16
#define LOGIN_TTL_MS       (5 * 60 * 1000)
#define LOGIN_CALLBACK_MAX 16384 /* callback URL length */
#define LOGIN_FIELD_MAX    4096  /* one decoded auth / token field */
#define LOGIN_PORT         37510
#define LOGIN_WRAP_URL     "https://account.alibabacloud.com/login/login.htm?oauth_callback="

typedef struct pending_login {
    char state[35]; /* "2-" + 32 hex; "" = free slot */
    char machine_id[37];
    char name[CREDENTIALS_NAME_MAX + 1]; /* requested account name, "" = from the callback */
    int64_t created_ms;
} pending_login;

struct admin_logins {
    pending_login items[LOGIN_PENDING_MAX];
};

void admin_login_free(struct admin_logins *l) { free(l); }

static void b64url(const unsigned char *data, size_t len, char *out, size_t cap) {
    buf b = BUF_INIT;
    cosy_b64_encode(data, len, &b);
    size_t k = 0;
    for (size_t i = 0; i < b.len && b.data[i] != '=' && k + 1 < cap; i++)
        out[k++] = b.data[i] == '+' ? '-' : b.data[i] == '/' ? '_' : b.data[i];
    out[k] = '\0';
    buf_free(&b);
}

/* S256: base64url(SHA-256(base64url(32 random bytes))). */
static int pkce_challenge(char *out, size_t cap) {
    unsigned char rnd[32], md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char verifier[64];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
    b64url(rnd, sizeof rnd, verifier, sizeof verifier);
    if (!EVP_Digest(verifier, strlen(verifier), md, &md_len, EVP_sha256(), NULL)) return -1;
    b64url(md, md_len, out, cap);
    return 0;
}

static void url_encode(buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

static pending_login *slot_for_new(struct admin_logins *l, int64_t now) {
    pending_login *oldest = &l->items[0];
    for (size_t i = 0; i < LOGIN_PENDING_MAX; i++) {
        pending_login *p = &l->items[i];
        if (!p->state[0] || now - p->created_ms > LOGIN_TTL_MS) return p;
        if (p->created_ms < oldest->created_ms) oldest = p;
    }
    return oldest; /* full: the oldest pending login gives way */
}

void admin_login_start(admin_ctx *a, http_exchange *ex, const http_request *req) {
    const char *name = NULL;
    json_object *o = NULL;
    if (req->body_len) {
        if (!(o = admin_parse_object(ex, req))) return;
        name = admin_json_str(o, "name");
        if (name && !credentials_valid_name(name)) {
            json_object_put(o);
            admin_error(ex, 400, "invalid_request",
                        "Invalid \"name\" (1-%d chars of A-Z a-z 0-9 . _ @ + -).",
                        CREDENTIALS_NAME_MAX);
            return;
        }
    }
    if (!a->logins) a->logins = xcalloc(1, sizeof *a->logins);
    int64_t now = clock_wall_ms();
    pending_login *p = slot_for_new(a->logins, now);
    char challenge[64], nonce[33], hex[33];
    if (pkce_challenge(challenge, sizeof challenge) != 0) {
        json_object_put(o);
        admin_error(ex, 500, "server_error", "No randomness available.");
        return;
    }
    memset(p, 0, sizeof *p);
    ids_hex(hex, 16);
    snprintf(p->state, sizeof p->state, "2-%s", hex); /* "2-": the V2 callback (auth/token) */
    ids_uuid4(p->machine_id);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
    p->created_ms = now;
    ids_hex(nonce, 16);
    json_object_put(o);

    buf url = BUF_INIT, b = BUF_INIT;
    buf_printf(&url,
               "%s?state=%s&challenge=%s&challenge_method=S256&machine_id=%s&nonce=%s&port=%d",
               a->cfg->login_url, p->state, challenge, p->machine_id, nonce, LOGIN_PORT);
    buf_printf(&b,
               "{\"state\":\"%s\",\"machine_id\":\"%s\",\"nonce\":\"%s\",\"challenge\":\"%s\","
               "\"challenge_method\":\"S256\",\"login_url\":",
               p->state, p->machine_id, nonce, challenge);
    json_put_str(&b, url.data);
    buf_puts(&b, ",\"browser_url\":\"");
    buf_puts(&b, LOGIN_WRAP_URL);
    url_encode(&b, url.data);
    buf_printf(&b, "\",\"expires_in_s\":%d}", LOGIN_TTL_MS / 1000);
    admin_respond_json(ex, 200, &b);
    buf_free(&url);
    buf_free(&b);
}

/* ---------------------------------------------------------------- callback */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decoded value of query parameter `name` into out; -1 if absent or malformed. */
static int query_param(const char *query, const char *name, buf *out) {
    size_t nl = strlen(name);
    for (const char *p = query; *p;) {
        size_t n = strcspn(p, "&");
        if (n > nl && p[nl] == '=' && memcmp(p, name, nl) == 0) {
            for (size_t i = nl + 1; i < n; i++) {
                if (p[i] != '%') {
                    buf_putc(out, p[i]);
                    continue;
                }
                int h = i + 2 < n ? hexval(p[i + 1]) : -1, l = h >= 0 ? hexval(p[i + 2]) : -1;
                if (l < 0) return -1;
                buf_putc(out, (char)(h * 16 + l));
                i += 2;
            }
            return 0;
        }
        p += n + (p[n] == '&');
    }
    return -1;
}

/* Splits decoded text into up to n newline-separated printable fields. */
static bool split_fields(const buf *plain, char fields[][LOGIN_FIELD_MAX], size_t n) {
    size_t f = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        fields[i][0] = '\0';
    for (size_t i = 0; i < plain->len; i++) {
        unsigned char c = (unsigned char)plain->data[i];
        if (c == '\r') continue;
        if (c == '\n') {
            if (++f == n) break;
            k = 0;
            continue;
        }
        if (c < 0x20 || c == 0x7f || k + 1 >= LOGIN_FIELD_MAX) return false;
        fields[f][k++] = (char)c;
        fields[f][k] = '\0';
    }
    return fields[0][0] != '\0';
}

/* Encode=1 value → fields. Variant Q first (§1.4); the LA variant if Q does not give text. */
static bool decode_fields(const char *enc, size_t len, char fields[][LOGIN_FIELD_MAX], size_t n) {
    static const cosy_enc1_variant variants[] = {COSY_ENC1_Q, COSY_ENC1_LA};
    for (size_t v = 0; v < 2; v++) {
        buf plain = BUF_INIT;
        bool ok =
            cosy_decode1(enc, len, variants[v], &plain) == 0 && split_fields(&plain, fields, n);
        if (plain.data) memset(plain.data, 0, plain.len); /* it holds the OAuth token */
        buf_free(&plain);
        if (ok) return true;
    }
    return false;
}

static pending_login *find_pending(struct admin_logins *l, const char *state, int64_t now) {
    if (!l) return NULL;
    for (size_t i = 0; i < LOGIN_PENDING_MAX; i++)
        if (l->items[i].state[0] && strcmp(l->items[i].state, state) == 0)
            return now - l->items[i].created_ms <= LOGIN_TTL_MS ? &l->items[i] : NULL;
    return NULL;
}

void admin_login_callback(admin_ctx *a, http_exchange *ex, const http_request *req) {
    json_object *o = admin_parse_object(ex, req);
    if (!o) return;
    char auth_f[3][LOGIN_FIELD_MAX], token_f[3][LOGIN_FIELD_MAX];
    buf state = BUF_INIT, auth_q = BUF_INIT, token = BUF_INIT;
    lingma_account acc = {0};
    const char *url = admin_json_str(o, "callback_url"), *name = admin_json_str(o, "name");
    const char *query = url ? strchr(url, '?') : NULL;
    char err[512];
    if (!url || strlen(url) > LOGIN_CALLBACK_MAX || !query) {
        admin_error(ex, 400, "invalid_request",
                    "\"callback_url\" must be the URL the browser ended on (with "
                    "?state=…&auth=…&token=…).");
        goto out;
    }
    query++;
    if (query_param(query, "state", &state) || query_param(query, "auth", &auth_q) ||
        query_param(query, "token", &token)) {
        admin_error(ex, 400, "invalid_callback", "The callback URL lacks state, auth or token.");
        goto out;
    }
    buf_putc(&state, '\0');
    pending_login *p = find_pending(a->logins, state.data, clock_wall_ms());
    if (!p) {
        admin_error(ex, 400, "login_expired",
                    "Unknown or expired login state: start the login again.");
        goto out;
    }
    if (!decode_fields(auth_q.data ? auth_q.data : "", auth_q.len, auth_f, 3) ||
        !decode_fields(token.data ? token.data : "", token.len, token_f, 3)) {
        admin_error(ex, 400, "invalid_callback", "Cannot decode the callback's auth / token.");
        goto out;
    }
    const char *uid = auth_f[0], *display = auth_f[2];
    if (!name || !*name)
        name = p->name[0] ? p->name : credentials_valid_name(display) ? display : uid;
    if (!credentials_valid_name(name) || !credentials_valid_name(uid)) {
        admin_error(ex, 400, "invalid_callback",
                    "The callback's user id or the account name is not usable; pass \"name\".");
        goto out;
    }
    acc.name = xstrdup(name);
    acc.user_id = xstrdup(uid);
    acc.machine_id = xstrdup(p->machine_id);
    acc.oauth_token = xstrdup(token_f[0]);
    acc.refresh_token = token_f[1][0] ? xstrdup(token_f[1]) : NULL;
    acc.expire_time_ms = strtoll(token_f[2], NULL, 10);
    if (lingma_account_mint(&acc, NULL, err, sizeof err) != 0) {
        admin_error(ex, 500, "mint_failed", "%s", err);
        goto out;
    }
    memset(p, 0, sizeof *p); /* one callback per login */
    admin_add_account(a, ex, &acc);
out:
    lingma_account_free(&acc);
    memset(token_f, 0, sizeof token_f);
    if (token.data) memset(token.data, 0, token.len);
    buf_free(&state);
    buf_free(&auth_q);
    buf_free(&token);
    json_object_put(o);
}
