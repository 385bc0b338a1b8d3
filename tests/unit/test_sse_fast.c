/* The SSE fast-path readers (upstream/sse_fast): each recognised shape is read with the right
 * values, and every shape json-c must read instead is refused with its input left unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "upstream/sse_fast.h"
#include <stdlib.h>
#include <string.h>

static bool read_chunk(sse_fast_chunk *c, char **copy, const char *text) {
    *copy = strdup(text);
    return sse_fast_chunk_read(c, *copy, strlen(text));
}

static void assert_str(const sse_fast_str *s, const char *want) {
    if (!want) {
        assert_null(s->p);
        return;
    }
    assert_non_null(s->p);
    assert_int_equal(s->n, strlen(want));
    assert_memory_equal(s->p, want, s->n);
    assert_int_equal(s->p[s->n], '\0');
}

static void test_text_delta(void **state) {
    (void)state;
    sse_fast_chunk c;
    char *s;
    assert_true(
        read_chunk(&c, &s,
                   "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":"
                   "1764000000,\"model\":\"qwen3-coder\",\"choices\":[{\"index\":0,"
                   "\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
                   "\"finish_reason\":null}],\"usage\":null}"));
    assert_true(c.choice);
    assert_str(&c.content, "Hello");
    assert_str(&c.reasoning, NULL);
    assert_str(&c.finish_reason, NULL);
    assert_int_equal(c.n_tools, 0);
    assert_false(c.usage.has_input || c.usage.has_output || c.usage.has_cached);
    free(s);
}

static void test_reasoning_delta_with_escapes(void **state) {
    (void)state;
    sse_fast_chunk c;
    char *s;
    /* Escapes and \u sequences (one a surrogate pair) are unescaped in place. */
    assert_true(read_chunk(&c, &s,
                           "{\"choices\":[{\"delta\":{\"reasoning_content\":\"a\\n\\\"b\\\"\\\\ "
                           "\\u00e9\\ud83d\\ude00\\/\",\"content\":\"\"}}]}"));
    assert_str(&c.reasoning, "a\n\"b\"\\ \xc3\xa9\xf0\x9f\x98\x80/");
    assert_str(&c.content, "");
    free(s);
}

static void test_finish_with_usage(void **state) {
    (void)state;
    sse_fast_chunk c;
    char *s;
    assert_true(read_chunk(
        &c, &s,
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\",\"logprobs\":null}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18,"
        "\"prompt_tokens_details\":{\"cached_tokens\":4}}}"));
    assert_str(&c.finish_reason, "length");
    assert_true(c.usage.has_input && c.usage.has_output && c.usage.has_cached);
    assert_int_equal(c.usage.input, 12);
    assert_int_equal(c.usage.output, 6);
    assert_int_equal(c.usage.cached, 4);
    free(s);
    /* Without usage, and with usage counts given as null. */
    assert_true(read_chunk(&c, &s, "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}"));
    assert_str(&c.finish_reason, "stop");
    assert_false(c.usage.has_input);
    free(s);
    assert_true(read_chunk(&c, &s,
                           "{\"choices\":[],\"usage\":{\"prompt_tokens\":null,"
                           "\"completion_tokens\":3,\"prompt_tokens_details\":null}}"));
    assert_false(c.choice);
    assert_false(c.usage.has_input);
    assert_true(c.usage.has_output);
    free(s);
}

static void test_tool_call_deltas(void **state) {
    (void)state;
    sse_fast_chunk c;
    char *s;
    assert_true(
        read_chunk(&c, &s,
                   "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
                   "\"type\":\"function\",\"function\":{\"name\":\"read_file\","
                   "\"arguments\":\"\"}},{\"index\":1,\"function\":{\"arguments\":"
                   "\"{\\\"path\\\":\"}}]}}]}"));
    assert_int_equal(c.n_tools, 2);
    assert_int_equal(c.tools[0].index, 0);
    assert_str(&c.tools[0].id, "call_1");
    assert_str(&c.tools[0].name, "read_file");
    assert_str(&c.tools[0].args, "");
    assert_int_equal(c.tools[1].index, 1);
    assert_str(&c.tools[1].id, NULL);
    assert_str(&c.tools[1].name, NULL);
    assert_str(&c.tools[1].args, "{\"path\":");
    free(s);
    /* No index, a delta-level tool_call_id, a null function. */
    assert_true(read_chunk(&c, &s,
                           "{\"choices\":[{\"delta\":{\"tool_call_id\":\"t9\",\"tool_calls\":[{"
                           "\"function\":null},{\"index\":null}]}}]}"));
    assert_str(&c.tool_call_id, "t9");
    assert_int_equal(c.n_tools, 2);
    assert_int_equal(c.tools[0].index, -1);
    assert_int_equal(c.tools[1].index, -1);
    free(s);
}

