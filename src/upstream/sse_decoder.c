#include "upstream/sse_decoder.h"
#include "upstream/error_class.h"
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
#define SSE_HEAD_MAX    4096  /* body prefix kept to diagnose a non-SSE response */
#define SSE_LINE_KEEP   65536 /* line buffer capacity kept between lines */
#define SSE_MESSAGE_MAX 512   /* error messages are cut to this many bytes */
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
    d->tok = json_tokener_new_ex(SSE_JSON_DEPTH);
    if (!d->tok) abort(); /* out of memory, as xmalloc */
    json_tokener_set_flags(d->tok, JSON_TOKENER_STRICT);
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
    json_tokener_reset(d->tok);
    json_object *o = json_tokener_parse_ex(d->tok, s, (int)n);
    if (o && json_tokener_get_parse_end(d->tok) != n) {
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

static void on_tool_fragment(sse_decoder *d, json_object *item, const char *fallback_id) {
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

static void on_delta(sse_decoder *d, json_object *delta) {
    size_t n = 0;
    const char *s = get_str(delta, "reasoning_content", &n);
    if (s && n) emit_text(d, CONV_EV_THINKING_DELTA, s, n);
    s = get_str(delta, "content", &n);
    if (s && n && d->state == SSE_DEC_RUNNING) emit_text(d, CONV_EV_TEXT_DELTA, s, n);
    json_object *calls = get(delta, "tool_calls");
    if (!json_object_is_type(calls, json_type_array)) return;
    const char *fallback_id = get_str(delta, "tool_call_id", NULL);
    size_t nc = json_object_array_length(calls);
    for (size_t i = 0; i < nc && d->state == SSE_DEC_RUNNING; i++)
        on_tool_fragment(d, json_object_array_get_idx(calls, i), fallback_id);
}

static void on_finish_reason(sse_decoder *d, const char *reason) {
    if (!strcmp(reason, "length"))
        d->stop = CONV_STOP_MAX_TOKENS;
    else if (!strcmp(reason, "tool_calls") || !strcmp(reason, "function_call"))
        d->stop = CONV_STOP_TOOL_USE;
    else
        d->stop = CONV_STOP_END_TURN;
    d->gen_finished = true;
}

static void on_usage(sse_decoder *d, json_object *u) {
    if (!json_object_is_type(u, json_type_object)) return;
    int64_t v;
    if (get_int(u, "prompt_tokens", &v) || get_int(u, "input_tokens", &v)) {
        d->usage.input_tokens = v;
        d->usage.known = true;
    }
    if (get_int(u, "completion_tokens", &v) || get_int(u, "output_tokens", &v)) {
        d->usage.output_tokens = v;
        d->usage.known = true;
    }
    if (get_int(get(u, "prompt_tokens_details"), "cached_tokens", &v) ||
        get_int(u, "cache_read_input_tokens", &v))
        d->usage.cached_tokens = v;
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
        if (reason && *reason) on_finish_reason(d, reason);
    }
    if (d->state != SSE_DEC_RUNNING) return;
    on_usage(d, get(o, "usage"));
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

/* ---- the envelope fast path ----
 * Nearly every line is a success envelope {"headers":{},"body":"<chunk>","statusCodeValue":200,
 * "statusCode":"OK"}. Building a json-c tree for it only to take the body out costs more than
 * the chunk itself, so a bounded scanner reads that shape directly: an object whose keys have
 * no escapes, a string "body", an optional integer "statusCodeValue" below 400, and other
 * values that are strings, integers, true/false/null or flat objects of strings. It accepts only
 * text json-c accepts with the same meaning; anything else (errors, escaped or repeated keys,
 * lone surrogates, \u0000, control characters, other shapes) returns false for json-c. */

#define ENV_STR_PLAIN(c) ((unsigned char)(c) >= 0x20 && (c) != '"' && (c) != '\\')

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            x = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | x;
    }
    return v;
}

/* The JSON string at p (just after its opening quote), unescaped into out when out is not NULL.
 * Returns the position after the closing quote, or NULL. The output is never longer than the
 * input. */
static const char *env_string(const char *p, const char *end, buf *out) {
    char *w = out ? out->data + out->len : NULL;
    for (;;) {
        if (w) {
            while (p < end && ENV_STR_PLAIN(*p))
                *w++ = *p++;
        } else {
            while (p < end && ENV_STR_PLAIN(*p))
                p++;
        }
        if (p == end || (unsigned char)*p < 0x20) return NULL;
        if (*p++ == '"') break;
        if (p == end) return NULL;
        char c = *p++, e;
        switch (c) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '/': e = '/'; break;
        case 'b': e = '\b'; break;
        case 'f': e = '\f'; break;
        case 'n': e = '\n'; break;
        case 'r': e = '\r'; break;
        case 't': e = '\t'; break;
        case 'u': {
            if (end - p < 4) return NULL;
            long cp = hex4(p);
            p += 4;
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return NULL;
                long lo = hex4(p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                /* json-c 0.16 turns a pair whose code point's low 16 bits fall in the
                 * surrogate range (U+1D800–U+1DFFF, …) into U+FFFD: leave those to it. */
                if ((cp & 0xF800) == 0xD800) return NULL;
            }
            if (w) {
                if (cp < 0x80) {
                    *w++ = (char)cp;
                } else if (cp < 0x800) {
                    *w++ = (char)(0xC0 | cp >> 6);
                    *w++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *w++ = (char)(0xE0 | cp >> 12);
                    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
                    *w++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *w++ = (char)(0xF0 | cp >> 18);
                    *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
                    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
                    *w++ = (char)(0x80 | (cp & 0x3F));
                }
            }
            continue;
        }
        default: return NULL;
        }
        if (w) *w++ = e;
    }
    if (w) {
        out->len = (size_t)(w - out->data);
        out->data[out->len] = '\0';
    }
    return p;
}

