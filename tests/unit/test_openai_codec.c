#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "codec_test_util.h"
#include "front/openai_codec.h"
#include <stdio.h>
#include <string.h>

/* ---- helpers ---- */

static int decode(const char *body, conv_request *r, codec_error *err) {
    memset(err, 0, sizeof *err);
    return openai_decode_request(body, strlen(body), r, err);
}

/* Decoding must fail with this param ("" = null) and a message containing `needle`. */
static void expect_error(const char *body, const char *param, const char *needle) {
    conv_request r;
    codec_error err;
    int rc = decode(body, &r, &err);
    if (rc == 0) fail_msg("accepted: %s", body);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.param, param);
    if (needle && !strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
    conv_request_free(&r);
}

static void assert_block_text(const conv_block *b, conv_block_type t, const char *text) {
    assert_int_equal(b->type, t);
    assert_non_null(b->text);
    assert_int_equal(b->text_len, strlen(text));
    assert_memory_equal(b->text, text, b->text_len);
}

/* ---- decoding ---- */

static void decode_roles_and_system(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":\"hi\",\"name\":\"bob\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Rule A\"},"
        "{\"type\":\"text\",\"text\":\"Rule B\"}]},"
        "{\"role\":\"assistant\",\"content\":\"hello\"},"
        "{\"role\":\"user\",\"content\":\"\"}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.protocol, CONV_PROTO_OPENAI);
    assert_string_equal(r.model, "gpt-4o");
    assert_string_equal(r.system, "You are terse.\n\nRule A\n\nRule B");
    assert_int_equal(r.system_len, strlen(r.system));
    assert_int_equal(r.n_messages, 3);
    assert_int_equal(r.messages[0].role, CONV_ROLE_USER);
    assert_string_equal(r.messages[0].name, "bob");
    assert_block_text(&r.messages[0].blocks[0], CONV_BLOCK_TEXT, "hi");
    assert_int_equal(r.messages[1].role, CONV_ROLE_ASSISTANT);
    assert_block_text(&r.messages[1].blocks[0], CONV_BLOCK_TEXT, "hello");
    /* empty user content is kept as an empty text block */
    assert_int_equal(r.messages[2].n_blocks, 1);
    assert_block_text(&r.messages[2].blocks[0], CONV_BLOCK_TEXT, "");
    /* defaults */
    assert_false(r.stream);
    assert_true(r.parallel_tool_calls);
    assert_int_equal(r.tool_choice, CONV_TOOL_CHOICE_UNSET);
    assert_int_equal(r.max_tokens, 0);
    assert_false(r.has_temperature);
    assert_null(r.response_format);
    conv_request_free(&r);
}

static void decode_parts(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\","
        "\"detail\":\"high\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}},"
        "{\"type\":\"image_url\",\"image_url\":\"data:image/jpeg;base64,/9j/4AAQ\"},"
        "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAA\",\"format\":\"wav\"}},"
        "{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\",\"file_data\":\"JVBE\"}},"
        "{\"type\":\"future_part\",\"text\":\"kept\"}]}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_true(r.has_images);
    const conv_message *m = &r.messages[0];
    assert_int_equal(m->n_blocks, 6); /* audio dropped */
    assert_block_text(&m->blocks[0], CONV_BLOCK_TEXT, "look");
    assert_int_equal(m->blocks[1].type, CONV_BLOCK_IMAGE);
    assert_string_equal(m->blocks[1].media_type, "image/png");
    assert_int_equal(m->blocks[1].data_len, 8);
    assert_memory_equal(m->blocks[1].data, "iVBORw0K", 8);
    assert_null(m->blocks[1].url);
    assert_int_equal(m->blocks[2].type, CONV_BLOCK_IMAGE);
    assert_string_equal(m->blocks[2].url, "https://example.com/cat.jpg");
    assert_null(m->blocks[2].data);
    assert_string_equal(m->blocks[3].media_type, "image/jpeg");
    assert_string_equal(m->blocks[3].data, "/9j/4AAQ");
    assert_block_text(&m->blocks[4], CONV_BLOCK_TEXT, "[file: a.pdf]");
    assert_block_text(&m->blocks[5], CONV_BLOCK_TEXT, "kept");
    conv_request_free(&r);
}

