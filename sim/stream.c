#include "stream.h"
#include "sim.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <string.h>

/* Event order: [error envelope] | reasoning deltas, content deltas, per tool call a head
 * fragment (id, name) then argument fragments (interleave: every head, then the calls' argument
 * fragments round-robin), the finish chunk (finish_reason + usage), [an error envelope to be
 * ignored], [DONE]. Empty phases are skipped by settle(). */
typedef enum {
    PH_ERROR,
    PH_REASONING,
    PH_CONTENT,
    PH_TOOL_HEAD,
    PH_TOOL_ARGS,
    PH_TOOL_ROUND, /* interleave: the next argument fragment of call tool_i */
    PH_FINISH,
    PH_AFTER_FINISH,
    PH_DONE,
    PH_END
} stream_phase;

typedef struct sim_stream {
    sim *s;
    http_exchange *ex; /* NULL once the response ended or the client left */
    uv_timer_t timer;  /* first-byte delay, pacing, stall */
    sim_stream_plan plan;
    uint64_t seq;
    uint64_t bytes;
    size_t reasoning_len, content_len, args_len;
    size_t off;                     /* position in the text of the current phase */
    size_t tool_off[SIM_MAX_TOOLS]; /* interleave: each call's arguments sent so far */
    uint8_t phase, tool_i;
    bool started, fb_waited, role_sent, stall_pending, waiting_drain;
    bool in_pump; /* the exchange may vanish inside http_stream_write: defer the free */
    bool over;    /* the exchange is no longer ours: release at the end of the pump */
} sim_stream;

void sim_stream_plan_free(sim_stream_plan *p) {
    free(p->chunk_id);
    free(p->model);
    free(p->env_message);
    free(p->reasoning);
    free(p->content);
    for (int i = 0; i < p->n_tools; i++) {
        free(p->tools[i].id);
        free(p->tools[i].name);
        free(p->tools[i].args);
    }
    memset(p, 0, sizeof *p);
}

/* End of the next delta: at most `piece` bytes, never splitting a UTF-8 sequence (a split
 * sequence would reach the client as U+FFFD after JSON escaping). */
static size_t piece_end(const char *t, size_t len, size_t off, size_t piece) {
    if (!piece || piece >= len - off) return len;
    size_t end = off + piece;
    while (end > off && ((unsigned char)t[end] & 0xC0) == 0x80)
        end--;
    if (end == off) { /* one character longer than the piece: send it whole */
        end = off + piece;
        while (end < len && ((unsigned char)t[end] & 0xC0) == 0x80)
            end++;
    }
    return end;
}

static void settle(sim_stream *st) {
    const sim_stream_plan *p = &st->plan;
    for (;;) {
        switch ((stream_phase)st->phase) {
        case PH_ERROR:
            if (p->env_error) return;
            st->phase = PH_REASONING;
            break;
        case PH_REASONING:
            if (st->off < st->reasoning_len) return;
            st->phase = PH_CONTENT, st->off = 0;
            break;
        case PH_CONTENT:
            if (st->off < st->content_len) return;
            st->phase = PH_TOOL_HEAD, st->off = 0, st->tool_i = 0;
            break;
        case PH_TOOL_HEAD:
            if (st->tool_i < p->n_tools) return;
            st->phase = p->interleave ? PH_TOOL_ROUND : p->truncate ? PH_END : PH_FINISH;
            st->tool_i = 0;
            break;
        case PH_TOOL_ROUND: /* from tool_i on, the next call with arguments left */
            for (int k = 0; k < p->n_tools; k++) {
                int i = (st->tool_i + k) % p->n_tools;
                if (st->tool_off[i] < strlen(p->tools[i].args)) {
                    st->tool_i = (uint8_t)i;
                    return;
                }
            }
            st->phase = p->truncate ? PH_END : PH_FINISH;
            break;
        case PH_TOOL_ARGS:
            if (st->off < st->args_len) return;
            st->phase = PH_TOOL_HEAD, st->off = 0, st->tool_i++;
            break;
        case PH_FINISH: return;
        case PH_AFTER_FINISH:
            if (p->error_after_finish) return;
            st->phase = PH_DONE;
            break;
        case PH_DONE:
            if (!p->no_done) return;
            st->phase = PH_END;
            break;
        case PH_END: return;
        }
    }
}

/* {"id":…,"object":"chat.completion.chunk",…,"choices":[{"index":0,"delta":{ — the first delta
 * of the stream carries the role. Returns true when a delta field was written. */
