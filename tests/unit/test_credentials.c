#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "upstream/cosy.h"
#include "upstream/credentials.h"
#include "util/clock.h"
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static EVP_PKEY *test_key;
static char *test_pem;

static int group_setup(void **state) {
    (void)state;
    test_key = EVP_RSA_gen(1024);
    if (!test_key) return -1;
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, test_key);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    test_pem = strndup(p, (size_t)n);
    BIO_free(b);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    EVP_PKEY_free(test_key);
    free(test_pem);
    return 0;
}

static int parse(const char *json, lingma_account_list *l, char *err) {
    return credentials_parse(json, strlen(json), test_pem, l, err, 256);
}

static void test_parse_valid(void **state) {
    (void)state;
    const char *json =
        "{\"accounts\":["
        "{\"name\":\"a1\",\"user_id\":\"5930000000000001\",\"machine_id\":\"m-0000000000000001\","
        "\"cosy_key\":\"CK1\",\"encrypt_user_info\":\"EUI1\",\"expire_time\":1783600000000},"
        "{\"name\":\"a2\",\"user_id\":5930000000000002,\"machine_id\":\"m-0000000000000002\","
        "\"cosy_key\":\"CK2\",\"encrypt_user_info\":\"EUI2\",\"expire_time\":\"1777520000000\"},"
        "{\"name\":\"a3\",\"user_id\":\"3\",\"machine_id\":\"m3\",\"cosy_key\":\"CK3\","
        "\"encrypt_user_info\":\"EUI3\"}]}\n";
    lingma_account_list l = {0};
    char err[256] = "";
    assert_int_equal(parse(json, &l, err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].name, "a1");
    assert_string_equal(l.items[0].cosy_key, "CK1");
    assert_string_equal(l.items[0].encrypt_user_info, "EUI1");
    assert_string_equal(l.items[0].machine_id, "m-0000000000000001");
    assert_int_equal(l.items[0].expire_time_ms, 1783600000000);
    assert_string_equal(l.items[1].user_id, "5930000000000002");
    assert_int_equal(l.items[1].expire_time_ms, 1777520000000);
    assert_int_equal(l.items[2].expire_time_ms, 0);
    assert_null(l.items[2].oauth_token);
    assert_false(l.items[2].minted);
    lingma_account_list_free(&l);
}

typedef struct bad_case {
    const char *json, *want;
} bad_case;

#define ACC(fields) "{\"accounts\":[{" fields "}]}"
#define FULL                                                                                       \
    "\"user_id\":\"1\",\"machine_id\":\"m\",\"cosy_key\":\"SECRETKEY\",\"encrypt_user_info\":"     \
    "\"E\""

