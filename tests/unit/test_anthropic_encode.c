/* Anthropic codec, the response side: messages, the named-event stream byte for byte, models
 * pages, ids. */
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

/* ---- non-streaming encoder ---- */

static json_object *encode_response(const conv_response *r) {
    buf out = BUF_INIT;
    anthropic_meta m = {.id = "msg_0123", .model = "claude-x", .input_tokens_estimate = 42};
    anthropic_encode_response(&out, r, &m);
    json_object *o = jparse_output(&out);
    buf_free(&out);
    return o;
}

static void encode_text_response(void **state) {
    (void)state;
    conv_response r;
    conv_response_init(&r);
    feed(&r, (conv_event){.type = CONV_EV_TEXT_DELTA, .text = "pong", .len = 4});
    feed(&r, (conv_event){
                 .type = CONV_EV_FINISH,
                 .stop = CONV_STOP_STOP_SEQUENCE,
                 .stop_sequence = "END",
                 .usage = {
                     .known = true, .input_tokens = 100, .output_tokens = 7, .cached_tokens = 60}});
    json_object *o = encode_response(&r);
    assert_string_equal(jstr(o, "id"), "msg_0123");
    assert_string_equal(jstr(o, "type"), "message");
    assert_string_equal(jstr(o, "role"), "assistant");
    assert_string_equal(jstr(o, "model"), "claude-x");
    assert_int_equal(json_object_array_length(jget(o, "content")), 1);
    assert_string_equal(jstr(o, "content.0.type"), "text");
    assert_string_equal(jstr(o, "content.0.text"), "pong");
    assert_string_equal(jstr(o, "stop_reason"), "stop_sequence");
    assert_string_equal(jstr(o, "stop_sequence"), "END");
    assert_true(jhas(o, "stop_details"));
    assert_int_equal(jint(o, "usage.input_tokens"), 40); /* 100 total - 60 cache reads */
    assert_int_equal(jint(o, "usage.cache_read_input_tokens"), 60);
    assert_int_equal(jint(o, "usage.cache_creation_input_tokens"), 0);
    assert_int_equal(jint(o, "usage.output_tokens"), 7);
    json_object_put(o);
    conv_response_free(&r);

    conv_response_init(&r); /* nothing generated: one empty text block, estimates */
    feed(&r, (conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_MAX_TOKENS});
    o = encode_response(&r);
    assert_int_equal(json_object_array_length(jget(o, "content")), 1);
    assert_string_equal(jstr(o, "content.0.text"), "");
    assert_string_equal(jstr(o, "stop_reason"), "max_tokens");
    assert_true(jhas(o, "stop_sequence"));
    assert_null(jget(o, "stop_sequence"));
    assert_int_equal(jint(o, "usage.input_tokens"), 42);
    assert_int_equal(jint(o, "usage.output_tokens"), 0);
    json_object_put(o);
    conv_response_free(&r);
}

