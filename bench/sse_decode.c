/* Instructions of the SSE decoder per upstream event: feeds a stream in the simulator's format
 * (sim/stream.c: one envelope per event, the first delta with the role, the finish chunk with
 * usage, then [DONE]) through sse_decoder N times. Three streams: text (a small chat),
 * reasoning (thinking then text) and tool (a call whose arguments come in escaped fragments).
 * Run under `valgrind --tool=callgrind bench/sse_decode N KIND` and divide by N × events.
 * `--print` writes the stream instead. Not a test. */
#include "upstream/sse_decoder.h"
#include "util/json_write.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stream {
    buf text;
    size_t events;
    buf inner;
    int role_sent;
} stream;

static void open_chunk(stream *s) {
    buf_reset(&s->inner);
    buf_puts(&s->inner,
             "{\"id\":\"chatcmpl-5f2a9c1e7b3d4a60\",\"object\":\"chat.completion.chunk\","
             "\"created\":1764000000,\"model\":\"qwen3-coder\",\"choices\":[{\"index\":0,"
             "\"delta\":{");
    if (!s->role_sent++) buf_puts(&s->inner, "\"role\":\"assistant\",");
}

static void close_chunk(stream *s, const char *finish) {
    if (s->inner.data[s->inner.len - 1] == ',') s->inner.len--;
    buf_puts(&s->inner, "},\"finish_reason\":");
    if (finish) {
        json_put_str(&s->inner, finish);
        buf_puts(&s->inner,
                 "}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,"
                 "\"total_tokens\":18,\"prompt_tokens_details\":{\"cached_tokens\":0}}}");
    } else {
        buf_puts(&s->inner, "null}],\"usage\":null}");
    }
    buf_puts(&s->text, "data:{\"headers\":{},\"body\":");
    json_put_strn(&s->text, s->inner.data, s->inner.len);
    buf_puts(&s->text, ",\"statusCodeValue\":200,\"statusCode\":\"OK\"}\n\n");
    s->events++;
}

static void delta(stream *s, const char *key, const char *value) {
    open_chunk(s);
    json_put_key(&s->inner, key);
    json_put_str(&s->inner, value);
    close_chunk(s, NULL);
}

static void tool_args(stream *s, const char *args) {
    open_chunk(s);
    buf_puts(&s->inner, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
    json_put_str(&s->inner, args);
    buf_puts(&s->inner, "}}]");
    close_chunk(s, NULL);
}

static int build(stream *s, const char *kind) {
    if (!strcmp(kind, "text")) {
        delta(s, "content", "Hello");
        delta(s, "content", ", world");
        delta(s, "content", "! How can");
        delta(s, "content", " I help?");
    } else if (!strcmp(kind, "reasoning")) {
        delta(s, "reasoning_content", "The user greets");
        delta(s, "reasoning_content", " me; answer");
        delta(s, "reasoning_content", " briefly.");
        delta(s, "content", "Hello");
        delta(s, "content", "! How can I help?");
    } else if (!strcmp(kind, "tool")) {
        open_chunk(s);
        buf_puts(&s->inner, "\"tool_calls\":[{\"index\":0,\"id\":\"call_8f3b2a1c9d4e5f60718293a4\","
                            "\"type\":\"function\",\"function\":{\"name\":\"read_file\","
                            "\"arguments\":\"\"}}]");
        close_chunk(s, NULL);
        tool_args(s, "{\"path\":");
        tool_args(s, "\"src/main.c\",");
        tool_args(s, "\"limit\":200}");
    } else {
        return -1;
    }
    open_chunk(s);
    close_chunk(s, !strcmp(kind, "tool") ? "tool_calls" : "stop");
    buf_puts(&s->text, "data:[DONE]\n\n");
    s->events++;
    return 0;
}

typedef struct tally {
    size_t events, bytes;
    int finished;
} tally;

static void on_event(const conv_event *ev, void *ud) {
    tally *t = ud;
    t->events++;
    t->bytes += ev->len;
    if (ev->type == CONV_EV_FINISH) t->finished++;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *kind = argc > 2 ? argv[2] : "text";
    stream s = {BUF_INIT, 0, BUF_INIT, 0};
    if (build(&s, kind)) {
        fprintf(stderr, "usage: %s N text|reasoning|tool [--print]\n", argv[0]);
        return 2;
    }
    if (argc > 3 && !strcmp(argv[3], "--print")) {
        fputs(s.text.data, stdout);
        return 0;
    }
    tally t = {0};
    for (long i = 0; i < n; i++) {
        sse_decoder d;
        sse_decoder_init(&d, on_event, &t, 0);
        /* As the transport delivers it: one read per event. */
        const char *p = s.text.data;
        size_t left = s.text.len;
        while (left) {
            const char *nl = strstr(p, "\n\n");
            size_t k = nl ? (size_t)(nl - p) + 2 : left;
            sse_decoder_feed(&d, p, k);
            p += k, left -= k;
        }
        sse_decoder_finish(&d);
        sse_decoder_free(&d);
    }
    printf("%ld %s streams of %zu upstream events: %zu conv events, %zu payload bytes, %d "
           "finished\n",
           n, kind, s.events, t.events, t.bytes, t.finished);
    buf_free(&s.text);
    buf_free(&s.inner);
    return t.finished == n ? 0 : 1;
}