static void decode_tool_calls_and_results(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":{\"tz\":\"CET\"}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\","
        "\"text\":\"12:00\"},{\"type\":\"text\",\"text\":\"CET\"}]},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[]},"
        "{\"role\":\"assistant\",\"reasoning_content\":\"why\",\"content\":\"because\"}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.n_messages, 6);
    const conv_message *a = &r.messages[1];
    assert_int_equal(a->role, CONV_ROLE_ASSISTANT);
    assert_int_equal(a->n_blocks, 2); /* null content: no text block */
    assert_int_equal(a->blocks[0].type, CONV_BLOCK_TOOL_CALL);
    assert_string_equal(a->blocks[0].tool_id, "call_1");
    assert_string_equal(a->blocks[0].tool_name, "get_weather");
    assert_string_equal(a->blocks[0].text, "{\"city\":\"Paris\"}");
    assert_string_equal(a->blocks[1].text, "{\"tz\":\"CET\"}"); /* object arguments serialised */
    const conv_message *t1 = &r.messages[2], *t2 = &r.messages[3];
    assert_int_equal(t1->role, CONV_ROLE_TOOL);
    assert_int_equal(t1->n_blocks, 1);
    assert_int_equal(t1->blocks[0].type, CONV_BLOCK_TOOL_RESULT);
    assert_string_equal(t1->blocks[0].tool_id, "call_1");
    assert_string_equal(t1->blocks[0].tool_name, "get_weather"); /* linked from the call */
    assert_string_equal(t1->blocks[0].text, "18C");
    assert_false(t1->blocks[0].is_error);
    assert_string_equal(t2->blocks[0].text, "12:00\nCET");
    assert_string_equal(t2->blocks[0].tool_name, "get_time");
    assert_int_equal(r.messages[4].n_blocks, 0); /* "" next to (no) tool calls: nothing */
    /* reasoning_content round-trips as a thinking block before the text */
    assert_int_equal(r.messages[5].n_blocks, 2);
    assert_block_text(&r.messages[5].blocks[0], CONV_BLOCK_THINKING, "why");
    assert_block_text(&r.messages[5].blocks[1], CONV_BLOCK_TEXT, "because");
    conv_request_free(&r);
}

static void decode_params(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"max_tokens\":100,\"max_completion_tokens\":200,\"temperature\":0.7,\"top_p\":1,"
        "\"stop\":[\"END\",\"\\n\\n\"],\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"v\":1.10}}},"
        "\"reasoning_effort\":\"high\",\"user\":\"u-1\",\"seed\":42,\"n\":1,"
        "\"parallel_tool_calls\":false,\"logprobs\":false,\"frequency_penalty\":0,"
        "\"some_future_field\":{\"nested\":[1,2,3]},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
        "\"pattern\":\"a/b\"}}}}},"
        "{\"type\":\"custom\",\"custom\":{\"name\":\"c\"}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"g\"}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_true(r.stream);
    assert_true(r.include_usage);
    assert_int_equal(r.max_tokens, 200); /* max_completion_tokens wins */
    assert_true(r.has_temperature);
    assert_true(r.temperature > 0.69 && r.temperature < 0.71);
    assert_true(r.has_top_p);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[0], "END");
    assert_string_equal(r.stop[1], "\n\n");
    assert_string_equal(r.response_format,
                        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
                        "\"schema\":{\"type\":\"object\",\"v\":1.10}}}");
    assert_string_equal(r.reasoning_effort, "high");
    assert_true(r.thinking);
    assert_string_equal(r.user, "u-1");
    assert_false(r.parallel_tool_calls);
    assert_int_equal(r.n_tools, 2); /* the custom tool is skipped */
    assert_string_equal(r.tools[0].name, "f");
    assert_string_equal(r.tools[0].description, "d");
    assert_string_equal(r.tools[0].parameters_json,
                        "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
                        "\"pattern\":\"a/b\"}}}");
    assert_string_equal(r.tools[1].name, "g");
    assert_null(r.tools[1].description);
    assert_null(r.tools[1].parameters_json);
    assert_int_equal(r.tool_choice, CONV_TOOL_CHOICE_NAMED);
    assert_string_equal(r.tool_choice_name, "f");
    conv_request_free(&r);

    static const struct {
        const char *tc;
        conv_tool_choice want;
    } choices[] = {
        {"\"none\"", CONV_TOOL_CHOICE_NONE},
        {"\"auto\"", CONV_TOOL_CHOICE_AUTO},
        {"\"required\"", CONV_TOOL_CHOICE_REQUIRED},
        {"{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"required\",\"tools\":[]}}",
         CONV_TOOL_CHOICE_REQUIRED},
        {"null", CONV_TOOL_CHOICE_UNSET},
    };
    for (size_t i = 0; i < sizeof choices / sizeof *choices; i++) {
        char b[512];
        snprintf(
            b, sizeof b,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"tool_choice\":%s,\"stop\":\"STOP\",\"max_tokens\":5,\"reasoning_effort\":\"none\"}",
            choices[i].tc);
        assert_int_equal(decode(b, &r, &err), 0);
        assert_int_equal(r.tool_choice, choices[i].want);
        assert_int_equal(r.n_stop, 1);
        assert_string_equal(r.stop[0], "STOP");
        assert_int_equal(r.max_tokens, 5);
        assert_false(r.thinking);
        conv_request_free(&r);
    }
}

