/* Anthropic Messages codec, the request side (client-wire.md §1.3, §1.8). Decoding walks a
 * json-c tree once and copies what the neutral model needs into the request's arena; unknown
 * blocks degrade to their text (or nothing), never to an error, because Claude Code keeps adding
 * block types. */
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

static json_object *field(json_object *o, const char *key) {
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *str_field(json_object *o, const char *key) {
    json_object *v = field(o, key);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
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

static void text_block_str(dec *d, conv_message *m, json_object *s) {
    conv_block *b = codec_new_block(m, CONV_BLOCK_TEXT);
    b->text = codec_str(&d->r->a, s, &b->text_len);
}

static void text_block_lit(dec *d, conv_message *m, const char *s) {
    set_text(d, codec_new_block(m, CONV_BLOCK_TEXT), s, strlen(s));
}

static void put_json_str(buf *b, json_object *s) {
    buf_append(b, json_object_get_string(s), (size_t)json_object_get_string_len(s));
}

/* The "text" members of an array of blocks, joined with "\n". */
static void join_texts(json_object *arr, buf *into) {
    size_t n = json_object_array_length(arr);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        json_object *t = field(json_object_array_get_idx(arr, i), "text");
        if (!json_object_is_type(t, json_type_string)) continue;
        if (!first) buf_putc(into, '\n');
        put_json_str(into, t);
        first = false;
    }
}

/* A document block as text: its text source, else a short placeholder. */
static void document_text(json_object *blk, buf *into) {
    json_object *src = field(blk, "source");
    const char *st = src ? str_field(src, "type") : NULL;
    json_object *data = src ? field(src, "data") : NULL;
    json_object *content = src ? field(src, "content") : NULL;
    if (st && strcmp(st, "text") == 0 && json_object_is_type(data, json_type_string)) {
        put_json_str(into, data);
    } else if (st && strcmp(st, "content") == 0 && json_object_is_type(content, json_type_string)) {
        put_json_str(into, content);
    } else if (st && strcmp(st, "content") == 0 && json_object_is_type(content, json_type_array)) {
        join_texts(content, into);
    } else {
        const char *what = src ? str_field(src, "media_type") : NULL;
        if (!what && src) what = str_field(src, "url");
        buf_printf(into, "[document: %.200s]", what ? what : st ? st : "unknown");
    }
}

/* Text of a block used where only text is possible (system, tool_result content, unknown
 * blocks): text → text, documents/search results → their text, images → a placeholder,
 * anything else → its "text" member or nothing. Returns false when nothing was produced. */
static bool flatten_block(json_object *blk, buf *into) {
    const char *type = str_field(blk, "type");
    json_object *text = field(blk, "text");
    if (type && strcmp(type, "image") == 0) {
        json_object *src = field(blk, "source");
        const char *mt = src ? str_field(src, "media_type") : NULL;
        buf_printf(into, "[image%s%.64s]", mt ? ": " : "", mt ? mt : "");
        return true;
    }
    if (type && strcmp(type, "document") == 0) {
        document_text(blk, into);
        return true;
    }
    if (type && strcmp(type, "search_result") == 0) {
        json_object *content = field(blk, "content");
        json_object *title = field(blk, "title");
        if (json_object_is_type(title, json_type_string)) {
            put_json_str(into, title);
            buf_putc(into, '\n');
        }
        if (json_object_is_type(content, json_type_array)) join_texts(content, into);
        return true;
    }
    if (json_object_is_type(text, json_type_string)) {
        put_json_str(into, text);
        return true;
    }
    codec_log_dropped("anthropic.block", type ? type : "untyped");
    return false;
}

/* Blocks flattened to text, joined with `sep`. */
static void flatten_blocks(json_object *arr, buf *into, const char *sep) {
    size_t n = json_object_array_length(arr);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        json_object *blk = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(blk, json_type_object)) continue;
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
static int decode_tool_result(dec *d, json_object *blk, size_t i, size_t j) {
    json_object *id = field(blk, "tool_use_id");
    if (!id) return fail(d, "Field required", "messages.%zu.content.%zu.tool_use_id", i, j);
    if (!json_object_is_type(id, json_type_string))
        return fail(d, "Input should be a valid string", "messages.%zu.content.%zu.tool_use_id", i,
                    j);
    json_object *content = field(blk, "content");
    buf_reset(&d->scratch);
    if (json_object_is_type(content, json_type_string))
        put_json_str(&d->scratch, content);
    else if (json_object_is_type(content, json_type_array))
        flatten_blocks(content, &d->scratch, "\n");
    conv_message *m = push_message(d, CONV_ROLE_TOOL);
    m->blocks = arena_alloc(&d->r->a, sizeof(conv_block));
    conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_RESULT);
    b->tool_id = codec_str(&d->r->a, id, NULL);
    set_text(d, b, d->scratch.data ? d->scratch.data : "", d->scratch.len);
    json_object *is_error = field(blk, "is_error");
    b->is_error =
        json_object_is_type(is_error, json_type_boolean) && json_object_get_boolean(is_error);
    return 0;
}

