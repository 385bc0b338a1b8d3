#include "verify.h"
#include "sim_json.h"
#include "util/xalloc.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAYLOAD_B64 16384 /* a real payload is a few hundred bytes */

/* "/algo/api/v2/model/list" → "/api/v2/model/list": the path (the server already split off the
 * query) without its leading /algo. */
static const char *sig_path(const char *path) {
    if (strncmp(path, "/algo/", 6) == 0) return path + 5;
    return path;
}

static bool fail(sim_auth *out, const char *reason) {
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    return false;
}

static bool is_lower_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static bool is_b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

/* Standard padded base64 → NUL-terminated heap bytes, or NULL. */
static char *b64_decode(const char *s, size_t n, size_t *out_len) {
    if (n == 0 || n % 4 != 0) return NULL;
    size_t pad = 0;
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n; i++)
        if (!is_b64_char(s[i]) || (s[i] == '=' && i < n - pad)) return NULL;
    char *dst = xmalloc(n / 4 * 3 + 1);
    int w = EVP_DecodeBlock((unsigned char *)dst, (const unsigned char *)s, (int)n);
    if (w < 0 || (size_t)w < pad) {
        free(dst);
        return NULL;
    }
    *out_len = (size_t)w - pad; /* EVP_DecodeBlock counts padding as zero bytes */
    dst[*out_len] = '\0';
    return dst;
}

/* The payload must be {"version":"v1","requestId":…,"info":…,"cosyVersion":…,…}. */
static bool check_payload(const char *b64, size_t n, const char *hdr_version, sim_auth *out) {
    size_t len = 0;
    bool ok = false;
    char err[96];
    char *raw = b64_decode(b64, n, &len);
    json_object *p = NULL;
    if (!raw) return fail(out, "authorization: payload is not padded base64");
    p = sim_json_parse(raw, len, err, sizeof err);
    if (!p || !json_object_is_type(p, json_type_object)) {
        fail(out, "authorization: payload is not a JSON object");
        goto out;
    }
    const char *version = sim_json_get_str(p, "version");
    const char *rid = sim_json_get_str(p, "requestId");
    const char *info = sim_json_get_str(p, "info");
    const char *cv = sim_json_get_str(p, "cosyVersion");
    if (rid) snprintf(out->request_id, sizeof out->request_id, "%s", rid);
    if (cv) snprintf(out->cosy_version, sizeof out->cosy_version, "%s", cv);
    if (!version || strcmp(version, "v1") != 0) {
        fail(out, "authorization: payload version is not \"v1\"");
        goto out;
    }
    if (!rid || !*rid) {
        fail(out, "authorization: payload requestId missing or empty");
        goto out;
    }
    if (!info || !*info) {
        fail(out, "authorization: payload info missing or empty");
        goto out;
    }
    if (hdr_version && (!cv || strcmp(cv, hdr_version) != 0)) {
        snprintf(out->reason, sizeof out->reason,
                 "authorization: payload cosyVersion differs from Cosy-Version %s", hdr_version);
        goto out;
    }
    ok = true;
out:
    json_object_put(p);
    free(raw);
    return ok;
}

static bool parse_seconds(const char *s, int64_t *out) {
    if (!s || !*s || strlen(s) > 12) return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* MD5(payloadB64 \n key \n date \n body \n sigPath) as lowercase hex. */
static void cosy_md5(const char *payload, size_t payload_len, const char *key, const char *date,
                     const char *body, size_t body_len, const char *sigpath, char hex[33]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) abort(); /* out of memory */
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    EVP_DigestUpdate(ctx, payload, payload_len);
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, key, strlen(key));
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, date, strlen(date));
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, body, body_len);
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, sigpath, strlen(sigpath));
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[32] = '\0';
}

bool sim_verify_request(const http_request *req, int64_t now_s, int64_t skew_s, sim_auth *out) {
    memset(out, 0, sizeof *out);
    const char *auth = http_request_header(req, "Authorization");
    static const char prefix[] = "Bearer COSY.";
    if (!auth) return fail(out, "authorization: missing");
    if (strncmp(auth, prefix, sizeof prefix - 1) != 0)
        return fail(out, "authorization: not \"Bearer COSY.<payload>.<sig>\"");
    const char *payload = auth + sizeof prefix - 1;
    const char *dot = strchr(payload, '.');
    if (!dot) return fail(out, "authorization: no signature part");
    size_t payload_len = (size_t)(dot - payload);
    const char *sig = dot + 1;
    if (payload_len == 0 || payload_len > MAX_PAYLOAD_B64)
        return fail(out, "authorization: payload empty or too long");
    if (strlen(sig) != 32 || !is_lower_hex(sig, 32))
        return fail(out, "authorization: signature is not 32 lowercase hex digits");
    if (!check_payload(payload, payload_len, http_request_header(req, "Cosy-Version"), out))
        return false;

    const char *date = http_request_header(req, "Cosy-Date");
    int64_t ts;
    if (!parse_seconds(date, &ts)) return fail(out, "cosy-date: missing or not unix seconds");
    if (ts < now_s - skew_s || ts > now_s + skew_s) {
        snprintf(out->reason, sizeof out->reason,
                 "cosy-date: outside the allowed skew (offset %lld s)", (long long)(ts - now_s));
        return false;
    }
    const char *key = http_request_header(req, "Cosy-Key");
    if (!key || !*key) return fail(out, "cosy-key: missing or empty");

    char expect[33];
    cosy_md5(payload, payload_len, key, date, req->body, req->body_len, sig_path(req->path),
             expect);
    if (CRYPTO_memcmp(expect, sig, 32) != 0) {
        snprintf(out->reason, sizeof out->reason, "signature: mismatch (sigPath %s)",
                 sig_path(req->path));
        return false;
    }

    const char *user = http_request_header(req, "Cosy-User");
    if (!user || !*user) return fail(out, "cosy-user: missing or empty");
    const char *machine = http_request_header(req, "Cosy-Machineid");
    if (!machine || !*machine) return fail(out, "cosy-machineid: missing or empty");
    return true;
}
