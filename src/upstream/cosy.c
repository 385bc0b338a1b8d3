#include "upstream/cosy.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <string.h>

const char cosy_vendor_pubkey_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDA8iMH5c02LilrsERw9t6Pv5Nc\n"
    "4k6Pz1EaDicBMpdpxKduSZu5OANqUq8er4GM95omAGIOPOh+Nx0spthYA2BqGz+l\n"
    "6HRkPJ7S236FZz73In/KVuLnwI8JJ2CbuJap8kvheCCZpmAWpb/cPx/3Vr/J6I17\n"
    "XcW+ML9FoCI6AOvOzwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* The Encode=1 alphabet: position i stands for the standard base64 character at position i. */
static const char ENC1_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char ENC1_ALT[] = "_doRTgHZBKcGVjlvpC,@aFSx#DPuNJme&i*MzLOEn)sUrthbf%Y^w.(kIQyXqWA!";

#if defined(__aarch64__)
#define COSY_ARCH "arm64"
#else
#define COSY_ARCH "x86_64"
#endif
#if defined(__APPLE__)
#define COSY_OS "darwin"
#elif defined(_WIN32)
#define COSY_OS "windows"
#else
#define COSY_OS "linux"
#endif

char *cosy_sig_path(const char *path) {
    size_t n = strcspn(path, "?#");
    if (n >= 5 && memcmp(path, "/algo", 5) == 0 && (n == 5 || path[5] == '/')) {
        path += 5;
        n -= 5;
    }
    return xstrndup(path, n);
}

typedef struct span {
    const void *p;
    size_t n;
} span;

/* MD5 of the concatenation of n spans, as lowercase hex: a signature preimage holds the whole
 * body, which is hashed where it lies rather than copied next to the key first. */
static int md5_hex_spans(const span *s, size_t n, char out[33]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, s[i].p, s[i].n) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16;
    EVP_MD_CTX_free(ctx); /* cleanses the state, which saw the key */
    if (!ok) return -1;
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

int cosy_md5_hex(const void *data, size_t len, char out[33]) {
    span s = {data, len};
    return md5_hex_spans(&s, 1, out);
}