static int decode_image(dec *d, conv_message *m, json_object *blk, size_t i, size_t j) {
    json_object *src = field(blk, "source");
    if (!json_object_is_type(src, json_type_object))
        return fail(d, "Field required", "messages.%zu.content.%zu.source", i, j);
    const char *st = str_field(src, "type");
    json_object *data = field(src, "data"), *url = field(src, "url");
    json_object *mt = field(src, "media_type");
    if (st && strcmp(st, "base64") == 0) {
        if (!json_object_is_type(data, json_type_string))
            return fail(d, "Field required", "messages.%zu.content.%zu.source.data", i, j);
        if (!json_object_is_type(mt, json_type_string))
            return fail(d, "Field required", "messages.%zu.content.%zu.source.media_type", i, j);
        conv_block *b = codec_new_block(m, CONV_BLOCK_IMAGE);
        b->media_type = codec_str(&d->r->a, mt, NULL);
        b->data = codec_str(&d->r->a, data, &b->data_len);
    } else if (st && strcmp(st, "url") == 0 && json_object_is_type(url, json_type_string)) {
        conv_block *b = codec_new_block(m, CONV_BLOCK_IMAGE);
        b->url = codec_str(&d->r->a, url, NULL);
    } else {
        text_block_lit(d, m, "[image]"); /* file ids etc.: nothing we can forward */
        codec_log_dropped("anthropic.image_source", st ? st : "untyped");
        return 0;
    }
    d->r->has_images = true;
    return 0;
}

static int decode_tool_use(dec *d, conv_message *m, json_object *blk, size_t i, size_t j) {
    json_object *id = field(blk, "id"), *name = field(blk, "name");
    if (!json_object_is_type(id, json_type_string))
        return fail(d, "Field required", "messages.%zu.content.%zu.id", i, j);
    if (!json_object_is_type(name, json_type_string))
        return fail(d, "Field required", "messages.%zu.content.%zu.name", i, j);
    conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_CALL);
    b->tool_id = codec_str(&d->r->a, id, NULL);
    b->tool_name = codec_str(&d->r->a, name, NULL);
    json_object *input = field(blk, "input");
    const char *args = input ? codec_json_text(&d->r->a, input) : "{}";
    b->text = args;
    b->text_len = strlen(args);
    return 0;
}

