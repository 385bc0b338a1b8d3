/* The decoder against fixture streams (tests/data/sse/NAME.sse → NAME.events). Each stream is
 * fed whole, split at every byte offset, and byte by byte; all must give the expected events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include "upstream/sse_decoder.h"
#include "util/json_write.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct recorder {
    buf out;
    int terminal; /* FINISH/ERROR events seen */
    bool after_terminal;
} recorder;

static const char *stop_name(conv_stop_reason s) {
    switch (s) {
    case CONV_STOP_END_TURN: return "end_turn";
    case CONV_STOP_MAX_TOKENS: return "max_tokens";
    case CONV_STOP_TOOL_USE: return "tool_use";
    case CONV_STOP_STOP_SEQUENCE: return "stop_sequence";
    }
    return "?";
}

/* Generated ids are random: print them as <gen>. */
static const char *id_repr(const char *id) {
    if (id && strlen(id) == 29 && !strncmp(id, "call_", 5) &&
        strspn(id + 5, "0123456789abcdef") == 24)
        return "<gen>";
    return id ? id : "-";
}

static void on_event(const conv_event *ev, void *ud) {
    recorder *r = ud;
    if (r->terminal) r->after_terminal = true;
    switch (ev->type) {
    case CONV_EV_TEXT_DELTA:
    case CONV_EV_THINKING_DELTA:
        buf_puts(&r->out, ev->type == CONV_EV_TEXT_DELTA ? "text " : "thinking ");
        json_put_strn(&r->out, ev->text, ev->len);
        break;
    case CONV_EV_TOOL_CALL_START:
        buf_printf(&r->out, "tool_start %d %s ", ev->index, id_repr(ev->id));
        json_put_str(&r->out, ev->name);
        break;
    case CONV_EV_TOOL_CALL_ARGS:
        buf_printf(&r->out, "tool_args %d ", ev->index);
        json_put_strn(&r->out, ev->text, ev->len);
        break;
    case CONV_EV_FINISH:
        r->terminal++;
        buf_printf(&r->out, "finish %s ", stop_name(ev->stop));
        if (ev->usage.known)
            buf_printf(&r->out, "usage=%lld/%lld/%lld", (long long)ev->usage.input_tokens,
                       (long long)ev->usage.output_tokens, (long long)ev->usage.cached_tokens);
        else
            buf_puts(&r->out, "usage=none");
        break;
    case CONV_EV_ERROR:
        r->terminal++;
        buf_printf(&r->out, "error %s status=%d code=%s ", conv_error_class_name(ev->err_class),
                   ev->status, ev->err_code ? ev->err_code : "-");
        json_put_strn(&r->out, ev->text, ev->len);
        break;
    }
    buf_putc(&r->out, '\n');
}

/* Feeds data cut at the given offsets (ascending) and returns the transcript (heap). */
static char *run(const char *data, size_t len, size_t max_line, const size_t *cuts, size_t ncuts) {
    recorder r = {BUF_INIT, 0, false};
    sse_decoder d;
    sse_decoder_init(&d, on_event, &r, max_line);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        sse_decoder_feed(&d, data + at, end - at);
        at = end;
    }
    sse_decoder_finish(&d);
    sse_decoder_finish(&d);                    /* idempotent */
    sse_decoder_feed(&d, "data:[DONE]\n", 12); /* ignored after the end */
    assert_true(sse_decoder_done(&d));
    sse_decoder_free(&d);
    assert_int_equal(r.terminal, 1);
    assert_false(r.after_terminal);
    return buf_detach(&r.out, NULL);
}

static char *slurp(const char *name, const char *ext, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/sse/%s.%s", TEST_DATA_DIR, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    buf b = BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return buf_detach(&b, len);
}

typedef struct fixture {
    const char *name;
    size_t max_line;
} fixture;

