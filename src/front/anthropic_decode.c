/* Anthropic Messages codec, the request side (client-wire.md §1.3, §1.8). Decoding walks the
 * body's tape (util/json_tape.h) once and copies what the neutral model needs into the request's
 * arena; unknown blocks degrade to their text (or nothing), never to an error, because Claude
 * Code keeps adding block types. */
#include "front/anthropic_codec.h"
#include "util/ids.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void anthropic_new_message_id(char out[ANTHROPIC_ID_CAP]) {
    ids_prefixed(out, ANTHROPIC_ID_CAP, "msg_", 24);
}

int64_t anthropic_count_tokens(const conv_request *r) { return codec_estimate_request_tokens(r); }

void anthropic_encode_count_tokens(buf *out, int64_t input_tokens) {
    buf_puts(out, "{\"input_tokens\":");
    buf_put_i64(out, input_tokens);
    buf_putc(out, '}');
}

/* ------------------------------------------------------------------------------------------ */
/* decoding                                                                                   */

typedef struct dec {
    conv_request *r;
    codec_error *err;
    size_t msgs_cap;
    buf sys; /* top-level system + role:"system" messages, joined with "\n\n" */
    bool has_sys;
    buf scratch; /* flattened tool_result content */
} dec;

/* A member, or NULL when absent or JSON null (both mean "not given" here). */
static const jt_node *field(const jt_node *o, const char *key) {
    const jt_node *v = jt_get(o, key);
    return jt_is(v, JT_NULL) ? NULL : v;
}

/* Errors read like the real API's: "messages.0.content: Input should be a valid list". */
/* Errors read like the real API's: "messages.0.content: Input should be a valid list". The path
 * is formatted only when an error is reported: decoding stays printf-free. */
