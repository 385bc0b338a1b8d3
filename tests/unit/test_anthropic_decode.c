/* Anthropic codec, the request side: every block type, unknown fields and blocks, errors with
 * their field, count_tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "codec_test_util.h"
#include "front/anthropic_codec.h"
#include <stdio.h>
#include <string.h>

/* ---- helpers ---- */

static int decode_mode(const char *body, anthropic_decode_mode mode, conv_request *r,
                       codec_error *err) {
    memset(err, 0, sizeof *err);
    return anthropic_decode_request(body, strlen(body), mode, r, err);
}

static int decode(const char *body, conv_request *r, codec_error *err) {
    return decode_mode(body, ANTHROPIC_DECODE_MESSAGES, r, err);
}

static void expect_error(const char *body, const char *param, const char *message) {
    conv_request r;
    codec_error err;
    if (decode(body, &r, &err) == 0) fail_msg("accepted: %s", body);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.param, param);
    if (message && !strstr(err.message, message))
        fail_msg("message '%s' lacks '%s'", err.message, message);
    conv_request_free(&r);
}

static void assert_block_text(const conv_block *b, conv_block_type t, const char *text) {
    assert_int_equal(b->type, t);
    assert_non_null(b->text);
    if (b->text_len != strlen(text) || memcmp(b->text, text, b->text_len) != 0)
        fail_msg("block text '%.*s' != '%s'", (int)b->text_len, b->text, text);
}

#define HEAD "{\"model\":\"claude-x\",\"max_tokens\":1024,"

/* ---- decoding ---- */

static void decode_basic_and_unknown_fields(void **state) {
    (void)state;
    const char *body =
        HEAD "\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
             "{\"role\":\"assistant\",\"content\":\"hello\"},{\"role\":\"user\",\"content\":[]}],"
             "\"stop_sequences\":[\"END\"],\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,"
             "\"metadata\":{\"user_id\":\"{\\\"device_id\\\":\\\"d\\\"}\"},\"stream\":true,"
             "\"thinking\":{\"type\":\"adaptive\",\"display\":\"updates\"},"
             "\"context_management\":{\"edits\":[{\"type\":\"clear_thinking_20251015\",\"keep\":"
             "\"all\"}]},"
             "\"output_config\":{\"effort\":\"high\"},\"cache_control\":{\"type\":\"ephemeral\"},"
             "\"speed\":\"fast\",\"mcp_servers\":[],\"container\":null,\"service_tier\":\"auto\"}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.protocol, CONV_PROTO_ANTHROPIC);
    assert_string_equal(r.model, "claude-x");
    assert_int_equal(r.max_tokens, 1024);
    assert_string_equal(r.system, "Be brief.");
    assert_int_equal(r.n_messages, 3);
    assert_int_equal(r.messages[0].role, CONV_ROLE_USER);
    assert_block_text(&r.messages[0].blocks[0], CONV_BLOCK_TEXT, "hi");
    assert_int_equal(r.messages[1].role, CONV_ROLE_ASSISTANT);
    assert_int_equal(r.messages[2].n_blocks, 0); /* empty content kept as an empty message */
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_true(r.has_temperature && r.has_top_p && r.has_top_k);
    assert_int_equal(r.top_k, 40);
    assert_string_equal(r.user, "{\"device_id\":\"d\"}");
    assert_true(r.stream);
    assert_true(r.thinking);
    assert_int_equal(r.tool_choice, CONV_TOOL_CHOICE_UNSET);
    assert_true(r.parallel_tool_calls);
    conv_request_free(&r);

    assert_int_equal(decode(HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                                 "\"thinking\":{\"type\":\"disabled\"}}",
                            &r, &err),
                     0);
    assert_false(r.thinking);
    assert_null(r.system);
    conv_request_free(&r);
    assert_int_equal(decode(HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                                 "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}}",
                            &r, &err),
                     0);
    assert_true(r.thinking);
    conv_request_free(&r);
}

static void decode_system_blocks_and_system_role(void **state) {
    (void)state;
    const char *body = HEAD
        "\"system\":[{\"type\":\"text\",\"text\":\"x-anthropic-billing-header: cc_version=2.1; "
        "cc_entrypoint=sdk-cli;\"},{\"type\":\"text\",\"text\":\"You are Claude Code.\","
        "\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":\"Tools...\"}],"
        "\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"# "
        "Environment\","
        "\"cache_control\":{\"type\":\"ephemeral\"}}]},{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"system\",\"content\":\"late rule\"}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_string_equal(r.system,
                        "x-anthropic-billing-header: cc_version=2.1; cc_entrypoint=sdk-cli;"
                        "\n\nYou are Claude Code.\n\nTools...\n\n# Environment\n\nlate rule");
    assert_int_equal(r.system_len, strlen(r.system));
    assert_int_equal(r.n_messages, 1);
    assert_block_text(&r.messages[0].blocks[0], CONV_BLOCK_TEXT, "go");
    conv_request_free(&r);
}