static void test_nulls_and_empty(void **state) {
    (void)state;
    static const char *const ok[] = {
        "{}",
        "{\"choices\":null,\"usage\":null}",
        "{\"choices\":[{\"delta\":null}]}",
        ("{\"choices\":[{\"delta\":{\"role\":null,\"content\":null,\"reasoning_content\":null,"
         "\"tool_calls\":null}}]}"),
        "{\"choices\":[{\"delta\":{\"tool_calls\":[]}}]}",
        "{ \"choices\" :\t[ { \"delta\" : { \"content\" : \"x\" } } ] }",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sse_fast_chunk c;
        char *s;
        if (!read_chunk(&c, &s, ok[i])) fail_msg("refused: %s", ok[i]);
        free(s);
    }
}

/* Everything json-c must read: the reader says no and leaves the text as it was. */
static void test_fallbacks(void **state) {
    (void)state;
    static const char *const refused[] = {
        /* escapes json-c treats differently or that carry a NUL */
        "{\"choices\":[{\"delta\":{\"content\":\"\\u0000\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\udc00x\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\ud836\\udc00\"}}]}", /* U+1D800: json-c gives
                                                                           U+FFFD */
        "{\"choices\":[{\"delta\":{\"content\":\"\\x\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\u12\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\x01\"}}]}",
        "{\"choi\\u0063es\":[]}", /* an escaped key */
        /* unexpected keys: errors, aliases, other frames, other fields */
        "{\"error\":{\"message\":\"x\"}}",
        "{\"choices\":[],\"error\":null}",
        "{\"code\":\"105\",\"message\":\"Login expired\"}",
        "{\"success\":false}",
        "{\"firstTokenDuration\":100,\"usage\":{\"input_tokens\":1}}",
        "{\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"audio_tokens\":1}}}",
        "{\"choices\":[{\"delta\":{\"refusal\":null}}]}",
        "{\"choices\":[{\"delta\":{},\"logprobs\":{}}]}",
        "{\"body\":\"x\"}",
        /* repeated keys (json-c keeps the last) */
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}",
        "{\"choices\":[],\"choices\":[]}",
        /* numbers json-c reads differently: floats, signs, leading zeros, too many digits */
        "{\"usage\":{\"prompt_tokens\":1.5}}",
        "{\"usage\":{\"prompt_tokens\":1e3}}",
        "{\"usage\":{\"prompt_tokens\":-1}}",
        "{\"usage\":{\"prompt_tokens\":012}}",
        "{\"usage\":{\"prompt_tokens\":1234567890123456789}}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":2147483648}]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":\"0\"}]}}]}",
        /* other types and nested structures */
        "{\"choices\":[{\"delta\":{\"content\":1}}]}",
        "{\"choices\":[{\"delta\":{\"content\":true}}]}",
        "{\"choices\":[{\"delta\":{\"content\":[\"a\"]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":{\"a\":1}}}]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[null]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{},{},{},{},{}]}}]}", /* over SSE_FAST_MAX_TOOLS
                                                                          */
        "{\"choices\":[{\"delta\":{}},{\"delta\":{}}]}",                 /* two choices */
        "{\"choices\":[null]}",
        "{\"choices\":{}}",
        "{\"id\":{}}",
        "[]",
        "\"text\"",
        "[DONE]",
        /* truncated or trailing text, whitespace json-c may see otherwise */
        "",
        "{",
        "{\"choices\":[{\"delta\":{\"content\":\"Hel",
        "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]",
        "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}}",
        "{\"choices\":[]} ",
        " {\"choices\":[]}",
        "{\"choices\":[]}\n",
        "{\n\"choices\":[]}",
        "{\"choices\":[],}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"},}]}",
        "{\"usage\":nul}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        sse_fast_chunk c;
        char *s;
        if (read_chunk(&c, &s, refused[i])) fail_msg("accepted: %s", refused[i]);
        assert_string_equal(s, refused[i]);
        free(s);
    }
}

static void test_envelope(void **state) {
    (void)state;
    buf body = BUF_INIT;
    int64_t status;
    const char *env = "{\"headers\":{\"a\":\"b\"},\"body\":\"{\\\"x\\\":\\\"\\\\u00e9\\\"}\","
                      "\"statusCodeValue\":200,\"statusCode\":\"OK\"}";
    assert_true(sse_fast_envelope(env, strlen(env), &body, &status));
    assert_string_equal(body.data, "{\"x\":\"\\u00e9\"}");
    assert_int_equal(status, 200);
    const char *no_status = "{\"body\":\"[DONE]\"}";
    assert_true(sse_fast_envelope(no_status, strlen(no_status), &body, &status));
    assert_string_equal(body.data, "[DONE]");
    assert_int_equal(status, 200);
    static const char *const refused[] = {
        "{\"body\":\"x\",\"statusCodeValue\":403}", /* errors are read by json-c */
        "{\"statusCodeValue\":200}",
        "{\"body\":{\"choices\":[]}}",
        "{\"body\":\"x\",\"body\":\"y\"}",
        "{\"body\":\"\\u0000\"}",
        "{\"body\":\"x\"} x",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (sse_fast_envelope(refused[i], strlen(refused[i]), &body, &status))
            fail_msg("accepted: %s", refused[i]);
    buf_free(&body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_delta),
        cmocka_unit_test(test_reasoning_delta_with_escapes),
        cmocka_unit_test(test_finish_with_usage),
        cmocka_unit_test(test_tool_call_deltas),
        cmocka_unit_test(test_nulls_and_empty),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