/* A non-negative integer without leading zeros of at most max_digits digits. */
static const char *env_uint(const char *p, const char *end, int max_digits, int64_t *out) {
    int64_t v = 0;
    int k = 0;
    for (; p + k < end && p[k] >= '0' && p[k] <= '9'; k++)
        if (k < max_digits) v = v * 10 + (p[k] - '0');
    if (!k || k > max_digits || (k > 1 && p[0] == '0')) return NULL;
    if (p + k < end && (p[k] == '.' || p[k] == 'e' || p[k] == 'E')) return NULL;
    *out = v;
    return p + k;
}

static const char *env_literal(const char *p, const char *end, const char *word) {
    size_t k = strlen(word);
    return (size_t)(end - p) >= k && !memcmp(p, word, k) ? p + k : NULL;
}

/* A value of a key the decoder does not read. */
static const char *env_skip_value(const char *p, const char *end) {
    int64_t num;
    if (p == end) return NULL;
    switch (*p) {
    case '"': return env_string(p + 1, end, NULL);
    case 't': return env_literal(p, end, "true");
    case 'f': return env_literal(p, end, "false");
    case 'n': return env_literal(p, end, "null");
    case '{': break;
    default: return env_uint(p, end, 18, &num);
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        if (p == end || *p != '"' || !(p = env_string(p + 1, end, NULL))) return NULL;
        p = skip_ws(p, end);
        if (p == end || *p != ':') return NULL;
        p = skip_ws(p + 1, end);
        if (p == end || *p != '"' || !(p = env_string(p + 1, end, NULL))) return NULL;
        p = skip_ws(p, end);
        if (p == end) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = skip_ws(p + 1, end);
    }
}

/* Reads a success envelope: its body into d->body and its statusCodeValue (200 if absent). */
static bool fast_envelope(sse_decoder *d, const char *s, size_t n, int64_t *status) {
    const char *p = s, *end = s + n;
    bool have_body = false, have_status = false;
    *status = 200;
    if (p == end || *p != '{') return false;
    p = skip_ws(p + 1, end);
    for (;;) {
        if (p == end || *p != '"') return false;
        const char *key = ++p;
        while (p < end && ENV_STR_PLAIN(*p))
            p++;
        if (p == end || *p != '"') return false; /* escaped key or control character */
        size_t key_len = (size_t)(p - key);
        p = skip_ws(p + 1, end);
        if (p == end || *p != ':') return false;
        p = skip_ws(p + 1, end);
        if (key_len == 4 && !memcmp(key, "body", 4)) {
            if (have_body || p == end || *p != '"') return false;
            have_body = true;
            buf_reset(&d->body);
            buf_reserve(&d->body, (size_t)(end - p));
            p = env_string(p + 1, end, &d->body);
        } else if (key_len == 15 && !memcmp(key, "statusCodeValue", 15)) {
            if (have_status) return false;
            have_status = true;
            p = env_uint(p, end, 3, status);
            if (p && *status >= 400) return false;
        } else {
            p = env_skip_value(p, end);
        }
        if (!p) return false;
        p = skip_ws(p, end);
        if (p == end) return false;
        if (*p == '}') return have_body && p + 1 == end;
        if (*p != ',') return false;
        p = skip_ws(p + 1, end);
    }
}

static void on_data(sse_decoder *d, const char *s, size_t n) {
    trim(&s, &n);
    if (!n) return;
    if (is_done(s, n)) {
        complete(d);
        return;
    }
    int64_t status;
    bool fast = fast_envelope(d, s, n, &status);
    if (fast) on_body(d, status, d->body.data, d->body.len, NULL, NULL);
    /* One huge body must not pin its buffer for the rest of a long stream. */
    if (d->body.cap > SSE_LINE_KEEP) buf_free(&d->body);
    if (fast) return;
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
    if (!d->any_data && d->head.len < SSE_HEAD_MAX) {
        size_t room = SSE_HEAD_MAX - d->head.len;
        buf_append(&d->head, data, len < room ? len : room);
    }
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
        add_to_line(d, data + i, j - i);
        if (j == len || d->state != SSE_DEC_RUNNING) break;
        d->cr_pending = data[j] == '\r';
        end_line(d);
        i = j + 1;
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