static void decode_unicode_and_nul(void **state) {
    (void)state;
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"你好，世界 😀 a\\u0000b \\ud83d\\ude00 \\u00e9\"}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    const conv_block *b = &r.messages[0].blocks[0];
    const char want[] = "你好，世界 😀 a\0b 😀 é";
    assert_int_equal(b->text_len, sizeof want - 1);
    assert_memory_equal(b->text, want, sizeof want - 1);
    conv_request_free(&r);

    /* invalid UTF-8 is tolerated on input (json_write replaces it with U+FFFD on output) */
    assert_int_equal(
        decode("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\"}]}", &r,
               &err),
        0);
    assert_int_equal(r.messages[0].blocks[0].text_len, 2);
    conv_request_free(&r);
}

static void decode_long_string(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *body = malloc(n + 128);
    int off = sprintf(body, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    memset(body + off, 'x', n);
    strcpy(body + off + n, "\"}]}");
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.messages[0].blocks[0].text_len, n);
    assert_int_equal(r.messages[0].blocks[0].text[n - 1], 'x');
    assert_int_equal(r.messages[0].blocks[0].text[n], '\0');
    conv_request_free(&r);
    free(body);
}

static void decode_errors(void **state) {
    (void)state;
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char b[512];
    expect_error("{\"model\":", "", "We could not parse the JSON body of your request");
    expect_error("", "", "We could not parse the JSON body");
    expect_error("{\"model\":\"m\"} trailing", "", "We could not parse");
    expect_error("{\"model\":\"m\",\"temperature\":NaN}", "", "We could not parse");
    expect_error("{\"model\":\"m\",\"x\":-Infinity}", "", "We could not parse");
    expect_error("[1,2]", "", "expected a JSON object");
    snprintf(b, sizeof b, "{%s}", msgs);
    expect_error(b, "model", "Missing required parameter: 'model'");
    expect_error("{\"model\":null,\"messages\":[]}", "model", NULL);
    expect_error("{\"model\":7,\"messages\":[]}", "model", "expected a string");
    expect_error("{\"model\":\"m\"}", "messages", "Missing required parameter: 'messages'");
    expect_error("{\"model\":\"m\",\"messages\":[]}", "messages", "empty array");
    expect_error("{\"model\":\"m\",\"messages\":{}}", "messages", "expected an array");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"n\":2}", msgs);
    expect_error(b, "n", "n = 1");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"temperature\":\"hot\"}", msgs);
    expect_error(b, "temperature",
                 "Invalid type for 'temperature': expected a decimal, but got a string");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"temperature\":2.5}", msgs);
    expect_error(b, "temperature", "Expected a value <= 2");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"top_p\":-1}", msgs);
    expect_error(b, "top_p", "Expected a value >= 0");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"max_tokens\":0}", msgs);
    expect_error(b, "max_tokens", "minimum");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"max_tokens\":1.5}", msgs);
    expect_error(b, "max_tokens", "expected an integer");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"stream\":\"yes\"}", msgs);
    expect_error(b, "stream", "expected a boolean");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"stop\":[\"a\",1]}", msgs);
    expect_error(b, "stop[1]", NULL);
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"tool_choice\":\"sometimes\"}", msgs);
    expect_error(b, "tool_choice", "Supported values are");
    snprintf(b, sizeof b,
             "{\"model\":\"m\",%s,\"tools\":[{\"type\":\"function\",\"function\":{}}]}", msgs);
    expect_error(b, "tools[0].function.name", NULL);
    snprintf(b, sizeof b, "{\"model\":\"m\",%s,\"response_format\":\"json\"}", msgs);
    expect_error(b, "response_format", NULL);
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                 "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"user\",\"content\":42}]}",
                 "messages[2].content", "Invalid type for 'messages[2].content'");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"a\"}]}",
                 "messages[0].role", "Invalid value: 'wizard'");
    expect_error("{\"model\":\"m\",\"messages\":[{\"content\":\"a\"}]}", "messages[0].role", NULL);
    expect_error("{\"model\":\"m\",\"messages\":[\"hi\"]}", "messages[0]", "expected an object");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content",
                 NULL);
    expect_error(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
        "messages[0].content[0].text", NULL);
    expect_error(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
        "\"image_url\":{}}]}]}",
        "messages[0].content[0].image_url.url", NULL);
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"r\"}]}",
                 "messages[0].tool_call_id", NULL);
    expect_error(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\","
        "\"type\":\"function\",\"function\":{\"arguments\":\"{}\"}}]}]}",
        "messages[0].tool_calls[0].function.name", NULL);
    /* nesting deeper than 64 */
    char deep[400] = "{\"model\":\"m\",\"x\":";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    expect_error(deep, "", "We could not parse");
}