static void encode_thinking_and_tools(void **state) {
    (void)state;
    conv_response r;
    conv_response_init(&r);
    feed(&r, (conv_event){.type = CONV_EV_THINKING_DELTA, .text = "plan", .len = 4});
    feed(&r, (conv_event){.type = CONV_EV_TEXT_DELTA, .text = "Reading.", .len = 8});
    struct {
        const char *id, *args;
    } calls[] = {
        {"toolu_keep", " {\"file_path\":\"/a\",\"n\":1.50} "},
        {"call_xyz", "not json {"},
        {NULL, ""},
        {"c4", "[1,2]"},
    };
    for (int i = 0; i < 4; i++) {
        feed(&r,
             (conv_event){
                 .type = CONV_EV_TOOL_CALL_START, .index = i, .id = calls[i].id, .name = "Read"});
        feed(&r, (conv_event){.type = CONV_EV_TOOL_CALL_ARGS,
                              .index = i,
                              .text = calls[i].args,
                              .len = strlen(calls[i].args)});
    }
    feed(&r, (conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_END_TURN});
    json_object *o = encode_response(&r);
    assert_int_equal(json_object_array_length(jget(o, "content")), 6);
    assert_string_equal(jstr(o, "content.0.type"), "thinking");
    assert_string_equal(jstr(o, "content.0.thinking"), "plan");
    assert_string_equal(jstr(o, "content.0.signature"), "");
    assert_string_equal(jstr(o, "content.1.type"), "text");
    assert_string_equal(jstr(o, "content.1.text"), "Reading.");
    assert_string_equal(jstr(o, "content.2.type"), "tool_use");
    assert_string_equal(jstr(o, "content.2.id"), "toolu_keep");
    assert_string_equal(jstr(o, "content.2.name"), "Read");
    assert_string_equal(jstr(o, "content.2.input.file_path"), "/a");
    assert_true(json_object_is_type(jget(o, "content.2.input.n"), json_type_double));
    const char *id = jstr(o, "content.3.id");
    assert_int_equal(strncmp(id, "toolu_", 6), 0);
    assert_int_equal(strlen(id), 6 + 24);
    assert_string_equal(jstr(o, "content.3.input.raw_arguments"), "not json {");
    assert_int_equal(strncmp(jstr(o, "content.4.id"), "toolu_", 6), 0);
    assert_true(json_object_is_type(jget(o, "content.4.input"), json_type_object));
    assert_int_equal(json_object_object_length(jget(o, "content.4.input")), 0);
    assert_string_equal(jstr(o, "content.5.input.raw_arguments"), "[1,2]");
    assert_string_equal(jstr(o, "stop_reason"), "tool_use"); /* end_turn with calls */
    assert_true(jint(o, "usage.output_tokens") > 0);
    json_object_put(o);
    conv_response_free(&r);
}

/* Upstream models put raw control characters (a literal newline) and stray bytes inside their
 * argument strings; json-c accepts them, but the message body must still be strict JSON. */
static void encode_tool_input_is_strict_json(void **state) {
    (void)state;
    static const char *const args[] = {
        "{\"cmd\":\"a\nb\tc\",\"n\":1.50}",
        "{\"s\":\"x\xff\"}",
        "{'q':1}",
        "{\"ok\":\"\\n\",\"u\":\"\xc3\xa9\"}",
    };
    conv_response r;
    conv_response_init(&r);
    for (int i = 0; i < 4; i++) {
        feed(&r, (conv_event){
                     .type = CONV_EV_TOOL_CALL_START, .index = i, .id = "toolu_x", .name = "Bash"});
        feed(&r, (conv_event){.type = CONV_EV_TOOL_CALL_ARGS,
                              .index = i,
                              .text = args[i],
                              .len = strlen(args[i])});
    }
    feed(&r, (conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_TOOL_USE});
    buf out = BUF_INIT;
    anthropic_meta m = {.id = "msg_0123", .model = "claude-x", .input_tokens_estimate = 1};
    anthropic_encode_response(&out, &r, &m);
    for (size_t i = 0; i < out.len; i++)
        if ((unsigned char)out.data[i] < 0x20) fail_msg("raw control byte at %zu: %s", i, out.data);
    json_object *o = jparse_output(&out);
    assert_string_equal(jstr(o, "content.0.input.cmd"), "a\nb\tc");
    assert_true(json_object_is_type(jget(o, "content.0.input.n"), json_type_double));
    assert_string_equal(jstr(o, "content.1.input.s"), "x\xef\xbf\xbd");
    assert_int_equal(jint(o, "content.2.input.q"), 1);
    assert_string_equal(jstr(o, "content.3.input.ok"), "\n");
    assert_string_equal(jstr(o, "content.3.input.u"), "\xc3\xa9");
    /* clean arguments are forwarded byte for byte */
    assert_non_null(strstr(out.data, "{\"ok\":\"\\n\",\"u\":\"\xc3\xa9\"}"));
    json_object_put(o);
    buf_free(&out);
    conv_response_free(&r);
}

/* ---- streaming encoder ---- */

/* Validates SSE framing and the ordering rules of §1.5/§1.6; returns the event names joined
 * with ','. */