static const bad_case BAD[] = {
    {"", "not a JSON object"},
    {"[1]", "not a JSON object"},
    {"{\"accounts\":[", "not a JSON object"},
    {"{}", "missing array \"accounts\""},
    {"{\"accounts\":{}}", "missing array \"accounts\""},
    {"{\"accounts\":[1]}", "accounts[0]: must be an object"},
    {ACC(FULL), "accounts[0]: missing field \"name\""},
    {ACC("\"name\":\"bad name\"," FULL), "accounts[0]: invalid field \"name\""},
    {ACC("\"name\":7," FULL), "accounts[0]: invalid field \"name\""},
    {ACC("\"name\":\"a1\",\"machine_id\":\"m\",\"cosy_key\":\"SECRETKEY\",\"encrypt_user_info\":"
         "\"E\""),
     "account \"a1\": missing field \"user_id\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"cosy_key\":\"SECRETKEY\",\"encrypt_user_info\":"
         "\"E\""),
     "account \"a1\": missing field \"machine_id\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"machine_id\":\"\",\"cosy_key\":\"SECRETKEY\","
         "\"encrypt_user_info\":\"E\""),
     "account \"a1\": missing field \"machine_id\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"machine_id\":\"m\",\"encrypt_user_info\":\"E\""),
     "account \"a1\": missing field \"cosy_key\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"machine_id\":\"m\",\"cosy_key\":\"SECRETKEY\""),
     "account \"a1\": missing field \"encrypt_user_info\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"machine_id\":\"m\""),
     "account \"a1\": missing field \"cosy_key\" (or \"oauth_token\""},
    {ACC("\"name\":\"a1\",\"user_id\":true,\"machine_id\":\"m\",\"cosy_key\":\"SECRETKEY\","
         "\"encrypt_user_info\":\"E\""),
     "account \"a1\": invalid (not a string) field \"user_id\""},
    {ACC("\"name\":\"a1\",\"user_id\":\"1\",\"machine_id\":[],\"cosy_key\":\"SECRETKEY\",\"encrypt_"
         "user_info\":\"E\""),
     "account \"a1\": invalid (not a string) field \"machine_id\""},
    {ACC("\"name\":\"a1\"," FULL ",\"expire_time\":\"soon\""),
     "account \"a1\": invalid field \"expire_time\""},
    {ACC("\"name\":\"a1\"," FULL ",\"expire_time\":-5"),
     "account \"a1\": invalid field \"expire_time\""},
    {ACC("\"name\":\"a1\"," FULL ",\"expire_time\":1.5"),
     "account \"a1\": invalid field \"expire_time\""},
    {"{\"accounts\":[{\"name\":\"a1\"," FULL "},{\"name\":\"a1\"," FULL "}]}",
     "account \"a1\": duplicate name"},
    {"{\"accounts\":[{\"name\":\"a1\"," FULL "},{\"name\":\"a2\",\"user_id\":\"2\"}]}",
     "account \"a2\": missing field \"machine_id\""},
};

static void test_parse_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        lingma_account_list l = {(lingma_account *)1, 99};
        char err[256] = "";
        if (parse(BAD[i].json, &l, err) != -1) fail_msg("case %zu accepted", i);
        if (!strstr(err, BAD[i].want))
            fail_msg("case %zu: error \"%s\", want \"%s\"", i, err, BAD[i].want);
        assert_null(strstr(err, "SECRETKEY"));
        assert_int_equal(l.n, 99); /* untouched on failure */
    }
}

static void aes_json_from(const char *cosy_key_b64, const char *eui_b64, buf *json) {
    buf ct = BUF_INIT, key = BUF_INIT, raw = BUF_INIT;
    assert_int_equal(cosy_b64_decode(cosy_key_b64, strlen(cosy_key_b64), &ct), 0);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(test_key, NULL);
    EVP_PKEY_decrypt_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
    size_t n = 0;
    EVP_PKEY_decrypt(ctx, NULL, &n, (unsigned char *)ct.data, ct.len);
    buf_reserve(&key, n);
    assert_int_equal(
        EVP_PKEY_decrypt(ctx, (unsigned char *)key.data, &n, (unsigned char *)ct.data, ct.len), 1);
    assert_int_equal(n, 16);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(cosy_b64_decode(eui_b64, strlen(eui_b64), &raw), 0);
    assert_int_equal(cosy_aes_decrypt(key.data, raw.data, raw.len, json), 0);
    buf_free(&ct);
    buf_free(&key);
    buf_free(&raw);
}

