/* The browser login of lingma-upstream.md §3.2, compressed to one hop for tests:
 *
 *   GET /lingma/login?state=2-…&challenge=…&challenge_method=S256&machine_id=…&nonce=…&port=N
 *       [&uid=…&name=…]   (sim only: who "logs in", taken raw; default 5930000000000001 / sim-user)
 *   → 302 Location: http://127.0.0.1:N/auth/callback?state=2-…&auth=<E>&token=<E>
 *
 * where the real service would first send the browser through the Alibaba Cloud account login.
 * <E> is Encode=1 (variant Q, §1.4) of auth = "uid\naid\nname" and token =
 * "pt-…\nrt-…\nexpire_time_ms" (60 days ahead), percent-encoded. The tokens are random per
 * login. Encode=1 is written here independently of src/upstream, so a gateway decoding it tests
 * its decoder against a second implementation. Missing or malformed parameters → 400 JSON. */
#include "sim.h"
#include "util/clock.h"
#include "util/ids.h"
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_VALUE_MAX 256

static const char ENC1[] = "_doRTgHZBKcGVjlvpC,@aFSx#DPuNJme&i*MzLOEn)sUrthbf%Y^w.(kIQyXqWA!";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Variant Q: padded base64 s, a = n/3, output map(s[n-a:] + s[a:n-a] + s[:a]). */
static void encode1_q(const char *plain, buf *out) {
    size_t len = strlen(plain), n = 4 * ((len + 2) / 3);
    char *s = malloc(n + 1);
    if (!s) return;
    EVP_EncodeBlock((unsigned char *)s, (const unsigned char *)plain, (int)len);
    size_t a = n / 3;
    buf rot = BUF_INIT;
    buf_append(&rot, s + n - a, a);
    buf_append(&rot, s + a, n - 2 * a);
    buf_append(&rot, s, a);
    for (size_t i = 0; i < rot.len; i++) {
        const char *p = rot.data[i] == '=' ? NULL : strchr(B64, rot.data[i]);
        buf_putc(out, p ? ENC1[p - B64] : '$');
    }
    buf_free(&rot);
    free(s);
}

static void percent_encode(buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            buf_putc(out, (char)c);
        else
            buf_printf(out, "%%%02X", c);
    }
}

/* Raw (not decoded) value of a query parameter; "" when absent or too long. */
static void param(const char *query, const char *name, char out[LOGIN_VALUE_MAX]) {
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = query; *p;) {
        size_t n = strcspn(p, "&");
        if (n > nl && p[nl] == '=' && memcmp(p, name, nl) == 0 && n - nl - 1 < LOGIN_VALUE_MAX) {
            memcpy(out, p + nl + 1, n - nl - 1);
            out[n - nl - 1] = '\0';
            return;
        }
        p += n + (p[n] == '&');
    }
}

static void bad_request(http_exchange *ex, const char *why) {
    buf b = BUF_INIT;
    buf_printf(&b, "{\"success\":false,\"errorCode\":\"400\",\"errorMessage\":\"%s\"}", why);
    http_respond(ex, 400, "application/json", b.data, b.len, NULL);
    buf_free(&b);
}

void sim_login_handle(http_exchange *ex, const http_request *req) {
    char state[LOGIN_VALUE_MAX], challenge[LOGIN_VALUE_MAX], method[LOGIN_VALUE_MAX],
        machine[LOGIN_VALUE_MAX], nonce[LOGIN_VALUE_MAX], port[LOGIN_VALUE_MAX],
        uid[LOGIN_VALUE_MAX], name[LOGIN_VALUE_MAX];
    param(req->query, "state", state);
    param(req->query, "challenge", challenge);
    param(req->query, "challenge_method", method);
    param(req->query, "machine_id", machine);
    param(req->query, "nonce", nonce);
    param(req->query, "port", port);
    param(req->query, "uid", uid);
    param(req->query, "name", name);
    const char *why = NULL;
    long p = strtol(port, NULL, 10);
    if (strncmp(state, "2-", 2) != 0 || strlen(state) != 34 ||
        strspn(state + 2, "0123456789abcdef") != 32)
        why = "bad state";
    else if (!challenge[0] || strcmp(method, "S256") != 0)
        why = "PKCE S256 challenge required";
    else if (strlen(machine) < 16 || !nonce[0])
        why = "machine_id and nonce required";
    else if (p <= 0 || p > 65535)
        why = "bad port";
    if (why) {
        bad_request(ex, why);
        return;
    }
    char pt[25], rt[25];
    ids_prefixed(pt, sizeof pt, "pt-", 21);
    ids_prefixed(rt, sizeof rt, "rt-", 21);
    buf auth = BUF_INIT, token = BUF_INIT, enc_auth = BUF_INIT, enc_token = BUF_INIT,
        hdr = BUF_INIT;
    const char *u = uid[0] ? uid : "5930000000000001";
    buf_printf(&auth, "%s\n%s\n%s", u, u, name[0] ? name : "sim-user");
    buf_printf(&token, "%s\n%s\n%lld", pt, rt, (long long)(clock_wall_ms() + 60LL * 86400 * 1000));
    encode1_q(auth.data, &enc_auth);
    encode1_q(token.data, &enc_token);
    buf_printf(&hdr, "Location: http://127.0.0.1:%ld/auth/callback?state=%s&auth=", p, state);
    percent_encode(&hdr, enc_auth.data, enc_auth.len);
    buf_puts(&hdr, "&token=");
    percent_encode(&hdr, enc_token.data, enc_token.len);
    buf_puts(&hdr, "\r\n");
    http_respond(ex, 302, "text/html", "", 0, hdr.data);
    buf_free(&auth);
    buf_free(&token);
    buf_free(&enc_auth);
    buf_free(&enc_token);
    buf_free(&hdr);
}
