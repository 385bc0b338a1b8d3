/* Instructions of the SSE decoder for a small chat: feeds a recorded 6-event stream in the
 * simulator's format (one envelope per event, then [DONE]) through sse_decoder N times.
 * Run under `valgrind --tool=callgrind bench/sse_decode 1000` and divide by N. Not a test. */
#include "upstream/sse_decoder.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_HEAD                                                                                 \
    "{\\\"id\\\":\\\"chatcmpl-5f2a9c1e7b3d4a60\\\",\\\"object\\\":\\\"chat.completion.chunk\\\","  \
    "\\\"created\\\":1764000000,\\\"model\\\":\\\"qwen3-coder\\\",\\\"choices\\\":[{"              \
    "\\\"index\\\":"                                                                               \
    "0,\\\"delta\\\":{"
#define ENV_HEAD  "data:{\"headers\":{},\"body\":\""
#define ENV_TAIL  "\",\"statusCodeValue\":200,\"statusCode\":\"OK\"}\n\n"
#define NO_FINISH "},\\\"finish_reason\\\":null}],\\\"usage\\\":null}"

static const char stream[] = ENV_HEAD CHUNK_HEAD
    "\\\"role\\\":\\\"assistant\\\",\\\"content\\\":\\\"Hello\\\"" NO_FINISH ENV_TAIL ENV_HEAD
        CHUNK_HEAD "\\\"content\\\":\\\", world\\\"" NO_FINISH ENV_TAIL ENV_HEAD CHUNK_HEAD
    "\\\"content\\\":\\\"! How can\\\"" NO_FINISH ENV_TAIL ENV_HEAD CHUNK_HEAD
    "\\\"content\\\":\\\" I help?\\\"" NO_FINISH ENV_TAIL ENV_HEAD CHUNK_HEAD
    "},\\\"finish_reason\\\":\\\"stop\\\"}],\\\"usage\\\":{\\\"prompt_tokens\\\":12,"
    "\\\"completion_tokens\\\":6,\\\"total_tokens\\\":18,\\\"prompt_tokens_details\\\":{"
    "\\\"cached_tokens\\\":0}}}" ENV_TAIL "data:[DONE]\n\n";

typedef struct tally {
    size_t events, text_bytes;
    int finished;
} tally;

static void on_event(const conv_event *ev, void *ud) {
    tally *t = ud;
    t->events++;
    if (ev->type == CONV_EV_TEXT_DELTA) t->text_bytes += ev->len;
    if (ev->type == CONV_EV_FINISH) t->finished++;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    if (argc > 2 && !strcmp(argv[2], "--print")) {
        fputs(stream, stdout);
        return 0;
    }
    tally t = {0};
    for (long i = 0; i < n; i++) {
        sse_decoder d;
        sse_decoder_init(&d, on_event, &t, 0);
        /* As the transport delivers it: roughly one read per event. */
        const char *p = stream;
        size_t left = sizeof stream - 1;
        while (left) {
            const char *nl = strstr(p, "\n\n");
            size_t k = nl ? (size_t)(nl - p) + 2 : left;
            sse_decoder_feed(&d, p, k);
            p += k, left -= k;
        }
        sse_decoder_finish(&d);
        sse_decoder_free(&d);
    }
    printf("%ld streams, %zu events, %zu text bytes, %d finished\n", n, t.events, t.text_bytes,
           t.finished);
    return t.finished == n && t.text_bytes == (size_t)n * 29 ? 0 : 1;
}