static bool chunk_open(sim_stream *st, buf *b) {
    const sim_stream_plan *p = &st->plan;
    buf_reset(b);
    buf_puts(b, "{\"id\":");
    json_put_str(b, p->chunk_id);
    buf_puts(b, ",\"object\":\"chat.completion.chunk\",\"created\":");
    buf_put_i64(b, p->created);
    buf_puts(b, ",\"model\":");
    json_put_str(b, p->model);
    buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (st->role_sent) return false;
    st->role_sent = true;
    buf_puts(b, "\"role\":\"assistant\"");
    return true;
}

static void chunk_close(sim_stream *st, buf *b, bool final) {
    const sim_stream_plan *p = &st->plan;
    buf_puts(b, "},\"finish_reason\":");
    json_put_str(b, final ? p->finish_reason : NULL);
    buf_puts(b, "}],\"usage\":");
    if (!final || !p->usage) {
        buf_puts(b, "null}");
        return;
    }
    buf_printf(b,
               "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
               "\"prompt_tokens_details\":{\"cached_tokens\":%d}}}",
               p->prompt_tokens, p->completion_tokens, p->prompt_tokens + p->completion_tokens,
               p->cached_tokens);
}

static void envelope(const sim_stream *st, buf *out, const buf *inner, int status) {
    buf_reset(out);
    buf_puts(out, st->plan.space ? "data: " : "data:");
    buf_puts(out, "{\"headers\":{},\"body\":");
    json_put_strn(out, inner->data, inner->len);
    buf_puts(out, ",\"statusCodeValue\":");
    buf_put_i64(out, status);
    buf_puts(out, ",\"statusCode\":");
    json_put_str(out, sim_status_name(status));
    buf_puts(out, "}\n\n");
}

static void put_text_delta(sim_stream *st, buf *in, const char *key, const char *text, size_t len,
                           size_t piece) {
    size_t end = piece_end(text, len, st->off, piece);
    if (chunk_open(st, in)) buf_putc(in, ',');
    json_put_key(in, key);
    json_put_strn(in, text + st->off, end - st->off);
    chunk_close(st, in, false);
    st->off = end;
}

static void put_tool_head(sim_stream *st, buf *in) {
    const sim_tool_call *t = &st->plan.tools[st->tool_i];
    if (chunk_open(st, in)) buf_putc(in, ',');
    buf_printf(in, "\"tool_calls\":[{\"index\":%u,\"id\":", (unsigned)st->tool_i);
    json_put_str(in, t->id);
    buf_puts(in, ",\"type\":\"function\",\"function\":{\"name\":");
    json_put_str(in, t->name);
    buf_puts(in, ",\"arguments\":\"\"}}]");
    chunk_close(st, in, false);
    if (st->plan.interleave) { /* the next head; arguments come round-robin after the heads */
        st->tool_i++;
        return;
    }
    st->phase = PH_TOOL_ARGS, st->off = 0;
    st->args_len = strlen(t->args);
}

/* The next argument fragment of call tool_i; *off is how much of its arguments went out. */
static void put_tool_args(sim_stream *st, buf *in, size_t *off) {
    const char *args = st->plan.tools[st->tool_i].args;
    size_t len = strlen(args);
    size_t piece = st->plan.arg_piece ? st->plan.arg_piece : (len + 2) / 3;
    size_t end = piece_end(args, len, *off, piece);
    if (chunk_open(st, in)) buf_putc(in, ',');
    buf_printf(in,
               "\"tool_calls\":[{\"index\":%u,\"function\":{\"arguments\":", (unsigned)st->tool_i);
    json_put_strn(in, args + *off, end - *off);
    buf_puts(in, "}}]");
    chunk_close(st, in, false);
    *off = end;
}

static bool send_bytes(sim_stream *st, const char *data, size_t len) {
    st->bytes += len;
    return http_stream_write(st->ex, data, len) && st->ex;
}