static void test_parse_oauth_mint(void **state) {
    (void)state;
    const char *json = "{\"accounts\":[{\"name\":\"o1\",\"user_id\":\"42\",\"machine_id\":\"m\","
                       "\"oauth_token\":\"pt-TOKEN\",\"refresh_token\":\"rt-R\","
                       "\"expire_time\":\"1783600000000\"}]}";
    lingma_account_list l = {0}, l2 = {0};
    char err[256] = "";
    assert_int_equal(parse(json, &l, err), 0);
    assert_int_equal(parse(json, &l2, err), 0);
    lingma_account *a = &l.items[0];
    assert_true(a->minted);
    assert_string_equal(a->oauth_token, "pt-TOKEN");
    assert_string_equal(a->refresh_token, "rt-R");
    assert_int_equal(strlen(a->cosy_key), 172);
    /* A fresh temp key per mint. */
    assert_string_not_equal(a->cosy_key, l2.items[0].cosy_key);
    assert_string_not_equal(a->encrypt_user_info, l2.items[0].encrypt_user_info);
    buf plain = BUF_INIT;
    aes_json_from(a->cosy_key, a->encrypt_user_info, &plain);
    assert_non_null(strstr(plain.data, "\"uid\":\"42\""));
    assert_non_null(strstr(plain.data, "\"security_oauth_token\":\"pt-TOKEN\""));
    assert_non_null(strstr(plain.data, "\"refresh_token\":\"rt-R\""));
    buf_free(&plain);

    char *old = strdup(a->cosy_key);
    assert_int_equal(lingma_account_mint(a, test_pem, err, sizeof err), 0);
    assert_string_not_equal(old, a->cosy_key);
    free(old);
    lingma_account_list_free(&l);
    lingma_account_list_free(&l2);
}

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

static void test_expiry(void **state) {
    (void)state;
    clock_set_fake_wall_ms(fake_clock);
    lingma_account a = {.expire_time_ms = 1000000};
    fake_now = 1000000 - CREDENTIALS_EXPIRY_MARGIN_MS - 1;
    assert_false(lingma_account_expired(&a, CREDENTIALS_EXPIRY_MARGIN_MS));
    fake_now = 1000000 - CREDENTIALS_EXPIRY_MARGIN_MS;
    assert_false(lingma_account_expired(&a, CREDENTIALS_EXPIRY_MARGIN_MS));
    fake_now++;
    assert_true(lingma_account_expired(&a, CREDENTIALS_EXPIRY_MARGIN_MS));
    assert_false(lingma_account_expired(&a, 0));
    fake_now = 2000000;
    assert_true(lingma_account_expired(&a, 0));
    a.expire_time_ms = 0; /* unknown: valid */
    assert_false(lingma_account_expired(&a, CREDENTIALS_EXPIRY_MARGIN_MS));
    clock_set_fake_wall_ms(NULL);
}