/* One content block of a user/assistant message into m (tool results go to their own message). */
static int decode_block(dec *d, conv_message *m, conv_role role, json_object *blk, size_t i,
                        size_t j, bool *had_tool_result) {
    if (!json_object_is_type(blk, json_type_object))
        return fail(d, "Input should be a valid dictionary", "messages.%zu.content.%zu", i, j);
    const char *type = str_field(blk, "type");
    if (!type) return fail(d, "Field required", "messages.%zu.content.%zu.type", i, j);
    if (strcmp(type, "text") == 0) {
        json_object *text = field(blk, "text");
        if (!json_object_is_type(text, json_type_string))
            return fail(d, "Input should be a valid string", "messages.%zu.content.%zu.text", i, j);
        text_block_str(d, m, text);
        return 0;
    }
    if (strcmp(type, "image") == 0) return decode_image(d, m, blk, i, j);
    if (strcmp(type, "tool_use") == 0) return decode_tool_use(d, m, blk, i, j);
    if (strcmp(type, "tool_result") == 0 && role == CONV_ROLE_USER) {
        *had_tool_result = true;
        return decode_tool_result(d, blk, i, j);
    }
    if (strcmp(type, "thinking") == 0) {
        json_object *t = field(blk, "thinking");
        if (json_object_is_type(t, json_type_string)) { /* the signature is not kept */
            conv_block *b = codec_new_block(m, CONV_BLOCK_THINKING);
            b->text = codec_str(&d->r->a, t, &b->text_len);
        }
        return 0;
    }
    if (strcmp(type, "redacted_thinking") == 0) return 0; /* opaque to any other model */
    /* document, search_result, server-tool blocks, future types: text or nothing */
    buf_reset(&d->scratch);
    if (flatten_block(blk, &d->scratch))
        set_text(d, codec_new_block(m, CONV_BLOCK_TEXT), d->scratch.data, d->scratch.len);
    return 0;
}

static int decode_message(dec *d, json_object *msg, size_t i) {
    if (!json_object_is_type(msg, json_type_object))
        return fail(d, "Input should be a valid dictionary", "messages.%zu", i);
    const char *role = str_field(msg, "role");
    if (!role) return fail(d, "Field required", "messages.%zu.role", i);
    json_object *content = field(msg, "content");
    if (!content) return fail(d, "Field required", "messages.%zu.content", i);
    bool is_array = json_object_is_type(content, json_type_array);
    if (!is_array && !json_object_is_type(content, json_type_string))
        return fail(d, "Input should be a valid string or list", "messages.%zu.content", i);
    if (strcmp(role, "system") == 0) { /* mid-conversation system text joins the system prompt */
        if (is_array) {
            buf tmp = BUF_INIT;
            flatten_blocks(content, &tmp, "\n\n");
            sys_append(d, tmp.data ? tmp.data : "", tmp.len);
            buf_free(&tmp);
        } else {
            sys_append(d, json_object_get_string(content),
                       (size_t)json_object_get_string_len(content));
        }
        return 0;
    }
    conv_role cr;
    if (strcmp(role, "user") == 0)
        cr = CONV_ROLE_USER;
    else if (strcmp(role, "assistant") == 0)
        cr = CONV_ROLE_ASSISTANT;
    else {
        return fail(d, "Input should be 'user', 'assistant' or 'system'", "messages.%zu.role", i);
    }
    /* The message's own blocks are filled first and pushed after its tool results. */
    size_t n = is_array ? json_object_array_length(content) : 1;
    conv_message main = {.role = cr,
                         .blocks = arena_alloc(&d->r->a, (n ? n : 1) * sizeof(conv_block))};
    bool had_tool_result = false;
    if (!is_array) {
        text_block_str(d, &main, content);
    } else {
        for (size_t j = 0; j < n; j++) {
            if (decode_block(d, &main, cr, json_object_array_get_idx(content, j), i, j,
                             &had_tool_result))
                return -1;
        }
    }
    if (main.n_blocks || !had_tool_result) *push_message(d, cr) = main;
    return 0;
}