static void decode_all_block_types(void **state) {
    (void)state;
    const char *body = HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"see\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/"
        "png\",\"data\":\"iVBO\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x.test/a.png\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"f1\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/"
        "plain\",\"data\":\"doc text\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/"
        "pdf\",\"data\":\"JVBE\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"content\",\"content\":[{\"type\":\"text\","
        "\"text\":\"p1\"},"
        "{\"type\":\"text\",\"text\":\"p2\"}]}},"
        "{\"type\":\"search_result\",\"source\":\"s\",\"title\":\"T\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"r\"}]},"
        "{\"type\":\"brand_new_block\",\"text\":\"kept text\"},"
        "{\"type\":\"brand_new_block\",\"payload\":1}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"let me think\",\"signature\":\"EqQBCgIYAhIM\"},"
        "{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy\"},"
        "{\"type\":\"text\",\"text\":\"I'll read it.\"},"
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{"
        "\"query\":\"q\"}},"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[]},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Read\",\"input\":{\"file_path\":\"/"
        "tmp/a b\","
        "\"limit\":1.50,\"big\":12345678901234567890},\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_02\",\"name\":\"Noop\"}]}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_true(r.has_images);
    assert_int_equal(r.n_messages, 2);
    const conv_message *u = &r.messages[0];
    assert_int_equal(u->n_blocks, 9);
    assert_block_text(&u->blocks[0], CONV_BLOCK_TEXT, "see");
    assert_int_equal(u->blocks[1].type, CONV_BLOCK_IMAGE);
    assert_string_equal(u->blocks[1].media_type, "image/png");
    assert_int_equal(u->blocks[1].data_len, 4);
    assert_string_equal(u->blocks[1].data, "iVBO");
    assert_int_equal(u->blocks[2].type, CONV_BLOCK_IMAGE);
    assert_string_equal(u->blocks[2].url, "https://x.test/a.png");
    assert_block_text(&u->blocks[3], CONV_BLOCK_TEXT, "[image]");
    assert_block_text(&u->blocks[4], CONV_BLOCK_TEXT, "doc text");
    assert_block_text(&u->blocks[5], CONV_BLOCK_TEXT, "[document: application/pdf]");
    assert_block_text(&u->blocks[6], CONV_BLOCK_TEXT, "p1\np2");
    assert_block_text(&u->blocks[7], CONV_BLOCK_TEXT, "T\nr");
    assert_block_text(&u->blocks[8], CONV_BLOCK_TEXT, "kept text");
    const conv_message *a = &r.messages[1];
    assert_int_equal(a->n_blocks, 4); /* redacted + server tool blocks dropped */
    assert_block_text(&a->blocks[0], CONV_BLOCK_THINKING, "let me think");
    assert_block_text(&a->blocks[1], CONV_BLOCK_TEXT, "I'll read it.");
    assert_int_equal(a->blocks[2].type, CONV_BLOCK_TOOL_CALL);
    assert_string_equal(a->blocks[2].tool_id, "toolu_01");
    assert_string_equal(a->blocks[2].tool_name, "Read");
    /* input kept verbatim: no "\/" escaping, number text preserved */
    assert_block_text(&a->blocks[2], CONV_BLOCK_TOOL_CALL,
                      "{\"file_path\":\"/tmp/a b\",\"limit\":1.50,\"big\":12345678901234567890}");
    assert_block_text(&a->blocks[3], CONV_BLOCK_TOOL_CALL, "{}");
    conv_request_free(&r);
}