void cosy_b64_encode(const void *data, size_t len, buf *out) {
    /* EVP_EncodeBlock takes an int length: encode in chunks that are a multiple of 3. */
    const unsigned char *p = data;
    while (len) {
        size_t n = len > 3 * 1024 * 1024 ? 3 * 1024 * 1024 : len;
        buf_reserve(out, 4 * ((n + 2) / 3));
        int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
        out->len += (size_t)w;
        out->data[out->len] = '\0';
        p += n;
        len -= n;
    }
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int cosy_b64_decode(const char *s, size_t len, buf *out) {
    while (len && is_space(*s))
        s++, len--;
    while (len && is_space(s[len - 1]))
        len--;
    if (len % 4 || len > INT_MAX) return -1;
    size_t pad = 0;
    if (len && s[len - 1] == '=') pad++;
    if (len > 1 && s[len - 2] == '=') pad++;
    buf_reserve(out, len / 4 * 3);
    int w =
        EVP_DecodeBlock((unsigned char *)out->data + out->len, (const unsigned char *)s, (int)len);
    if (w < 0 || (size_t)w < pad) return -1;
    /* EVP_DecodeBlock counts the zero bytes that padding stands for. */
    out->len += (size_t)w - pad;
    out->data[out->len] = '\0';
    return 0;
}

static int enc1_map(char c, int to_alt) {
    const char *from = to_alt ? ENC1_STD : ENC1_ALT, *to = to_alt ? ENC1_ALT : ENC1_STD;
    if (c == (to_alt ? '=' : '$')) return to_alt ? '$' : '=';
    const char *p = c ? strchr(from, c) : NULL;
    return p ? to[p - from] : -1;
}

/* The LA split of an unpadded length e: blocks [0,f) [f,m) [m,e) with m = min(2*ceil(e/3), e). */
static void la_split(size_t e, size_t *f, size_t *m) {
    *f = e / 3;
    *m = 2 * ((e + 2) / 3);
    if (*m > e) *m = e;
}

static int append_mapped(buf *out, const char *s, size_t n, int to_alt) {
    for (size_t i = 0; i < n; i++) {
        int c = enc1_map(s[i], to_alt);
        if (c < 0) return -1;
        buf_putc(out, (char)c);
    }
    return 0;
}

void cosy_encode1(const void *data, size_t len, cosy_enc1_variant v, buf *out) {
    buf s = BUF_INIT;
    cosy_b64_encode(data, len, &s);
    size_t n = s.len;
    if (v == COSY_ENC1_LA) {
        size_t pad = 0, f, m;
        while (pad < n && s.data[n - 1 - pad] == '=')
            pad++;
        size_t e = n - pad;
        la_split(e, &f, &m);
        append_mapped(out, s.data + m, e - m, 1);
        for (size_t i = 0; i < pad; i++)
            buf_putc(out, '$');
        append_mapped(out, s.data + f, m - f, 1);
        append_mapped(out, s.data, f, 1);
    } else {
        size_t a = n / 3;
        append_mapped(out, s.data + n - a, a, 1);
        append_mapped(out, s.data + a, n - 2 * a, 1);
        append_mapped(out, s.data, a, 1);
    }
    buf_free(&s);
}

static int decode1_q(const char *s, size_t n, buf *out) {
    buf std = BUF_INIT;
    size_t a = n / 3;
    int rc = -1;
    /* The rotation is its own inverse: both outer blocks have length a. */
    if (append_mapped(&std, s + n - a, a, 0) || append_mapped(&std, s + a, n - 2 * a, 0) ||
        append_mapped(&std, s, a, 0))
        goto out;
    rc = cosy_b64_decode(std.data ? std.data : "", std.len, out);
out:
    buf_free(&std);
    return rc;
}

static int decode1_la(const char *s, size_t n, buf *out) {
    buf std = BUF_INIT;
    int rc = -1;
    size_t pad = 0, f, m;
    for (size_t i = 0; i < n; i++)
        pad += s[i] == '$';
    if (pad > 2) goto out;
    size_t e = n - pad;
    la_split(e, &f, &m);
    size_t tail = e - m; /* the encoded string is tail, '$' x pad, middle, head */
    for (size_t i = 0; i < pad; i++)
        if (s[tail + i] != '$') goto out;
    const char *mid = s + tail + pad, *head = mid + (m - f);
    if (append_mapped(&std, head, f, 0) || append_mapped(&std, mid, m - f, 0) ||
        append_mapped(&std, s, tail, 0))
        goto out;
    for (size_t i = 0; i < pad; i++)
        buf_putc(&std, '=');
    rc = cosy_b64_decode(std.data ? std.data : "", std.len, out);
out:
    buf_free(&std);
    return rc;
}

static int is_json(const char *s, size_t n) {
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok) return 0;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    int ok = o && json_tokener_get_parse_end(tok) == n;
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

int cosy_decode1(const char *s, size_t len, cosy_enc1_variant v, buf *out) {
    if (len > INT_MAX / 2) return -1;
    if (v == COSY_ENC1_Q) return decode1_q(s, len, out);
    if (v == COSY_ENC1_LA) return decode1_la(s, len, out);
    buf q = BUF_INIT, la = BUF_INIT;
    int rq = decode1_q(s, len, &q);
    int rc = 0;
    if (rq == 0 && is_json(q.data ? q.data : "", q.len)) {
        buf_append(out, q.data, q.len);
    } else if (decode1_la(s, len, &la) == 0 && is_json(la.data ? la.data : "", la.len)) {
        buf_append(out, la.data, la.len);
    } else if (rq == 0) {
        buf_append(out, q.data, q.len);
    } else {
        rc = -1;
    }
    buf_free(&q);
    buf_free(&la);
    return rc;
}

static int aes_cbc(int enc, const char key16[COSY_KEY_LEN], const void *in, size_t len, buf *out) {
    if (len > INT_MAX - 32) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = -1, w1 = 0, w2 = 0;
    if (!ctx) return -1;
    const unsigned char *k = (const unsigned char *)key16;
    if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, k, k, enc) != 1) goto out;
    buf_reserve(out, len + 16);
    unsigned char *dst = (unsigned char *)out->data + out->len;
    if (EVP_CipherUpdate(ctx, dst, &w1, in, (int)len) != 1) goto out;
    if (EVP_CipherFinal_ex(ctx, dst + w1, &w2) != 1) goto out;
    out->len += (size_t)w1 + (size_t)w2;
    out->data[out->len] = '\0';
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int cosy_aes_encrypt(const char key16[COSY_KEY_LEN], const void *plain, size_t len, buf *out) {
    return aes_cbc(1, key16, plain, len, out);
}

int cosy_aes_decrypt(const char key16[COSY_KEY_LEN], const void *cipher, size_t len, buf *out) {
    if (len == 0 || len % 16) return -1;
    return aes_cbc(0, key16, cipher, len, out);
}

