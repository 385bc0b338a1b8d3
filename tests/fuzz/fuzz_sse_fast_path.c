/* Differential libFuzzer target: the SSE decoder with its fast path (sse_fast.c) against the
 * same decoder reading every line with json-c only. Both must emit identical events, byte for
 * byte, over a whole stream (tool-call state carries across lines). Also: whatever envelope or
 * chunk the fast path accepts, json-c must accept too, with the same body and status.
 *
 * Input: a mode byte, then lines split at LF. Mode bit 0 set: each line is an inner chunk that
 * is wrapped in a success envelope here (so mutations reach the chunk's JSON directly); clear:
 * each line is a data payload as sent. Bit 1 leaves statusCodeValue out of the wrapper.
 * The decoder's source is included for its internal steps (on_data, on_payload_json). */
#include "upstream/sse_decoder.c"

#include "util/json_write.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(const conv_event *ev, void *ud) {
    buf *out = ud;
    buf_printf(out, "%d|%d|%d|%d|%d|%d|%lld/%lld/%lld/%d|", (int)ev->type, ev->index, (int)ev->stop,
               (int)ev->err_class, ev->status, (int)ev->usage.known,
               (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens,
               (long long)ev->usage.cached_tokens, ev->stop_sequence != NULL);
    if (ev->text) buf_append(out, ev->text, ev->len);
    buf_putc(out, '|');
    /* A generated id is random: only its presence can match. */
    const char *id = ev->id;
    if (id && strlen(id) == 29 && !strncmp(id, "call_", 5)) id = "<gen-shaped>";
    buf_puts(out, id ? id : "-");
    buf_printf(out, "|%s|%s\n", ev->name ? ev->name : "-", ev->err_code ? ev->err_code : "-");
}

static void differ(const char *what, const char *fast, size_t fast_len, const char *ref,
                   size_t ref_len) {
    fprintf(stderr, "%s differ\nfast path: %.*s\njson-c:    %.*s\n", what, (int)fast_len,
            fast ? fast : "", (int)ref_len, ref ? ref : "");
    abort();
}

/* JSON string escaping that keeps bytes >= 0x80 raw (json_put_strn would repair them). */
static void put_raw_string(buf *b, const char *s, size_t n) {
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            buf_putc(b, '\\'), buf_putc(b, (char)c);
        else if (c < 0x20)
            buf_printf(b, "\\u%04x", c);
        else
            buf_putc(b, (char)c);
    }
    buf_putc(b, '"');
}

/* The json-c-only reading of a data line: on_data without the fast path. */
static void on_data_reference(sse_decoder *d, const char *s, size_t n) {
    trim(&s, &n);
    if (!n) return;
    if (is_done(s, n))
        complete(d);
    else
        on_payload_json(d, s, n);
}

/* What the fast readers accept, json-c must read the same way. */
static void check_readers(sse_decoder *ref, const char *s, size_t n) {
    static buf body;
    int64_t fast_status;
    trim(&s, &n);
    if (!sse_fast_envelope(s, n, &body, &fast_status)) return;
    json_object *o = parse_json(ref, s, n);
    if (!json_object_is_type(o, json_type_object)) abort(); /* accepted what json-c rejects */
    size_t len = 0;
    const char *text = get_str(o, "body", &len);
    if (!text || len != body.len || memcmp(text, body.data, len))
        differ("envelope body", body.data, body.len, text ? text : "-", text ? len : 1);
    int64_t status = 200;
    get_int(o, "statusCodeValue", &status);
    if (status != fast_status) abort();
    json_object_put(o);

    sse_fast_chunk c;
    char *copy = xstrndup(body.data, body.len);
    if (sse_fast_chunk_read(&c, copy, body.len)) {
        json_object *inner = parse_json(ref, body.data, body.len);
        if (!json_object_is_type(inner, json_type_object) || is_error_object(inner)) abort();
        json_object_put(inner);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    unsigned mode = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    buf fast_out = BUF_INIT, ref_out = BUF_INIT, line = BUF_INIT;
    sse_decoder fast, ref;
    sse_decoder_init(&fast, on_event, &fast_out, 0);
    sse_decoder_init(&ref, on_event, &ref_out, 0);
    fast.any_data = ref.any_data = true;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        buf_reset(&line);
        if (mode & 1) {
            buf_puts(&line, "{\"headers\":{},\"body\":");
            put_raw_string(&line, p, (size_t)(stop - p));
            buf_puts(&line, mode & 2 ? "}" : ",\"statusCodeValue\":200,\"statusCode\":\"OK\"}");
        } else {
            buf_append(&line, p, (size_t)(stop - p));
        }
        check_readers(&ref, line.data, line.len);
        if (fast.state == SSE_DEC_RUNNING) on_data(&fast, line.data, line.len);
        if (ref.state == SSE_DEC_RUNNING) on_data_reference(&ref, line.data, line.len);
        p = stop + 1;
    }
    sse_decoder_finish(&fast);
    sse_decoder_finish(&ref);
    if (fast_out.len != ref_out.len || memcmp(fast_out.data, ref_out.data, fast_out.len))
        differ("events", fast_out.data, fast_out.len, ref_out.data, ref_out.len);
    sse_decoder_free(&fast);
    sse_decoder_free(&ref);
    buf_free(&fast_out);
    buf_free(&ref_out);
    buf_free(&line);
    return 0;
}