static void decode_tool_result_ordering(void **state) {
    (void)state;
    const char *body = HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":\"read two files\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_A\",\"name\":"
        "\"Read\","
        "\"input\":{}},{\"type\":\"tool_use\",\"id\":\"toolu_B\",\"name\":\"Grep\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"before\"},"
        "{\"tool_use_id\":\"toolu_A\",\"type\":\"tool_result\",\"content\":\"1\\thello from "
        "file\\n2\\t\","
        "\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_B\",\"is_error\":true,\"content\":["
        "{\"type\":\"text\",\"text\":\"no "
        "match\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\","
        "\"media_type\":\"image/"
        "png\",\"data\":\"AA\"}},{\"type\":\"tool_reference\",\"tool_name\":\"x\"},"
        "{\"type\":\"text\",\"text\":\"end\"}]},"
        "{\"type\":\"text\",\"text\":\"<system-reminder>after</system-reminder>\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_C\",\"name\":"
        "\"Ls\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_C\"}]}]"
        "}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.n_messages, 7);
    assert_int_equal(r.messages[0].role, CONV_ROLE_USER);
    assert_int_equal(r.messages[1].role, CONV_ROLE_ASSISTANT);
    const conv_message *t1 = &r.messages[2], *t2 = &r.messages[3], *u = &r.messages[4];
    assert_int_equal(t1->role, CONV_ROLE_TOOL);
    assert_int_equal(t1->n_blocks, 1);
    assert_block_text(&t1->blocks[0], CONV_BLOCK_TOOL_RESULT, "1\thello from file\n2\t");
    assert_string_equal(t1->blocks[0].tool_id, "toolu_A");
    assert_string_equal(t1->blocks[0].tool_name, "Read");
    assert_false(t1->blocks[0].is_error);
    assert_int_equal(t2->role, CONV_ROLE_TOOL);
    assert_block_text(&t2->blocks[0], CONV_BLOCK_TOOL_RESULT, "no match\n[image: image/png]\nend");
    assert_string_equal(t2->blocks[0].tool_name, "Grep");
    assert_true(t2->blocks[0].is_error);
    assert_int_equal(u->role, CONV_ROLE_USER);
    assert_int_equal(u->n_blocks, 2);
    assert_block_text(&u->blocks[0], CONV_BLOCK_TEXT, "before");
    assert_block_text(&u->blocks[1], CONV_BLOCK_TEXT, "<system-reminder>after</system-reminder>");
    assert_int_equal(r.messages[5].role, CONV_ROLE_ASSISTANT);
    /* only tool results: no empty user message after them */
    assert_int_equal(r.messages[6].role, CONV_ROLE_TOOL);
    assert_block_text(&r.messages[6].blocks[0], CONV_BLOCK_TOOL_RESULT, "");
    assert_string_equal(r.messages[6].blocks[0].tool_name, "Ls");
    conv_request_free(&r);
}

static void decode_tools_and_choice(void **state) {
    (void)state;
    const char *body = HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":["
        "{\"name\":\"Read\",\"description\":\"Reads a file\",\"input_schema\":{\"type\":\"object\","
        "\"properties\":{\"file_path\":{\"type\":\"string\",\"description\":\"a/b path\"}},"
        "\"required\":[\"file_path\"]},\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"custom\",\"name\":\"Later\",\"input_schema\":{\"type\":\"object\"},\"defer_"
        "loading\":true,"
        "\"input_examples\":[{}],\"strict\":true},"
        "{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":5},"
        "{\"type\":\"bash_20250124\",\"name\":\"bash\"}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"Read\",\"disable_parallel_tool_use\":true}}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.n_tools, 2);
    assert_string_equal(r.tools[0].name, "Read");
    assert_string_equal(r.tools[0].description, "Reads a file");
    assert_string_equal(r.tools[0].parameters_json,
                        "{\"type\":\"object\",\"properties\":{\"file_path\":{\"type\":\"string\","
                        "\"description\":\"a/b path\"}},\"required\":[\"file_path\"]}");
    assert_string_equal(r.tools[1].name, "Later");
    assert_null(r.tools[1].description);
    assert_int_equal(r.tool_choice, CONV_TOOL_CHOICE_NAMED);
    assert_string_equal(r.tool_choice_name, "Read");
    assert_false(r.parallel_tool_calls);
    conv_request_free(&r);

    static const struct {
        const char *tc;
        conv_tool_choice want;
    } choices[] = {{"{\"type\":\"auto\"}", CONV_TOOL_CHOICE_AUTO},
                   {"{\"type\":\"any\"}", CONV_TOOL_CHOICE_REQUIRED},
                   {"{\"type\":\"none\"}", CONV_TOOL_CHOICE_NONE}};
    for (size_t i = 0; i < sizeof choices / sizeof *choices; i++) {
        char b[256];
        snprintf(b, sizeof b,
                 HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":%s}",
                 choices[i].tc);
        assert_int_equal(decode(b, &r, &err), 0);
        assert_int_equal(r.tool_choice, choices[i].want);
        assert_true(r.parallel_tool_calls);
        conv_request_free(&r);
    }
}

