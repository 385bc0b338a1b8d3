/* Anthropic Messages codec, the response side (client-wire.md §1.4–§1.8): messages, named-event
 * SSE, models. JSON is written straight into a buf in the field order of the recordings. */
#include "front/anthropic_codec.h"
#include "front/errors.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <string.h>
#include <time.h>

static const char *stop_reason_name(conv_stop_reason stop, bool had_tools) {
    switch (stop) {
    case CONV_STOP_MAX_TOKENS: return "max_tokens";
    case CONV_STOP_TOOL_USE: return "tool_use";
    case CONV_STOP_STOP_SEQUENCE: return "stop_sequence";
    case CONV_STOP_END_TURN: break;
    }
    /* Clients run tools on stop_reason "tool_use"; an upstream may say end_turn with calls. */
    return had_tools ? "tool_use" : "end_turn";
}

/* The client's tool ids must look like Anthropic's: keep toolu_ ids, replace the others. */
static void put_tool_id(buf *out, const char *upstream_id) {
    if (upstream_id && strncmp(upstream_id, "toolu_", 6) == 0) {
        json_put_str(out, upstream_id);
        return;
    }
    char id[40];
    ids_prefixed(id, sizeof id, "toolu_", 24);
    json_put_str(out, id);
}

/* usage{input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens}.
 * conv_usage.input_tokens is the whole prompt; Anthropic's input_tokens excludes cache reads
 * (total input = input + cache_creation + cache_read, §1.4, §2.8). */
static void put_usage(buf *out, int64_t input_total, int64_t cached, int64_t output) {
    int64_t in = input_total - cached;
    buf_puts(out, "\"usage\":{\"input_tokens\":");
    buf_put_i64(out, in > 0 ? in : 0);
    buf_puts(out, ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":");
    buf_put_i64(out, cached);
    buf_puts(out, ",\"output_tokens\":");
    buf_put_i64(out, output);
    buf_putc(out, '}');
}

/* The end-of-message usage: the upstream's when it reported one, else the estimates (input from
 * the request, output counted in quarter tokens from the deltas). */
static void put_final_usage(buf *out, const conv_usage *u, int64_t input_estimate,
                            int64_t out_quarters) {
    if (u->known)
        put_usage(out, u->input_tokens, u->cached_tokens, u->output_tokens);
    else
        put_usage(out, input_estimate, 0, (out_quarters + 3) / 4);
}

/* "stop_reason":…,"stop_sequence":…,"stop_details":null — the same in a message and in the
 * stream's message_delta. */
static void put_stop(buf *out, conv_stop_reason stop, bool had_tools, const char *sequence) {
    buf_puts(out, "\"stop_reason\":\"");
    buf_puts(out, stop_reason_name(stop, had_tools));
    buf_puts(out, "\",\"stop_sequence\":");
    json_put_str(out, stop == CONV_STOP_STOP_SEQUENCE ? sequence : NULL);
    buf_puts(out, ",\"stop_details\":null");
}

static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Length of the valid UTF-8 sequence at p (≤ n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/* True when text codec_read_json took is also strict JSON with valid UTF-8: json-c lets raw
 * control characters inside strings, single-quoted strings and invalid UTF-8 through. */
static bool json_text_clean(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            if (!k) return false;
            i += k - 1;
        } else if (!in_str) {
            if (c == '"')
                in_str = true;
            else if (c == '\'')
                return false;
        } else if (c == '\\') {
            i++; /* the escaped character (ASCII in a parsed text) */
        } else if (c == '"') {
            in_str = false;
        } else if (c < 0x20) {
            return false;
        }
    }
    return true;
}

/* tool_use.input must be an object: the arguments if they parse as one, {} when empty,
 * else {"raw_arguments": "<text>"} so nothing is lost. */