int cosy_cache_decrypt(const char *machine_id, const char *b64, size_t len, buf *plain) {
    if (!machine_id || strlen(machine_id) < COSY_KEY_LEN) return -1;
    buf raw = BUF_INIT;
    int rc = cosy_b64_decode(b64, len, &raw);
    if (rc == 0) rc = cosy_aes_decrypt(machine_id, raw.data, raw.len, plain);
    buf_free(&raw);
    return rc;
}

int cosy_cache_encrypt(const char *machine_id, const void *plain, size_t len, buf *b64) {
    if (!machine_id || strlen(machine_id) < COSY_KEY_LEN) return -1;
    buf raw = BUF_INIT;
    int rc = cosy_aes_encrypt(machine_id, plain, len, &raw);
    if (rc == 0) cosy_b64_encode(raw.data, raw.len, b64);
    buf_free(&raw);
    return rc;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

int cosy_bearer(const cosy_request *r, buf *out) {
    buf payload = BUF_INIT, b64 = BUF_INIT, pre = BUF_INIT;
    char uuid[37], md5[33];
    char *sig_path = NULL;
    int rc = -1;
    if (!r->cosy_key || !r->encrypt_user_info || !r->path) goto out;
    const char *rid = r->request_id;
    if (!rid) {
        ids_uuid4(uuid);
        rid = uuid;
    }
    int64_t date = r->date_s ? r->date_s : clock_wall_ms() / 1000;
    /* Compact, keys in alphabetical order: the form proven against the legacy gateway. */
    buf_puts(&payload, "{\"cosyVersion\":");
    json_put_str(&payload, r->cosy_version ? r->cosy_version : COSY_DEFAULT_VERSION);
    buf_puts(&payload, ",\"ideVersion\":\"\",\"info\":");
    json_put_str(&payload, r->encrypt_user_info);
    buf_puts(&payload, ",\"requestId\":");
    json_put_str(&payload, rid);
    buf_puts(&payload, ",\"version\":\"v1\"}");
    cosy_b64_encode(payload.data, payload.len, &b64);

    sig_path = cosy_sig_path(r->path);
    /* preimage = payloadB64 \n cosy_key \n date \n body \n sigPath; `pre` holds the part
     * before the body. */
    buf_append(&pre, b64.data, b64.len);
    buf_putc(&pre, '\n');
    buf_puts(&pre, r->cosy_key);
    buf_putc(&pre, '\n');
    buf_put_i64(&pre, date);
    buf_putc(&pre, '\n');
    span parts[] = {{pre.data, pre.len},
                    {r->body ? r->body : "", r->body ? r->body_len : 0},
                    {"\n", 1},
                    {sig_path, strlen(sig_path)}};
    if (md5_hex_spans(parts, sizeof parts / sizeof parts[0], md5)) goto out;
    buf_puts(out, "Bearer COSY.");
    buf_append(out, b64.data, b64.len);
    buf_putc(out, '.');
    buf_puts(out, md5);
    rc = 0;
out:
    /* The preimage holds cosy_key: wipe it before it goes back to the allocator. */
    if (pre.data) OPENSSL_cleanse(pre.data, pre.cap);
    buf_free(&payload);
    buf_free(&b64);
    buf_free(&pre);
    free(sig_path);
    return rc;
}

static int add_header(buf *out, const char *name, const char *value) {
    /* Header lines go out verbatim: a line break in a value would inject more headers. */
    if (value && value[strcspn(value, "\r\n")]) return -1;
    buf_puts(out, name);
    buf_putc(out, ':');
    if (value && *value) {
        buf_putc(out, ' ');
        buf_puts(out, value);
    }
    buf_append(out, "\r\n", 2);
    return 0;
}

int cosy_headers(const cosy_request *r, buf *out) {
    cosy_request signed_req = *r;
    buf auth = BUF_INIT;
    char date[24];
    int rc = -1;
    /* One date for both the preimage and Cosy-Date. */
    if (!signed_req.date_s) signed_req.date_s = clock_wall_ms() / 1000;
    snprintf(date, sizeof date, "%lld", (long long)signed_req.date_s);
    if (!r->user_id || !r->machine_id || cosy_bearer(&signed_req, &auth)) goto out;
    if (add_header(out, "Authorization", auth.data) ||
        add_header(out, "Content-Type", "application/json") || add_header(out, "Appcode", "cosy") ||
        add_header(out, "Cosy-Date", date) || add_header(out, "Cosy-Key", r->cosy_key) ||
        add_header(out, "Cosy-Machineid", r->machine_id) ||
        add_header(out, "Cosy-User", r->user_id) ||
        add_header(out, "Cosy-Clientip", r->client_ip ? r->client_ip : COSY_DEFAULT_CLIENT_IP) ||
        add_header(out, "Cosy-Clienttype",
                   r->client_type ? r->client_type : COSY_DEFAULT_CLIENT_TYPE) ||
        add_header(out, "Cosy-Machineos", r->machine_os ? r->machine_os : COSY_ARCH "_" COSY_OS) ||
        add_header(out, "Cosy-Machinetoken", "") || add_header(out, "Cosy-Machinetype", "") ||
        add_header(out, "Cosy-Version", r->cosy_version ? r->cosy_version : COSY_DEFAULT_VERSION) ||
        add_header(out, "Login-Version", "v2") ||
        add_header(out, "Accept", r->accept ? r->accept : "text/event-stream") ||
        add_header(out, "Cache-Control", "no-cache"))
        goto out;
    rc = 0;
out:
    buf_free(&auth);
    return rc;
}

void cosy_user_info_json(const cosy_user_info *u, buf *out) {
    const char *uid = or_empty(u->uid);
    const char *aid = u->aid && *u->aid ? u->aid : uid;
    /* The desktop app's 20-field object, unknown fields empty (L2A's production minting). */
    buf_puts(out, "{\"name\":");
    json_put_str(out, or_empty(u->name));
    buf_puts(out, ",\"aid\":");
    json_put_str(out, aid);
    buf_puts(out, ",\"uid\":");
    json_put_str(out, uid);
    buf_puts(out, ",\"yx_uid\":\"\",\"organization_id\":\"\",\"organization_name\":\"\","
                  "\"staffId\":\"\",\"avatar_url\":\"\",\"key\":\"\",\"encrypt_user_info\":\"\","
                  "\"user_source_channel\":\"\",\"security_oauth_token\":");
    json_put_str(out, or_empty(u->oauth_token));
    buf_puts(out, ",\"refresh_token\":");
    json_put_str(out, or_empty(u->refresh_token));
    buf_printf(out, ",\"expire_time\":%lld", (long long)u->expire_time_ms);
    buf_puts(out, ",\"user_type\":\"\",\"data_policy_agreed\":false,\"email\":\"\","
                  "\"is_data_policy_modifiable\":false,\"is_quota_exceeded\":false,"
                  "\"organization_tags\":null}");
}

static int rsa_encrypt_b64(const char *pem, const void *in, size_t len, buf *out) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    int rc = -1;
    if (!bio || !(key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))) goto out;
    if (!(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_encrypt(ctx, NULL, &ctlen, in, len) != 1)
        goto out;
    ct = xmalloc(ctlen);
    if (EVP_PKEY_encrypt(ctx, ct, &ctlen, in, len) != 1) goto out;
    cosy_b64_encode(ct, ctlen, out);
    rc = 0;
out:
    free(ct);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

int cosy_mint_with_key(const cosy_user_info *u, const char *pubkey_pem,
                       const char temp_key[COSY_KEY_LEN], char **cosy_key,
                       char **encrypt_user_info) {
    buf key = BUF_INIT, info = BUF_INIT, json = BUF_INIT, raw = BUF_INIT;
    int rc = -1;
    if (rsa_encrypt_b64(pubkey_pem ? pubkey_pem : cosy_vendor_pubkey_pem, temp_key, COSY_KEY_LEN,
                        &key))
        goto out;
    cosy_user_info_json(u, &json);
    if (cosy_aes_encrypt(temp_key, json.data, json.len, &raw)) goto out;
    cosy_b64_encode(raw.data, raw.len, &info);
    *cosy_key = buf_detach(&key, NULL);
    *encrypt_user_info = buf_detach(&info, NULL);
    rc = 0;
out:
    /* The JSON carries the OAuth token. */
    if (json.data) OPENSSL_cleanse(json.data, json.cap);
    buf_free(&json);
    buf_free(&raw);
    buf_free(&key);
    buf_free(&info);
    return rc;
}

int cosy_mint(const cosy_user_info *u, const char *pubkey_pem, char **cosy_key,
              char **encrypt_user_info) {
    char temp[COSY_KEY_LEN + 1];
    ids_hex(temp, COSY_KEY_LEN / 2); /* 16 hex chars: the key must be printable ASCII */
    int rc = cosy_mint_with_key(u, pubkey_pem, temp, cosy_key, encrypt_user_info);
    OPENSSL_cleanse(temp, sizeof temp);
    return rc;
}