static int fail(dec *d, const char *problem, const char *path_fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(dec *d, const char *problem, const char *path_fmt, ...) {
    char path[CODEC_PATH_CAP];
    va_list ap;
    va_start(ap, path_fmt);
    vsnprintf(path, sizeof path, path_fmt, ap);
    va_end(ap);
    codec_error_set(d->err, path, "%s: %s", path, problem);
    return -1;
}

static void sys_append(dec *d, const char *s, size_t n) {
    codec_append_system(&d->sys, &d->has_sys, s, n);
}

static void set_text(dec *d, conv_block *b, const char *s, size_t n) {
    b->text = arena_strndup(&d->r->a, s, n);
    b->text_len = n;
}

static void text_block_str(dec *d, conv_message *m, const jt_node *s) {
    conv_block *b = codec_new_block(m, CONV_BLOCK_TEXT);
    b->text = codec_str(&d->r->a, s, &b->text_len);
}

static void text_block_lit(dec *d, conv_message *m, const char *s) {
    set_text(d, codec_new_block(m, CONV_BLOCK_TEXT), s, strlen(s));
}

static void put_json_str(buf *b, const jt_node *s) { buf_append(b, s->s, s->len); }

/* The "text" members of an array of blocks, joined with "\n". */
static void join_texts(const jt_node *arr, buf *into) {
    bool first = true;
    for (const jt_node *e = JT_FIRST(arr); e < jt_next(arr); e = jt_next(e)) {
        const jt_node *t = jt_get_str(e, "text");
        if (!t) continue;
        if (!first) buf_putc(into, '\n');
        put_json_str(into, t);
        first = false;
    }
}

/* A document block as text: its text source, else a short placeholder. */
static void document_text(const jt_node *blk, buf *into) {
    const jt_node *src = field(blk, "source");
    const jt_node *st = jt_get_str(src, "type");
    const jt_node *data = field(src, "data");
    const jt_node *content = field(src, "content");
    if (codec_str_is(st, "text") && jt_is(data, JT_STRING)) {
        put_json_str(into, data);
    } else if (codec_str_is(st, "content") && jt_is(content, JT_STRING)) {
        put_json_str(into, content);
    } else if (codec_str_is(st, "content") && jt_is(content, JT_ARRAY)) {
        join_texts(content, into);
    } else {
        const jt_node *what = jt_get_str(src, "media_type");
        if (!what) what = jt_get_str(src, "url");
        if (!what) what = st;
        buf_printf(into, "[document: %.*s]", what ? codec_print_len(what, 200) : 200,
                   what ? what->s : "unknown");
    }
}

/* Text of a block used where only text is possible (system, tool_result content, unknown
 * blocks): text → text, documents/search results → their text, images → a placeholder,
 * anything else → its "text" member or nothing. Returns false when nothing was produced. */
static bool flatten_block(const jt_node *blk, buf *into) {
    const jt_node *type = jt_get_str(blk, "type");
    const jt_node *text = field(blk, "text");
    if (codec_str_is(type, "image")) {
        const jt_node *mt = jt_get_str(field(blk, "source"), "media_type");
        buf_printf(into, "[image%s%.*s]", mt ? ": " : "", mt ? codec_print_len(mt, 64) : 0,
                   mt ? mt->s : "");
        return true;
    }
    if (codec_str_is(type, "document")) {
        document_text(blk, into);
        return true;
    }
    if (codec_str_is(type, "search_result")) {
        const jt_node *content = field(blk, "content");
        const jt_node *title = field(blk, "title");
        if (jt_is(title, JT_STRING)) {
            put_json_str(into, title);
            buf_putc(into, '\n');
        }
        if (jt_is(content, JT_ARRAY)) join_texts(content, into);
        return true;
    }
    if (jt_is(text, JT_STRING)) {
        put_json_str(into, text);
        return true;
    }
    codec_log_dropped("anthropic.block", type, "untyped");
    return false;
}

/* Blocks flattened to text, joined with `sep`. */
static void flatten_blocks(const jt_node *arr, buf *into, const char *sep) {
    bool first = true;
    for (const jt_node *blk = JT_FIRST(arr); blk < jt_next(arr); blk = jt_next(blk)) {
        if (!jt_is(blk, JT_OBJECT)) continue;
        size_t mark = into->len;
        if (!first) buf_puts(into, sep);
        if (flatten_block(blk, into)) {
            first = false;
        } else { /* nothing produced: take the separator back */
            into->len = mark;
            if (into->data) into->data[mark] = '\0';
        }
    }
}

static conv_message *push_message(dec *d, conv_role role) {
    conv_message *m = &d->r->messages[d->r->n_messages++];
    memset(m, 0, sizeof *m);
    m->role = role;
    return m;
}

/* tool_result → its own CONV_ROLE_TOOL message, appended now (before the user's text). */
static int decode_tool_result(dec *d, const jt_node *blk, size_t i, size_t j) {
    const jt_node *id = field(blk, "tool_use_id");
    if (!id) return fail(d, "Field required", "messages.%zu.content.%zu.tool_use_id", i, j);
    if (!jt_is(id, JT_STRING))
        return fail(d, "Input should be a valid string", "messages.%zu.content.%zu.tool_use_id", i,
                    j);
    const jt_node *content = field(blk, "content");
    buf_reset(&d->scratch);
    if (jt_is(content, JT_STRING))
        put_json_str(&d->scratch, content);
    else if (jt_is(content, JT_ARRAY))
        flatten_blocks(content, &d->scratch, "\n");
    conv_message *m = push_message(d, CONV_ROLE_TOOL);
    m->blocks = arena_alloc(&d->r->a, sizeof(conv_block));
    conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_RESULT);
    b->tool_id = codec_str(&d->r->a, id, NULL);
    set_text(d, b, d->scratch.data ? d->scratch.data : "", d->scratch.len);
    const jt_node *is_error = field(blk, "is_error");
    b->is_error = jt_is(is_error, JT_BOOL) && is_error->v.b;
    return 0;
}

static int decode_image(dec *d, conv_message *m, const jt_node *blk, size_t i, size_t j) {
    const jt_node *src = field(blk, "source");
    if (!jt_is(src, JT_OBJECT))
        return fail(d, "Field required", "messages.%zu.content.%zu.source", i, j);
    const jt_node *st = jt_get_str(src, "type");
    const jt_node *data = field(src, "data"), *url = field(src, "url");
    const jt_node *mt = field(src, "media_type");
    if (codec_str_is(st, "base64")) {
        if (!jt_is(data, JT_STRING))
            return fail(d, "Field required", "messages.%zu.content.%zu.source.data", i, j);
        if (!jt_is(mt, JT_STRING))
            return fail(d, "Field required", "messages.%zu.content.%zu.source.media_type", i, j);
        conv_block *b = codec_new_block(m, CONV_BLOCK_IMAGE);
        b->media_type = codec_str(&d->r->a, mt, NULL);
        b->data = codec_str(&d->r->a, data, &b->data_len);
    } else if (codec_str_is(st, "url") && jt_is(url, JT_STRING)) {
        conv_block *b = codec_new_block(m, CONV_BLOCK_IMAGE);
        b->url = codec_str(&d->r->a, url, NULL);
    } else {
        text_block_lit(d, m, "[image]"); /* file ids etc.: nothing we can forward */
        codec_log_dropped("anthropic.image_source", st, "untyped");
        return 0;
    }
    d->r->has_images = true;
    return 0;
}