static void put_tool_input(buf *out, const char *args, size_t len) {
    while (len && is_json_space(*args))
        args++, len--;
    while (len && is_json_space(args[len - 1]))
        len--;
    if (!len) {
        buf_puts(out, "{}");
        return;
    }
    const char *why;
    json_tape t = JSON_TAPE_INIT;
    const jt_node *v = codec_read_json(args, len, &t, &why);
    if (jt_is(v, JT_OBJECT)) {
        if (json_text_clean(args, len))
            buf_append(out, args, len); /* already strict JSON: forwarded byte for byte */
        else
            jt_put_json(out, v);
    } else {
        buf_puts(out, "{\"raw_arguments\":");
        json_put_strn(out, args, len);
        buf_putc(out, '}');
    }
    json_tape_free(&t);
}

void anthropic_encode_response(buf *out, const conv_response *r, const anthropic_meta *m) {
    buf_puts(out, "{\"id\":");
    json_put_str(out, m->id);
    buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    json_put_str(out, m->model);
    buf_puts(out, ",\"content\":[");
    bool first = true, had_tools = false;
    int64_t out_q = 0;
    if (r->thinking_len) {
        buf_puts(out, "{\"type\":\"thinking\",\"thinking\":");
        json_put_strn(out, r->thinking, r->thinking_len);
        buf_puts(out, ",\"signature\":\"\"}");
        out_q += codec_token_quarters(r->thinking, r->thinking_len);
        first = false;
    }
    if (r->text_len) {
        buf_puts(out, first ? "{\"type\":\"text\",\"text\":" : ",{\"type\":\"text\",\"text\":");
        json_put_strn(out, r->text, r->text_len);
        buf_putc(out, '}');
        out_q += codec_token_quarters(r->text, r->text_len);
        first = false;
    }
    for (size_t i = 0; i < r->n_calls; i++) {
        const conv_tool_call_out *c = &r->calls[i];
        if (!c->name && !c->args) continue; /* index gap */
        buf_puts(out, first ? "{\"type\":\"tool_use\",\"id\":" : ",{\"type\":\"tool_use\",\"id\":");
        put_tool_id(out, c->id);
        buf_puts(out, ",\"name\":");
        json_put_str(out, c->name ? c->name : "");
        buf_puts(out, ",\"input\":");
        put_tool_input(out, c->args ? c->args : "", c->args_len);
        buf_putc(out, '}');
        out_q += codec_token_quarters(c->args, c->args_len);
        first = false;
        had_tools = true;
    }
    if (first) buf_puts(out, "{\"type\":\"text\",\"text\":\"\"}"); /* never an empty content[] */
    buf_puts(out, "],");
    put_stop(out, r->stop, had_tools, r->stop_sequence);
    buf_putc(out, ',');
    put_final_usage(out, &r->usage, m->input_tokens_estimate, out_q);
    buf_putc(out, '}');
}

/* ---- streaming ---- */

void anthropic_stream_init(anthropic_stream *s, const anthropic_meta *m) {
    memset(s, 0, sizeof *s);
    s->id = xstrdup(m->id ? m->id : "");
    s->model = xstrdup(m->model ? m->model : "");
    s->request_id = m->request_id ? xstrdup(m->request_id) : NULL;
    s->input_estimate = m->input_tokens_estimate;
    s->tool_buffer_max = ANTHROPIC_STREAM_TOOL_BUFFER_MAX;
}

static void pending_free(anthropic_pending_tool *p) {
    free(p->id);
    free(p->name);
    buf_free(&p->args);
}

void anthropic_stream_free(anthropic_stream *s) {
    free(s->id);
    free(s->model);
    free(s->request_id);
    free(s->closed_tool_keys);
    for (size_t i = 0; i < s->n_pending; i++)
        pending_free(&s->pending[i]);
    free(s->pending);
    memset(s, 0, sizeof *s);
}

/* Every frame is named and the name equals data.type (§1.5). */
static void frame_begin(buf *out, const char *type) {
    buf_puts(out, "event: ");
    buf_puts(out, type);
    buf_puts(out, "\ndata: {\"type\":\"");
    buf_puts(out, type);
    buf_putc(out, '"');
}

