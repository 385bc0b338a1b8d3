#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "upstream/cosy.h"
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void test_md5_vector(void **state) {
    (void)state;
    const char *pre = "COSYPAYLOAD64\nCOSYKEY64\n1700000000\nTESTBODY\n"
                      "/api/v2/service/pro/sse/agent_chat_generation";
    char hex[33];
    assert_int_equal(cosy_md5_hex(pre, strlen(pre), hex), 0);
    assert_string_equal(hex, "65b7dfc7c1a5e441a362c8314973dc96");
}

static void check_sig_path(const char *in, const char *want) {
    char *p = cosy_sig_path(in);
    assert_string_equal(p, want);
    free(p);
}

static void test_sig_path(void **state) {
    (void)state;
    check_sig_path("/algo/api/v2/model/list", "/api/v2/model/list");
    check_sig_path("/algo/api/v2/service/pro/sse/agent_chat_generation"
                   "?FetchKeys=llm_model_result&AgentId=agent_common",
                   "/api/v2/service/pro/sse/agent_chat_generation");
    check_sig_path("/api/v2/image/upload?request_id=ab", "/api/v2/image/upload");
    check_sig_path("/algorithm/x", "/algorithm/x");
    check_sig_path("/algo", "");
    check_sig_path("", "");
}

/* Recomputes the bearer from the spec's recipe with independent calls. */
static void test_bearer_recompute(void **state) {
    (void)state;
    const char *body = "{\"stream\":true}";
    cosy_request r = {.cosy_key = "COSYKEY64",
                      .encrypt_user_info = "INFO+/=",
                      .cosy_version = "2.11.2",
                      .path = "/algo/api/v2/service/pro/sse/agent_chat_generation?FetchKeys=x",
                      .body = body,
                      .body_len = strlen(body),
                      .date_s = 1700000000,
                      .request_id = "6b1f2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"};
    buf out = BUF_INIT;
    assert_int_equal(cosy_bearer(&r, &out), 0);

    const char *payload =
        "{\"cosyVersion\":\"2.11.2\",\"ideVersion\":\"\",\"info\":\"INFO+/=\","
        "\"requestId\":\"6b1f2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d\",\"version\":\"v1\"}";
    unsigned char b64[512];
    EVP_EncodeBlock(b64, (const unsigned char *)payload, (int)strlen(payload));
    char pre[1024], md5[33], want[1024];
    snprintf(pre, sizeof pre, "%s\nCOSYKEY64\n1700000000\n%s\n%s", b64, body,
             "/api/v2/service/pro/sse/agent_chat_generation");
    assert_int_equal(cosy_md5_hex(pre, strlen(pre), md5), 0);
    snprintf(want, sizeof want, "Bearer COSY.%s.%s", b64, md5);
    assert_string_equal(out.data, want);
    buf_free(&out);

    /* A fresh request id and the current date when none are given. */
    r.request_id = NULL;
    r.date_s = 0;
    buf a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(cosy_bearer(&r, &a), 0);
    assert_int_equal(cosy_bearer(&r, &b), 0);
    assert_string_not_equal(a.data, b.data);
    assert_true(strncmp(a.data, "Bearer COSY.", 12) == 0);
    buf_free(&a);
    buf_free(&b);
}

static void test_bearer_empty_body(void **state) {
    (void)state;
    cosy_request r = {.cosy_key = "K",
                      .encrypt_user_info = "I",
                      .path = "/algo/api/v2/model/list",
                      .date_s = 1,
                      .request_id = "r"};
    buf out = BUF_INIT;
    assert_int_equal(cosy_bearer(&r, &out), 0);
    const char *dot = strrchr(out.data, '.');
    assert_non_null(dot);
    const char *b64 = out.data + strlen("Bearer COSY.");
    char pre[512], md5[33];
    snprintf(pre, sizeof pre, "%.*s\nK\n1\n\n/api/v2/model/list", (int)(dot - b64), b64);
    cosy_md5_hex(pre, strlen(pre), md5);
    assert_string_equal(dot + 1, md5);
    buf_free(&out);
}

/* The block holds `line` as one whole "…\r\n" line. */
static bool has_header(const buf *l, const char *line) {
    size_t n = strlen(line);
    for (const char *p = l->data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) return false;
        if ((size_t)(eol - p) == n && !memcmp(p, line, n)) return true;
        p = eol + 2;
    }
    return false;
}