static int decode_tool_use(dec *d, conv_message *m, const jt_node *blk, size_t i, size_t j) {
    const jt_node *id = field(blk, "id"), *name = field(blk, "name");
    if (!jt_is(id, JT_STRING))
        return fail(d, "Field required", "messages.%zu.content.%zu.id", i, j);
    if (!jt_is(name, JT_STRING))
        return fail(d, "Field required", "messages.%zu.content.%zu.name", i, j);
    conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_CALL);
    b->tool_id = codec_str(&d->r->a, id, NULL);
    b->tool_name = codec_str(&d->r->a, name, NULL);
    const jt_node *input = field(blk, "input");
    const char *args = input ? codec_json_text(&d->r->a, input) : "{}";
    b->text = args;
    b->text_len = strlen(args);
    return 0;
}

/* One content block of a user/assistant message into m (tool results go to their own message). */
static int decode_block(dec *d, conv_message *m, conv_role role, const jt_node *blk, size_t i,
                        size_t j, bool *had_tool_result) {
    if (!jt_is(blk, JT_OBJECT))
        return fail(d, "Input should be a valid dictionary", "messages.%zu.content.%zu", i, j);
    const jt_node *type = jt_get_str(blk, "type");
    if (!type) return fail(d, "Field required", "messages.%zu.content.%zu.type", i, j);
    if (codec_str_is(type, "text")) {
        const jt_node *text = field(blk, "text");
        if (!jt_is(text, JT_STRING))
            return fail(d, "Input should be a valid string", "messages.%zu.content.%zu.text", i, j);
        text_block_str(d, m, text);
        return 0;
    }
    if (codec_str_is(type, "image")) return decode_image(d, m, blk, i, j);
    if (codec_str_is(type, "tool_use")) return decode_tool_use(d, m, blk, i, j);
    if (codec_str_is(type, "tool_result") && role == CONV_ROLE_USER) {
        *had_tool_result = true;
        return decode_tool_result(d, blk, i, j);
    }
    if (codec_str_is(type, "thinking")) {
        const jt_node *t = field(blk, "thinking");
        if (jt_is(t, JT_STRING)) { /* the signature is not kept */
            conv_block *b = codec_new_block(m, CONV_BLOCK_THINKING);
            b->text = codec_str(&d->r->a, t, &b->text_len);
        }
        return 0;
    }
    if (codec_str_is(type, "redacted_thinking")) return 0; /* opaque to any other model */
    /* document, search_result, server-tool blocks, future types: text or nothing */
    buf_reset(&d->scratch);
    if (flatten_block(blk, &d->scratch))
        set_text(d, codec_new_block(m, CONV_BLOCK_TEXT), d->scratch.data, d->scratch.len);
    return 0;
}

static int decode_message(dec *d, const jt_node *msg, size_t i) {
    if (!jt_is(msg, JT_OBJECT))
        return fail(d, "Input should be a valid dictionary", "messages.%zu", i);
    const jt_node *role = jt_get_str(msg, "role");
    if (!role) return fail(d, "Field required", "messages.%zu.role", i);
    const jt_node *content = field(msg, "content");
    if (!content) return fail(d, "Field required", "messages.%zu.content", i);
    bool is_array = jt_is(content, JT_ARRAY);
    if (!is_array && !jt_is(content, JT_STRING))
        return fail(d, "Input should be a valid string or list", "messages.%zu.content", i);
    if (codec_str_is(role, "system")) { /* mid-conversation system text joins the system prompt */
        if (is_array) {
            buf tmp = BUF_INIT;
            flatten_blocks(content, &tmp, "\n\n");
            sys_append(d, tmp.data ? tmp.data : "", tmp.len);
            buf_free(&tmp);
        } else {
            sys_append(d, content->s, content->len);
        }
        return 0;
    }
    conv_role cr;
    if (codec_str_is(role, "user"))
        cr = CONV_ROLE_USER;
    else if (codec_str_is(role, "assistant"))
        cr = CONV_ROLE_ASSISTANT;
    else {
        return fail(d, "Input should be 'user', 'assistant' or 'system'", "messages.%zu.role", i);
    }
    /* The message's own blocks are filled first and pushed after its tool results. */
    size_t n = is_array ? content->len : 1;
    conv_message main = {.role = cr,
                         .blocks = arena_alloc(&d->r->a, (n ? n : 1) * sizeof(conv_block))};
    bool had_tool_result = false;
    if (!is_array) {
        text_block_str(d, &main, content);
    } else {
        size_t j = 0;
        for (const jt_node *blk = JT_FIRST(content); blk < jt_next(content);
             blk = jt_next(blk), j++) {
            if (decode_block(d, &main, cr, blk, i, j, &had_tool_result)) return -1;
        }
    }
    if (main.n_blocks || !had_tool_result) *push_message(d, cr) = main;
    return 0;
}