static void decode_count_tokens_mode(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\"}}]}";
    conv_request r;
    codec_error err;
    assert_int_equal(decode_mode(body, ANTHROPIC_DECODE_COUNT_TOKENS, &r, &err), 0);
    assert_int_equal(r.max_tokens, 0);
    assert_int_equal(r.n_tools, 1);
    conv_request_free(&r);
    assert_int_equal(decode_mode(body, ANTHROPIC_DECODE_MESSAGES, &r, &err), -1);
    assert_string_equal(err.param, "max_tokens");
    assert_string_equal(err.message, "max_tokens: Field required");
    conv_request_free(&r);
}

static void decode_unicode_and_long(void **state) {
    (void)state;
    conv_request r;
    codec_error err;
    assert_int_equal(decode(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                                 "\"text\":\"中文 🎉 x\\u0000y\"}]}]}",
                            &r, &err),
                     0);
    const char want[] = "中文 🎉 x\0y";
    assert_int_equal(r.messages[0].blocks[0].text_len, sizeof want - 1);
    assert_memory_equal(r.messages[0].blocks[0].text, want, sizeof want - 1);
    conv_request_free(&r);

    size_t n = 1 << 20;
    char *body = malloc(n + 256);
    int off = sprintf(body, HEAD "\"system\":\"");
    memset(body + off, 'y', n);
    strcpy(body + off + n, "\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    assert_int_equal(decode(body, &r, &err), 0);
    assert_int_equal(r.system_len, n);
    conv_request_free(&r);
    free(body);
}

static void decode_errors(void **state) {
    (void)state;
    expect_error("{\"model\":\"x\",", "", "not valid JSON");
    expect_error(" null ", "", "null where an object was expected"); /* not json-c's "success" */
    expect_error("{\"model\":\"x\",\"max_tokens\":1,\"messages\":[],\"t\":NaN}", "", "NaN");
    expect_error("\"str\"", "", "must be a JSON object");
    { /* bytes after a NUL that follows the value: not one JSON value */
        static const char body[] = "{\"model\":\"x\",\"max_tokens\":1,\"messages\":[{\"role\":"
                                   "\"user\",\"content\":\"x\"}]}\0{\"junk\":1}";
        conv_request r;
        codec_error err = {0};
        assert_int_equal(
            anthropic_decode_request(body, sizeof body - 1, ANTHROPIC_DECODE_MESSAGES, &r, &err),
            -1);
        assert_int_equal(err.status, 400);
        conv_request_free(&r);
        /* trailing whitespace is fine */
        static const char ws[] = "{\"model\":\"x\",\"max_tokens\":1,\"messages\":[{\"role\":"
                                 "\"user\",\"content\":\"x\"}]} \r\n\t";
        assert_int_equal(
            anthropic_decode_request(ws, sizeof ws - 1, ANTHROPIC_DECODE_MESSAGES, &r, &err), 0);
        conv_request_free(&r);
    }
    expect_error("{\"max_tokens\":1,\"messages\":[]}", "model", "model: Field required");
    expect_error("{\"model\":1,\"max_tokens\":1,\"messages\":[]}", "model", "valid string");
    expect_error("{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 "max_tokens", "max_tokens: Field required");
    expect_error("{\"model\":\"x\",\"max_tokens\":\"10\",\"messages\":[]}", "max_tokens",
                 "max_tokens: Input should be a valid integer");
    expect_error("{\"model\":\"x\",\"max_tokens\":1.5,\"messages\":[]}", "max_tokens",
                 "valid integer");
    expect_error("{\"model\":\"x\",\"max_tokens\":-1,\"messages\":[]}", "max_tokens",
                 "greater than");
    expect_error("{\"model\":\"x\",\"max_tokens\":1}", "messages", "messages: Field required");
    expect_error("{\"model\":\"x\",\"max_tokens\":1,\"messages\":\"hi\"}", "messages",
                 "messages: Input should be a valid list");
    expect_error("{\"model\":\"x\",\"max_tokens\":1,\"messages\":[]}", "messages", "at least one");
    expect_error(HEAD "\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}", "messages.0.role",
                 NULL);
    expect_error(HEAD "\"messages\":[{\"content\":\"x\"}]}", "messages.0.role", "Field required");
    expect_error(
        HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":5}]}",
        "messages.1.content", "valid string or list");
    expect_error(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                 "messages.0.content.0.text", NULL);
    expect_error(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
                 "messages.0.content.0.type", NULL);
    expect_error(HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
                      "\"name\":\"f\"}]}]}",
                 "messages.0.content.0.id", NULL);
    expect_error(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                      "\"content\":\"r\"}]}]}",
                 "messages.0.content.0.tool_use_id", NULL);
    expect_error(HEAD
                 "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
                 "{\"type\":\"base64\",\"data\":\"AA\"}}]}]}",
                 "messages.0.content.0.source.media_type", NULL);
    expect_error(
        HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":{\"type\":\"tool\"}}",
        "tool_choice.name", NULL);
    expect_error(HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":1.5}",
                 "temperature", "less than or equal to 1");
    expect_error(HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"system\":5}",
                 "system", NULL);
    expect_error(
        HEAD
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"input_schema\":{}}]}",
        "tools.0.name", NULL);
    expect_error(HEAD
                 "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop_sequences\":[1]}",
                 "stop_sequences.0", NULL);
}

/* ---- count_tokens ---- */

static void count_tokens_estimate(void **state) {
    (void)state;
    conv_request r;
    codec_error err;
    char body[2048];
    char text[401];
    memset(text, 'a', 400);
    text[400] = '\0';
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    assert_int_equal(decode_mode(body, ANTHROPIC_DECODE_COUNT_TOKENS, &r, &err), 0);
    int64_t ascii = anthropic_count_tokens(&r);
    assert_int_equal(ascii, 3 + 4 + 100); /* request + message overhead + 400 bytes / 4 */
    conv_request_free(&r);

    /* 10 CJK characters: one token each */
    assert_int_equal(decode_mode("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                                 "\"一二三四五六七八九十\"}]}",
                                 ANTHROPIC_DECODE_COUNT_TOKENS, &r, &err),
                     0);
    assert_int_equal(anthropic_count_tokens(&r), 3 + 4 + 10);
    conv_request_free(&r);

    /* tools and an image add their documented overheads */
    assert_int_equal(
        decode_mode(
            "{\"model\":\"m\",\"system\":\"abcd\",\"messages\":[{\"role\":\"user\",\"content\":["
            "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
            "\"data\":\"AA\"}}]}],\"tools\":[{\"name\":\"abcd\",\"input_schema\":{}}]}",
            ANTHROPIC_DECODE_COUNT_TOKENS, &r, &err),
        0);
    /* 3 + system(4 + 1) + message 4 + image 1600 + tools preamble 320 + tool(8 + 1 + 1) */
    assert_int_equal(anthropic_count_tokens(&r), 3 + 5 + 4 + 1600 + 320 + 10);
    conv_request_free(&r);

    buf out = BUF_INIT;
    anthropic_encode_count_tokens(&out, 2095);
    assert_string_equal(out.data, "{\"input_tokens\":2095}");
    buf_free(&out);
}

/* The decoder frees the body's tape before it returns: nothing decoded may point into it
 * (under ASan a pointer into the freed tape fails here). */
static void decode_outlives_the_tape(void **state) {
    (void)state;
    const char *body =
        HEAD "\"system\":[{\"type\":\"text\",\"text\":\"sys\"}],\"messages\":[{\"role\":"
             "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello there\"}]}],"
             "\"tools\":[{\"name\":\"Write\",\"description\":\"d\",\"input_schema\":"
             "{\"type\":\"object\"}}],\"metadata\":{\"user_id\":\"u1\"}}";
    conv_request r;
    codec_error err = {0};
    assert_int_equal(
        anthropic_decode_request(body, strlen(body), ANTHROPIC_DECODE_MESSAGES, &r, &err), 0);
    assert_string_equal(r.model, "claude-x");
    assert_string_equal(r.system, "sys");
    assert_block_text(&r.messages[0].blocks[0], CONV_BLOCK_TEXT, "hello there");
    assert_string_equal(r.tools[0].name, "Write");
    assert_string_equal(r.tools[0].description, "d");
    assert_string_equal(r.tools[0].parameters_json, "{\"type\":\"object\"}");
    assert_string_equal(r.user, "u1");
    conv_request_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_basic_and_unknown_fields),
        cmocka_unit_test(decode_system_blocks_and_system_role),
        cmocka_unit_test(decode_all_block_types),
        cmocka_unit_test(decode_tool_result_ordering),
        cmocka_unit_test(decode_tools_and_choice),
        cmocka_unit_test(decode_count_tokens_mode),
        cmocka_unit_test(decode_unicode_and_long),
        cmocka_unit_test(decode_errors),
        cmocka_unit_test(count_tokens_estimate),
        cmocka_unit_test(decode_outlives_the_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