static void check_stream(const char *bytes, buf *names) {
    const char *p = bytes;
    int open_index = -1, next_index = 0;
    bool started = false, stopped = false, delta_seen = false;
    while (*p) {
        assert_int_equal(strncmp(p, "event: ", 7), 0);
        const char *nl = strchr(p, '\n');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(nl - p - 7), p + 7);
        p = nl + 1;
        assert_int_equal(strncmp(p, "data: ", 6), 0);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        json_object *o = jparse(p + 6, (size_t)(end - p - 6));
        if (!o) fail_msg("bad JSON in %s frame", name);
        assert_string_equal(jstr(o, "type"), name);
        if (names->len) buf_putc(names, ',');
        buf_puts(names, name);
        assert_false(stopped);
        if (strcmp(name, "message_start") == 0) {
            assert_false(started);
            started = true;
            assert_non_null(jget(o, "message.usage"));
            assert_int_equal(json_object_array_length(jget(o, "message.content")), 0);
        } else if (strcmp(name, "error") == 0) {
            stopped = true;
        } else if (strcmp(name, "ping") != 0) {
            assert_true(started);
        }
        if (strcmp(name, "content_block_start") == 0) {
            assert_int_equal(open_index, -1);
            assert_int_equal(jint(o, "index"), next_index);
            open_index = next_index++;
        } else if (strcmp(name, "content_block_delta") == 0) {
            assert_int_equal(jint(o, "index"), open_index);
        } else if (strcmp(name, "content_block_stop") == 0) {
            assert_int_equal(jint(o, "index"), open_index);
            open_index = -1;
        } else if (strcmp(name, "message_delta") == 0) {
            assert_int_equal(open_index, -1);
            assert_false(delta_seen);
            delta_seen = true;
            assert_non_null(jget(o, "usage.output_tokens"));
            assert_non_null(jget(o, "delta.stop_reason"));
        } else if (strcmp(name, "message_stop") == 0) {
            assert_true(delta_seen);
            stopped = true;
        }
        json_object_put(o);
        p = end + 2;
    }
}

static void stream_init(anthropic_stream *s) {
    anthropic_meta m = {
        .id = "msg_t1", .model = "claude-x", .input_tokens_estimate = 18, .request_id = "req_1"};
    anthropic_stream_init(s, &m);
}

#define MSG_START                                                                                  \
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_t1\","      \
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],"           \
    "\"stop_reason\":null,\"stop_sequence\":null,\"stop_details\":null,\"usage\":{"                \
    "\"input_tokens\":18,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"         \
    "\"output_tokens\":1}}}\n\n"
#define PING "event: ping\ndata: {\"type\": \"ping\"}\n\n"

static void stream_text_exact(void **state) {
    (void)state;
    anthropic_stream s;
    stream_init(&s);
    buf out = BUF_INIT;
    assert_false(anthropic_stream_event(
        &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "Hello", .len = 5}, &out));
    assert_false(anthropic_stream_event(
        &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "", .len = 0}, &out));
    assert_false(anthropic_stream_event(
        &s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "!", .len = 1}, &out));
    conv_event fin = {.type = CONV_EV_FINISH,
                      .stop = CONV_STOP_END_TURN,
                      .usage = {.known = true, .input_tokens = 18, .output_tokens = 5}};
    assert_true(anthropic_stream_event(&s, &fin, &out));
    const char *want = MSG_START
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" PING
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: "
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"stop_details\":null},\"usage\":{\"input_tokens\":18,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":5}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_string_equal(out.data, want);
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    buf_free(&names);
    size_t len = out.len; /* ended: later events write nothing */
    assert_true(anthropic_stream_event(&s, &fin, &out));
    assert_int_equal(out.len, len);
    buf_free(&out);
    anthropic_stream_free(&s);
}

static void stream_thinking_then_text(void **state) {
    (void)state;
    anthropic_stream s;
    stream_init(&s);
    buf out = BUF_INIT;
    anthropic_stream_event(
        &s, &(conv_event){.type = CONV_EV_THINKING_DELTA, .text = "Let me", .len = 6}, &out);
    anthropic_stream_event(
        &s, &(conv_event){.type = CONV_EV_THINKING_DELTA, .text = " see", .len = 4}, &out);
    anthropic_stream_event(&s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "42", .len = 2},
                           &out);
    anthropic_stream_event(&s, &(conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_END_TURN},
                           &out);
    const char *want = MSG_START
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n" PING
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\" see\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"42\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        /* no upstream usage: estimate 18 in, (6+4+2 bytes)/4 = 3 out */
        "event: message_delta\ndata: "
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"stop_details\":null},\"usage\":{\"input_tokens\":18,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_string_equal(out.data, want);
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    buf_free(&names);
    buf_free(&out);
    anthropic_stream_free(&s);
}