/* Writes the next event. Returns true when it carried generated output (for stall_ms). */
static bool emit_next(sim_stream *st) {
    buf *in = &st->s->inner, *ev = &st->s->event;
    const sim_stream_plan *p = &st->plan;
    bool generated = false, bare_done = false;
    int status = 200;
    buf_reset(in);
    switch ((stream_phase)st->phase) {
    case PH_ERROR:
        sim_error_envelope_body(in, p->env_error, p->env_message);
        status = p->env_error->status;
        st->phase = PH_END;
        break;
    case PH_REASONING:
        put_text_delta(st, in, "reasoning_content", p->reasoning, st->reasoning_len,
                       p->reasoning_piece);
        generated = true;
        break;
    case PH_CONTENT:
        put_text_delta(st, in, "content", p->content, st->content_len, p->content_piece);
        generated = true;
        break;
    case PH_TOOL_HEAD:
        put_tool_head(st, in);
        generated = true;
        break;
    case PH_TOOL_ARGS:
        put_tool_args(st, in, &st->off);
        generated = true;
        break;
    case PH_TOOL_ROUND:
        put_tool_args(st, in, &st->tool_off[st->tool_i]);
        st->tool_i = (uint8_t)((st->tool_i + 1) % p->n_tools);
        generated = true;
        break;
    case PH_FINISH:
        chunk_open(st, in);
        chunk_close(st, in, true);
        st->phase = PH_AFTER_FINISH;
        break;
    case PH_AFTER_FINISH:
        sim_error_envelope_body(in, sim_error_after_finish(), NULL);
        status = sim_error_after_finish()->status;
        st->phase = PH_DONE;
        break;
    case PH_DONE:
        buf_puts(in, "[DONE]");
        bare_done = !p->done_envelope;
        st->phase = PH_END;
        break;
    case PH_END: return false;
    }
    settle(st);
    if (p->keepalive && !send_bytes(st, ": keep-alive\n\n", 14)) return generated;
    if (bare_done) {
        buf_reset(ev);
        buf_puts(ev, p->space ? "data: [DONE]\n\n" : "data:[DONE]\n\n");
    } else {
        envelope(st, ev, in, status);
    }
    send_bytes(st, ev->data, ev->len);
    return generated;
}

static void on_timer(uv_timer_t *t);

static void stream_closed(uv_handle_t *h) {
    sim_stream *st = h->data;
    st->s->n_streams--;
    sim_stream_plan_free(&st->plan);
    free(st);
}

static void close_record(sim_stream *st, bool finished) {
    sim_record *rec = sim_request_log_get(st->s->log, st->seq);
    if (rec) sim_record_close(rec, st->started ? 200 : 499, st->bytes, finished, !finished);
}

static void pump(sim_stream *st) {
    const sim_stream_plan *p = &st->plan;
    st->in_pump = true;
    while (!st->over) {
        if (!st->started) {
            if (p->first_byte_delay_ms && !st->fb_waited) {
                st->fb_waited = true;
                uv_timer_start(&st->timer, on_timer, p->first_byte_delay_ms, 0);
                break;
            }
            st->started = true;
            http_stream_start(st->ex, 200, "text/event-stream;charset=UTF-8",
                              "Cache-Control: no-cache\r\n");
            continue;
        }
        if (st->phase == PH_END) {
            close_record(st, true);
            http_stream_end(st->ex);
            st->ex = NULL;
            st->over = true;
            break;
        }
        if (http_exchange_congested(st->ex)) {
            st->waiting_drain = true;
            break;
        }
        bool generated = emit_next(st);
        if (st->over) break;
        uint64_t wait = p->delay_ms;
        if (generated && st->stall_pending) {
            wait += p->stall_ms;
            st->stall_pending = false;
        }
        if (wait && st->phase != PH_END) {
            uv_timer_start(&st->timer, on_timer, wait, 0);
            break;
        }
    }
    st->in_pump = false;
    if (st->over) uv_close((uv_handle_t *)&st->timer, stream_closed);
}

static void on_timer(uv_timer_t *t) { pump(t->data); }

static void on_drain(http_exchange *ex, void *ud) {
    (void)ex;
    sim_stream *st = ud;
    if (!st->waiting_drain) return;
    st->waiting_drain = false;
    pump(st);
}

/* The client left: the exchange is gone once this returns. */
static void on_abort(http_exchange *ex, void *ud) {
    (void)ex;
    sim_stream *st = ud;
    close_record(st, false);
    st->ex = NULL;
    st->over = true;
    if (!st->in_pump) uv_close((uv_handle_t *)&st->timer, stream_closed);
}

void sim_stream_start(sim *s, http_exchange *ex, sim_stream_plan *plan, uint64_t record_seq) {
    sim_stream *st = xcalloc(1, sizeof *st);
    st->s = s;
    st->ex = ex;
    st->seq = record_seq;
    st->plan = *plan;
    memset(plan, 0, sizeof *plan);
    st->reasoning_len = st->plan.reasoning ? strlen(st->plan.reasoning) : 0;
    st->content_len = st->plan.content ? strlen(st->plan.content) : 0;
    st->stall_pending = st->plan.stall_ms > 0;
    settle(st);
    uv_timer_init(http_exchange_loop(ex), &st->timer);
    st->timer.data = st;
    s->n_streams++;
    http_exchange_set_callbacks(ex, on_abort, on_drain, st);
    pump(st);
}