/* The value of header `name` in the block (a pointer into it, up to CR), or NULL. */
static const char *header_value(const buf *l, const char *name, size_t *len) {
    size_t n = strlen(name);
    for (const char *p = l->data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) return NULL;
        if (!strncmp(p, name, n) && p[n] == ':' && p[n + 1] == ' ') {
            *len = (size_t)(eol - p - n - 2);
            return p + n + 2;
        }
        p = eol + 2;
    }
    return NULL;
}

static void test_headers(void **state) {
    (void)state;
    cosy_request r = {.cosy_key = "CK",
                      .encrypt_user_info = "EUI",
                      .user_id = "5930000000000001",
                      .machine_id = "abcdefgh-0000-4000-8000-000000000001",
                      .path = "/algo/api/v2/model/list",
                      .date_s = 1777045062,
                      .request_id = "rid",
                      .machine_os = "x86_64_linux",
                      .accept = "application/json"};
    buf l = BUF_INIT;
    assert_int_equal(cosy_headers(&r, &l), 0);
    buf auth = BUF_INIT;
    cosy_bearer(&r, &auth);
    char want[1024];
    snprintf(want, sizeof want, "Authorization: %s", auth.data);
    assert_true(has_header(&l, want));
    buf_free(&auth);
    const char *lines[] = {
        "Content-Type: application/json",
        "Appcode: cosy",
        "Cosy-Date: 1777045062",
        "Cosy-Key: CK",
        "Cosy-Machineid: abcdefgh-0000-4000-8000-000000000001",
        "Cosy-User: 5930000000000001",
        "Cosy-Clientip: 198.18.0.1",
        "Cosy-Clienttype: 2",
        "Cosy-Machineos: x86_64_linux",
        "Cosy-Machinetoken:",
        "Cosy-Machinetype:",
        "Cosy-Version: 2.11.2",
        "Login-Version: v2",
        "Accept: application/json",
        "Cache-Control: no-cache",
    };
    size_t count = 0;
    for (const char *p = l.data; (p = strstr(p, "\r\n")); p += 2)
        count++;
    assert_int_equal(count, 1 + sizeof lines / sizeof *lines);
    assert_null(strstr(l.data, "\r\n\r\n")); /* no blank line: the block is not a head */
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        assert_true(has_header(&l, lines[i]));
    buf_free(&l);

    /* Cosy-Date and the signed date agree when the date is taken from the clock. */
    r.date_s = 0;
    assert_int_equal(cosy_headers(&r, &l), 0);
    size_t date_len = 0, bearer_len = 0;
    const char *date = header_value(&l, "Cosy-Date", &date_len);
    const char *bearer = header_value(&l, "Authorization", &bearer_len);
    assert_non_null(date);
    assert_non_null(bearer);
    r.date_s = strtoll(date, NULL, 10);
    buf again = BUF_INIT;
    cosy_bearer(&r, &again);
    assert_int_equal(again.len, bearer_len);
    assert_memory_equal(again.data, bearer, bearer_len);
    buf_free(&again);
    buf_free(&l);
}

static void check_enc1(const char *plain, const char *enc) {
    buf e = BUF_INIT, d = BUF_INIT;
    cosy_encode1(plain, strlen(plain), COSY_ENC1_Q, &e);
    assert_string_equal(e.data, enc);
    assert_int_equal(cosy_decode1(enc, strlen(enc), COSY_ENC1_Q, &d), 0);
    assert_string_equal(d.data, plain);
    buf_reset(&d);
    assert_int_equal(cosy_decode1(enc, strlen(enc), COSY_ENC1_AUTO, &d), 0);
    assert_string_equal(d.data, plain);
    buf_free(&e);
    buf_free(&d);
}

static void test_encode1_vectors(void **state) {
    (void)state;
    check_enc1("hello", "q$FruHPH");
    check_enc1("{\"a\":\"bcd\"}", "zBEw$Mn*#OjmYKiB");
    check_enc1("{\"stream\":true}", "CYJSFWKL#Sw*lEmYK^JZ");
}

