/* Differential fuzzer of the SSE decoder's envelope fast path against json-c: whenever the fast
 * path accepts a line, json-c must parse the same line to an object with the same body bytes and
 * the same statusCodeValue. Not a test; built by hand (it includes the decoder's source):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc bench/sse_envelope_diff.c \
 *       build-pf1/liblgw_core.a $(pkg-config --libs json-c) -lcrypto -o /tmp/sse_envelope_diff
 *   /tmp/sse_envelope_diff -max_total_time=60 CORPUS_DIR  (seed it with envelope lines) */
#include "upstream/sse_decoder.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sse_decoder d;
    static bool ready;
    if (!ready) {
        sse_decoder_init(&d, NULL, NULL, 0);
        ready = true;
    }
    const char *s = (const char *)data;
    int64_t fast_status;
    if (!fast_envelope(&d, s, size, &fast_status)) return 0;
    json_object *o = parse_json(&d, s, size);
    if (!json_object_is_type(o, json_type_object)) abort(); /* accepted what json-c rejects */
    size_t n = 0;
    const char *body = get_str(o, "body", &n);
    if (!body || n != d.body.len || memcmp(body, d.body.data, n)) abort();
    int64_t status = 200;
    get_int(o, "statusCodeValue", &status);
    if (status != fast_status) abort();
    json_object_put(o);
    return 0;
}