/* ---- non-streaming encoder ---- */

static json_object *encode_response(const conv_response *r) {
    buf out = BUF_INIT;
    openai_meta m = {.id = "chatcmpl-abc",
                     .created = 1727346165,
                     .model = "gpt-4o",
                     .prompt_tokens_estimate = 11};
    openai_encode_response(&out, r, &m);
    json_object *o = jparse_output(&out);
    buf_free(&out);
    return o;
}

static void encode_text_response(void **state) {
    (void)state;
    conv_response r;
    conv_response_init(&r);
    feed(&r, (conv_event){.type = CONV_EV_TEXT_DELTA, .text = "Hel", .len = 3});
    feed(&r, (conv_event){.type = CONV_EV_TEXT_DELTA, .text = "lo \"世界\"\n", .len = 12});
    feed(&r, (conv_event){
                 .type = CONV_EV_FINISH,
                 .stop = CONV_STOP_END_TURN,
                 .usage = {
                     .known = true, .input_tokens = 76, .output_tokens = 24, .cached_tokens = 64}});
    json_object *o = encode_response(&r);
    assert_string_equal(jstr(o, "id"), "chatcmpl-abc");
    assert_string_equal(jstr(o, "object"), "chat.completion");
    assert_int_equal(jint(o, "created"), 1727346165);
    assert_string_equal(jstr(o, "model"), "gpt-4o");
    assert_int_equal(json_object_array_length(jget(o, "choices")), 1);
    assert_int_equal(jint(o, "choices.0.index"), 0);
    assert_string_equal(jstr(o, "choices.0.message.role"), "assistant");
    assert_string_equal(jstr(o, "choices.0.message.content"), "Hello \"世界\"\n");
    assert_int_equal(json_object_get_string_len(jget(o, "choices.0.message.content")), 15);
    assert_true(jhas(o, "choices.0.message.refusal"));
    assert_null(jget(o, "choices.0.message.refusal"));
    assert_false(jhas(o, "choices.0.message.tool_calls"));
    assert_false(jhas(o, "choices.0.message.reasoning_content"));
    assert_true(jhas(o, "choices.0.logprobs"));
    assert_string_equal(jstr(o, "choices.0.finish_reason"), "stop");
    assert_int_equal(jint(o, "usage.prompt_tokens"), 76);
    assert_int_equal(jint(o, "usage.completion_tokens"), 24);
    assert_int_equal(jint(o, "usage.total_tokens"), 100);
    assert_int_equal(jint(o, "usage.prompt_tokens_details.cached_tokens"), 64);
    json_object_put(o);
    conv_response_free(&r);
}