static void frame_end(buf *out) { buf_puts(out, "}\n\n"); }

void anthropic_stream_ping(buf *out) {
    buf_puts(out, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
}

static void ensure_started(anthropic_stream *s, buf *out) {
    if (s->started) return;
    s->started = true;
    frame_begin(out, "message_start");
    buf_puts(out, ",\"message\":{\"id\":");
    json_put_str(out, s->id);
    buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    json_put_str(out, s->model);
    buf_puts(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                  "\"stop_details\":null,");
    /* usage must be present (the TS MessageStream writes into it); output_tokens 1 as in the
     * documented examples, overwritten by message_delta. */
    put_usage(out, s->input_estimate, 0, 1);
    buf_putc(out, '}');
    frame_end(out);
}

static void delta_begin(buf *out, int index, const char *delta_type) {
    frame_begin(out, "content_block_delta");
    buf_puts(out, ",\"index\":");
    buf_put_i64(out, index);
    buf_puts(out, ",\"delta\":{\"type\":\"");
    buf_puts(out, delta_type);
    buf_puts(out, "\",");
}

static void close_block(anthropic_stream *s, buf *out) {
    if (s->open == ANTHROPIC_BLOCK_NONE) return;
    if (s->open == ANTHROPIC_BLOCK_THINKING) {
        /* The real API sends one signature_delta right before a thinking block stops. We have
         * no signature to give; the empty one round-trips (the decoder drops signatures). */
        delta_begin(out, s->open_index, "signature_delta");
        buf_puts(out, "\"signature\":\"\"}");
        frame_end(out);
    }
    if (s->open == ANTHROPIC_BLOCK_TOOL_USE) {
        if (s->n_closed == s->closed_cap) {
            s->closed_cap = s->closed_cap ? s->closed_cap * 2 : 4;
            s->closed_tool_keys = xrealloc(s->closed_tool_keys, s->closed_cap * sizeof(int));
        }
        s->closed_tool_keys[s->n_closed++] = s->open_tool_key;
    }
    frame_begin(out, "content_block_stop");
    buf_puts(out, ",\"index\":");
    buf_put_i64(out, s->open_index);
    frame_end(out);
    s->open = ANTHROPIC_BLOCK_NONE;
}

/* Closes the open block and starts a new one; the caller writes the content_block body
 * (after `"content_block":{"type":"<kind>"`) and closes it with "}". */
static void open_block(anthropic_stream *s, buf *out, anthropic_block_kind kind) {
    static const char *const names[] = {"", "text", "thinking", "tool_use"};
    close_block(s, out);
    s->open = kind;
    s->open_index = s->next_index++;
    frame_begin(out, "content_block_start");
    buf_puts(out, ",\"index\":");
    buf_put_i64(out, s->open_index);
    buf_puts(out, ",\"content_block\":{\"type\":\"");
    buf_puts(out, names[kind]);
    buf_putc(out, '"');
}

/* One ping after the first content_block_start, as the real API does. */
static void after_block_start(anthropic_stream *s, buf *out) {
    frame_end(out);
    if (s->pinged) return;
    s->pinged = true;
    anthropic_stream_ping(out);
}

static bool tool_closed(const anthropic_stream *s, int key) {
    for (size_t i = 0; i < s->n_closed; i++)
        if (s->closed_tool_keys[i] == key) return true;
    return false;
}

static anthropic_pending_tool *tool_pending(anthropic_stream *s, int key) {
    for (size_t i = 0; i < s->n_pending; i++)
        if (s->pending[i].key == key) return &s->pending[i];
    return NULL;
}

/* Follows argument text as one JSON value, enough to tell when a top-level object or array has
 * closed (D34). Strings are skipped with their escapes; nothing else is validated. */
static void args_scan(anthropic_args_scan *a, const char *p, size_t n) {
    for (size_t i = 0; i < n && a->state != ANTHROPIC_ARGS_OTHER; i++) {
        char c = p[i];
        if (a->in_str) {
            if (a->esc)
                a->esc = false;
            else if (c == '\\')
                a->esc = true;
            else if (c == '"')
                a->in_str = false;
            continue;
        }
        if (is_json_space(c)) continue;
        switch (a->state) {
        case ANTHROPIC_ARGS_EMPTY:
            if (c == '{' || c == '[') {
                a->state = ANTHROPIC_ARGS_OPEN;
                a->depth = 1;
            } else {
                a->state = ANTHROPIC_ARGS_OTHER;
            }
            break;
        case ANTHROPIC_ARGS_OPEN:
            if (c == '"')
                a->in_str = true;
            else if (c == '{' || c == '[')
                a->depth++;
            else if ((c == '}' || c == ']') && --a->depth == 0)
                a->state = ANTHROPIC_ARGS_COMPLETE;
            break;
        case ANTHROPIC_ARGS_COMPLETE: a->state = ANTHROPIC_ARGS_OTHER; break;
        case ANTHROPIC_ARGS_OTHER: break;
        }
    }
}

/* Opens a tool_use block for a call (closing the open block). */
static void open_tool_block(anthropic_stream *s, buf *out, int key, const char *id,
                            const char *name) {
    open_block(s, out, ANTHROPIC_BLOCK_TOOL_USE);
    s->open_tool_key = key;
    memset(&s->open_args, 0, sizeof s->open_args);
    buf_puts(out, ",\"id\":");
    put_tool_id(out, id);
    buf_puts(out, ",\"name\":");
    json_put_str(out, name ? name : "");
    buf_puts(out, ",\"input\":{}}");
    after_block_start(s, out);
}

static void put_args_delta(anthropic_stream *s, buf *out, const char *text, size_t len) {
    args_scan(&s->open_args, text, len);
    delta_begin(out, s->open_index, "input_json_delta");
    buf_puts(out, "\"partial_json\":");
    json_put_strn(out, text, len);
    buf_putc(out, '}');
    frame_end(out);
}

/* The held call with the lowest upstream index becomes the open block: its start, everything
 * buffered as one input_json_delta, and its later fragments stream live. */
static void promote_pending(anthropic_stream *s, buf *out) {
    anthropic_pending_tool p = s->pending[0];
    s->n_pending--;
    memmove(s->pending, s->pending + 1, s->n_pending * sizeof *s->pending);
    s->pending_bytes -= p.args.len;
    open_tool_block(s, out, p.key, p.id, p.name);
    if (p.args.len) put_args_delta(s, out, p.args.data, p.args.len);
    pending_free(&p);
}

/* The stream moves on (text, thinking, finish): every held call is written out, in upstream
 * index order; the last one stays open for the caller to close. */
static void flush_pending(anthropic_stream *s, buf *out) {
    while (s->n_pending)
        promote_pending(s, out);
}

static void hold_tool(anthropic_stream *s, const conv_event *ev) {
    if (s->n_pending == s->pending_cap) {
        s->pending_cap = s->pending_cap ? s->pending_cap * 2 : 4;
        s->pending = xrealloc(s->pending, s->pending_cap * sizeof *s->pending);
    }
    size_t at = s->n_pending; /* kept sorted by upstream index */
    while (at && s->pending[at - 1].key > ev->index)
        at--;
    memmove(s->pending + at + 1, s->pending + at, (s->n_pending - at) * sizeof *s->pending);
    s->n_pending++;
    anthropic_pending_tool *p = &s->pending[at];
    p->key = ev->index;
    p->id = ev->id ? xstrdup(ev->id) : NULL;
    p->name = xstrdup(ev->name ? ev->name : "");
    buf_init(&p->args);
}

static void on_tool_start(anthropic_stream *s, const conv_event *ev, buf *out) {
    bool tool_open = s->open == ANTHROPIC_BLOCK_TOOL_USE;
    if ((tool_open && s->open_tool_key == ev->index) || tool_closed(s, ev->index) ||
        tool_pending(s, ev->index))
        return; /* repeated start of a known call */
    s->saw_tool = true;
    if (tool_open && (s->open_args.state != ANTHROPIC_ARGS_COMPLETE || s->n_pending)) {
        /* The open call may still get fragments (parallel calls interleave): hold this one. */
        hold_tool(s, ev);
        return;
    }
    open_tool_block(s, out, ev->index, ev->id, ev->name);
}

/* Mid-stream failure of the encoder itself: an error event, as for upstream errors. */
static void on_error(anthropic_stream *s, const conv_event *ev, buf *out);

static void on_tool_args(anthropic_stream *s, const conv_event *ev, buf *out) {
    anthropic_pending_tool *p = NULL;
    bool live = s->open == ANTHROPIC_BLOCK_TOOL_USE && s->open_tool_key == ev->index;
    if (!live && !(p = tool_pending(s, ev->index))) {
        /* A call that never started, or one whose block was closed: after a text, thinking
         * or finish moved the stream on, or after its arguments were a whole JSON value. */
        log_warn("anthropic stream: tool arguments outside their block dropped", "\"index\":%d",
                 ev->index);
        return;
    }
    if (!ev->len) return;
    s->out_quarters += codec_token_quarters(ev->text, ev->len);
    if (p) {
        if (ev->len > s->tool_buffer_max - s->pending_bytes) {
            log_warn("anthropic stream: held tool arguments over the limit",
                     "\"index\":%d,\"limit\":%zu", ev->index, s->tool_buffer_max);
            conv_event err = {.type = CONV_EV_ERROR,
                              .err_class = CONV_ERR_TRANSIENT,
                              .text = "The upstream's parallel tool calls are too large to "
                                      "stream."};
            on_error(s, &err, out);
            s->done = true;
            return;
        }
        buf_append(&p->args, ev->text, ev->len);
        s->pending_bytes += ev->len;
        return;
    }
    put_args_delta(s, out, ev->text, ev->len);
    /* The open call is whole: the held calls can go, the first of them live from now on. */
    while (s->n_pending && s->open_args.state == ANTHROPIC_ARGS_COMPLETE)
        promote_pending(s, out);
}

static void on_text(anthropic_stream *s, const conv_event *ev, buf *out, bool thinking) {
    anthropic_block_kind kind = thinking ? ANTHROPIC_BLOCK_THINKING : ANTHROPIC_BLOCK_TEXT;
    if (!ev->len) return;
    flush_pending(s, out);
    s->out_quarters += codec_token_quarters(ev->text, ev->len);
    if (s->open != kind) {
        open_block(s, out, kind);
        buf_puts(out, thinking ? ",\"thinking\":\"\",\"signature\":\"\"}" : ",\"text\":\"\"}");
        after_block_start(s, out);
    }
    delta_begin(out, s->open_index, thinking ? "thinking_delta" : "text_delta");
    buf_puts(out, thinking ? "\"thinking\":" : "\"text\":");
    json_put_strn(out, ev->text, ev->len);
    buf_putc(out, '}');
    frame_end(out);
}

static void on_finish(anthropic_stream *s, const conv_event *ev, buf *out) {
    flush_pending(s, out);
    if (s->next_index == 0) { /* never an empty content[]: one empty text block */
        open_block(s, out, ANTHROPIC_BLOCK_TEXT);
        buf_puts(out, ",\"text\":\"\"}");
        after_block_start(s, out);
    }
    close_block(s, out);
    frame_begin(out, "message_delta");
    buf_puts(out, ",\"delta\":{");
    put_stop(out, ev->stop, s->saw_tool, ev->stop_sequence);
    buf_puts(out, "},");
    /* cumulative totals: the SDK overwrites message_start's usage with these */
    put_final_usage(out, &ev->usage, s->input_estimate, s->out_quarters);
    frame_end(out);
    frame_begin(out, "message_stop");
    frame_end(out);
}

/* Mid-stream errors end the stream: no block stop, no message_stop (the SDK throws on the
 * error event; Claude Code then retries or falls back to a non-streaming request). */
static void on_error(anthropic_stream *s, const conv_event *ev, buf *out) {
    errors_mapping em = errors_map_class(CONV_PROTO_ANTHROPIC, ev->err_class);
    buf_puts(out, "event: error\ndata: ");
    errors_anthropic_json(out, em.type,
                          ev->text && *ev->text ? ev->text : "The upstream model failed.",
                          s->request_id);
    buf_puts(out, "\n\n");
}

bool anthropic_stream_event(anthropic_stream *s, const conv_event *ev, buf *out) {
    if (s->done) return true;
    if (ev->type == CONV_EV_ERROR) {
        on_error(s, ev, out);
        s->done = true;
        return true;
    }
    ensure_started(s, out);
    switch (ev->type) {
    case CONV_EV_TEXT_DELTA: on_text(s, ev, out, false); break;
    case CONV_EV_THINKING_DELTA: on_text(s, ev, out, true); break;
    case CONV_EV_TOOL_CALL_START: on_tool_start(s, ev, out); break;
    case CONV_EV_TOOL_CALL_ARGS: on_tool_args(s, ev, out); break;
    case CONV_EV_FINISH:
        on_finish(s, ev, out);
        s->done = true;
        break;
    case CONV_EV_ERROR: break; /* handled above */
    }
    return s->done;
}

/* ---- models ---- */

void anthropic_encode_model(buf *out, const codec_model_info *m) {
    char ts[32] = "1970-01-01T00:00:00Z";
    time_t t = (time_t)m->created;
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_puts(out, "{\"type\":\"model\",\"id\":");
    json_put_str(out, m->id);
    buf_puts(out, ",\"display_name\":");
    json_put_str(out, m->display_name ? m->display_name : m->id);
    buf_puts(out, ",\"created_at\":\"");
    buf_puts(out, ts);
    buf_puts(out, "\",\"capabilities\":null,\"max_input_tokens\":null,\"max_tokens\":null,"
                  "\"lifecycle\":\"active\",\"line\":null,\"deprecated_at\":null,"
                  "\"retires_at\":null}");
}

static size_t model_pos(const codec_model_info *models, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(models[i].id, id) == 0) return i;
    return n;
}