static int decode_messages(dec *d, const jt_node *root) {
    const jt_node *msgs = field(root, "messages");
    if (!msgs) return fail(d, "Field required", "messages");
    if (!jt_is(msgs, JT_ARRAY)) return fail(d, "Input should be a valid list", "messages");
    if (msgs->len == 0) return fail(d, "at least one message is required", "messages");
    /* Upper bound: every message, plus one per tool_result block. */
    size_t cap = msgs->len;
    for (const jt_node *msg = JT_FIRST(msgs); msg < jt_next(msgs); msg = jt_next(msg)) {
        const jt_node *c = field(msg, "content");
        if (jt_is(c, JT_ARRAY)) cap += c->len;
    }
    d->r->messages = arena_alloc(&d->r->a, cap * sizeof(conv_message));
    size_t i = 0;
    for (const jt_node *msg = JT_FIRST(msgs); msg < jt_next(msgs); msg = jt_next(msg), i++)
        if (decode_message(d, msg, i)) return -1;
    return 0;
}

static int decode_system(dec *d, const jt_node *sys) {
    if (jt_is(sys, JT_STRING)) {
        sys_append(d, sys->s, sys->len);
        return 0;
    }
    if (!jt_is(sys, JT_ARRAY)) return fail(d, "Input should be a valid string or list", "system");
    /* Each block is one segment, Claude Code's billing-header block included. */
    for (const jt_node *blk = JT_FIRST(sys); blk < jt_next(sys); blk = jt_next(blk)) {
        if (!jt_is(blk, JT_OBJECT)) continue;
        buf_reset(&d->scratch);
        if (flatten_block(blk, &d->scratch)) sys_append(d, d->scratch.data, d->scratch.len);
    }
    return 0;
}

static int decode_tools(dec *d, const jt_node *tools) {
    if (!jt_is(tools, JT_ARRAY)) return fail(d, "Input should be a valid list", "tools");
    d->r->tools = arena_alloc(&d->r->a, (tools->len ? tools->len : 1) * sizeof(conv_tool));
    size_t i = 0;
    for (const jt_node *t = JT_FIRST(tools); t < jt_next(tools); t = jt_next(t), i++) {
        if (!jt_is(t, JT_OBJECT))
            return fail(d, "Input should be a valid dictionary", "tools.%zu", i);
        const jt_node *type = jt_get_str(t, "type");
        if (type && !codec_str_is(type, "custom")) { /* server/client-typed tools (web_search_…) */
            codec_log_dropped("anthropic.tools", type, "untyped");
            continue;
        }
        const jt_node *name = field(t, "name");
        if (!jt_is(name, JT_STRING)) return fail(d, "Field required", "tools.%zu.name", i);
        codec_add_tool(d->r, name, field(t, "description"), field(t, "input_schema"));
    }
    return 0;
}

static int decode_tool_choice(dec *d, const jt_node *tc) {
    conv_request *r = d->r;
    if (!jt_is(tc, JT_OBJECT)) return fail(d, "Input should be a valid dictionary", "tool_choice");
    const jt_node *type = jt_get_str(tc, "type");
    if (!type) return fail(d, "Field required", "tool_choice.type");
    if (codec_str_is(type, "auto"))
        r->tool_choice = CONV_TOOL_CHOICE_AUTO;
    else if (codec_str_is(type, "any"))
        r->tool_choice = CONV_TOOL_CHOICE_REQUIRED;
    else if (codec_str_is(type, "none"))
        r->tool_choice = CONV_TOOL_CHOICE_NONE;
    else if (codec_str_is(type, "tool")) {
        const jt_node *name = field(tc, "name");
        if (!jt_is(name, JT_STRING)) return fail(d, "Field required", "tool_choice.name");
        r->tool_choice = CONV_TOOL_CHOICE_NAMED;
        r->tool_choice_name = codec_str(&r->a, name, NULL);
    } else {
        return fail(d, "Input should be 'auto', 'any', 'tool' or 'none'", "tool_choice.type");
    }
    const jt_node *dp = field(tc, "disable_parallel_tool_use");
    if (jt_is(dp, JT_BOOL) && dp->v.b) r->parallel_tool_calls = false;
    return 0;
}

