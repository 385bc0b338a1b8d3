/* lingma_body_build: the §1.6 chat body, parsed back with json-c and checked field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "codec_test_util.h"
#include "upstream/lingma_body.h"
#include "util/clock.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- building requests ---- */

#define MAX_MSGS 8

static conv_block *add_msg(conv_request *r, conv_role role, size_t n_blocks) {
    if (!r->messages) r->messages = arena_calloc(&r->a, MAX_MSGS * sizeof *r->messages);
    assert_true(r->n_messages < MAX_MSGS);
    conv_message *m = &r->messages[r->n_messages++];
    m->role = role;
    m->blocks = arena_calloc(&r->a, n_blocks * sizeof *m->blocks);
    m->n_blocks = n_blocks;
    return m->blocks;
}

static void set_text(conv_block *b, conv_block_type t, const char *text) {
    b->type = t;
    b->text = text;
    b->text_len = strlen(text);
}

static void user_text(conv_request *r, const char *text) {
    set_text(add_msg(r, CONV_ROLE_USER, 1), CONV_BLOCK_TEXT, text);
}

static json_object *build(const conv_request *r, const lingma_body_opts *o) {
    buf out = BUF_INIT;
    lingma_body_build(r, o, &out);
    json_object *j = jparse(out.data, out.len);
    if (!j) fail_msg("not JSON: %s", out.data);
    buf_free(&out);
    return j;
}

static bool jbool(json_object *o, const char *path) {
    json_object *v = jget(o, path);
    if (!json_object_is_type(v, json_type_boolean)) fail_msg("%s is not a boolean", path);
    return json_object_get_boolean(v);
}

static bool is_hex32(const char *s) {
    if (!s || strlen(s) != 32) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f')) return false;
    return true;
}

static void assert_message_tail(json_object *m) {
    assert_string_equal(jstr(m, "response_meta.id"), "");
    assert_int_equal(jint(m, "response_meta.usage.prompt_tokens"), 0);
    assert_int_equal(jint(m, "response_meta.usage.completion_tokens"), 0);
    assert_int_equal(jint(m, "response_meta.usage.total_tokens"), 0);
    assert_string_equal(jstr(m, "reasoning_content_signature"), "");
}

static const lingma_body_opts OPTS = {.model_key = "kmodel",
                                      .session_id = "sess-123",
                                      .cosy_version = "2.11.2",
                                      .max_tokens_cap = 16384};

/* ---- tests ---- */

static void test_fixed_fields(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "Say hi");
    int64_t before = clock_wall_ms();
    json_object *j = build(&r, &OPTS);
    int64_t after = clock_wall_ms();
    const char *rid = jstr(j, "request_id");
    assert_true(is_hex32(rid));
    assert_string_equal(jstr(j, "chat_record_id"), rid);
    assert_string_equal(jstr(j, "request_set_id"), "");
    assert_true(jbool(j, "stream"));
    assert_true(jhas(j, "image_urls"));
    assert_null(jget(j, "image_urls")); /* null without images */
    assert_false(jbool(j, "is_reply"));
    assert_false(jbool(j, "is_retry"));
    assert_string_equal(jstr(j, "session_id"), "sess-123");
    assert_string_equal(jstr(j, "code_language"), "");
    assert_true(json_object_is_type(jget(j, "source"), json_type_int));
    assert_int_equal(jint(j, "source"), 0);
    assert_string_equal(jstr(j, "version"), "3");
    assert_string_equal(jstr(j, "chat_prompt"), "");
    assert_string_equal(jstr(j, "aliyun_user_type"), "personal_standard");
    assert_string_equal(jstr(j, "agent_id"), "agent_common");
    assert_string_equal(jstr(j, "task_id"), "question_refine");
    /* temperature defaults to 0.1; nothing else unless asked */
    assert_true(json_object_is_type(jget(j, "parameters.temperature"), json_type_double));
    assert_float_equal(json_object_get_double(jget(j, "parameters.temperature")), 0.1, 1e-9);
    assert_int_equal(json_object_object_length(jget(j, "parameters")), 1);
    /* model_config, the LP/L2A shape */
    json_object *mc = jget(j, "model_config");
    assert_string_equal(jstr(mc, "key"), "kmodel");
    assert_string_equal(jstr(mc, "model"), "kmodel");
    assert_string_equal(jstr(mc, "display_name"), "");
    assert_string_equal(jstr(mc, "format"), "");
    assert_false(jbool(mc, "is_vl"));
    assert_false(jbool(mc, "is_reasoning"));
    assert_string_equal(jstr(mc, "api_key"), "");
    assert_string_equal(jstr(mc, "url"), "");
    assert_string_equal(jstr(mc, "source"), "");
    assert_false(jbool(mc, "enable"));
    /* the message */
    assert_int_equal(json_object_array_length(jget(j, "messages")), 1);
    json_object *m = jget(j, "messages.0");
    assert_string_equal(jstr(m, "role"), "user");
    assert_string_equal(jstr(m, "content"), "Say hi");
    assert_message_tail(m);
    assert_false(jhas(m, "tool_calls"));
    assert_false(jhas(m, "name"));
    /* business */
    json_object *b = jget(j, "business");
    assert_string_equal(jstr(b, "product"), "jb_plugin");
    assert_string_equal(jstr(b, "version"), "2.11.2");
    assert_string_equal(jstr(b, "type"), "memory");
    assert_string_equal(jstr(b, "stage"), "start");
    const char *id = jstr(b, "id");
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[8], '-');
    assert_int_equal(id[14], '4'); /* UUIDv4 */
    assert_true(jint(b, "begin_at") >= before && jint(b, "begin_at") <= after);
    char name[80];
    snprintf(name, sizeof name, "memory_intent_recognition_%s", rid);
    assert_string_equal(jstr(b, "name"), name);
    /* no tools, no tool_choice */
    assert_false(jhas(j, "tools"));
    assert_false(jhas(j, "tool_choice"));
    json_object_put(j);
    conv_request_free(&r);
}