static const fixture FIXTURES[] = {
    {"text", 0},
    {"tool_calls", 0},
    {"tool_no_id", 0},
    {"reasoning", 0},
    {"truncated", 0},
    {"crlf", 0},
    {"cr_only", 0},
    {"err_105", 0},
    {"err_110", 0},
    {"err_112", 0},
    {"err_10605", 0},
    {"err_500", 0},
    {"err_inner", 0},
    {"err_inner_string", 0},
    {"err_after_finish", 0},
    {"bare_chunks", 0},
    {"html_login", 0},
    {"overlong", 256},
    {"overlong_after_finish", 256},
    {"json_error_body", 0},
    {"empty", 0},
    {"fast_and_fallback", 0},
    {"dangling_surrogate", 0},
};

static void test_fixtures(void **state) {
    (void)state;
    for (size_t f = 0; f < sizeof FIXTURES / sizeof *FIXTURES; f++) {
        const fixture *fx = &FIXTURES[f];
        size_t len, elen;
        char *data = slurp(fx->name, "sse", &len);
        char *want = slurp(fx->name, "events", &elen);
        char *whole = run(data, len, fx->max_line, NULL, 0);
        if (strcmp(whole, want)) fail_msg("%s: got\n%s\nwant\n%s", fx->name, whole, want);
        for (size_t cut = 0; cut <= len; cut++) {
            char *got = run(data, len, fx->max_line, &cut, 1);
            if (strcmp(got, want)) fail_msg("%s split at %zu: got\n%s", fx->name, cut, got);
            free(got);
        }
        size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
        for (size_t i = 0; i < len; i++)
            cuts[i] = i;
        char *bytes = run(data, len, fx->max_line, cuts, len);
        if (strcmp(bytes, want)) fail_msg("%s byte by byte: got\n%s", fx->name, bytes);
        free(cuts);
        free(bytes);
        free(whole);
        free(want);
        free(data);
    }
}

static void test_emitted_flag(void **state) {
    (void)state;
    recorder r = {BUF_INIT, 0, false};
    sse_decoder d;
    sse_decoder_init(&d, on_event, &r, 0);
    const char *keepalive = ": ping\n\ndata:{\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n";
    sse_decoder_feed(&d, keepalive, strlen(keepalive));
    assert_false(sse_decoder_emitted(&d));
    const char *text = "data:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
    sse_decoder_feed(&d, text, strlen(text));
    assert_true(sse_decoder_emitted(&d));
    assert_false(sse_decoder_done(&d));
    sse_decoder_free(&d);
    buf_free(&r.out);
}

static void test_html_content_type(void **state) {
    (void)state;
    recorder r = {BUF_INIT, 0, false};
    sse_decoder d;
    sse_decoder_init(&d, on_event, &r, 0);
    sse_decoder_set_content_type(&d, "text/html; charset=utf-8");
    sse_decoder_feed(&d, "please sign in", 14);
    sse_decoder_finish(&d);
    assert_non_null(strstr(r.out.data, "error auth"));
    sse_decoder_free(&d);
    buf_free(&r.out);
}

/* A line one byte under the limit passes; the limit bounds the buffer. */
static void test_line_limit_boundary(void **state) {
    (void)state;
    const char *pre = "data:{\"choices\":[{\"delta\":{\"content\":\"";
    const char *post = "\"},\"finish_reason\":\"stop\"}]}";
    buf line = BUF_INIT;
    buf_puts(&line, pre);
    for (int i = 0; i < 100; i++)
        buf_putc(&line, 'y');
    buf_puts(&line, post);
    size_t n = line.len;
    buf_putc(&line, '\n');
    char *ok = run(line.data, line.len, n, NULL, 0);
    assert_non_null(strstr(ok, "finish end_turn"));
    char *bad = run(line.data, line.len, n - 1, NULL, 0);
    assert_non_null(strstr(bad, "error transient"));
    free(ok);
    free(bad);
    buf_free(&line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_emitted_flag),
        cmocka_unit_test(test_html_content_type),
        cmocka_unit_test(test_line_limit_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