static void test_encode1_la_fallback(void **state) {
    (void)state;
    /* Lengths in every residue class; AUTO must recover JSON encoded either way. */
    const char *samples[] = {"{}",
                             "{\"a\":1}",
                             "{\"ab\":12}",
                             "{\"abc\":123}",
                             "{\"token\":\"pt-AAAA\",\"uid\":\"42\"}",
                             "[1,2,3,4,5,6,7]"};
    int differs = 0;
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        const char *s = samples[i];
        buf la = BUF_INIT, q = BUF_INIT, d = BUF_INIT;
        cosy_encode1(s, strlen(s), COSY_ENC1_LA, &la);
        cosy_encode1(s, strlen(s), COSY_ENC1_Q, &q);
        differs += strcmp(la.data, q.data) != 0;
        assert_int_equal(cosy_decode1(la.data, la.len, COSY_ENC1_LA, &d), 0);
        assert_string_equal(d.data, s);
        buf_reset(&d);
        assert_int_equal(cosy_decode1(la.data, la.len, COSY_ENC1_AUTO, &d), 0);
        assert_string_equal(d.data, s);
        buf_free(&la);
        buf_free(&q);
        buf_free(&d);
    }
    assert_true(differs > 0);
    buf d = BUF_INIT;
    assert_int_equal(cosy_decode1("~~~~", 4, COSY_ENC1_AUTO, &d), -1);
    assert_int_equal(cosy_decode1("$$$$$", 5, COSY_ENC1_LA, &d), -1);
    buf_free(&d);
}

static void test_aes_vector(void **state) {
    (void)state;
    const char *key = "aaaaaaaa-bbbb-cc";
    const char *plain = "{\"uid\":\"U123\",\"security_oauth_token\":\"dt-test\",\"name\":\"\","
                        "\"aid\":\"\",\"email\":\"\"}";
    buf ct = BUF_INIT, b64 = BUF_INIT, back = BUF_INIT, pt = BUF_INIT;
    assert_int_equal(cosy_aes_encrypt(key, plain, strlen(plain), &ct), 0);
    cosy_b64_encode(ct.data, ct.len, &b64);
    assert_string_equal(b64.data, "Enj9D0rGE4OCBcMKBu71/4lVgWNh4n6lrjlh6xNuKzyxnuhu88GIvDhgB8Yx5"
                                  "8WArusb1O0JsFJL6RS9SPxJsfu2WzvBm23lCYk9T09K0tw=");
    assert_int_equal(cosy_b64_decode(b64.data, b64.len, &back), 0);
    assert_int_equal(back.len, ct.len);
    assert_int_equal(cosy_aes_decrypt(key, back.data, back.len, &pt), 0);
    assert_string_equal(pt.data, plain);
    /* A wrong key fails the padding check (or yields other bytes, never the plaintext). */
    buf bad = BUF_INIT;
    if (cosy_aes_decrypt("bbbbbbbb-bbbb-cc", back.data, back.len, &bad) == 0)
        assert_string_not_equal(bad.data, plain);
    assert_int_equal(cosy_aes_decrypt(key, back.data, 15, &bad), -1);
    buf_free(&bad);
    buf_free(&ct);
    buf_free(&b64);
    buf_free(&back);
    buf_free(&pt);
}

static void test_cache_crypto(void **state) {
    (void)state;
    const char *mid = "abcdefgh-0000-4000-8000-000000000001";
    const char *plain = "{\"uid\":\"1\",\"key\":\"k\"}";
    buf b64 = BUF_INIT, pt = BUF_INIT;
    assert_int_equal(cosy_cache_encrypt(mid, plain, strlen(plain), &b64), 0);
    buf_putc(&b64, '\n'); /* files end with a newline */
    assert_int_equal(cosy_cache_decrypt(mid, b64.data, b64.len, &pt), 0);
    assert_string_equal(pt.data, plain);
    assert_int_equal(cosy_cache_decrypt("short", b64.data, b64.len, &pt), -1);
    assert_int_equal(cosy_cache_decrypt(mid, "not base64!", 11, &pt), -1);
    buf_free(&b64);
    buf_free(&pt);
}