static void test_ids_fresh_per_call(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    json_object *a = build(&r, &OPTS), *b = build(&r, &OPTS);
    assert_string_not_equal(jstr(a, "request_id"), jstr(b, "request_id"));
    assert_string_not_equal(jstr(a, "business.id"), jstr(b, "business.id"));
    json_object_put(a);
    json_object_put(b);
    conv_request_free(&r);
}

static void test_defaults_for_null_options(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_ANTHROPIC);
    user_text(&r, "x");
    lingma_body_opts o = {0}; /* auto model, no session, default version */
    json_object *j = build(&r, &o);
    assert_string_equal(jstr(j, "session_id"), "");
    assert_string_equal(jstr(j, "model_config.key"), "");
    assert_string_equal(jstr(j, "model_config.model"), "");
    assert_string_equal(jstr(j, "business.version"), "2.11.2");
    json_object_put(j);
    conv_request_free(&r);
}

static void test_appends_to_buffer(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    buf out = BUF_INIT;
    buf_puts(&out, "PREFIX");
    lingma_body_build(&r, &OPTS, &out);
    assert_memory_equal(out.data, "PREFIX{", 7);
    json_object *j = jparse(out.data + 6, out.len - 6);
    assert_non_null(j);
    json_object_put(j);
    buf_free(&out);
    conv_request_free(&r);
}

static void test_system_and_escaping(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_ANTHROPIC);
    const char *sys = "You are \"helpful\".\n\tBe brief \\ 中文 ✓";
    r.system = sys;
    r.system_len = strlen(sys);
    user_text(&r, "line1\nline2 \"q\" \x01");
    conv_block *b = add_msg(&r, CONV_ROLE_ASSISTANT, 2);
    set_text(&b[0], CONV_BLOCK_THINKING, "hidden reasoning");
    set_text(&b[1], CONV_BLOCK_TEXT, "visible");
    b = add_msg(&r, CONV_ROLE_USER, 2);
    set_text(&b[0], CONV_BLOCK_TEXT, "part one");
    set_text(&b[1], CONV_BLOCK_TEXT, "part two");
    r.messages[2].name = "alice";
    json_object *j = build(&r, &OPTS);
    assert_int_equal(json_object_array_length(jget(j, "messages")), 4);
    assert_string_equal(jstr(j, "messages.0.role"), "system"); /* leading system message */
    assert_string_equal(jstr(j, "messages.0.content"), sys);
    assert_message_tail(jget(j, "messages.0"));
    assert_string_equal(jstr(j, "messages.1.role"), "user");
    assert_string_equal(jstr(j, "messages.1.content"), "line1\nline2 \"q\" \x01");
    assert_string_equal(jstr(j, "messages.2.role"), "assistant");
    assert_string_equal(jstr(j, "messages.2.content"), "visible"); /* reasoning is not sent */
    assert_false(jhas(j, "messages.2.tool_calls"));
    assert_string_equal(jstr(j, "messages.3.content"), "part one\npart two");
    assert_string_equal(jstr(j, "messages.3.name"), "alice");
    for (int i = 0; i < 4; i++) {
        char p[16];
        snprintf(p, sizeof p, "messages.%d", i);
        assert_message_tail(jget(j, p));
    }
    json_object_put(j);
    conv_request_free(&r);
}