static void encode_tool_call_response(void **state) {
    (void)state;
    conv_response r;
    conv_response_init(&r);
    feed(&r, (conv_event){.type = CONV_EV_THINKING_DELTA, .text = "hmm", .len = 3});
    feed(&r,
         (conv_event){
             .type = CONV_EV_TOOL_CALL_START, .index = 0, .id = "call_Y6", .name = "GetWeather"});
    feed(&r,
         (conv_event){.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "{\"city\":", .len = 8});
    feed(&r, (conv_event){
                 .type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "\"Edinburgh\"}", .len = 12});
    feed(&r, (conv_event){.type = CONV_EV_TOOL_CALL_START, .index = 1, .id = "", .name = "now"});
    /* upstream said end_turn although it called tools */
    feed(&r, (conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_END_TURN});
    json_object *o = encode_response(&r);
    assert_true(jhas(o, "choices.0.message.content"));
    assert_null(jget(o, "choices.0.message.content"));
    assert_string_equal(jstr(o, "choices.0.message.reasoning_content"), "hmm");
    assert_int_equal(json_object_array_length(jget(o, "choices.0.message.tool_calls")), 2);
    assert_string_equal(jstr(o, "choices.0.message.tool_calls.0.id"), "call_Y6");
    assert_string_equal(jstr(o, "choices.0.message.tool_calls.0.type"), "function");
    assert_string_equal(jstr(o, "choices.0.message.tool_calls.0.function.name"), "GetWeather");
    assert_string_equal(jstr(o, "choices.0.message.tool_calls.0.function.arguments"),
                        "{\"city\":\"Edinburgh\"}");
    const char *gen = jstr(o, "choices.0.message.tool_calls.1.id");
    assert_non_null(gen);
    assert_int_equal(strncmp(gen, "call_", 5), 0); /* generated when the upstream has none */
    assert_int_equal(strlen(gen), 5 + 24);
    assert_string_equal(jstr(o, "choices.0.message.tool_calls.1.function.arguments"), "");
    assert_string_equal(jstr(o, "choices.0.finish_reason"), "tool_calls");
    /* usage unknown: estimates, no details */
    assert_int_equal(jint(o, "usage.prompt_tokens"), 11);
    assert_true(jint(o, "usage.completion_tokens") > 0);
    assert_int_equal(jint(o, "usage.total_tokens"),
                     jint(o, "usage.prompt_tokens") + jint(o, "usage.completion_tokens"));
    assert_false(jhas(o, "usage.prompt_tokens_details"));
    json_object_put(o);
    conv_response_free(&r);

    conv_response_init(&r);
    feed(&r, (conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_MAX_TOKENS});
    o = encode_response(&r);
    assert_string_equal(jstr(o, "choices.0.message.content"), "");
    assert_string_equal(jstr(o, "choices.0.finish_reason"), "length");
    json_object_put(o);
    conv_response_free(&r);
}

/* ---- streaming encoder ---- */

#define PFX                                                                                        \
    "data: "                                                                                       \
    "{\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"         \
    "\"model\":\"gpt-x\",\"choices\":["
#define TAIL ",\"logprobs\":null,\"finish_reason\":null}]}\n\n"

static void stream_init(openai_stream *s, bool include_usage) {
    openai_meta m = {
        .id = "chatcmpl-s1", .created = 1700000000, .model = "gpt-x", .prompt_tokens_estimate = 9};
    openai_stream_init(s, &m, include_usage);
}

/* Every frame is `data: <json>\n\n` (or [DONE]); returns the number of frames. */
static size_t check_frames(const char *bytes) {
    size_t n = 0;
    const char *p = bytes;
    while (*p) {
        assert_int_equal(strncmp(p, "data: ", 6), 0);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        const char *payload = p + 6;
        size_t len = (size_t)(end - payload);
        if (!(len == 6 && memcmp(payload, "[DONE]", 6) == 0)) {
            json_object *o = jparse(payload, len);
            if (!o) fail_msg("bad frame: %.*s", (int)len, payload);
            json_object_put(o);
        }
        n++;
        p = end + 2;
    }
    return n;
}