static char *pubkey_pem(EVP_PKEY *k) {
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static void rsa_decrypt_b64(EVP_PKEY *k, const char *b64, buf *out) {
    buf ct = BUF_INIT;
    assert_int_equal(cosy_b64_decode(b64, strlen(b64), &ct), 0);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    size_t n = 0;
    assert_int_equal(EVP_PKEY_decrypt(ctx, NULL, &n, (unsigned char *)ct.data, ct.len), 1);
    buf_reserve(out, n);
    assert_int_equal(
        EVP_PKEY_decrypt(ctx, (unsigned char *)out->data, &n, (unsigned char *)ct.data, ct.len), 1);
    out->len = n;
    out->data[n] = '\0';
    EVP_PKEY_CTX_free(ctx);
    buf_free(&ct);
}

static void test_mint_round_trip(void **state) {
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(1024);
    assert_non_null(k);
    char *pem = pubkey_pem(k);
    cosy_user_info u = {.uid = "5930000000000001",
                        .name = "dev@example.com",
                        .oauth_token = "pt-AAAA",
                        .refresh_token = "rt-BBBB",
                        .expire_time_ms = 1783600000000};
    char *ck = NULL, *eui = NULL;
    assert_int_equal(cosy_mint_with_key(&u, pem, "0123456789abcdef", &ck, &eui), 0);
    assert_int_equal(strlen(ck), 172); /* 128-byte RSA block */
    buf key = BUF_INIT, json = BUF_INIT, raw = BUF_INIT;
    rsa_decrypt_b64(k, ck, &key);
    assert_string_equal(key.data, "0123456789abcdef");
    assert_int_equal(cosy_b64_decode(eui, strlen(eui), &raw), 0);
    assert_int_equal(cosy_aes_decrypt(key.data, raw.data, raw.len, &json), 0);
    json_object *o = json_tokener_parse(json.data);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "uid", &v));
    assert_string_equal(json_object_get_string(v), "5930000000000001");
    assert_true(json_object_object_get_ex(o, "aid", &v));
    assert_string_equal(json_object_get_string(v), "5930000000000001");
    assert_true(json_object_object_get_ex(o, "security_oauth_token", &v));
    assert_string_equal(json_object_get_string(v), "pt-AAAA");
    assert_true(json_object_object_get_ex(o, "expire_time", &v));
    assert_int_equal(json_object_get_int64(v), 1783600000000);
    assert_int_equal(json_object_object_length(o), 20);
    json_object_put(o);
    free(ck);
    free(eui);

    /* The random temp key: 16 hex chars, different every mint, recoverable. */
    char *ck2 = NULL, *eui2 = NULL;
    assert_int_equal(cosy_mint(&u, pem, &ck, &eui), 0);
    assert_int_equal(cosy_mint(&u, pem, &ck2, &eui2), 0);
    assert_string_not_equal(eui, eui2);
    buf_reset(&key);
    rsa_decrypt_b64(k, ck, &key);
    assert_int_equal(key.len, 16);
    assert_int_equal(strspn(key.data, "0123456789abcdef"), 16);
    buf_reset(&raw);
    buf_reset(&json);
    assert_int_equal(cosy_b64_decode(eui, strlen(eui), &raw), 0);
    assert_int_equal(cosy_aes_decrypt(key.data, raw.data, raw.len, &json), 0);
    assert_non_null(strstr(json.data, "\"security_oauth_token\":\"pt-AAAA\""));
    free(ck);
    free(eui);
    free(ck2);
    free(eui2);

    /* The vendor key (Appendix A) parses and yields a 1024-bit block. */
    assert_int_equal(cosy_mint(&u, NULL, &ck, &eui), 0);
    assert_int_equal(strlen(ck), 172);
    free(ck);
    free(eui);
    assert_int_equal(cosy_mint(&u, "not a pem", &ck, &eui), -1);

    buf_free(&key);
    buf_free(&json);
    buf_free(&raw);
    free(pem);
    EVP_PKEY_free(k);
}

/* A credential value with CR/LF (an accounts file or a login callback) must not inject header
 * lines into the signed upstream request. */
static void test_headers_refuse_line_breaks(void **state) {
    (void)state;
    const char *bad[] = {"1\r\nX-Injected: yes", "1\nX-Injected: yes", "1\rX"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cosy_request r = {.cosy_key = "CK",
                          .encrypt_user_info = "EUI",
                          .user_id = bad[i],
                          .machine_id = "abcdefgh-0000-4000-8000-000000000001",
                          .path = "/algo/api/v2/model/list"};
        buf l = BUF_INIT;
        assert_int_equal(cosy_headers(&r, &l), -1);
        buf_free(&l);
        r.user_id = "1";
        r.cosy_key = bad[i];
        assert_int_equal(cosy_headers(&r, &l), -1);
        buf_free(&l);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_vector),       cmocka_unit_test(test_sig_path),
        cmocka_unit_test(test_bearer_recompute), cmocka_unit_test(test_bearer_empty_body),
        cmocka_unit_test(test_headers),          cmocka_unit_test(test_headers_refuse_line_breaks),
        cmocka_unit_test(test_encode1_vectors),  cmocka_unit_test(test_encode1_la_fallback),
        cmocka_unit_test(test_aes_vector),       cmocka_unit_test(test_cache_crypto),
        cmocka_unit_test(test_mint_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