void anthropic_encode_models(buf *out, const codec_model_info *models, size_t n, int limit,
                             const char *after_id, const char *before_id) {
    size_t lim = limit <= 0 ? 20 : limit > 1000 ? 1000 : (size_t)limit;
    size_t lo = 0, hi = n; /* the window the cursors allow */
    if (after_id) {
        lo = model_pos(models, n, after_id);
        if (lo < n) lo++;
    }
    if (before_id) hi = model_pos(models, n, before_id);
    if (lo > hi) lo = hi;
    size_t first = lo, last = hi;
    bool has_more;
    if (before_id && !after_id) { /* paging backwards: the items just before the cursor */
        first = hi - lo > lim ? hi - lim : lo;
        has_more = first > lo;
    } else {
        last = hi - lo > lim ? lo + lim : hi;
        has_more = last < hi;
    }
    buf_puts(out, "{\"data\":[");
    for (size_t i = first; i < last; i++) {
        if (i > first) buf_putc(out, ',');
        anthropic_encode_model(out, &models[i]);
    }
    buf_puts(out, "],\"has_more\":");
    json_put_bool(out, has_more);
    buf_puts(out, ",\"first_id\":");
    json_put_str(out, first < last ? models[first].id : NULL);
    buf_puts(out, ",\"last_id\":");
    json_put_str(out, first < last ? models[last - 1].id : NULL);
    buf_putc(out, '}');
}