static void stream_text_exact(void **state) {
    (void)state;
    for (int usage = 0; usage <= 1; usage++) {
        openai_stream s;
        stream_init(&s, usage);
        buf out = BUF_INIT;
        assert_false(openai_stream_event(
            &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "Hi", .len = 2}, &out));
        assert_false(openai_stream_event(
            &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = " \"you\"", .len = 6}, &out));
        conv_event fin = {.type = CONV_EV_FINISH,
                          .stop = CONV_STOP_END_TURN,
                          .usage = {.known = true, .input_tokens = 5, .output_tokens = 2}};
        assert_true(openai_stream_event(&s, &fin, &out));
        /* nothing after the end */
        size_t len = out.len;
        assert_true(openai_stream_event(
            &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "x", .len = 1}, &out));
        assert_int_equal(out.len, len);
        const char *want_base = PFX
            "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}" TAIL
                PFX "{\"index\":0,\"delta\":{\"content\":\"Hi\"}" TAIL PFX
            "{\"index\":0,\"delta\":{\"content\":\" \\\"you\\\"\"}" TAIL PFX
            "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n";
        buf want = BUF_INIT;
        buf_puts(&want, want_base);
        if (usage)
            buf_puts(&want, PFX
                     "],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                     "\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n");
        buf_puts(&want, "data: [DONE]\n\n");
        assert_string_equal(out.data, want.data);
        assert_int_equal(check_frames(out.data), usage ? 6 : 5);
        buf_free(&want);
        buf_free(&out);
        openai_stream_free(&s);
    }
}

static void stream_thinking_then_text(void **state) {
    (void)state;
    openai_stream s;
    stream_init(&s, true);
    buf out = BUF_INIT;
    openai_stream_event(
        &s, &(conv_event){.type = CONV_EV_THINKING_DELTA, .text = "think", .len = 5}, &out);
    openai_stream_event(&s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "ok", .len = 2},
                        &out);
    openai_stream_event(&s, &(conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_END_TURN},
                        &out);
    const char *want = PFX
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}" TAIL PFX
        "{\"index\":0,\"delta\":{\"reasoning_content\":\"think\"}" TAIL PFX
        "{\"index\":0,\"delta\":{\"content\":\"ok\"}" TAIL PFX
        "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
        /* no upstream usage: the prompt estimate and (5+2 bytes)/4 rounded up */
        PFX "],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
        "data: [DONE]\n\n";
    assert_string_equal(out.data, want);
    buf_free(&out);
    openai_stream_free(&s);
}

static void stream_text_then_two_tools(void **state) {
    (void)state;
    openai_stream s;
    stream_init(&s, false);
    buf out = BUF_INIT;
    conv_event evs[] = {
        {.type = CONV_EV_TEXT_DELTA, .text = "Let me check.", .len = 13},
        {.type = CONV_EV_TOOL_CALL_START, .index = 3, .id = "call_A", .name = "get_weather"},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 3, .text = "{\"city\":", .len = 8},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 3, .text = "\"Paris\"}", .len = 8},
        {.type = CONV_EV_TOOL_CALL_START, .index = 7, .id = "call_B", .name = "get_time"},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 7, .text = "{}", .len = 2},
        {.type = CONV_EV_TOOL_CALL_ARGS,
         .index = 9,
         .text = "{\"lost\":1}",
         .len = 10}, /* never started */
        {.type = CONV_EV_FINISH, .stop = CONV_STOP_TOOL_USE},
    };
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        openai_stream_event(&s, &evs[i], &out);
    const char *want = PFX
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}" TAIL PFX
        "{\"index\":0,\"delta\":{\"content\":\"Let me check.\"}" TAIL PFX
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_A\",\"type\":"
        "\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}" TAIL PFX
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{"
        "\\\"city\\\":\"}}]}" TAIL PFX "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}" TAIL PFX
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_B\",\"type\":"
        "\"function\","
        "\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]}" TAIL PFX
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]"
        "}" TAIL PFX
        "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: [DONE]\n\n";
    assert_string_equal(out.data, want);
    assert_int_equal(check_frames(out.data), 9);
    buf_free(&out);
    openai_stream_free(&s);

    /* a stream that opens with a tool call: role chunk has content null (recording) */
    stream_init(&s, false);
    openai_stream_event(&s, &(conv_event){.type = CONV_EV_TOOL_CALL_START, .index = 0, .name = "f"},
                        &out);
    assert_int_equal(
        strncmp(
            out.data, PFX "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}" TAIL,
            strlen(PFX "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}" TAIL)),
        0);
    assert_non_null(strstr(out.data, "\"id\":\"call_")); /* generated id */
    buf_free(&out);
    openai_stream_free(&s);
}

