/* The model catalog: model-list parsing, resolve_model and the fallback attempt order
 * (lingma-upstream.md §1.5, §1.9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "upstream/catalog.h"
#include <string.h>

#define FALLBACK                                                                                   \
    "kmodel,mmodel,dashscope_qwen3_coder,dashscope_qmodel,dashscope_qwen_max_latest,"              \
    "dashscope_qwen_plus_20250428_thinking"

static const char LIST[] =
    "{\"chat\":["
    "{\"key\":\"kmodel\",\"display_name\":\"Kimi-K2.6\",\"model\":\"kmodel\",\"enable\":true,"
    "\"format\":\"openai\",\"order\":1,\"is_vl\":false,\"is_reasoning\":false,"
    "\"max_input_tokens\":131072},"
    "{\"key\":\"mmodel\",\"display_name\":\"MiniMax-M2.7\",\"enable\":true},"
    "{\"key\":\"off_model\",\"display_name\":\"Disabled\",\"enable\":false},"
    "{\"display_name\":\"No key\",\"enable\":true},"
    "\"not an object\","
    "{\"key\":\"dashscope_qwen3_coder\",\"display_name\":\"Qwen3-Coder\"},"
    "{\"key\":\"dashscope_qmodel\",\"display_name\":\"Qwen3.6-Plus\",\"enable\":true},"
    "{\"key\":\"dashscope_qwen_plus_20250428_thinking\",\"display_name\":\"Qwen3-Thinking\","
    "\"is_reasoning\":true,\"enable\":true},"
    "{\"key\":\"dashscope_qwen_vl_max\",\"enable\":true,\"is_vl\":true},"
    "{\"key\":\"dmodel\",\"display_name\":\"DeepSeek-V4\",\"enable\":true}"
    "],"
    "\"inline\":[{\"key\":\"inline_model\",\"display_name\":\"Inline\",\"enable\":true}],"
    "\"developer\":[],\"assistant\":[]}";

static void parse_list(catalog *c) {
    catalog_init(c);
    assert_int_equal(catalog_parse(c, LIST, strlen(LIST)), 0);
}

/* ---- parsing ---- */