static void stream_text_then_two_tools(void **state) {
    (void)state;
    anthropic_stream s;
    stream_init(&s);
    buf out = BUF_INIT;
    conv_event evs[] = {
        {.type = CONV_EV_TEXT_DELTA, .text = "Checking.", .len = 9},
        {.type = CONV_EV_TOOL_CALL_START, .index = 0, .id = "toolu_012rm", .name = "get_weather"},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "{\"city\":", .len = 8},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = " \"Paris\"}", .len = 9},
        {.type = CONV_EV_TOOL_CALL_START, .index = 1, .id = "call_9", .name = "get_time"},
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "late", .len = 4},  /* closed call */
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 5, .text = "never", .len = 5}, /* never started */
        {.type = CONV_EV_TOOL_CALL_ARGS, .index = 1, .text = "{}", .len = 2},
        {.type = CONV_EV_FINISH,
         .stop = CONV_STOP_TOOL_USE,
         .usage = {.known = true, .input_tokens = 30, .output_tokens = 12, .cached_tokens = 10}},
    };
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        anthropic_stream_event(&s, &evs[i], &out);
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    assert_string_equal(
        names.data,
        "message_start,content_block_start,ping,content_block_delta,content_block_stop,"
        "content_block_start,content_block_delta,content_block_delta,content_block_stop,"
        "content_block_start,content_block_delta,content_block_stop,message_delta,"
        "message_stop");
    assert_non_null(strstr(
        out.data,
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_012rm\",\"name\":\"get_weather\","
        "\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"Paris\\\"}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"));
    /* the second call's upstream id is not toolu_: replaced */
    const char *second =
        strstr(out.data, "\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_");
    assert_non_null(second);
    assert_null(strstr(out.data, "late"));
    assert_null(strstr(out.data, "never"));
    assert_non_null(strstr(out.data,
                           "\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
                           "\"stop_details\":null},\"usage\":{\"input_tokens\":20,"
                           "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":10,"
                           "\"output_tokens\":12}}"));
    buf_free(&names);
    buf_free(&out);
    anthropic_stream_free(&s);
}

/* ---- parallel tool calls whose fragments interleave (D34) ---- */

#define TOOL_START(i, id, name)                                                                    \
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":" #i            \
    ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"" name                 \
    "\",\"input\":{}}}\n\n"
#define ARGS(i, json)                                                                              \
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":" #i            \
    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"" json "\"}}\n\n"
#define STOP(i)                                                                                    \
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":" #i "}\n\n"
/* message_delta with stop_reason tool_use and the estimated usage, then message_stop */
#define TOOL_USE_END(output_tokens)                                                                \
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"          \
    "\"tool_use\",\"stop_sequence\":null,\"stop_details\":null},\"usage\":{\"input_tokens\":18,"   \
    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_"                    \
    "tokens\":" #output_tokens "}}\n\n"                                                            \
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
#define TSTART(i, tid, tname)                                                                      \
    { .type = CONV_EV_TOOL_CALL_START, .index = (i), .id = (tid), .name = (tname) }
#define TARGS(i, s)                                                                                \
    { .type = CONV_EV_TOOL_CALL_ARGS, .index = (i), .text = (s), .len = strlen(s) }
/* end_turn from the upstream: the encoder still says tool_use because calls were seen */
#define FINISH                                                                                     \
    { .type = CONV_EV_FINISH, .stop = CONV_STOP_END_TURN }

/* Feeds the events to a fresh stream and checks the framing; returns the bytes (caller frees). */
static buf run_stream(const conv_event *evs, size_t n, size_t buffer_max) {
    anthropic_stream s;
    stream_init(&s);
    if (buffer_max) s.tool_buffer_max = buffer_max;
    buf out = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        anthropic_stream_event(&s, &evs[i], &out);
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    buf_free(&names);
    anthropic_stream_free(&s);
    return out;
}

/* start0, start1, args0, args1, args0: tool 1 is held while tool 0 is open and incomplete, and
 * goes out (one delta with everything) as soon as tool 0's arguments are a whole object. */
