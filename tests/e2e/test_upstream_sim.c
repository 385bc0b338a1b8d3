/* The upstream client (lingma_remote + lingma_body) against lingma-sim: every scripted behaviour
 * of the sim, checked as neutral events and error classes. */
#include "upstream_sim_harness.h"

/* ---- text, chunks, framing variants ---- */

static void test_text_stream(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    char sid[40];
    snprintf(sid, sizeof sid, "e2e-text-");
    ids_hex(sid + strlen(sid), 8);
    start_chat(f, &r, "u-e2e", "Say hello world\n@sim chunks=3", "kmodel", sid);
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    r.seq[r.n_seq] = '\0';
    assert_string_equal(r.seq, "TTTF");
    assert_string_equal(r.text.data, "echo: Say hello world");
    assert_int_equal(r.stop, CONV_STOP_END_TURN);
    assert_true(r.usage.known);
    assert_true(r.usage.input_tokens > 0);
    assert_int_equal(r.usage.output_tokens, (int64_t)strlen("echo: Say hello world") / 4);
    assert_int_equal(r.thinking.len, 0);
    /* the sim verified the signature and saw our body */
    json_object *root, *lr = sim_record(f, "session_id", sid, &root);
    assert_non_null(lr);
    assert_true(json_object_get_boolean(field(lr, "verified")));
    assert_string_equal(json_object_get_string(field(lr, "model")), "kmodel");
    assert_string_equal(json_object_get_string(field(lr, "account")), "u-e2e");
    assert_int_equal(json_object_get_int(field(lr, "status")), 200);
    assert_int_equal(r.usage.input_tokens, json_object_get_int64(field(lr, "prompt_tokens")));
    assert_int_equal(r.usage.output_tokens, json_object_get_int64(field(lr, "completion_tokens")));
    json_object_put(root);
    rec_free(&r);
}

static void test_default_chunks_and_usage(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "count the bytes\n@sim delay_ms=5");
    assert_string_equal(r.seq, "TTTTF");
    assert_string_equal(r.text.data, "echo: count the bytes");
    assert_true(r.usage.known);
    assert_int_equal(r.usage.output_tokens, 21 / 4);
    assert_int_equal(r.usage.cached_tokens, 0);
    rec_free(&r);
}

static void test_reply_chunk_size_utf8(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim reply=\"héllo wörld ✓\" chunk_size=2");
    assert_string_equal(r.text.data, "héllo wörld ✓");
    assert_true(r.n_seq >= 8); /* many small deltas, still one text */
    rec_free(&r);
}

static void test_reasoning(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "think first\n@sim reasoning=\"step one, then step two\" chunks=2");
    assert_string_equal(r.seq, "RRTTF");
    assert_string_equal(r.thinking.data, "step one, then step two");
    assert_string_equal(r.text.data, "echo: think first");
    rec_free(&r);
}

static void test_tool_call_fragments(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    /* args last: the sim keeps the blank after a JSON value in the arguments (see the report) */
    chat(f, &r,
         "read it\n@sim tool=read_file arg_chunk=7 args={\"path\":\"src/main.c\",\"limit\":100}");
    assert_int_equal(r.n_calls, 1);
    assert_string_equal(r.calls[0].name, "read_file");
    assert_true(strlen(r.calls[0].id) > 0);
    assert_string_equal(r.calls[0].args.data, "{\"path\":\"src/main.c\",\"limit\":100}");
    assert_true(r.calls[0].n_arg_events >= 4); /* 33 bytes in 7-byte fragments */
    assert_int_equal(r.text.len, 0);
    assert_int_equal(r.seq[0], 'S');
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_int_equal(r.stop, CONV_STOP_TOOL_USE);
    rec_free(&r);
}

static void test_two_tool_calls_with_text(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r,
         "@sim reply=\"Looking.\" tool=ls args={\"dir\":\".\"} tool2=cat args2={\"file\":\"a\"}");
    assert_string_equal(r.text.data, "Looking.");
    assert_int_equal(r.n_calls, 2);
    assert_string_equal(r.calls[0].name, "ls");
    assert_string_equal(r.calls[1].name, "cat");
    assert_string_not_equal(r.calls[0].id, r.calls[1].id);
    assert_json_equal(r.calls[0].args.data, "{\"dir\":\".\"}");
    assert_json_equal(r.calls[1].args.data, "{\"file\":\"a\"}");
    assert_true(r.calls[0].n_arg_events > 1 && r.calls[1].n_arg_events > 1);
    assert_int_equal(r.stop, CONV_STOP_TOOL_USE);
    rec_free(&r);
}

static void test_usage_off(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "no usage\n@sim usage=off");
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_false(r.usage.known);
    rec_free(&r);
}

static void test_finish_length(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "long\n@sim finish=length");
    assert_string_equal(r.text.data, "echo: long");
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_int_equal(r.stop, CONV_STOP_MAX_TOKENS);
    rec_free(&r);
}