static void test_parse_keeps_enabled_chat_models(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    assert_int_equal(c.n, 7);
    static const char *const keys[] = {"kmodel",
                                       "mmodel",
                                       "dashscope_qwen3_coder",
                                       "dashscope_qmodel",
                                       "dashscope_qwen_plus_20250428_thinking",
                                       "dashscope_qwen_vl_max",
                                       "dmodel"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(c.models[i].key, keys[i]);
    assert_null(catalog_find(&c, "off_model"));    /* enable:false */
    assert_null(catalog_find(&c, "inline_model")); /* only the chat scene */
    const catalog_model *k = catalog_find(&c, "kmodel");
    assert_string_equal(k->display_name, "Kimi-K2.6");
    assert_int_equal(k->max_input_tokens, 131072);
    assert_false(k->is_vl);
    assert_false(k->is_reasoning);
    /* no enable field means enabled; no display name falls back to the key */
    assert_non_null(catalog_find(&c, "dashscope_qwen3_coder"));
    assert_string_equal(catalog_find(&c, "dashscope_qwen_vl_max")->display_name,
                        "dashscope_qwen_vl_max");
    assert_true(catalog_find(&c, "dashscope_qwen_vl_max")->is_vl);
    assert_true(catalog_find(&c, "dashscope_qwen_plus_20250428_thinking")->is_reasoning);
    assert_true(c.fetched_ms > 0);
    catalog_free(&c);
    assert_int_equal(c.n, 0);
    assert_null(c.models);
}

static void test_parse_failure_keeps_old_catalog(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    catalog_model *models = c.models;
    int64_t fetched = c.fetched_ms;
    static const char *const bad[] = {
        "{\"chat\":[{\"key\":\"x\"}", /* cut short */
        "not json",
        "",
        "[]",                         /* not an object */
        "{\"inline\":[]}",            /* no chat */
        "{\"chat\":{\"key\":\"x\"}}", /* chat not an array */
        "<html><body>login</body></html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(catalog_parse(&c, bad[i], strlen(bad[i])), -1);
        assert_int_equal(c.n, 7);
        assert_ptr_equal(c.models, models);
        assert_int_equal(c.fetched_ms, fetched);
        assert_string_equal(catalog_find(&c, "kmodel")->display_name, "Kimi-K2.6");
    }
    catalog_free(&c);
}

static void test_parse_replaces_and_empty_chat(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    const char *one = "{\"chat\":[{\"key\":\"only\",\"display_name\":\"Only\"}],\"inline\":[]}";
    assert_int_equal(catalog_parse(&c, one, strlen(one)), 0);
    assert_int_equal(c.n, 1);
    assert_null(catalog_find(&c, "kmodel"));
    /* an account without entitlement: a valid, empty catalog */
    const char *none = "{\"chat\":[],\"inline\":[{\"key\":\"i\"}]}";
    assert_int_equal(catalog_parse(&c, none, strlen(none)), 0);
    assert_int_equal(c.n, 0);
    catalog_free(&c);
}

static void test_parse_uses_len_not_nul(void **state) {
    (void)state;
    catalog c;
    catalog_init(&c);
    /* the body is not NUL-terminated where len ends */
    const char *s = "{\"chat\":[{\"key\":\"a\"}]}GARBAGE";
    assert_int_equal(catalog_parse(&c, s, strlen(s) - 7), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.models[0].key, "a");
    catalog_free(&c);
}

/* ---- resolve_model ---- */

static void test_resolve_exact_key(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    resolve_kind kind = RESOLVE_UNKNOWN;
    const char *k = resolve_model(&c, "mmodel", "kmodel", &kind);
    assert_int_equal(kind, RESOLVE_EXACT);
    assert_ptr_equal(k, catalog_find(&c, "mmodel")->key); /* borrowed from the catalog */
    /* keys are case-sensitive: "KMODEL" is not a key (nor a display name) */
    k = resolve_model(&c, "KMODEL", "", &kind);
    assert_null(k);
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    catalog_free(&c);
}

static void test_resolve_display_name_case_insensitive(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    resolve_kind kind;
    assert_string_equal(resolve_model(&c, "deepseek-v4", "kmodel", &kind), "dmodel");
    assert_int_equal(kind, RESOLVE_DISPLAY);
    assert_string_equal(resolve_model(&c, "DEEPSEEK-V4", "kmodel", &kind), "dmodel");
    assert_int_equal(kind, RESOLVE_DISPLAY);
    assert_string_equal(resolve_model(&c, "Qwen3.6-Plus", NULL, &kind), "dashscope_qmodel");
    assert_int_equal(kind, RESOLVE_DISPLAY);
    catalog_free(&c);
}

static void test_resolve_alias_table(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    resolve_kind kind;
    /* "qwen3-thinking" is also the display name here, which is looked up first */
    assert_string_equal(resolve_model(&c, "qwen3-thinking", "kmodel", &kind),
                        "dashscope_qwen_plus_20250428_thinking");
    assert_int_equal(kind, RESOLVE_DISPLAY);
    assert_string_equal(resolve_model(&c, "Qwen-Plus-Thinking", "kmodel", &kind),
                        "dashscope_qwen_plus_20250428_thinking");
    assert_int_equal(kind, RESOLVE_ALIAS);
    assert_string_equal(resolve_model(&c, "kimi-k2", "", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_ALIAS);
    /* auto is always offered, even when the catalog does not list org_auto */
    assert_string_equal(resolve_model(&c, "auto", "", &kind), "org_auto");
    assert_int_equal(kind, RESOLVE_ALIAS);
    /* an alias whose key this catalog lacks is not an answer: the default is */
    assert_string_equal(resolve_model(&c, "qwen3-max", "kmodel", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_DEFAULT);
    assert_null(resolve_model(&c, "qwen3-max", "", &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    /* every alias maps to a key */
    assert_true(catalog_n_aliases >= 7);
    for (size_t i = 0; i < catalog_n_aliases; i++) {
        assert_non_null(catalog_aliases[i].alias);
        assert_true(strlen(catalog_aliases[i].key) > 0);
    }
    catalog_free(&c);
}

static void test_resolve_default_for_foreign_names(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    resolve_kind kind;
    static const char *const foreign[] = {"claude-sonnet-4-5", "claude-3-5-haiku-20241022",
                                          "gpt-4o", "gpt-5-mini", "o3"};
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        const char *def = "dashscope_qwen3_coder";
        kind = RESOLVE_UNKNOWN;
        assert_ptr_equal(resolve_model(&c, foreign[i], def, &kind), def);
        assert_int_equal(kind, RESOLVE_DEFAULT);
    }
    /* no model named at all */
    assert_string_equal(resolve_model(&c, "", "kmodel", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_DEFAULT);
    assert_string_equal(resolve_model(&c, NULL, "kmodel", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_DEFAULT);
    catalog_free(&c);
}

static void test_resolve_unknown_without_default(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    resolve_kind kind = RESOLVE_EXACT;
    assert_null(resolve_model(&c, "claude-opus-4", "", &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    kind = RESOLVE_EXACT;
    assert_null(resolve_model(&c, "gpt-4o", NULL, &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    kind = RESOLVE_EXACT;
    assert_null(resolve_model(&c, NULL, NULL, &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    catalog_free(&c);
}

static void test_resolve_empty_catalog(void **state) {
    (void)state;
    catalog c;
    catalog_init(&c); /* not fetched yet */
    resolve_kind kind;
    /* known keys and aliases are trusted as they are */
    assert_string_equal(resolve_model(&c, "kmodel", "", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_EXACT);
    assert_string_equal(resolve_model(&c, "dashscope_qwen_max_latest", "", &kind),
                        "dashscope_qwen_max_latest");
    assert_int_equal(kind, RESOLVE_EXACT);
    assert_string_equal(resolve_model(&c, "qwen3-max", "", &kind), "dashscope_qwen_max_latest");
    assert_int_equal(kind, RESOLVE_ALIAS);
    assert_string_equal(resolve_model(&c, "Kimi-K2.6", "", &kind), "kmodel");
    assert_int_equal(kind, RESOLVE_ALIAS);
    /* anything else: the default, or unknown */
    assert_string_equal(resolve_model(&c, "claude-sonnet-4-5", "mmodel", &kind), "mmodel");
    assert_int_equal(kind, RESOLVE_DEFAULT);
    assert_null(resolve_model(&c, "claude-sonnet-4-5", "", &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
    assert_null(resolve_model(&c, "no_such_key", NULL, &kind));
    assert_int_equal(kind, RESOLVE_UNKNOWN);
}

/* ---- attempt order ---- */

static void assert_order(const catalog *c, const char *primary, const char *csv, size_t max,
                         const char *const *want, size_t n_want) {
    char got[16][64];
    memset(got, 0, sizeof got);
    size_t n = catalog_attempt_order(c, primary, csv, got, max);
    for (size_t i = 0; i < n && i < n_want; i++)
        assert_string_equal(got[i], want[i]);
    assert_int_equal(n, n_want);
}

#define ORDER(c, primary, csv, max, ...)                                                           \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        assert_order((c), (primary), (csv), (max), want_, sizeof want_ / sizeof *want_);           \
    } while (0)

static void test_order_primary_then_later_entries(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    /* dashscope_qwen_max_latest is not in this catalog: skipped */
    ORDER(&c, "mmodel", FALLBACK, 16, "mmodel", "dashscope_qwen3_coder", "dashscope_qmodel",
          "dashscope_qwen_plus_20250428_thinking");
    ORDER(&c, "kmodel", FALLBACK, 16, "kmodel", "mmodel", "dashscope_qwen3_coder",
          "dashscope_qmodel", "dashscope_qwen_plus_20250428_thinking");
    ORDER(&c, "dashscope_qwen_plus_20250428_thinking", FALLBACK, 16,
          "dashscope_qwen_plus_20250428_thinking");
    catalog_free(&c);
}

static void test_order_primary_absent_takes_whole_list(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    ORDER(&c, "dmodel", FALLBACK, 16, "dmodel", "kmodel", "mmodel", "dashscope_qwen3_coder",
          "dashscope_qmodel", "dashscope_qwen_plus_20250428_thinking");
    /* the primary is always first, even one the catalog lacks (the configured default) */
    ORDER(&c, "org_auto", "kmodel,mmodel", 16, "org_auto", "kmodel", "mmodel");
    catalog_free(&c);
}

static void test_order_no_duplicates_and_spaces(void **state) {
    (void)state;
    catalog c;
    parse_list(&c);
    ORDER(&c, "dmodel", " kmodel , mmodel,kmodel,, mmodel ", 16, "dmodel", "kmodel", "mmodel");
    /* the primary again later in the list is not a second attempt */
    ORDER(&c, "dmodel", "kmodel,dmodel,mmodel", 16, "dmodel", "mmodel");
    ORDER(&c, "kmodel", "kmodel,kmodel,mmodel", 16, "kmodel", "mmodel");
    catalog_free(&c);
}

static void test_order_empty_catalog_trusts_list(void **state) {
    (void)state;
    catalog c;
    catalog_init(&c);
    ORDER(&c, "mmodel", FALLBACK, 16, "mmodel", "dashscope_qwen3_coder", "dashscope_qmodel",
          "dashscope_qwen_max_latest", "dashscope_qwen_plus_20250428_thinking");
    ORDER(&c, "x", "", 16, "x");
    ORDER(&c, "x", NULL, 16, "x");
}

static void test_order_respects_max(void **state) {
    (void)state;
    catalog c;
    catalog_init(&c);
    ORDER(&c, "dmodel", FALLBACK, 3, "dmodel", "kmodel", "mmodel");
    ORDER(&c, "dmodel", FALLBACK, 1, "dmodel");
    char got[1][64];
    assert_int_equal(catalog_attempt_order(&c, "dmodel", FALLBACK, got, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_keeps_enabled_chat_models),
        cmocka_unit_test(test_parse_failure_keeps_old_catalog),
        cmocka_unit_test(test_parse_replaces_and_empty_chat),
        cmocka_unit_test(test_parse_uses_len_not_nul),
        cmocka_unit_test(test_resolve_exact_key),
        cmocka_unit_test(test_resolve_display_name_case_insensitive),
        cmocka_unit_test(test_resolve_alias_table),
        cmocka_unit_test(test_resolve_default_for_foreign_names),
        cmocka_unit_test(test_resolve_unknown_without_default),
        cmocka_unit_test(test_resolve_empty_catalog),
        cmocka_unit_test(test_order_primary_then_later_entries),
        cmocka_unit_test(test_order_primary_absent_takes_whole_list),
        cmocka_unit_test(test_order_no_duplicates_and_spaces),
        cmocka_unit_test(test_order_empty_catalog_trusts_list),
        cmocka_unit_test(test_order_respects_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