static void stream_error_mid_stream(void **state) {
    (void)state;
    openai_stream s;
    stream_init(&s, true);
    buf out = BUF_INIT;
    openai_stream_event(&s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "par", .len = 3},
                        &out);
    conv_event err = {.type = CONV_EV_ERROR,
                      .err_class = CONV_ERR_RATE_LIMIT,
                      .status = 429,
                      .text = "slow down"};
    assert_true(openai_stream_event(&s, &err, &out));
    const char *want = PFX
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}" TAIL PFX
        "{\"index\":0,\"delta\":{\"content\":\"par\"}" TAIL
        "data: {\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"param\":null,"
        "\"code\":\"rate_limit_exceeded\"}}\n\n";
    assert_string_equal(out.data, want);
    /* ended: a late finish writes nothing (no [DONE] after an error) */
    size_t len = out.len;
    assert_true(openai_stream_event(&s, &(conv_event){.type = CONV_EV_FINISH}, &out));
    assert_int_equal(out.len, len);
    buf_free(&out);
    openai_stream_free(&s);
}

static void stream_invalid_utf8_sanitised(void **state) {
    (void)state;
    openai_stream s;
    stream_init(&s, false);
    buf out = BUF_INIT;
    openai_stream_event(&s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "a\xff", .len = 2},
                        &out);
    assert_non_null(strstr(out.data, "{\"content\":\"a\\ufffd\"}"));
    check_frames(out.data); /* every frame strict-parses with UTF-8 validation */
    buf_free(&out);
    openai_stream_free(&s);
}

static void models_list(void **state) {
    (void)state;
    codec_model_info ms[] = {{.id = "gpt-4o", .created = 1686935002, .owned_by = "system"},
                             {.id = "qwen3-coder", .created = 1700000000}};
    buf out = BUF_INIT;
    openai_encode_models(&out, ms, 2);
    assert_string_equal(
        out.data,
        "{\"object\":\"list\",\"data\":["
        "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1686935002,\"owned_by\":\"system\"},"
        "{\"id\":\"qwen3-coder\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":"
        "\"system\"}]}");
    buf_reset(&out);
    openai_encode_models(&out, ms, 0);
    assert_string_equal(out.data, "{\"object\":\"list\",\"data\":[]}");
    buf_reset(&out);
    openai_encode_model(&out, &ms[0]);
    assert_string_equal(
        out.data,
        "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1686935002,\"owned_by\":\"system\"}");
    buf_free(&out);
}

static void completion_id(void **state) {
    (void)state;
    char id[OPENAI_ID_CAP], id2[OPENAI_ID_CAP];
    openai_new_completion_id(id);
    openai_new_completion_id(id2);
    assert_int_equal(strncmp(id, "chatcmpl-", 9), 0);
    assert_int_equal(strlen(id), 9 + 29);
    assert_string_not_equal(id, id2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_roles_and_system),
        cmocka_unit_test(decode_parts),
        cmocka_unit_test(decode_tool_calls_and_results),
        cmocka_unit_test(decode_params),
        cmocka_unit_test(decode_unicode_and_nul),
        cmocka_unit_test(decode_long_string),
        cmocka_unit_test(decode_errors),
        cmocka_unit_test(encode_text_response),
        cmocka_unit_test(encode_tool_call_response),
        cmocka_unit_test(stream_text_exact),
        cmocka_unit_test(stream_thinking_then_text),
        cmocka_unit_test(stream_text_then_two_tools),
        cmocka_unit_test(stream_error_mid_stream),
        cmocka_unit_test(stream_invalid_utf8_sanitised),
        cmocka_unit_test(models_list),
        cmocka_unit_test(completion_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
