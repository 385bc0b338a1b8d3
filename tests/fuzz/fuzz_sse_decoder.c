/* libFuzzer target: the Lingma SSE decoder on arbitrary bytes fed in two pieces. Checks the
 * decoder's contract: exactly one terminal event, nothing after it, every payload readable. */
#include "upstream/sse_decoder.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_state {
    int terminal;
    unsigned sum; /* reads every payload byte so ASan sees each one */
} fuzz_state;

static void touch(fuzz_state *s, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        s->sum += (unsigned char)p[i];
}

static void on_event(const conv_event *ev, void *ud) {
    fuzz_state *s = ud;
    if (s->terminal) abort(); /* an event after FINISH/ERROR */
    if (ev->text) touch(s, ev->text, ev->len);
    if (ev->id) touch(s, ev->id, strlen(ev->id));
    if (ev->name) touch(s, ev->name, strlen(ev->name));
    if (ev->err_code) touch(s, ev->err_code, strlen(ev->err_code));
    if (ev->type == CONV_EV_FINISH || ev->type == CONV_EV_ERROR) s->terminal++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_state st = {0, 0};
    sse_decoder d;
    /* A small line limit so the overlong-line path is reachable. */
    sse_decoder_init(&d, on_event, &st, 1024);
    size_t cut = size ? ((size_t)data[0] * 2654435761u + size) % (size + 1) : 0;
    sse_decoder_feed(&d, (const char *)data, cut);
    sse_decoder_feed(&d, (const char *)data + cut, size - cut);
    sse_decoder_finish(&d);
    if (st.terminal != 1) abort();
    sse_decoder_free(&d);
    return 0;
}