/* ---- files ---- */

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *make_temp_dir(void) {
    char tmpl[] = "/tmp/lgw_cred_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#define MID "abcdefgh-0000-4000-8000-000000000001"

static void make_cache(const char *root, const char *user_json) {
    char p[512];
    snprintf(p, sizeof p, "%s/cache", root);
    assert_int_equal(mkdir(p, 0700), 0);
    write_file(p, "id", "  " MID "\n");
    buf b64 = BUF_INIT;
    assert_int_equal(cosy_cache_encrypt(MID, user_json, strlen(user_json), &b64), 0);
    buf_putc(&b64, '\n');
    write_file(p, "user", b64.data);
    buf_free(&b64);
}

static const char CACHE_USER[] =
    "{\"name\":\"dev@example.com\",\"aid\":\"5930000000000001\",\"uid\":\"5930000000000001\","
    "\"key\":\"COSYKEYB64\",\"encrypt_user_info\":\"EUIB64\",\"security_oauth_token\":\"pt-AAAA\","
    "\"refresh_token\":\"rt-BBBB\",\"expire_time\":\"1783600000000\",\"is_quota_exceeded\":false}";

static void test_import_cache(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    make_cache(dir, CACHE_USER);
    lingma_account a = {0};
    char err[256] = "";
    assert_int_equal(credentials_import_cache(dir, NULL, &a, err, sizeof err), 0);
    assert_string_equal(a.name, "dev@example.com");
    assert_string_equal(a.machine_id, MID);
    assert_string_equal(a.user_id, "5930000000000001");
    assert_string_equal(a.cosy_key, "COSYKEYB64");
    assert_string_equal(a.encrypt_user_info, "EUIB64");
    assert_string_equal(a.oauth_token, "pt-AAAA");
    assert_string_equal(a.refresh_token, "rt-BBBB");
    assert_int_equal(a.expire_time_ms, 1783600000000);
    lingma_account_free(&a);

    /* DIR may be the cache folder itself; --name overrides. */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/cache", dir);
    assert_int_equal(credentials_import_cache(sub, "work", &a, err, sizeof err), 0);
    assert_string_equal(a.name, "work");
    assert_string_equal(a.cosy_key, "COSYKEYB64");
    lingma_account_free(&a);
    assert_int_equal(credentials_import_cache(sub, "bad name", &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid account name"));

    /* Errors: no id file, short id, undecryptable user, missing key. */
    assert_int_equal(credentials_import_cache("/nonexistent/x", NULL, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x/id"));
    write_file(sub, "id", "short\n");
    assert_int_equal(credentials_import_cache(dir, NULL, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 16"));
    write_file(sub, "id", MID);
    write_file(sub, "user", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(credentials_import_cache(dir, NULL, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot decrypt"));
    remove_tree(dir);
    free(dir);

    dir = make_temp_dir();
    make_cache(dir, "{\"uid\":\"1\",\"encrypt_user_info\":\"E\"}");
    assert_int_equal(credentials_import_cache(dir, NULL, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing field \"key\""));
    remove_tree(dir);
    free(dir);

    /* Numeric uid, no name: the uid names the account. */
    dir = make_temp_dir();
    make_cache(dir, "{\"uid\":777,\"key\":\"K\",\"encrypt_user_info\":\"E\",\"expire_time\":5}");
    assert_int_equal(credentials_import_cache(dir, NULL, &a, err, sizeof err), 0);
    assert_string_equal(a.name, "777");
    assert_string_equal(a.user_id, "777");
    assert_int_equal(a.expire_time_ms, 5);
    assert_null(a.oauth_token);
    lingma_account_free(&a);
    remove_tree(dir);
    free(dir);
}

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_append(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    lingma_account a = {.name = "a1",
                        .user_id = "1",
                        .machine_id = MID,
                        .cosy_key = "CK",
                        .encrypt_user_info = "E/1",
                        .expire_time_ms = 1783600000000};
    bool replaced = true;
    assert_int_equal(credentials_append(path, &a, &replaced, err, sizeof err), 0);
    assert_false(replaced);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    lingma_account b = {.name = "b2",
                        .user_id = "2",
                        .machine_id = MID,
                        .cosy_key = "CK2",
                        .encrypt_user_info = "E2",
                        .oauth_token = "pt-X"};
    assert_int_equal(credentials_append(path, &b, &replaced, err, sizeof err), 0);
    assert_false(replaced);
    a.cosy_key = "CK-NEW";
    assert_int_equal(credentials_append(path, &a, &replaced, err, sizeof err), 0);
    assert_true(replaced);

    lingma_account_list l = {0};
    assert_int_equal(credentials_load(path, test_pem, &l, err, sizeof err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "a1");
    assert_string_equal(l.items[0].cosy_key, "CK-NEW");
    assert_string_equal(l.items[0].encrypt_user_info, "E/1");
    assert_int_equal(l.items[0].expire_time_ms, 1783600000000);
    assert_string_equal(l.items[1].name, "b2");
    assert_string_equal(l.items[1].oauth_token, "pt-X");
    assert_false(l.items[1].minted); /* given keys win over minting */
    lingma_account_list_free(&l);
    assert_int_equal(count_entries(dir), 1); /* no temp file left behind */

    /* Other top-level content survives; a malformed file is left alone. */
    write_file(dir, "accounts.json", "{\"comment\":\"keep\",\"accounts\":[]}");
    assert_int_equal(credentials_append(path, &b, NULL, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "\"comment\""));
    write_file(dir, "accounts.json", "{\"accounts\":");
    assert_int_equal(credentials_append(path, &b, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "not modified"));
    lingma_account bad = {.name = "x y"};
    assert_int_equal(credentials_append(path, &bad, NULL, err, sizeof err), -1);
    assert_int_equal(count_entries(dir), 1);
    remove_tree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_oauth_mint), cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_import_cache),     cmocka_unit_test(test_append),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
