#include "upstream/sse_decoder.h"
#include "upstream/error_class.h"
#include "upstream/sse_fast.h"
#include "util/ids.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <errno.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SSE_JSON_DEPTH  32
#define SSE_HEAD_MAX    4096 /* body prefix kept to diagnose a non-SSE response */
#define SSE_LINE_KEEP   4096 /* line and body buffer capacity kept between lines */
#define SSE_MESSAGE_MAX 512  /* error messages are cut to this many bytes */
#define SSE_CODE_MAX    32

void sse_decoder_init(sse_decoder *d, conv_event_fn cb, void *ud, size_t max_line) {
    memset(d, 0, sizeof *d);
    d->cb = cb;
    d->ud = ud;
    d->max_line = max_line ? max_line : SSE_DECODER_DEFAULT_MAX_LINE;
    d->state = SSE_DEC_RUNNING;
    d->stop = CONV_STOP_END_TURN;
    buf_init(&d->line);
    buf_init(&d->head);
    buf_init(&d->body);
}

void sse_decoder_free(sse_decoder *d) {
    for (size_t i = 0; i < d->n_tools; i++) {
        free(d->tools[i].id);
        buf_free(&d->tools[i].pending_args);
    }
    free(d->tools);
    buf_free(&d->line);
    buf_free(&d->head);
    buf_free(&d->body);
    if (d->tok) json_tokener_free(d->tok);
    memset(d, 0, sizeof *d);
}

void sse_decoder_set_content_type(sse_decoder *d, const char *content_type) {
    d->html_content_type = content_type && strncasecmp(content_type, "text/html", 9) == 0;
}

bool sse_decoder_emitted(const sse_decoder *d) { return d->any_content; }

bool sse_decoder_done(const sse_decoder *d) { return d->state != SSE_DEC_RUNNING; }

/* ---- emitting ---- */

static void emit_error(sse_decoder *d, conv_error_class cls, int status, const char *code,
                       const char *msg, size_t msg_len) {
    /* Cut long messages without splitting a UTF-8 sequence. */
    if (msg_len > SSE_MESSAGE_MAX) {
        msg_len = SSE_MESSAGE_MAX;
        while (msg_len && ((unsigned char)msg[msg_len] & 0xC0) == 0x80)
            msg_len--;
    }
    char *text = xstrndup(msg, msg_len);
    conv_event ev = {.type = CONV_EV_ERROR,
                     .text = text,
                     .len = strlen(text),
                     .err_class = cls,
                     .status = status,
                     .err_code = code};
    d->state = SSE_DEC_FAILED;
    d->cb(&ev, d->ud);
    free(text);
}

static void fail(sse_decoder *d, conv_error_class cls, const char *msg) {
    emit_error(d, cls, 0, NULL, msg, strlen(msg));
}

static void emit_text(sse_decoder *d, conv_event_type type, const char *s, size_t n) {
    conv_event ev = {.type = type, .text = s, .len = n};
    d->any_content = true;
    d->cb(&ev, d->ud);
}

static void start_tool(sse_decoder *d, size_t pos, const char *name) {
    sse_tool_slot *t = &d->tools[pos];
    if (!t->id) {
        char hex[25];
        ids_hex(hex, 12);
        t->id = xmalloc(5 + sizeof hex);
        memcpy(t->id, "call_", 5);
        memcpy(t->id + 5, hex, sizeof hex);
        t->id_generated = true;
    }
    conv_event ev = {.type = CONV_EV_TOOL_CALL_START, .index = (int)pos, .id = t->id, .name = name};
    t->started = true;
    d->any_content = true;
    d->cb(&ev, d->ud);
    if (t->pending_args.len && d->state == SSE_DEC_RUNNING) {
        conv_event a = {.type = CONV_EV_TOOL_CALL_ARGS,
                        .index = (int)pos,
                        .text = t->pending_args.data,
                        .len = t->pending_args.len};
        d->cb(&a, d->ud);
    }
    buf_free(&t->pending_args);
}