static void stream_tools_interleaved(void **state) {
    (void)state;
    const conv_event evs[] = {
        TSTART(0, "toolu_a", "Read"), TSTART(1, "toolu_b", "Grep"), TARGS(0, "{\"path\":"),
        TARGS(1, "{\"q\":\"x}\"}"),   TARGS(0, " \"/a\"}"),         FINISH,
    };
    buf out = run_stream(evs, sizeof evs / sizeof *evs, 0);
    const char *want = MSG_START TOOL_START(0, "toolu_a", "Read") PING ARGS(0, "{\\\"path\\\":")
        ARGS(0, " \\\"/a\\\"}") STOP(0) TOOL_START(1, "toolu_b", "Grep")
            ARGS(1, "{\\\"q\\\":\\\"x}\\\"}") STOP(1)
        /* 8 + 10 + 6 argument bytes, a quarter token each */
        TOOL_USE_END(6);
    assert_string_equal(out.data, want);
    buf_free(&out);
}

/* Three calls: each held one is promoted in upstream index order when the open one completes,
 * and a promoted call that is still incomplete streams its later fragments live. */
static void stream_three_tools_interleaved(void **state) {
    (void)state;
    const conv_event evs[] = {
        TSTART(0, "toolu_a", "A"),
        TSTART(1, "toolu_b", "B"),
        TSTART(2, "toolu_c", "C"),
        TARGS(2, "{\"c\":3}"),
        TARGS(1, "{\"b\":"),
        TARGS(0, "{\"a\":[1,"),
        TARGS(0, "{}]}"),
        TARGS(1, "2}"),
        TARGS(0, " "), /* closed: dropped */
        FINISH,
    };
    buf out = run_stream(evs, sizeof evs / sizeof *evs, 0);
    const char *want = MSG_START TOOL_START(0, "toolu_a", "A") PING ARGS(0, "{\\\"a\\\":[1,")
        ARGS(0, "{}]}") STOP(0) TOOL_START(1, "toolu_b", "B") ARGS(1, "{\\\"b\\\":") ARGS(1, "2}")
            STOP(1) TOOL_START(2, "toolu_c", "C") ARGS(2, "{\\\"c\\\":3}") STOP(2)
                TOOL_USE_END(7); /* (7 + 5 + 7 + 4 + 2 + 1) / 4 rounded up */
    assert_string_equal(out.data, want);
    buf_free(&out);
}

/* Text moves the stream on: the open call closes, the held ones go out in index order (empty
 * arguments: no delta, the client's input stays {}), and a later fragment for any of them can
 * only be dropped. */
static void stream_tools_interleaved_then_text(void **state) {
    (void)state;
    const conv_event evs[] = {
        TSTART(0, "toolu_a", "A"),
        TSTART(2, "toolu_c", "C"),
        TSTART(1, "toolu_b", "B"),
        TSTART(2, "toolu_c", "C"), /* repeated start of a held call: ignored */
        TARGS(2, "{\"c\":3}"),
        TARGS(0, "{\"a\":"), /* tool 0 never completes: the others wait for the text */
        {.type = CONV_EV_TEXT_DELTA, .text = "Done.", .len = 5},
        TARGS(2, "late"), /* emitted and closed: dropped */
        FINISH,
    };
    buf out = run_stream(evs, sizeof evs / sizeof *evs, 0);
    const char *want = MSG_START TOOL_START(0, "toolu_a", "A") PING ARGS(0, "{\\\"a\\\":") STOP(
        0) TOOL_START(1, "toolu_b", "B") STOP(1) TOOL_START(2, "toolu_c", "C") ARGS(2,
                                                                                    "{\\\"c\\\":3}")
        STOP(2) "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,"
                "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,"
                "\"delta\":{\"type\":\"text_delta\",\"text\":\"Done.\"}}\n\n" STOP(3)
                    TOOL_USE_END(5); /* 7 + 5 + 5 bytes */
    assert_string_equal(out.data, want);
    assert_null(strstr(out.data, "late"));
    buf_free(&out);
}

/* A fragment for a call that never started is dropped; the open call is unaffected. */
static void stream_tool_args_unknown_index(void **state) {
    (void)state;
    const conv_event evs[] = {
        TSTART(0, "toolu_a", "A"),
        TARGS(7, "{\"x\":1}"),
        TARGS(0, "{}"),
        FINISH,
    };
    buf out = run_stream(evs, sizeof evs / sizeof *evs, 0);
    const char *want =
        MSG_START TOOL_START(0, "toolu_a", "A") PING ARGS(0, "{}") STOP(0) TOOL_USE_END(1);
    assert_string_equal(out.data, want);
    buf_free(&out);
}