static void test_tool_calls_and_results(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "list and read");
    conv_block *b = add_msg(&r, CONV_ROLE_ASSISTANT, 3);
    set_text(&b[0], CONV_BLOCK_TEXT, "");
    set_text(&b[1], CONV_BLOCK_TOOL_CALL, "{\"command\":\"pwd\"}");
    b[1].tool_id = "call_1";
    b[1].tool_name = "Bash";
    set_text(&b[2], CONV_BLOCK_TOOL_CALL, ""); /* no arguments given */
    b[2].tool_id = "call_2";
    b[2].tool_name = "List";
    b = add_msg(&r, CONV_ROLE_TOOL, 1);
    set_text(&b[0], CONV_BLOCK_TOOL_RESULT, "total 10");
    b[0].tool_id = "call_1";
    b = add_msg(&r, CONV_ROLE_TOOL, 1);
    set_text(&b[0], CONV_BLOCK_TOOL_RESULT, "permission denied");
    b[0].tool_id = "call_2";
    b[0].is_error = true;
    json_object *j = build(&r, &OPTS);
    json_object *a = jget(j, "messages.1");
    assert_string_equal(jstr(a, "role"), "assistant");
    assert_string_equal(jstr(a, "content"), "");
    assert_int_equal(json_object_array_length(jget(a, "tool_calls")), 2);
    assert_int_equal(jint(a, "tool_calls.0.index"), 0);
    assert_string_equal(jstr(a, "tool_calls.0.id"), "call_1");
    assert_string_equal(jstr(a, "tool_calls.0.type"), "function");
    assert_string_equal(jstr(a, "tool_calls.0.function.name"), "Bash");
    /* arguments is a JSON string, not an object */
    assert_string_equal(jstr(a, "tool_calls.0.function.arguments"), "{\"command\":\"pwd\"}");
    assert_int_equal(jint(a, "tool_calls.1.index"), 1);
    assert_string_equal(jstr(a, "tool_calls.1.id"), "call_2");
    assert_string_equal(jstr(a, "tool_calls.1.function.arguments"), "{}");
    assert_message_tail(a);
    json_object *t = jget(j, "messages.2");
    assert_string_equal(jstr(t, "role"), "tool");
    assert_string_equal(jstr(t, "tool_call_id"), "call_1");
    assert_string_equal(jstr(t, "content"), "total 10");
    assert_message_tail(t);
    assert_string_equal(jstr(j, "messages.3.tool_call_id"), "call_2");
    assert_string_equal(jstr(j, "messages.3.content"), "permission denied");
    json_object_put(j);
    conv_request_free(&r);
}

static void add_tools(conv_request *r) {
    r->tools = arena_calloc(&r->a, 3 * sizeof *r->tools);
    r->n_tools = 3;
    r->tools[0] =
        (conv_tool){"read_file", "Read a file",
                    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},"
                    "\"required\":[\"path\"]}"};
    r->tools[1] = (conv_tool){"now", NULL, NULL};    /* no schema */
    r->tools[2] = (conv_tool){"ping", "Ping", "{}"}; /* empty schema */
}

static void test_tools(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    add_tools(&r);
    json_object *j = build(&r, &OPTS);
    json_object *tools = jget(j, "tools");
    assert_int_equal(json_object_array_length(tools), 3);
    assert_string_equal(jstr(tools, "0.type"), "function");
    assert_string_equal(jstr(tools, "0.function.name"), "read_file");
    assert_string_equal(jstr(tools, "0.function.description"), "Read a file");
    assert_string_equal(jstr(tools, "0.function.parameters.properties.path.type"), "string");
    assert_string_equal(jstr(tools, "0.function.parameters.required.0"), "path");
    assert_string_equal(jstr(tools, "1.function.name"), "now");
    assert_false(jhas(tools, "1.function.description"));
    json_object *empty = jparse("{\"type\":\"object\",\"properties\":{}}", 34);
    assert_true(json_object_equal(jget(tools, "1.function.parameters"), empty));
    assert_true(json_object_equal(jget(tools, "2.function.parameters"), empty));
    json_object_put(empty);
    assert_false(jhas(j, "tool_choice")); /* unset: the upstream default */
    json_object_put(j);
    conv_request_free(&r);
}

static void test_tool_choice_forms(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    add_tools(&r);
    r.tool_choice = CONV_TOOL_CHOICE_AUTO;
    json_object *j = build(&r, &OPTS);
    assert_string_equal(jstr(j, "tool_choice"), "auto");
    json_object_put(j);
    r.tool_choice = CONV_TOOL_CHOICE_REQUIRED;
    j = build(&r, &OPTS);
    assert_string_equal(jstr(j, "tool_choice"), "required");
    json_object_put(j);
    r.tool_choice = CONV_TOOL_CHOICE_NAMED;
    r.tool_choice_name = "read_file";
    j = build(&r, &OPTS);
    assert_true(json_object_is_type(jget(j, "tool_choice"), json_type_object));
    assert_string_equal(jstr(j, "tool_choice.type"), "function");
    assert_string_equal(jstr(j, "tool_choice.function.name"), "read_file");
    json_object_put(j);
    /* none: the tools are withheld altogether, so no call can come back */
    r.tool_choice = CONV_TOOL_CHOICE_NONE;
    j = build(&r, &OPTS);
    assert_false(jhas(j, "tools"));
    assert_false(jhas(j, "tool_choice"));
    json_object_put(j);
    conv_request_free(&r);
}