static void complete(sse_decoder *d) {
    bool any_tool = false;
    /* Arguments whose call never got a name still belong to the answer: surface them. */
    for (size_t i = 0; i < d->n_tools; i++) {
        if (!d->tools[i].started && d->tools[i].pending_args.len) start_tool(d, i, "");
        any_tool |= d->tools[i].started;
    }
    conv_stop_reason stop = d->gen_finished ? d->stop : CONV_STOP_END_TURN;
    if (stop == CONV_STOP_END_TURN && any_tool) stop = CONV_STOP_TOOL_USE;
    conv_event ev = {.type = CONV_EV_FINISH, .stop = stop, .usage = d->usage};
    d->state = SSE_DEC_FINISHED;
    d->cb(&ev, d->ud);
}

/* ---- JSON helpers ---- */

static json_object *parse_json(sse_decoder *d, const char *s, size_t n) {
    if (n > INT_MAX) return NULL;
    if (!d->tok) { /* only when a line needs json-c: most streams never do */
        d->tok = json_tokener_new_ex(SSE_JSON_DEPTH);
        if (!d->tok) abort(); /* out of memory, as xmalloc */
        json_tokener_set_flags(d->tok, JSON_TOKENER_STRICT);
    }
    json_tokener_reset(d->tok);
    json_object *o = json_tokener_parse_ex(d->tok, s, (int)n);
    if (!o) {
        /* json-c 0.16 keeps the dangling high surrogate of a failed parse across
         * json_tokener_reset and puts a U+FFFD before the next line's first \u escape. */
        json_tokener_free(d->tok);
        d->tok = NULL;
    } else if (json_tokener_get_parse_end(d->tok) != n) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static json_object *get(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static const char *get_str(json_object *o, const char *key, size_t *len) {
    json_object *v = get(o, key);
    if (!json_object_is_type(v, json_type_string)) return NULL;
    if (len) *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

/* An integer given as a number or a decimal string. */
static bool get_int(json_object *o, const char *key, int64_t *out) {
    json_object *v = get(o, key);
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return true;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = x;
    return true;
}

/* A code given as a string or a number, copied into out. */
static bool get_code(json_object *o, const char *key, char out[SSE_CODE_MAX]) {
    json_object *v = get(o, key);
    if (json_object_is_type(v, json_type_int)) {
        snprintf(out, SSE_CODE_MAX, "%lld", (long long)json_object_get_int64(v));
        return true;
    }
    if (!json_object_is_type(v, json_type_string) || !json_object_get_string_len(v)) return false;
    snprintf(out, SSE_CODE_MAX, "%s", json_object_get_string(v));
    return true;
}

/* ---- errors ---- */

/* The message of an error object: a string field, or a non-string field as JSON text. */
static const char *message_of(json_object *o, const char *key) {
    json_object *v = get(o, key);
    if (!v) return NULL;
    if (json_object_is_type(v, json_type_string))
        return json_object_get_string_len(v) ? json_object_get_string(v) : NULL;
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* Reports an error body. inner: the parsed body (NULL if it was not JSON); raw: its text. */
static void report_error(sse_decoder *d, int status, json_object *inner, const char *raw,
                         const char *status_message) {
    char code[SSE_CODE_MAX] = "";
    json_object *err = get(inner, "error");
    bool has_code = get_code(inner, "code", code) || get_code(inner, "errorCode", code) ||
                    get_code(err, "code", code);
    const char *msg = message_of(inner, "message");
    if (!msg && json_object_is_type(err, json_type_string)) msg = message_of(inner, "error");
    if (!msg) msg = message_of(err, "message");
    if (!msg) msg = message_of(inner, "errorMessage");
    if (!msg) msg = message_of(inner, "msg");
    if (!msg) msg = status_message;
    if (!msg && !inner && raw && *raw) msg = raw; /* a plain-text body is the message */
    char fallback[48];
    if (!msg) {
        snprintf(fallback, sizeof fallback, "upstream error (status %d)", status);
        msg = fallback;
    }
    int env_status = status >= 400 ? status : 0;
    /* Classify on the whole body: markers such as pricingUrl sit outside the message. */
    const char *all = raw && *raw ? raw
                      : inner     ? json_object_to_json_string_ext(inner, JSON_C_TO_STRING_PLAIN)
                                  : msg;
    conv_error_class cls = upstream_classify(0, env_status, has_code ? code : NULL, all);
    emit_error(d, cls, env_status, has_code ? code : NULL, msg, strlen(msg));
}

static bool is_error_object(json_object *o) {
    json_object *err = get(o, "error");
    if (err && !json_object_is_type(err, json_type_null)) return true;
    if (get(o, "choices")) return false;
    json_object *ok = get(o, "success");
    if (json_object_is_type(ok, json_type_boolean) && !json_object_get_boolean(ok)) return true;
    char code[SSE_CODE_MAX];
    if (!get_code(o, "code", code)) return false;
    return strcmp(code, "0") && strcmp(code, "200") && strcasecmp(code, "ok") &&
           strcasecmp(code, "success");
}

/* ---- chunks ---- */

static sse_tool_slot *new_tool(sse_decoder *d, int upstream_index) {
    if (d->n_tools == SSE_DECODER_MAX_TOOL_CALLS) return NULL;
    if (d->n_tools == d->tools_cap) {
        d->tools_cap = d->tools_cap ? d->tools_cap * 2 : 4;
        d->tools = xrealloc(d->tools, d->tools_cap * sizeof *d->tools);
    }
    sse_tool_slot *t = &d->tools[d->n_tools++];
    memset(t, 0, sizeof *t);
    t->upstream_index = upstream_index;
    buf_init(&t->pending_args);
    return t;
}

/* The slot a fragment belongs to: by index (the newest slot with it), else by id, else the
 * latest call. A started call that receives a different id under the same index is a new call
 * (some upstreams key every call with index 0). */
static sse_tool_slot *tool_for(sse_decoder *d, int64_t index, const char *id) {
    sse_tool_slot *t = NULL;
    for (size_t i = d->n_tools; i-- > 0 && !t;) {
        if (index >= 0 ? d->tools[i].upstream_index == index
                       : (!id || (d->tools[i].id && !strcmp(d->tools[i].id, id))))
            t = &d->tools[i];
    }
    if (t && id && t->id && !t->id_generated && strcmp(t->id, id)) t = NULL;
    if (t) return t;
    return new_tool(d, index >= 0 ? (int)index : -1 - (int)d->n_tools);
}

/* One tool_calls[] item: index -1 when absent, id already defaulted to delta.tool_call_id. */
static void on_tool_fragment(sse_decoder *d, int64_t index, const char *id, const char *name,
                             const char *args, size_t args_len) {
    sse_tool_slot *t = tool_for(d, index, id);
    if (!t) {
        fail(d, CONV_ERR_TRANSIENT, "upstream sent too many tool calls");
        return;
    }
    size_t pos = (size_t)(t - d->tools);
    if (!t->id && id) t->id = xstrdup(id);
    if (!t->started && name && *name) {
        start_tool(d, pos, name);
        if (d->state != SSE_DEC_RUNNING) return;
    }
    if (!args_len) return;
    if (t->started) {
        conv_event ev = {
            .type = CONV_EV_TOOL_CALL_ARGS, .index = (int)pos, .text = args, .len = args_len};
        d->cb(&ev, d->ud);
    } else if (t->pending_args.len + args_len > d->max_line) {
        fail(d, CONV_ERR_TRANSIENT, "upstream tool-call arguments without a name are too long");
    } else {
        buf_append(&t->pending_args, args, args_len);
    }
}

static void on_tool_fragment_json(sse_decoder *d, json_object *item, const char *fallback_id) {
    int64_t index = -1;
    if (!get_int(item, "index", &index) || index < 0 || index > INT_MAX) index = -1;
    const char *id = get_str(item, "id", NULL);
    if (!id || !*id) id = fallback_id;
    json_object *fn = get(item, "function");
    const char *name = get_str(fn, "name", NULL);
    size_t args_len = 0;
    const char *args = get_str(fn, "arguments", &args_len);
    json_object *args_obj = get(fn, "arguments");
    if (!args && args_obj && !json_object_is_type(args_obj, json_type_null)) {
        /* Arguments sent as an object rather than a string. */
        args = json_object_to_json_string_ext(args_obj, JSON_C_TO_STRING_PLAIN);
        args_len = strlen(args);
    }
    on_tool_fragment(d, index, id, name, args, args_len);
}

/* A delta's text: reasoning first, then content (NULL: absent). */
static void on_delta_text(sse_decoder *d, const char *reasoning, size_t rn, const char *content,
                          size_t cn) {
    if (reasoning && rn) emit_text(d, CONV_EV_THINKING_DELTA, reasoning, rn);
    if (content && cn && d->state == SSE_DEC_RUNNING) emit_text(d, CONV_EV_TEXT_DELTA, content, cn);
}

static void on_delta(sse_decoder *d, json_object *delta) {
    size_t rn = 0, cn = 0;
    const char *reasoning = get_str(delta, "reasoning_content", &rn);
    const char *content = get_str(delta, "content", &cn);
    on_delta_text(d, reasoning, rn, content, cn);
    json_object *calls = get(delta, "tool_calls");
    if (!json_object_is_type(calls, json_type_array)) return;
    const char *fallback_id = get_str(delta, "tool_call_id", NULL);
    size_t nc = json_object_array_length(calls);
    for (size_t i = 0; i < nc && d->state == SSE_DEC_RUNNING; i++)
        on_tool_fragment_json(d, json_object_array_get_idx(calls, i), fallback_id);
}

#define IS(s, n, word) ((n) == sizeof(word) - 1 && !memcmp(s, word, sizeof(word) - 1))

static void on_finish_reason(sse_decoder *d, const char *reason, size_t n) {
    if (IS(reason, n, "length"))
        d->stop = CONV_STOP_MAX_TOKENS;
    else if (IS(reason, n, "tool_calls") || IS(reason, n, "function_call"))
        d->stop = CONV_STOP_TOOL_USE;
    else
        d->stop = CONV_STOP_END_TURN;
    d->gen_finished = true;
}

static void on_usage(sse_decoder *d, const sse_fast_usage *u) {
    if (u->has_input) {
        d->usage.input_tokens = u->input;
        d->usage.known = true;
    }
    if (u->has_output) {
        d->usage.output_tokens = u->output;
        d->usage.known = true;
    }
    if (u->has_cached) d->usage.cached_tokens = u->cached;
}

static void on_usage_json(sse_decoder *d, json_object *o) {
    if (!json_object_is_type(o, json_type_object)) return;
    sse_fast_usage u = {0};
    u.has_input = get_int(o, "prompt_tokens", &u.input) || get_int(o, "input_tokens", &u.input);
    u.has_output =
        get_int(o, "completion_tokens", &u.output) || get_int(o, "output_tokens", &u.output);
    u.has_cached = get_int(get(o, "prompt_tokens_details"), "cached_tokens", &u.cached) ||
                   get_int(o, "cache_read_input_tokens", &u.cached);
    on_usage(d, &u);
}

static void on_chunk(sse_decoder *d, json_object *o, int status) {
    if (is_error_object(o)) {
        if (!d->gen_finished) report_error(d, status, o, NULL, NULL);
        return;
    }
    json_object *choices = get(o, "choices");
    size_t n =
        json_object_is_type(choices, json_type_array) ? json_object_array_length(choices) : 0;
    for (size_t i = 0; i < n && d->state == SSE_DEC_RUNNING; i++) {
        json_object *c = json_object_array_get_idx(choices, i);
        on_delta(d, get(c, "delta"));
        const char *reason = get_str(c, "finish_reason", NULL);
        if (reason && *reason) on_finish_reason(d, reason, strlen(reason));
    }
    if (d->state != SSE_DEC_RUNNING) return;
    on_usage_json(d, get(o, "usage"));
    /* TAP's alternative finish frame: timings plus usage, no choices. */
    if (!choices && (get(o, "firstTokenDuration") || get(o, "totalDuration")))
        d->gen_finished = true;
}

static bool is_done(const char *s, size_t n) { return n == 6 && !memcmp(s, "[DONE]", 6); }

static void trim(const char **s, size_t *n) {
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* An envelope's body under its statusCodeValue: text is the body given as a string (NULL if it
 * is not one), body_obj the body given as an object; env is the envelope (NULL from the fast
 * path, which takes only successes). */
static void on_body(sse_decoder *d, int64_t status, const char *text, size_t n,
                    json_object *body_obj, json_object *env) {
    if (text) trim(&text, &n);
    json_object *inner = NULL;
    if (text && n && !is_done(text, n))
        inner = parse_json(d, text, n);
    else if (json_object_is_type(body_obj, json_type_object))
        inner = json_object_get(body_obj);

    if (status >= 400) {
        /* A failure reported after the generation finished does not undo the answer. */
        if (!d->gen_finished) {
            json_object *obj = json_object_is_type(inner, json_type_object) ? inner : NULL;
            report_error(d, (int)status, obj, text, get_str(env, "statusMessage", NULL));
        }
    } else if (text && is_done(text, n)) {
        complete(d);
    } else if (json_object_is_type(inner, json_type_object)) {
        on_chunk(d, inner, (int)status);
    } else if (text && n) {
        log_debug("upstream_sse_bad_body", "\"bytes\":%zu", n);
    }
    json_object_put(inner);
}

static void on_envelope(sse_decoder *d, json_object *env) {
    int64_t status = 200;
    get_int(env, "statusCodeValue", &status);
    if (status < 0 || status > 999) status = 500;
    size_t n = 0;
    const char *text = get_str(env, "body", &n);
    on_body(d, status, text, n, get(env, "body"), env);
}

/* A chunk read by the fast path: the steps of on_chunk for its one choice. */
static void on_fast_chunk(sse_decoder *d, const sse_fast_chunk *c) {
    if (c->choice) {
        on_delta_text(d, c->reasoning.p, c->reasoning.n, c->content.p, c->content.n);
        for (size_t i = 0; i < c->n_tools && d->state == SSE_DEC_RUNNING; i++) {
            const sse_fast_tool *t = &c->tools[i];
            on_tool_fragment(d, t->index, t->id.n ? t->id.p : c->tool_call_id.p, t->name.p,
                             t->args.p, t->args.n);
        }
        if (c->finish_reason.n) on_finish_reason(d, c->finish_reason.p, c->finish_reason.n);
    }
    if (d->state == SSE_DEC_RUNNING) on_usage(d, &c->usage);
}

/* A data line read by json-c: the reference for the fast path and the reader of everything
 * it leaves (errors, other shapes, bare chunks). */
static void on_payload_json(sse_decoder *d, const char *s, size_t n) {
    json_object *o = parse_json(d, s, n);
    if (!json_object_is_type(o, json_type_object)) {
        /* The reference clients skip undecodable lines; so do we. */
        log_debug("upstream_sse_bad_line", "\"bytes\":%zu", n);
    } else if (get(o, "body") || get(o, "statusCodeValue")) {
        on_envelope(d, o);
    } else {
        on_chunk(d, o, 0);
    }
    json_object_put(o);
}

/* A data line's JSON (trimmed, not [DONE]). */
static void on_payload(sse_decoder *d, const char *s, size_t n) {
    int64_t status;
    bool envelope = sse_fast_envelope(s, n, &d->body, &status);
    if (envelope) {
        sse_fast_chunk c;
        if (sse_fast_chunk_read(&c, d->body.data, d->body.len))
            on_fast_chunk(d, &c);
        else
            on_body(d, status, d->body.data, d->body.len, NULL, NULL);
    }
    /* One huge body must not pin its buffer for the rest of a long stream. */
    if (d->body.cap > SSE_LINE_KEEP) buf_free(&d->body);
    if (!envelope) on_payload_json(d, s, n);
}

static void on_data(sse_decoder *d, const char *s, size_t n) {
    trim(&s, &n);
    if (!n) return;
    if (is_done(s, n))
        complete(d);
    else
        on_payload(d, s, n);
}

/* ---- lines ---- */

static void on_line(sse_decoder *d, const char *s, size_t n) {
    if (!n || s[0] == ':') return;                            /* event boundary or comment */
    if (n < 5 || memcmp(s, "data", 4) || s[4] != ':') return; /* event:, id:, retry:, unknown */
    if (!d->any_data) {
        d->any_data = true;
        buf_free(&d->head);
    }
    s += 5, n -= 5;
    if (n && s[0] == ' ') s++, n--;
    on_data(d, s, n);
}

static void end_line(sse_decoder *d) {
    if (d->skip_line)
        d->skip_line = false;
    else
        on_line(d, d->line.data ? d->line.data : "", d->line.len);
    /* One huge line must not pin its buffer for the rest of a long stream. */
    if (d->line.cap > SSE_LINE_KEEP)
        buf_free(&d->line);
    else
        buf_reset(&d->line);
}

static void add_to_line(sse_decoder *d, const char *s, size_t n) {
    if (d->skip_line || !n) return;
    if (n > d->max_line - d->line.len) {
        buf_free(&d->line);
        if (d->gen_finished)
            d->skip_line = true; /* trailing junk after the answer */
        else
            fail(d, CONV_ERR_TRANSIENT, "upstream SSE line exceeds the maximum length");
        return;
    }
    buf_append(&d->line, s, n);
}

void sse_decoder_feed(sse_decoder *d, const char *data, size_t len) {
    if (d->state != SSE_DEC_RUNNING || !len) return;
    /* The next LF and CR at or after i (len when none), each searched again only once passed,
     * so the scan stays linear whichever line ending the stream uses. */
    size_t i = 0, lf = 0, cr = 0;
    bool lf_known = false, cr_known = false;
    while (i < len && d->state == SSE_DEC_RUNNING) {
        if (d->cr_pending) {
            d->cr_pending = false;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        if (!lf_known || lf < i) {
            const char *q = memchr(data + i, '\n', len - i);
            lf = q ? (size_t)(q - data) : len;
            lf_known = true;
        }
        if (!cr_known || cr < i) {
            const char *q = memchr(data + i, '\r', len - i);
            cr = q ? (size_t)(q - data) : len;
            cr_known = true;
        }
        size_t j = lf < cr ? lf : cr;
        if (j < len && !d->line.len && !d->skip_line && j - i <= d->max_line) {
            /* A whole line in this read: decoded where it is, without a copy. */
            d->cr_pending = data[j] == '\r';
            on_line(d, data + i, j - i);
        } else {
            add_to_line(d, data + i, j - i);
            if (j == len || d->state != SSE_DEC_RUNNING) break;
            d->cr_pending = data[j] == '\r';
            end_line(d);
        }
        i = j + 1;
    }
    /* Kept only while no data line came, so a normal stream never copies it. */
    if (!d->any_data && d->head.len < SSE_HEAD_MAX) {
        size_t room = SSE_HEAD_MAX - d->head.len;
        buf_append(&d->head, data, len < room ? len : room);
    }
}

void sse_decoder_finish(sse_decoder *d) {
    if (d->state != SSE_DEC_RUNNING) return;
    if (d->line.len || d->skip_line) end_line(d); /* a last line without its newline */
    if (d->state != SSE_DEC_RUNNING) return;
    if (d->gen_finished) {
        complete(d);
    } else if (d->any_data) {
        fail(d, CONV_ERR_TRANSIENT, "upstream stream truncated: no [DONE] and no finish_reason");
    } else if (d->html_content_type || upstream_looks_like_html(d->head.data, d->head.len)) {
        fail(d, CONV_ERR_AUTH,
             "upstream returned an HTML page instead of a stream (login expired?)");
    } else if (d->head.len) {
        /* A plain JSON (or text) error body with a success status. */
        const char *s = d->head.data;
        size_t n = d->head.len;
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
            n--;
        json_object *o = parse_json(d, s, n);
        json_object *obj = json_object_is_type(o, json_type_object) ? o : NULL;
        if (obj && !is_error_object(obj)) obj = NULL;
        if (obj)
            report_error(d, 0, obj, d->head.data, NULL);
        else
            fail(d, upstream_classify(0, 0, NULL, d->head.data),
                 "upstream response is not an SSE stream");
        json_object_put(o);
    } else {
        fail(d, CONV_ERR_TRANSIENT, "upstream closed the stream without any data");
    }
}