/* Held argument bytes are bounded per stream: at the limit the stream goes on, past it the
 * stream ends with an error event (no block stop, no message_stop) and ignores the rest. */
static void stream_tool_buffer_overflow(void **state) {
    (void)state;
    const conv_event evs[] = {
        TSTART(0, "toolu_a", "A"),
        TSTART(1, "toolu_b", "B"),
        TSTART(2, "toolu_c", "C"),
        TARGS(1, "{\"b\":"),
        TARGS(2, "{}"),
        TARGS(1, "1}"),      /* 9 bytes held */
        TARGS(0, "{\"a\":"), /* live: not counted */
    };
    buf out = run_stream(evs, sizeof evs / sizeof *evs, 9);
    assert_null(strstr(out.data, "event: error"));
    buf_free(&out);

    anthropic_stream s;
    stream_init(&s);
    s.tool_buffer_max = 9;
    out = (buf)BUF_INIT;
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        assert_false(anthropic_stream_event(&s, &evs[i], &out));
    size_t len = out.len;
    conv_event one_more = TARGS(2, " ");
    assert_true(anthropic_stream_event(&s, &one_more, &out));
    assert_string_equal(out.data + len,
                        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                        "\"message\":\"The upstream's parallel tool calls are too large to "
                        "stream.\"},\"request_id\":\"req_1\"}\n\n");
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    assert_string_equal(names.data, "message_start,content_block_start,ping,content_block_delta,"
                                    "error");
    len = out.len;
    conv_event fin = FINISH;
    assert_true(anthropic_stream_event(&s, &fin, &out));
    assert_int_equal(out.len, len);
    buf_free(&names);
    buf_free(&out);
    anthropic_stream_free(&s);
}

static void stream_error_mid_stream(void **state) {
    (void)state;
    anthropic_stream s;
    stream_init(&s);
    buf out = BUF_INIT;
    anthropic_stream_event(&s, &(conv_event){.type = CONV_EV_TEXT_DELTA, .text = "par", .len = 3},
                           &out);
    conv_event err = {.type = CONV_EV_ERROR,
                      .err_class = CONV_ERR_TRANSIENT,
                      .status = 502,
                      .text = "Upstream failed"};
    assert_true(anthropic_stream_event(&s, &err, &out));
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    assert_string_equal(names.data,
                        "message_start,content_block_start,ping,content_block_delta,error");
    const char *tail = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                       "\"message\":\"Upstream failed\"},\"request_id\":\"req_1\"}\n\n";
    assert_string_equal(out.data + out.len - strlen(tail), tail);
    size_t len = out.len;
    assert_true(anthropic_stream_event(&s, &(conv_event){.type = CONV_EV_FINISH}, &out));
    assert_int_equal(out.len, len);
    buf_free(&names);
    buf_free(&out);
    anthropic_stream_free(&s);

    /* an error before anything else is a lone error frame */
    stream_init(&s);
    err.err_class = CONV_ERR_RATE_LIMIT;
    anthropic_stream_event(&s, &err, &out);
    assert_string_equal(out.data, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                                  "\"rate_limit_error\",\"message\":\"Upstream failed\"},"
                                  "\"request_id\":\"req_1\"}\n\n");
    buf_free(&out);
    anthropic_stream_free(&s);
}