static void test_framing_variants(void **state) {
    fx *f = *state;
    /* each still finishes normally with the whole text */
    static const char *const variants[] = {
        "v\n@sim no_done=1",            /* finish_reason without [DONE] */
        "v\n@sim done=envelope",        /* [DONE] inside an envelope */
        "v\n@sim keepalive=1",          /* comment lines between events */
        "v\n@sim space=1",              /* "data: " */
        "v\n@sim error_after_finish=1", /* error envelope after the finish: ignored */
        "v\n@sim keepalive=1 space=1 done=envelope delay_ms=2",
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        rec r;
        rec_init(&r);
        chat(f, &r, variants[i]);
        if (strcmp(r.seq, "TTTTF") != 0) /* "echo: v" in 4 pieces */
            fail_msg("%s: events %s (%s)", variants[i], r.seq, r.msg);
        assert_string_equal(r.text.data, "echo: v");
        assert_int_equal(r.stop, CONV_STOP_END_TURN);
        assert_true(r.usage.known);
        rec_free(&r);
    }
}

static void test_long_line(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim long_line=100000");
    assert_string_equal(r.seq, "TF");
    assert_int_equal(r.text.len, 100000);
    for (size_t i = 0; i < r.text.len; i++)
        if (r.text.data[i] != (char)('a' + i % 26)) fail_msg("byte %zu differs", i);
    rec_free(&r);
}

/* ---- error classes ---- */

static void test_http_errors(void **state) {
    fx *f = *state;
    assert_error(f, "@sim error=401", CONV_ERR_AUTH);
    assert_error(f, "@sim error=403", CONV_ERR_AUTH);
    assert_error(f, "@sim error=login", CONV_ERR_AUTH);
    assert_error(f, "@sim error=429", CONV_ERR_RATE_LIMIT);
    assert_error(f, "@sim error=500", CONV_ERR_TRANSIENT);
    assert_error(f, "@sim error=503", CONV_ERR_TRANSIENT);
}

static void test_http_error_details(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim error=429");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.status, 429);
    assert_string_equal(r.code, "429");
    rec_free(&r);
}

static void test_envelope_errors(void **state) {
    fx *f = *state;
    assert_error(f, "@sim error=env403_105", CONV_ERR_AUTH);
    assert_error(f, "@sim error=env403_110", CONV_ERR_QUOTA);
    assert_error(f, "@sim error=env403_112", CONV_ERR_QUOTA);
    assert_error(f, "@sim error=env429_10605", CONV_ERR_RATE_LIMIT);
    assert_error(f, "@sim error=env500", CONV_ERR_TRANSIENT);
    assert_error(f, "@sim error=env400", CONV_ERR_REQUEST_FATAL);
}

static void test_envelope_error_details(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim error=env403_105");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.status, 403);
    assert_string_equal(r.code, "105");
    rec_free(&r);
}

static void test_truncated_streams(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "cut\n@sim truncate=1");
    assert_string_equal(r.seq, "TTTE"); /* 9 bytes in 4 pieces of 3, then the failure */
    assert_string_equal(r.text.data, "echo: cut");
    assert_int_equal(r.err, CONV_ERR_TRANSIENT);
    rec_free(&r);
}

static void test_unknown_model_is_request_fatal(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    start_chat(f, &r, "u-e2e", "hi", "no_such_model", "");
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    assert_int_equal(r.err, CONV_ERR_REQUEST_FATAL);
    assert_string_equal(r.code, "INVALID_REQUEST");
    rec_free(&r);
}

static void test_stall_timeout(void **state) {
    fx *f = *state;
    lingma_remote *fast = remote_new(f, g_sim.base_url, 3000, 300);
    lingma_remote *keep = f->remote;
    f->remote = fast;
    rec r;
    rec_init(&r);
    uint64_t t0 = uv_hrtime();
    chat(f, &r, "slow\n@sim stall_ms=3000");
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    assert_int_equal(r.err, CONV_ERR_TIMEOUT);
    assert_int_equal(r.seq[0], 'T'); /* it stalled after the first event */
    assert_int_equal(r.seq[r.n_seq - 1], 'E');
    assert_true(ms >= 250 && ms < 2000);
    rec_free(&r);
    /* a stall shorter than the timeout is fine */
    rec_init(&r);
    chat(f, &r, "slow\n@sim stall_ms=100");
    assert_string_equal(r.seq, "TTTTF");
    rec_free(&r);
    /* a slow first byte is a timeout too */
    lingma_remote_free(fast, on_freed, f);
    fast = f->remote = remote_new(f, g_sim.base_url, 300, 3000);
    rec_init(&r);
    chat(f, &r, "slow\n@sim first_byte_delay_ms=3000");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.err, CONV_ERR_TIMEOUT);
    rec_free(&r);
    f->remote = keep;
    lingma_remote_free(fast, on_freed, f);
    RUN_UNTIL(f, f->freed == 2, 2000);
    f->freed = 0;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_text_stream),
        CASE(test_default_chunks_and_usage),
        CASE(test_reply_chunk_size_utf8),
        CASE(test_reasoning),
        CASE(test_tool_call_fragments),
        CASE(test_two_tool_calls_with_text),
        CASE(test_usage_off),
        CASE(test_finish_length),
        CASE(test_framing_variants),
        CASE(test_long_line),
        CASE(test_http_errors),
        CASE(test_http_error_details),
        CASE(test_envelope_errors),
        CASE(test_envelope_error_details),
        CASE(test_truncated_streams),
        CASE(test_unknown_model_is_request_fatal),
        CASE(test_stall_timeout),
    };
    int failed = cmocka_run_group_tests(tests, sim_start, sim_stop);
    return failed;
}