static int get_number(dec *d, const jt_node *root, const char *key, double lo, double hi, bool *has,
                      double *out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_DOUBLE) && !jt_is(v, JT_INT))
        return fail(d, "Input should be a valid number", "%s", key);
    double x = codec_number(v);
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "Input should be %s %g",
                 x < lo ? "greater than or equal to" : "less than or equal to", x < lo ? lo : hi);
        return fail(d, msg, "%s", key);
    }
    *has = true;
    *out = x;
    return 0;
}

static int get_nonneg_int(dec *d, const jt_node *root, const char *key, bool *has, int64_t *out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_INT)) return fail(d, "Input should be a valid integer", "%s", key);
    int64_t x = v->v.i;
    if (x < 0) return fail(d, "Input should be greater than or equal to 0", "%s", key);
    *has = true;
    *out = x;
    return 0;
}

static int decode_params(dec *d, const jt_node *root, anthropic_decode_mode mode) {
    conv_request *r = d->r;
    bool has = false;
    if (get_nonneg_int(d, root, "max_tokens", &has, &r->max_tokens)) return -1;
    if (!has && mode == ANTHROPIC_DECODE_MESSAGES) return fail(d, "Field required", "max_tokens");
    const jt_node *sys = field(root, "system");
    if (sys && decode_system(d, sys)) return -1;
    if (decode_messages(d, root)) return -1;
    if (get_number(d, root, "temperature", 0, 1, &r->has_temperature, &r->temperature)) return -1;
    if (get_number(d, root, "top_p", 0, 1, &r->has_top_p, &r->top_p)) return -1;
    if (get_nonneg_int(d, root, "top_k", &r->has_top_k, &r->top_k)) return -1;
    const jt_node *stream = field(root, "stream");
    if (stream) {
        if (!jt_is(stream, JT_BOOL)) return fail(d, "Input should be a valid boolean", "stream");
        r->stream = stream->v.b;
    }
    const jt_node *stops = field(root, "stop_sequences");
    if (stops) {
        if (!jt_is(stops, JT_ARRAY))
            return fail(d, "Input should be a valid list", "stop_sequences");
        r->stop = arena_alloc(&r->a, (stops->len ? stops->len : 1) * sizeof(char *));
        size_t i = 0;
        for (const jt_node *s = JT_FIRST(stops); s < jt_next(stops); s = jt_next(s), i++) {
            if (!jt_is(s, JT_STRING)) {
                return fail(d, "Input should be a valid string", "stop_sequences.%zu", i);
            }
            r->stop[r->n_stop++] = codec_str(&r->a, s, NULL);
        }
    }
    const jt_node *tools = field(root, "tools");
    if (tools && decode_tools(d, tools)) return -1;
    const jt_node *tc = field(root, "tool_choice");
    if (tc && decode_tool_choice(d, tc)) return -1;
    /* thinking: "enabled", "adaptive" and unknown future types think; only "disabled" does not */
    const jt_node *tt = jt_get_str(field(root, "thinking"), "type");
    r->thinking = tt && !codec_str_is(tt, "disabled");
    const jt_node *uid = jt_get_str(field(root, "metadata"), "user_id");
    if (uid) r->user = codec_str(&r->a, uid, NULL);
    return 0; /* context_management, output_config, cache_control, container, …: ignored */
}

int anthropic_decode_request(const char *body, size_t len, anthropic_decode_mode mode,
                             conv_request *out, codec_error *err) {
    dec d = {.r = out, .err = err, .sys = BUF_INIT, .scratch = BUF_INIT};
    json_tape tape = JSON_TAPE_INIT;
    int rc = -1;
    const jt_node *root = codec_begin_request(body, len, CONV_PROTO_ANTHROPIC, &tape, out, err);
    if (!root) goto out;
    const jt_node *model = field(root, "model");
    if (!model) {
        fail(&d, "Field required", "model");
        goto out;
    }
    if (!jt_is(model, JT_STRING)) {
        fail(&d, "Input should be a valid string", "model");
        goto out;
    }
    out->model = codec_str(&out->a, model, NULL);
    if (decode_params(&d, root, mode)) goto out;
    codec_finish_request(out, &d.sys, d.has_sys);
    rc = 0;
out:
    codec_end_request(&tape);
    buf_free(&d.sys);
    buf_free(&d.scratch);
    return rc;
}