static void stream_empty_and_ping(void **state) {
    (void)state;
    anthropic_stream s;
    stream_init(&s);
    buf out = BUF_INIT;
    anthropic_stream_event(&s, &(conv_event){.type = CONV_EV_FINISH, .stop = CONV_STOP_MAX_TOKENS},
                           &out);
    buf names = BUF_INIT;
    check_stream(out.data, &names);
    assert_string_equal(names.data, "message_start,content_block_start,ping,content_block_stop,"
                                    "message_delta,message_stop");
    assert_non_null(strstr(out.data, "\"stop_reason\":\"max_tokens\""));
    buf_free(&names);
    buf_reset(&out);
    anthropic_stream_ping(&out);
    assert_string_equal(out.data, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
    buf_free(&out);
    anthropic_stream_free(&s);
}

/* ---- models, ids ---- */

static void models_pages(void **state) {
    (void)state;
    codec_model_info ms[] = {
        {.id = "claude-sonnet-4-5", .display_name = "Claude Sonnet 4.5", .created = 1759104000},
        {.id = "claude-haiku-4-5", .created = 0},
        {.id = "qwen3-coder", .display_name = "Qwen3 Coder", .created = 1700000000},
    };
    buf out = BUF_INIT;
    anthropic_encode_model(&out, &ms[0]);
    assert_string_equal(
        out.data,
        "{\"type\":\"model\",\"id\":\"claude-sonnet-4-5\",\"display_name\":\"Claude Sonnet 4.5\","
        "\"created_at\":\"2025-09-29T00:00:00Z\",\"capabilities\":null,\"max_input_tokens\":null,"
        "\"max_tokens\":null,\"lifecycle\":\"active\",\"line\":null,\"deprecated_at\":null,"
        "\"retires_at\":null}");
    buf_reset(&out);
    anthropic_encode_models(&out, ms, 3, 1000, NULL, NULL);
    json_object *o = jparse(out.data, out.len);
    assert_non_null(o);
    assert_int_equal(json_object_array_length(jget(o, "data")), 3);
    assert_string_equal(jstr(o, "data.1.display_name"), "claude-haiku-4-5"); /* defaults to id */
    assert_string_equal(jstr(o, "data.1.created_at"), "1970-01-01T00:00:00Z");
    assert_false(json_object_get_boolean(jget(o, "has_more")));
    assert_string_equal(jstr(o, "first_id"), "claude-sonnet-4-5");
    assert_string_equal(jstr(o, "last_id"), "qwen3-coder");
    json_object_put(o);

    buf_reset(&out);
    anthropic_encode_models(&out, ms, 3, 1, NULL, NULL);
    o = jparse(out.data, out.len);
    assert_int_equal(json_object_array_length(jget(o, "data")), 1);
    assert_true(json_object_get_boolean(jget(o, "has_more")));
    assert_string_equal(jstr(o, "last_id"), "claude-sonnet-4-5");
    json_object_put(o);

    buf_reset(&out);
    anthropic_encode_models(&out, ms, 3, 1, "claude-sonnet-4-5", NULL);
    o = jparse(out.data, out.len);
    assert_string_equal(jstr(o, "first_id"), "claude-haiku-4-5");
    assert_true(json_object_get_boolean(jget(o, "has_more")));
    json_object_put(o);

    buf_reset(&out);
    anthropic_encode_models(&out, ms, 3, 20, NULL, "qwen3-coder");
    o = jparse(out.data, out.len);
    assert_int_equal(json_object_array_length(jget(o, "data")), 2);
    assert_false(json_object_get_boolean(jget(o, "has_more")));
    json_object_put(o);

    buf_reset(&out);
    anthropic_encode_models(&out, ms, 3, 20, "qwen3-coder", NULL);
    assert_string_equal(out.data,
                        "{\"data\":[],\"has_more\":false,\"first_id\":null,\"last_id\":null}");
    buf_free(&out);
}

static void message_id(void **state) {
    (void)state;
    char id[ANTHROPIC_ID_CAP];
    anthropic_new_message_id(id);
    assert_int_equal(strncmp(id, "msg_", 4), 0);
    assert_int_equal(strlen(id), 4 + 24);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_text_response),
        cmocka_unit_test(encode_thinking_and_tools),
        cmocka_unit_test(encode_tool_input_is_strict_json),
        cmocka_unit_test(stream_text_exact),
        cmocka_unit_test(stream_thinking_then_text),
        cmocka_unit_test(stream_text_then_two_tools),
        cmocka_unit_test(stream_tools_interleaved),
        cmocka_unit_test(stream_three_tools_interleaved),
        cmocka_unit_test(stream_tools_interleaved_then_text),
        cmocka_unit_test(stream_tool_args_unknown_index),
        cmocka_unit_test(stream_tool_buffer_overflow),
        cmocka_unit_test(stream_error_mid_stream),
        cmocka_unit_test(stream_empty_and_ping),
        cmocka_unit_test(models_pages),
        cmocka_unit_test(message_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