static int decode_messages(dec *d, json_object *root) {
    json_object *msgs = field(root, "messages");
    if (!msgs) return fail(d, "Field required", "messages");
    if (!json_object_is_type(msgs, json_type_array))
        return fail(d, "Input should be a valid list", "messages");
    size_t n = json_object_array_length(msgs);
    if (n == 0) return fail(d, "at least one message is required", "messages");
    /* Upper bound: every message, plus one per tool_result block. */
    size_t cap = n;
    for (size_t i = 0; i < n; i++) {
        json_object *c = field(json_object_array_get_idx(msgs, i), "content");
        if (json_object_is_type(c, json_type_array)) cap += json_object_array_length(c);
    }
    d->r->messages = arena_alloc(&d->r->a, cap * sizeof(conv_message));
    for (size_t i = 0; i < n; i++)
        if (decode_message(d, json_object_array_get_idx(msgs, i), i)) return -1;
    return 0;
}

static int decode_system(dec *d, json_object *sys) {
    if (json_object_is_type(sys, json_type_string)) {
        sys_append(d, json_object_get_string(sys), (size_t)json_object_get_string_len(sys));
        return 0;
    }
    if (!json_object_is_type(sys, json_type_array))
        return fail(d, "Input should be a valid string or list", "system");
    /* Each block is one segment, Claude Code's billing-header block included. */
    size_t n = json_object_array_length(sys);
    for (size_t i = 0; i < n; i++) {
        json_object *blk = json_object_array_get_idx(sys, i);
        if (!json_object_is_type(blk, json_type_object)) continue;
        buf_reset(&d->scratch);
        if (flatten_block(blk, &d->scratch)) sys_append(d, d->scratch.data, d->scratch.len);
    }
    return 0;
}

static int decode_tools(dec *d, json_object *tools) {
    if (!json_object_is_type(tools, json_type_array))
        return fail(d, "Input should be a valid list", "tools");
    size_t n = json_object_array_length(tools);
    d->r->tools = arena_alloc(&d->r->a, (n ? n : 1) * sizeof(conv_tool));
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        if (!json_object_is_type(t, json_type_object))
            return fail(d, "Input should be a valid dictionary", "tools.%zu", i);
        const char *type = str_field(t, "type");
        if (type && strcmp(type, "custom") != 0) { /* server/client-typed tools (web_search_…) */
            codec_log_dropped("anthropic.tools", type);
            continue;
        }
        json_object *name = field(t, "name");
        if (!json_object_is_type(name, json_type_string))
            return fail(d, "Field required", "tools.%zu.name", i);
        codec_add_tool(d->r, name, field(t, "description"), field(t, "input_schema"));
    }
    return 0;
}

static int decode_tool_choice(dec *d, json_object *tc) {
    conv_request *r = d->r;
    if (!json_object_is_type(tc, json_type_object))
        return fail(d, "Input should be a valid dictionary", "tool_choice");
    const char *type = str_field(tc, "type");
    if (!type) return fail(d, "Field required", "tool_choice.type");
    if (strcmp(type, "auto") == 0)
        r->tool_choice = CONV_TOOL_CHOICE_AUTO;
    else if (strcmp(type, "any") == 0)
        r->tool_choice = CONV_TOOL_CHOICE_REQUIRED;
    else if (strcmp(type, "none") == 0)
        r->tool_choice = CONV_TOOL_CHOICE_NONE;
    else if (strcmp(type, "tool") == 0) {
        json_object *name = field(tc, "name");
        if (!json_object_is_type(name, json_type_string))
            return fail(d, "Field required", "tool_choice.name");
        r->tool_choice = CONV_TOOL_CHOICE_NAMED;
        r->tool_choice_name = codec_str(&r->a, name, NULL);
    } else {
        return fail(d, "Input should be 'auto', 'any', 'tool' or 'none'", "tool_choice.type");
    }
    json_object *dp = field(tc, "disable_parallel_tool_use");
    if (json_object_is_type(dp, json_type_boolean) && json_object_get_boolean(dp))
        r->parallel_tool_calls = false;
    return 0;
}