static void test_images_inline(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_ANTHROPIC);
    conv_block *b = add_msg(&r, CONV_ROLE_USER, 3);
    set_text(&b[0], CONV_BLOCK_TEXT, "What is in these?");
    b[1].type = CONV_BLOCK_IMAGE;
    b[1].media_type = "image/jpeg";
    b[1].data = "/9j/4AAQSkZJRg==";
    b[1].data_len = strlen(b[1].data);
    b[2].type = CONV_BLOCK_IMAGE;
    b[2].url = "https://example.com/cat.png";
    r.has_images = true;
    json_object *j = build(&r, &OPTS); /* OPTS.is_vl is false: images alone turn it on */
    json_object *c = jget(j, "messages.0.content");
    assert_true(json_object_is_type(c, json_type_array));
    assert_int_equal(json_object_array_length(c), 3);
    assert_string_equal(jstr(c, "0.type"), "text");
    assert_string_equal(jstr(c, "0.text"), "What is in these?");
    assert_string_equal(jstr(c, "1.type"), "image_url");
    assert_string_equal(jstr(c, "1.image_url.url"), "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
    assert_string_equal(jstr(c, "2.image_url.url"), "https://example.com/cat.png");
    assert_int_equal(json_object_array_length(jget(j, "image_urls")), 2);
    assert_string_equal(jstr(j, "image_urls.0"), "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
    assert_string_equal(jstr(j, "image_urls.1"), "https://example.com/cat.png");
    assert_true(jbool(j, "model_config.is_vl"));
    json_object_put(j);
    conv_request_free(&r);
}

static void test_is_vl_and_is_reasoning(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    lingma_body_opts o = OPTS;
    o.is_vl = true;
    json_object *j = build(&r, &o);
    assert_true(jbool(j, "model_config.is_vl"));
    assert_false(jbool(j, "model_config.is_reasoning"));
    json_object_put(j);
    o = OPTS;
    o.model_key = "dashscope_qwen_plus_20250428_thinking"; /* the key says so (LP) */
    j = build(&r, &o);
    assert_true(jbool(j, "model_config.is_reasoning"));
    json_object_put(j);
    r.thinking = true; /* the client asked */
    j = build(&r, &OPTS);
    assert_true(jbool(j, "model_config.is_reasoning"));
    json_object_put(j);
    r.thinking = false;
    o = OPTS;
    o.is_reasoning = true; /* the catalog says so */
    j = build(&r, &o);
    assert_true(jbool(j, "model_config.is_reasoning"));
    json_object_put(j);
    conv_request_free(&r);
}

static void test_parameters(void **state) {
    (void)state;
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    user_text(&r, "x");
    r.max_tokens = 100000;
    r.has_temperature = true;
    r.temperature = 0.7;
    r.has_top_p = true;
    r.top_p = 0.9;
    json_object *j = build(&r, &OPTS);
    assert_int_equal(jint(j, "parameters.max_tokens"), 16384); /* capped */
    assert_float_equal(json_object_get_double(jget(j, "parameters.temperature")), 0.7, 1e-9);
    assert_float_equal(json_object_get_double(jget(j, "parameters.top_p")), 0.9, 1e-9);
    json_object_put(j);
    r.max_tokens = 1024;
    r.has_temperature = true;
    r.temperature = 0; /* an explicit 0 is kept, not replaced by the default */
    j = build(&r, &OPTS);
    assert_int_equal(jint(j, "parameters.max_tokens"), 1024);
    assert_float_equal(json_object_get_double(jget(j, "parameters.temperature")), 0.0, 1e-9);
    json_object_put(j);
    lingma_body_opts o = OPTS;
    o.max_tokens_cap = 0; /* no cap */
    r.max_tokens = 100000;
    j = build(&r, &o);
    assert_int_equal(jint(j, "parameters.max_tokens"), 100000);
    json_object_put(j);
    conv_request_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_fields),
        cmocka_unit_test(test_ids_fresh_per_call),
        cmocka_unit_test(test_defaults_for_null_options),
        cmocka_unit_test(test_appends_to_buffer),
        cmocka_unit_test(test_system_and_escaping),
        cmocka_unit_test(test_tool_calls_and_results),
        cmocka_unit_test(test_tools),
        cmocka_unit_test(test_tool_choice_forms),
        cmocka_unit_test(test_images_inline),
        cmocka_unit_test(test_is_vl_and_is_reasoning),
        cmocka_unit_test(test_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
