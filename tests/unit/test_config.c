/* config: defaults < .env < environment < flags, .env syntax, value validation, LISTEN,
 * --help / --version / --check-config / --env-file.
 * Every test runs inside a fresh temporary directory, so ./.env is the test's own. */
#include "util/buf.h"
#include "util/config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---------------------------------------------------------------- fake environment */

#define MAX_FAKE_ENV 16
static struct { const char *name, *value; } fake_env[MAX_FAKE_ENV];
static size_t n_fake_env;

static void env_set(const char *name, const char *value) {
    assert_true(n_fake_env < MAX_FAKE_ENV);
    fake_env[n_fake_env].name = name;
    fake_env[n_fake_env].value = value;
    n_fake_env++;
}

static const char *env_lookup(const char *name) {
    for (size_t i = 0; i < n_fake_env; i++)
        if (strcmp(fake_env[i].name, name) == 0) return fake_env[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- temp dir per test */

static char orig_cwd[4096];
static char tmp_dir[64];

static int setup(void **state) {
    (void)state;
    n_fake_env = 0;
    if (!getcwd(orig_cwd, sizeof orig_cwd)) return -1;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/lgw-test-config-XXXXXX");
    if (!mkdtemp(tmp_dir)) return -1;
    return chdir(tmp_dir);
}

static int teardown(void **state) {
    (void)state;
    const char *files[] = {".env", "other.env", "crlf.env"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        (void)unlink(files[i]);
    if (chdir(orig_cwd) != 0) return -1;
    return rmdir(tmp_dir);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Loads with argv = {"lingma-gateway", args..., NULL}. */
static config_status load(config *cfg, char **text, int nargs, const char **args) {
    char *argv[16];
    assert_true(nargs < 15);
    argv[0] = (char *)"lingma-gateway";
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    argv[nargs + 1] = NULL;
    return config_load(cfg, nargs + 1, argv, env_lookup, text);
}

#define LOAD_OK(cfg, ...)                                                                          \
    do {                                                                                           \
        const char *args_[] = {"--listen=127.0.0.1:8080", __VA_ARGS__};                            \
        char *text_ = NULL;                                                                        \
        config_status st_ = load((cfg), &text_, (int)(sizeof args_ / sizeof args_[0]), args_);     \
        if (st_ != CONFIG_OK) fail_msg("config_load failed: %s", text_ ? text_ : "(no text)");     \
        assert_null(text_);                                                                        \
    } while (0)

/* Expects CONFIG_ERROR with a message containing `needle`. */
static void expect_error(int nargs, const char **args, const char *needle) {
    config cfg;
    char *text = NULL;
    config_status st = load(&cfg, &text, nargs, args);
    if (st != CONFIG_ERROR)
        fail_msg("expected an error containing \"%s\", got status %d", needle, st);
    assert_non_null(text);
    if (!strstr(text, needle)) fail_msg("error \"%s\" does not mention \"%s\"", text, needle);
    free(text);
}

/* ---------------------------------------------------------------- defaults and precedence */

static void test_defaults(void **state) {
    (void)state;
    config cfg;
    char *text = NULL;
    assert_int_equal(load(&cfg, &text, 0, NULL), CONFIG_OK);
    assert_null(text);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.api_keys, "");
    assert_false(cfg.metrics_public);
    assert_true(cfg.access_log);
    assert_int_equal(cfg.max_header_bytes, 65536);
    assert_int_equal(cfg.max_body_bytes, 33554432);
    assert_int_equal(cfg.header_timeout_ms, 10000);
    assert_string_equal(cfg.log_format, "json");
    assert_null(cfg.env_file); /* no ./.env here */
    assert_false(cfg.check_only);
    config_free(&cfg);
    assert_null(cfg.listen);
    assert_null(cfg.listen_host);
}

static void test_precedence_dotenv_env_flag(void **state) {
    (void)state;
    write_file(".env", "MAX_BODY_BYTES=2001\nMAX_HEADER_BYTES=3001\nIDLE_TIMEOUT_MS=4001\n"
                       "API_KEYS=from-dotenv\n");
    env_set("MAX_BODY_BYTES", "2002");
    env_set("MAX_HEADER_BYTES", "3002");
    config cfg;
    const char *args[] = {"--max-body-bytes", "2003"};
    char *text = NULL;
    assert_int_equal(load(&cfg, &text, 2, args), CONFIG_OK);
    assert_int_equal(cfg.max_body_bytes, 2003);   /* flag > environment > .env */
    assert_int_equal(cfg.max_header_bytes, 3002); /* environment > .env */
    assert_int_equal(cfg.idle_timeout_ms, 4001);  /* .env > default */
    assert_string_equal(cfg.api_keys, "from-dotenv");
    assert_int_equal(cfg.write_timeout_ms, 60000); /* default */
    assert_string_equal(cfg.env_file, ".env");
    config_free(&cfg);
}

static void test_environment_wins_even_when_empty(void **state) {
    (void)state;
    write_file(".env", "API_KEYS=from-dotenv\n");
    env_set("API_KEYS", "");
    config cfg;
    LOAD_OK(&cfg, "--access-log=false");
    assert_string_equal(cfg.api_keys, "");
    assert_false(cfg.access_log);
    config_free(&cfg);
}

static void test_env_file_flag(void **state) {
    (void)state;
    write_file(".env", "MAX_BODY_BYTES=1111\n");
    write_file("other.env", "MAX_BODY_BYTES=2222\nMETRICS_PUBLIC=yes\n");
    config cfg;
    LOAD_OK(&cfg, "--env-file", "other.env");
    assert_int_equal(cfg.max_body_bytes, 2222); /* ./.env is not read when --env-file is given */
    assert_true(cfg.metrics_public);
    assert_string_equal(cfg.env_file, "other.env");
    config_free(&cfg);

    LOAD_OK(&cfg, "--env-file=other.env");
    assert_int_equal(cfg.max_body_bytes, 2222);
    config_free(&cfg);

    /* a flag still beats the file */
    LOAD_OK(&cfg, "--env-file", "other.env", "--max-body-bytes=3333");
    assert_int_equal(cfg.max_body_bytes, 3333);
    config_free(&cfg);
}

static void test_env_file_missing_is_an_error(void **state) {
    (void)state;
    const char *args[] = {"--env-file", "does-not-exist.env"};
    expect_error(2, args, "does-not-exist.env");
}

static void test_dotenv_unknown_keys_ignored(void **state) {
    (void)state;
    write_file(".env", "SOMETHING_ELSE=1\nPATH=/nope\nMAX_BODY_BYTES=4096\n");
    config cfg;
    LOAD_OK(&cfg, "--log-level", "debug");
    assert_int_equal(cfg.max_body_bytes, 4096);
    assert_string_equal(cfg.log_level, "debug");
    config_free(&cfg);
}

static void test_dotenv_bad_line_is_an_error(void **state) {
    (void)state;
    write_file(".env", "# fine\nMAX_BODY_BYTES=4096\nthis is not a pair\n");
    expect_error(0, NULL, "line 3");
    write_file(".env", "MAX_BODY_BYTES=\"4096\n");
    expect_error(0, NULL, "unterminated");
    write_file(".env", "MAX_BODY_BYTES=lots\n");
    expect_error(0, NULL, "MAX_BODY_BYTES");
}

static void test_dotenv_crlf_file(void **state) {
    (void)state;
    write_file("crlf.env", "# windows\r\nMAX_BODY_BYTES=5000\r\nMETRICS_PUBLIC=true\r\n"
                           "LOG_FORMAT=text\r\n");
    config cfg;
    LOAD_OK(&cfg, "--env-file", "crlf.env");
    assert_int_equal(cfg.max_body_bytes, 5000);
    assert_true(cfg.metrics_public);
    assert_string_equal(cfg.log_format, "text");
    config_free(&cfg);
}

/* ---------------------------------------------------------------- .env syntax */

typedef struct pairs {
    buf text; /* "KEY=VALUE\n" per pair, in order */
    int n;
} pairs;

static void collect(const char *key, const char *value, void *ud) {
    pairs *p = ud;
    buf_printf(&p->text, "%s=%s\n", key, value);
    p->n++;
}

/* Parses `text` and returns 0/-1; the pairs seen are in p (caller frees p->text). */
static int parse(const char *text, pairs *p, char *err, size_t err_cap) {
    memset(p, 0, sizeof *p);
    err[0] = '\0';
    return config_parse_dotenv(text, strlen(text), collect, p, err, err_cap);
}

static void expect_pairs(const char *text, const char *want) {
    pairs p;
    char err[128];
    int rc = parse(text, &p, err, sizeof err);
    if (rc != 0) fail_msg("parse of [%s] failed: %s", text, err);
    const char *got = p.text.data ? p.text.data : "";
    if (strcmp(got, want) != 0) fail_msg("parse of [%s]:\nwant [%s]\n got [%s]", text, want, got);
    buf_free(&p.text);
}

static void expect_parse_error(const char *text, const char *needle) {
    pairs p;
    char err[128];
    int rc = parse(text, &p, err, sizeof err);
    buf_free(&p.text);
    if (rc == 0) fail_msg("parse of [%s] succeeded, want an error with \"%s\"", text, needle);
    if (!strstr(err, needle)) fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_dotenv_plain_and_blank(void **state) {
    (void)state;
    expect_pairs("", "");
    expect_pairs("\n\n   \n\t\n", "");
    expect_pairs("A=1", "A=1\n"); /* no final newline */
    expect_pairs("A=1\nB_2=two\n", "A=1\nB_2=two\n");
    expect_pairs("A = spaced \t\n", "A=spaced\n");
    expect_pairs("  A=indented\n", "A=indented\n");
    expect_pairs("EMPTY=\nE2=   \n", "EMPTY=\nE2=\n");
    expect_pairs("URL=http://h:1/p?q=a=b\n", "URL=http://h:1/p?q=a=b\n");
}

static void test_dotenv_export(void **state) {
    (void)state;
    expect_pairs("export A=1\n", "A=1\n");
    expect_pairs("export   B=2\n", "B=2\n");
    expect_pairs("exportC=3\n", "exportC=3\n"); /* a key that merely starts with "export" */
}

static void test_dotenv_comments(void **state) {
    (void)state;
    expect_pairs("# a comment\n   # indented comment\nA=1\n", "A=1\n");
    expect_pairs("A=value # inline comment\n", "A=value\n");
    expect_pairs("A=value\t# tab before the comment\n", "A=value\n");
    expect_pairs("A=a#b\n", "A=a#b\n"); /* '#' inside a word is data */
    expect_pairs("A=#only\n", "A=#only\n");
    expect_pairs("A=\"quoted # not a comment\" # but this is\n", "A=quoted # not a comment\n");
}

static void test_dotenv_quotes(void **state) {
    (void)state;
    expect_pairs("A=\"double quoted\"\n", "A=double quoted\n");
    expect_pairs("A='single quoted'\n", "A=single quoted\n");
    expect_pairs("A=\"  keeps blanks  \"\n", "A=  keeps blanks  \n");
    expect_pairs("A=\"esc \\\"q\\\" \\\\ \\t|\"\n", "A=esc \"q\" \\ \t|\n");
    expect_pairs("A=\"line1\\nline2\"\n", "A=line1\nline2\n");
    expect_pairs("A='raw \\n'\n", "A=raw \\n\n"); /* no escapes in single quotes */
    expect_pairs("A=\"has 'single'\"\n", "A=has 'single'\n");
    expect_pairs("A=''\n", "A=\n");
}

static void test_dotenv_crlf(void **state) {
    (void)state;
    expect_pairs("A=1\r\nB=\"two\"\r\n# c\r\n\r\nC=3 # x\r\n", "A=1\nB=two\nC=3\n");
}

static void test_dotenv_bad_lines(void **state) {
    (void)state;
    expect_parse_error("A=1\nNOEQUALS\n", "line 2");
    expect_parse_error("=value\n", "line 1");
    expect_parse_error("A-B=1\n", "line 1");
    expect_parse_error("A: 1\n", "line 1");
    expect_parse_error("A=1\n\n# c\nB=\"open\n", "line 4");
    expect_parse_error("A='open\n", "unterminated");
    expect_parse_error("export\n", "line 1");
}

/* ---------------------------------------------------------------- validation */

static void test_bool_values(void **state) {
    (void)state;
    const char *truthy[] = {"true", "TRUE", "1", "yes", "on"};
    const char *falsy[] = {"false", "False", "0", "no", "off", ""};
    for (size_t i = 0; i < sizeof truthy / sizeof truthy[0]; i++) {
        n_fake_env = 0;
        env_set("METRICS_PUBLIC", truthy[i]);
        config cfg;
        LOAD_OK(&cfg, "--check-config");
        if (!cfg.metrics_public) fail_msg("METRICS_PUBLIC=%s read as false", truthy[i]);
        config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof falsy / sizeof falsy[0]; i++) {
        n_fake_env = 0;
        env_set("METRICS_PUBLIC", falsy[i]);
        env_set("ACCESS_LOG", falsy[i]);
        config cfg;
        LOAD_OK(&cfg, "--check-config");
        if (cfg.metrics_public || cfg.access_log) fail_msg("\"%s\" read as true", falsy[i]);
        config_free(&cfg);
    }
}

static void test_bool_invalid(void **state) {
    (void)state;
    env_set("METRICS_PUBLIC", "maybe");
    expect_error(0, NULL, "METRICS_PUBLIC");
    n_fake_env = 0;
    const char *args[] = {"--access-log=sometimes"};
    expect_error(1, args, "ACCESS_LOG");
}

static void test_bool_flag_forms(void **state) {
    (void)state;
    config cfg;
    LOAD_OK(&cfg, "--metrics-public");
    assert_true(cfg.metrics_public);
    config_free(&cfg);
    LOAD_OK(&cfg, "--metrics-public", "--access-log=false");
    assert_true(cfg.metrics_public);
    assert_false(cfg.access_log);
    config_free(&cfg);
    LOAD_OK(&cfg, "--metrics-public", "false");
    assert_false(cfg.metrics_public);
    config_free(&cfg);
}

static void test_integer_invalid(void **state) {
    (void)state;
    const char *bad[] = {
        "-1", "+5", " 5", "5 ", "12abc", "0x10", "1.5", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n_fake_env = 0;
        env_set("HEADER_TIMEOUT_MS", bad[i]);
        expect_error(0, NULL, "HEADER_TIMEOUT_MS");
    }
    n_fake_env = 0;
    const char *args[] = {"--max-connections", "ten"};
    expect_error(2, args, "MAX_CONNECTIONS");
}

static void test_integer_valid(void **state) {
    (void)state;
    env_set("HEADER_TIMEOUT_MS", "0");
    env_set("MAX_CONNECTIONS", "18446744073709551615");
    config cfg;
    LOAD_OK(&cfg, "--idle-timeout-ms=007");
    assert_int_equal(cfg.header_timeout_ms, 0);
    assert_true(cfg.max_connections == UINT64_MAX);
    assert_int_equal(cfg.idle_timeout_ms, 7);
    config_free(&cfg);
}

static void test_limits_floor(void **state) {
    (void)state;
    const char *a1[] = {"--max-body-bytes", "1023"};
    expect_error(2, a1, "MAX_BODY_BYTES");
    const char *a2[] = {"--max-header-bytes", "10"};
    expect_error(2, a2, "MAX_HEADER_BYTES");
    config cfg;
    LOAD_OK(&cfg, "--max-body-bytes", "1024");
    assert_int_equal(cfg.max_body_bytes, 1024);
    config_free(&cfg);
}

static void test_log_format_validated(void **state) {
    (void)state;
    const char *args[] = {"--log-format", "xml"};
    expect_error(2, args, "LOG_FORMAT");
}

static void test_inflight_policy_validated(void **state) {
    (void)state;
    const char *ok[] = {"fork", "wait", "reject", "WAIT"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        n_fake_env = 0;
        env_set("INFLIGHT_POLICY", ok[i]);
        config cfg;
        LOAD_OK(&cfg, "--check-config");
        assert_string_equal(cfg.inflight_policy, ok[i]);
        config_free(&cfg);
    }
    n_fake_env = 0;
    const char *args[] = {"--inflight-policy", "queue"};
    expect_error(2, args, "INFLIGHT_POLICY");
}

/* ---------------------------------------------------------------- flags */

static void test_flag_errors(void **state) {
    (void)state;
    const char *a1[] = {"--no-such-flag"};
    expect_error(1, a1, "--no-such-flag");
    const char *a2[] = {"positional"};
    expect_error(1, a2, "positional");
    const char *a3[] = {"--max-body-bytes"};
    expect_error(1, a3, "needs a value");
    const char *a4[] = {"-x"};
    expect_error(1, a4, "-x");
}

static void test_help(void **state) {
    (void)state;
    const char *forms[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        config cfg;
        char *text = NULL;
        const char *args[] = {"--max-body-bytes=1", forms[i]}; /* help wins over bad values */
        assert_int_equal(load(&cfg, &text, 2, args), CONFIG_EXIT_OK);
        assert_non_null(text);
        assert_non_null(strstr(text, "usage: lingma-gateway"));
        assert_non_null(strstr(text, "--env-file"));
        assert_non_null(strstr(text, "--check-config"));
        /* every knob is documented with its flag and environment variable */
        assert_non_null(strstr(text, "--max-body-bytes"));
        assert_non_null(strstr(text, "MAX_BODY_BYTES"));
        assert_non_null(strstr(text, "--header-timeout-ms"));
        assert_non_null(strstr(text, "METRICS_PUBLIC"));
        assert_non_null(strstr(text, "[default: 127.0.0.1:8080]"));
        free(text);
    }
}

static void test_version(void **state) {
    (void)state;
    config cfg;
    char *text = NULL;
    const char *args[] = {"--version"};
    assert_int_equal(load(&cfg, &text, 1, args), CONFIG_EXIT_OK);
    assert_string_equal(text, "lingma-gateway " LGW_VERSION "\n");
    free(text);
}

static void test_check_config_redacts_secrets(void **state) {
    (void)state;
    env_set("API_KEYS", "sekrit-key-1,sekrit-key-2");
    env_set("ADMIN_TOKEN", "sekrit-admin");
    config cfg;
    LOAD_OK(&cfg, "--check-config", "--metrics-token", "sekrit-metrics");
    assert_true(cfg.check_only);
    char *json = config_to_json(&cfg);
    assert_null(strstr(json, "sekrit"));
    assert_non_null(strstr(json, "\"API_KEYS\":\"<redacted>\""));
    assert_non_null(strstr(json, "\"ADMIN_TOKEN\":\"<redacted>\""));
    assert_non_null(strstr(json, "\"METRICS_TOKEN\":\"<redacted>\""));
    assert_non_null(strstr(json, "\"LISTEN\":\"127.0.0.1:8080\""));
    assert_non_null(strstr(json, "\"MAX_BODY_BYTES\":33554432"));
    assert_non_null(strstr(json, "\"METRICS_PUBLIC\":false"));
    assert_non_null(strstr(json, "\"env_file\":null"));
    free(json);
    config_free(&cfg);
}

/* ---------------------------------------------------------------- LISTEN */

static void test_split_listen(void **state) {
    (void)state;
    char host[64];
    int port = -1;
    assert_int_equal(config_split_listen("127.0.0.1:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(config_split_listen("[::1]:0", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(config_split_listen("0.0.0.0:65535", host, sizeof host, &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 65535);
    assert_int_equal(config_split_listen("localhost:1", host, sizeof host, &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 1);
    assert_int_equal(config_split_listen("[fe80::1:2]:443", host, sizeof host, &port), 0);
    assert_string_equal(host, "fe80::1:2");
    assert_int_equal(port, 443);

    const char *bad[] = {"127.0.0.1", ":8080", "h:",    "h:65536", "h:-1",
                         "h:8x",      "h: 80", "[]:80", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (config_split_listen(bad[i], host, sizeof host, &port) == 0)
            fail_msg("LISTEN \"%s\" accepted", bad[i]);
    /* a host that does not fit is refused, not truncated */
    char small[4];
    assert_int_equal(config_split_listen("abcd:80", small, sizeof small, &port), -1);
    assert_int_equal(config_split_listen("abc:80", small, sizeof small, &port), 0);
    assert_string_equal(small, "abc");
}

static void test_listen_through_load(void **state) {
    (void)state;
    env_set("LISTEN", "[::1]:0");
    config cfg;
    char *text = NULL;
    assert_int_equal(load(&cfg, &text, 0, NULL), CONFIG_OK);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 0);
    config_free(&cfg);
    const char *args[] = {"--listen", "nowhere"};
    expect_error(2, args, "LISTEN");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_dotenv_env_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_wins_even_when_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_file_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_file_missing_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_unknown_keys_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_bad_line_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_crlf_file, setup, teardown),
        cmocka_unit_test(test_dotenv_plain_and_blank),
        cmocka_unit_test(test_dotenv_export),
        cmocka_unit_test(test_dotenv_comments),
        cmocka_unit_test(test_dotenv_quotes),
        cmocka_unit_test(test_dotenv_crlf),
        cmocka_unit_test(test_dotenv_bad_lines),
        cmocka_unit_test_setup_teardown(test_bool_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_flag_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_format_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_policy_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config_redacts_secrets, setup, teardown),
        cmocka_unit_test(test_split_listen),
        cmocka_unit_test_setup_teardown(test_listen_through_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