static int get_number(dec *d, json_object *root, const char *key, double lo, double hi, bool *has,
                      double *out) {
    json_object *v = field(root, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return fail(d, "Input should be a valid number", "%s", key);
    double x = json_object_get_double(v);
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

static int get_nonneg_int(dec *d, json_object *root, const char *key, bool *has, int64_t *out) {
    json_object *v = field(root, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int))
        return fail(d, "Input should be a valid integer", "%s", key);
    int64_t x = json_object_get_int64(v);
    if (x < 0) return fail(d, "Input should be greater than or equal to 0", "%s", key);
    *has = true;
    *out = x;
    return 0;
}

static int decode_params(dec *d, json_object *root, anthropic_decode_mode mode) {
    conv_request *r = d->r;
    bool has = false;
    if (get_nonneg_int(d, root, "max_tokens", &has, &r->max_tokens)) return -1;
    if (!has && mode == ANTHROPIC_DECODE_MESSAGES) return fail(d, "Field required", "max_tokens");
    json_object *sys = field(root, "system");
    if (sys && decode_system(d, sys)) return -1;
    if (decode_messages(d, root)) return -1;
    if (get_number(d, root, "temperature", 0, 1, &r->has_temperature, &r->temperature)) return -1;
    if (get_number(d, root, "top_p", 0, 1, &r->has_top_p, &r->top_p)) return -1;
    if (get_nonneg_int(d, root, "top_k", &r->has_top_k, &r->top_k)) return -1;
    json_object *stream = field(root, "stream");
    if (stream) {
        if (!json_object_is_type(stream, json_type_boolean))
            return fail(d, "Input should be a valid boolean", "stream");
        r->stream = json_object_get_boolean(stream);
    }
    json_object *stops = field(root, "stop_sequences");
    if (stops) {
        if (!json_object_is_type(stops, json_type_array))
            return fail(d, "Input should be a valid list", "stop_sequences");
        size_t n = json_object_array_length(stops);
        r->stop = arena_alloc(&r->a, (n ? n : 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            json_object *s = json_object_array_get_idx(stops, i);
            if (!json_object_is_type(s, json_type_string)) {
                return fail(d, "Input should be a valid string", "stop_sequences.%zu", i);
            }
            r->stop[r->n_stop++] = codec_str(&r->a, s, NULL);
        }
    }
    json_object *tools = field(root, "tools");
    if (tools && decode_tools(d, tools)) return -1;
    json_object *tc = field(root, "tool_choice");
    if (tc && decode_tool_choice(d, tc)) return -1;
    /* thinking: "enabled", "adaptive" and unknown future types think; only "disabled" does not */
    json_object *thinking = field(root, "thinking");
    const char *tt =
        json_object_is_type(thinking, json_type_object) ? str_field(thinking, "type") : NULL;
    r->thinking = tt && strcmp(tt, "disabled") != 0;
    json_object *meta = field(root, "metadata");
    json_object *uid = json_object_is_type(meta, json_type_object) ? field(meta, "user_id") : NULL;
    if (json_object_is_type(uid, json_type_string)) r->user = codec_str(&r->a, uid, NULL);
    return 0; /* context_management, output_config, cache_control, container, …: ignored */
}

int anthropic_decode_request(const char *body, size_t len, anthropic_decode_mode mode,
                             conv_request *out, codec_error *err, json_object **tree) {
    dec d = {.r = out, .err = err, .sys = BUF_INIT, .scratch = BUF_INIT};
    int rc = -1;
    json_object *root = codec_begin_request(body, len, CONV_PROTO_ANTHROPIC, out, err);
    if (!root) goto out;
    json_object *model = field(root, "model");
    if (!model) {
        fail(&d, "Field required", "model");
        goto out;
    }
    if (!json_object_is_type(model, json_type_string)) {
        fail(&d, "Input should be a valid string", "model");
        goto out;
    }
    out->model = codec_str(&out->a, model, NULL);
    if (decode_params(&d, root, mode)) goto out;
    codec_finish_request(out, &d.sys, d.has_sys);
    rc = 0;
out:
    codec_end_request(root, tree);
    buf_free(&d.sys);
    buf_free(&d.scratch);
    return rc;
}
