/* OpenAI Chat Completions codec. Decoding walks the body's tape (util/json_tape.h) once and
 * copies what the neutral model needs into the request's arena; encoding writes JSON straight
 * into a buf (util/json_write.h), in the field order of the real recordings of client-wire.md
 * §2.3/§2.4. */
#include "front/openai_codec.h"
#include "front/errors.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void openai_new_completion_id(char out[OPENAI_ID_CAP]) {
    ids_prefixed(out, OPENAI_ID_CAP, "chatcmpl-", 29);
}

/* ------------------------------------------------------------------------------------------ */
/* decoding                                                                                   */

typedef struct dec {
    conv_request *r;
    codec_error *err;
    buf sys; /* system + developer text, joined with "\n\n" */
    bool has_sys;
    buf scratch; /* joined text parts of one tool message */
} dec;

/* A member, or NULL when absent or JSON null (both mean "not given" here). */
static const jt_node *field(const jt_node *o, const char *key) {
    const jt_node *v = jt_get(o, key);
    return jt_is(v, JT_NULL) ? NULL : v;
}

/* Error paths are formatted only when an error is reported: decoding stays printf-free. */
static int type_error(dec *d, const char *expected, const jt_node *got, const char *param_fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int type_error(dec *d, const char *expected, const jt_node *got, const char *param_fmt,
                      ...) {
    char param[CODEC_PATH_CAP];
    va_list ap;
    va_start(ap, param_fmt);
    vsnprintf(param, sizeof param, param_fmt, ap);
    va_end(ap);
    codec_error_set(d->err, param, "Invalid type for '%s': expected %s, but got %s instead.", param,
                    expected, codec_json_type_desc(got));
    return -1;
}

static int missing(dec *d, const char *param_fmt, ...) __attribute__((format(printf, 2, 3)));
static int missing(dec *d, const char *param_fmt, ...) {
    char param[CODEC_PATH_CAP];
    va_list ap;
    va_start(ap, param_fmt);
    vsnprintf(param, sizeof param, param_fmt, ap);
    va_end(ap);
    codec_error_set(d->err, param, "Missing required parameter: '%s'.", param);
    return -1;
}

static void sys_append(dec *d, const char *s, size_t n) {
    codec_append_system(&d->sys, &d->has_sys, s, n);
}

static void text_block(dec *d, conv_message *m, const jt_node *s) {
    conv_block *b = codec_new_block(m, CONV_BLOCK_TEXT);
    b->text = codec_str(&d->r->a, s, &b->text_len);
}

static void placeholder_block(dec *d, conv_message *m, const char *text) {
    conv_block *b = codec_new_block(m, CONV_BLOCK_TEXT);
    b->text_len = strlen(text);
    b->text = arena_strndup(&d->r->a, text, b->text_len);
}

/* "data:<media type>[;params];base64,<payload>" → media_type + data; anything else → url. */
static void image_from_url(dec *d, conv_block *b, const jt_node *url) {
    size_t n;
    const char *u = codec_str(&d->r->a, url, &n);
    const char *comma = strncmp(u, "data:", 5) == 0 ? memchr(u, ',', n) : NULL;
    if (comma) {
        const char *mt = u + 5;
        const char *semi = memchr(mt, ';', (size_t)(comma - mt));
        size_t mt_len = (size_t)((semi ? semi : comma) - mt);
        if (semi && (size_t)(comma - semi) >= 7 && memcmp(comma - 7, ";base64", 7) == 0) {
            b->media_type =
                mt_len ? arena_strndup(&d->r->a, mt, mt_len) : "application/octet-stream";
            b->data = comma + 1; /* points into the arena copy */
            b->data_len = n - (size_t)(comma + 1 - u);
            return;
        }
    }
    b->url = u;
}

/* One element of a user/assistant content array. */
static int decode_part(dec *d, conv_message *m, const jt_node *part, size_t mi, size_t j) {
    if (!jt_is(part, JT_OBJECT))
        return type_error(d, "an object", part, "messages[%zu].content[%zu]", mi, j);
    const jt_node *type = jt_get_str(part, "type");
    if (codec_str_is(type, "text")) {
        const jt_node *text = field(part, "text");
        if (!text) return missing(d, "messages[%zu].content[%zu].text", mi, j);
        if (!jt_is(text, JT_STRING))
            return type_error(d, "a string", text, "messages[%zu].content[%zu].text", mi, j);
        text_block(d, m, text);
        return 0;
    }
    if (codec_str_is(type, "image_url")) {
        const jt_node *iu = field(part, "image_url");
        const jt_node *url = jt_is(iu, JT_OBJECT) ? field(iu, "url") : iu;
        if (!url) return missing(d, "messages[%zu].content[%zu].image_url.url", mi, j);
        if (!jt_is(url, JT_STRING))
            return type_error(d, "a string", url, "messages[%zu].content[%zu].image_url.url", mi,
                              j);
        image_from_url(d, codec_new_block(m, CONV_BLOCK_IMAGE), url);
        d->r->has_images = true;
        return 0;
    }
    const jt_node *refusal = jt_get_str(part, "refusal");
    if (codec_str_is(type, "refusal") && refusal) {
        text_block(d, m, refusal);
        return 0;
    }
    /* input_audio, file, future types: keep any text, else a short placeholder or nothing. */
    const jt_node *text = jt_get_str(part, "text");
    if (text) {
        text_block(d, m, text);
    } else if (codec_str_is(type, "file")) {
        const jt_node *fname = jt_get_str(field(part, "file"), "filename");
        char ph[160];
        snprintf(ph, sizeof ph, "[file: %.*s]", fname ? codec_print_len(fname, 128) : 128,
                 fname ? fname->s : "attachment");
        placeholder_block(d, m, ph);
    }
    codec_log_dropped("openai.content", type, "");
    return 0;
}

/* Content of a user/assistant message: string, null, or an array of parts. */
static int decode_content(dec *d, conv_message *m, const jt_node *content, size_t mi) {
    if (!content) return 0;
    if (jt_is(content, JT_STRING)) {
        /* an empty string next to tool calls is no content at all */
        if (content->len > 0 || m->role != CONV_ROLE_ASSISTANT) text_block(d, m, content);
        return 0;
    }
    if (!jt_is(content, JT_ARRAY))
        return type_error(d, "one of a string or array of objects", content,
                          "messages[%zu].content", mi);
    size_t j = 0;
    for (const jt_node *part = JT_FIRST(content); part < jt_next(content);
         part = jt_next(part), j++) {
        if (decode_part(d, m, part, mi, j)) return -1;
    }
    return 0;
}

/* Text of a system/developer/tool message: a string or text parts, other parts skipped. */
static int content_text(dec *d, const jt_node *content, size_t mi, buf *into, const char *sep) {
    if (!content) return 0;
    if (jt_is(content, JT_STRING)) {
        buf_append(into, content->s, content->len);
        return 0;
    }
    if (!jt_is(content, JT_ARRAY))
        return type_error(d, "one of a string or array of objects", content,
                          "messages[%zu].content", mi);
    bool first = true;
    for (const jt_node *part = JT_FIRST(content); part < jt_next(content); part = jt_next(part)) {
        const jt_node *text = jt_get_str(part, "text");
        if (!text) {
            codec_log_dropped("openai.text_content", NULL, "non-text part");
            continue;
        }
        if (!first) buf_puts(into, sep);
        buf_append(into, text->s, text->len);
        first = false;
    }
    return 0;
}

static int decode_tool_calls(dec *d, conv_message *m, const jt_node *calls, size_t mi) {
    if (!jt_is(calls, JT_ARRAY))
        return type_error(d, "an array", calls, "messages[%zu].tool_calls", mi);
    size_t j = 0;
    for (const jt_node *c = JT_FIRST(calls); c < jt_next(calls); c = jt_next(c), j++) {
        if (!jt_is(c, JT_OBJECT))
            return type_error(d, "an object", c, "messages[%zu].tool_calls[%zu]", mi, j);
        const jt_node *id = field(c, "id");
        if (!id) return missing(d, "messages[%zu].tool_calls[%zu].id", mi, j);
        if (!jt_is(id, JT_STRING))
            return type_error(d, "a string", id, "messages[%zu].tool_calls[%zu].id", mi, j);
        /* type "custom" carries {name, input}; everything else is a function call */
        const jt_node *fn = field(c, "function");
        const char *args_key = "arguments";
        if (!fn && (fn = field(c, "custom"))) args_key = "input";
        if (!fn) return missing(d, "messages[%zu].tool_calls[%zu].function", mi, j);
        if (!jt_is(fn, JT_OBJECT))
            return type_error(d, "an object", fn, "messages[%zu].tool_calls[%zu].function", mi, j);
        const jt_node *name = field(fn, "name");
        if (!name) return missing(d, "messages[%zu].tool_calls[%zu].function.name", mi, j);
        if (!jt_is(name, JT_STRING))
            return type_error(d, "a string", name, "messages[%zu].tool_calls[%zu].function.name",
                              mi, j);
        conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_CALL);
        b->tool_id = codec_str(&d->r->a, id, NULL);
        b->tool_name = codec_str(&d->r->a, name, NULL);
        const jt_node *args = field(fn, args_key);
        if (jt_is(args, JT_STRING)) {
            b->text = codec_str(&d->r->a, args, &b->text_len);
        } else if (args) { /* some clients send the object itself */
            b->text = codec_json_text(&d->r->a, args);
            b->text_len = strlen(b->text);
        } else {
            b->text = "";
        }
    }
    return 0;
}

static int decode_tool_message(dec *d, conv_message *m, const jt_node *msg, size_t mi,
                               const char *id_key) {
    const jt_node *id = field(msg, id_key);
    if (!id) return missing(d, "messages[%zu].%s", mi, id_key);
    if (!jt_is(id, JT_STRING)) return type_error(d, "a string", id, "messages[%zu].%s", mi, id_key);
    buf_reset(&d->scratch);
    if (content_text(d, field(msg, "content"), mi, &d->scratch, "\n")) return -1;
    m->role = CONV_ROLE_TOOL;
    conv_block *b = codec_new_block(m, CONV_BLOCK_TOOL_RESULT);
    b->tool_id = codec_str(&d->r->a, id, NULL);
    b->text_len = d->scratch.len;
    b->text = arena_strndup(&d->r->a, d->scratch.data ? d->scratch.data : "", d->scratch.len);
    return 0;
}

/* Decodes messages[mi]; system/developer text goes to d->sys and *kept is false. */
static int decode_message(dec *d, const jt_node *msg, size_t mi, conv_message *m, bool *kept) {
    if (!jt_is(msg, JT_OBJECT)) return type_error(d, "an object", msg, "messages[%zu]", mi);
    const jt_node *role = field(msg, "role");
    if (!role) return missing(d, "messages[%zu].role", mi);
    if (!jt_is(role, JT_STRING)) return type_error(d, "a string", role, "messages[%zu].role", mi);
    const jt_node *content = field(msg, "content");
    *kept = true;
    memset(m, 0, sizeof *m);
    const jt_node *name = jt_get_str(msg, "name");
    if (name) m->name = codec_str(&d->r->a, name, NULL);

    if (codec_str_is(role, "system") || codec_str_is(role, "developer")) {
        *kept = false;
        buf tmp = BUF_INIT;
        int rc = content_text(d, content, mi, &tmp, "\n\n");
        if (rc == 0) sys_append(d, tmp.data ? tmp.data : "", tmp.len);
        buf_free(&tmp);
        return rc;
    }
    bool is_user = codec_str_is(role, "user"), is_assistant = codec_str_is(role, "assistant");
    if (codec_str_is(role, "tool") || codec_str_is(role, "function")) {
        m->blocks = arena_alloc(&d->r->a, sizeof(conv_block));
        /* legacy "function" results are keyed by the function name */
        return decode_tool_message(d, m, msg, mi, role->s[0] == 't' ? "tool_call_id" : "name");
    }
    if (!is_user && !is_assistant) {
        char p[CODEC_PATH_CAP];
        codec_path(p, "messages[%zu].role", mi);
        codec_error_set(d->err, p,
                        "Invalid value: '%.*s'. Supported values are: 'system', 'assistant', "
                        "'user', 'function', 'tool', and 'developer'.",
                        codec_print_len(role, 64), role->s);
        return -1;
    }
    m->role = is_user ? CONV_ROLE_USER : CONV_ROLE_ASSISTANT;
    const jt_node *calls = is_assistant ? field(msg, "tool_calls") : NULL;
    const jt_node *reasoning = is_assistant ? field(msg, "reasoning_content") : NULL;
    if (is_user && !content) {
        return missing(d, "messages[%zu].content", mi);
    }
    size_t cap = 2; /* reasoning + string content, plus parts and calls */
    if (jt_is(content, JT_ARRAY)) cap += content->len;
    if (jt_is(calls, JT_ARRAY)) cap += calls->len;
    m->blocks = arena_alloc(&d->r->a, cap * sizeof(conv_block));
    /* reasoning_content (DeepSeek-style) round-trips what our encoder emits */
    if (jt_is(reasoning, JT_STRING) && reasoning->len > 0) {
        conv_block *b = codec_new_block(m, CONV_BLOCK_THINKING);
        b->text = codec_str(&d->r->a, reasoning, &b->text_len);
    }
    if (decode_content(d, m, content, mi)) return -1;
    if (calls && decode_tool_calls(d, m, calls, mi)) return -1;
    return 0;
}

static int decode_messages(dec *d, const jt_node *root) {
    const jt_node *msgs = field(root, "messages");
    if (!msgs) return missing(d, "messages");
    if (!jt_is(msgs, JT_ARRAY)) return type_error(d, "an array", msgs, "messages");
    if (msgs->len == 0) {
        codec_error_set(d->err, "messages",
                        "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                        "but got an empty array instead.");
        return -1;
    }
    d->r->messages = arena_alloc(&d->r->a, msgs->len * sizeof(conv_message));
    size_t i = 0;
    for (const jt_node *msg = JT_FIRST(msgs); msg < jt_next(msgs); msg = jt_next(msg), i++) {
        bool kept = false;
        conv_message *m = &d->r->messages[d->r->n_messages];
        if (decode_message(d, msg, i, m, &kept)) return -1;
        if (kept) d->r->n_messages++;
    }
    return 0;
}

static int decode_tools(dec *d, const jt_node *tools) {
    if (!jt_is(tools, JT_ARRAY)) return type_error(d, "an array", tools, "tools");
    d->r->tools = arena_alloc(&d->r->a, (tools->len ? tools->len : 1) * sizeof(conv_tool));
    size_t i = 0;
    for (const jt_node *t = JT_FIRST(tools); t < jt_next(tools); t = jt_next(t), i++) {
        if (!jt_is(t, JT_OBJECT)) return type_error(d, "an object", t, "tools[%zu]", i);
        const jt_node *type = field(t, "type");
        const jt_node *fn = field(t, "function");
        if ((type && !codec_str_is(type, "function")) || !fn) {
            codec_log_dropped("openai.tools", type, "untyped");
            continue; /* custom / hosted tools have no neutral form */
        }
        if (!jt_is(fn, JT_OBJECT)) return type_error(d, "an object", fn, "tools[%zu].function", i);
        const jt_node *name = field(fn, "name");
        if (!name) return missing(d, "tools[%zu].function.name", i);
        if (!jt_is(name, JT_STRING))
            return type_error(d, "a string", name, "tools[%zu].function.name", i);
        codec_add_tool(d->r, name, field(fn, "description"), field(fn, "parameters"));
    }
    return 0;
}

static int decode_tool_choice(dec *d, const jt_node *tc) {
    conv_request *r = d->r;
    if (jt_is(tc, JT_STRING)) {
        if (codec_str_is(tc, "none"))
            r->tool_choice = CONV_TOOL_CHOICE_NONE;
        else if (codec_str_is(tc, "auto"))
            r->tool_choice = CONV_TOOL_CHOICE_AUTO;
        else if (codec_str_is(tc, "required"))
            r->tool_choice = CONV_TOOL_CHOICE_REQUIRED;
        else {
            codec_error_set(d->err, "tool_choice",
                            "Invalid value: '%.*s'. Supported values are: 'none', 'auto', and "
                            "'required'.",
                            codec_print_len(tc, 64), tc->s);
            return -1;
        }
        return 0;
    }
    if (!jt_is(tc, JT_OBJECT))
        return type_error(d, "one of a string or an object", tc, "tool_choice");
    const jt_node *type = jt_get_str(tc, "type");
    if (codec_str_is(type, "function")) {
        const jt_node *name = jt_get_str(field(tc, "function"), "name");
        if (!name) return missing(d, "tool_choice.function.name");
        r->tool_choice = CONV_TOOL_CHOICE_NAMED;
        r->tool_choice_name = codec_str(&r->a, name, NULL);
        return 0;
    }
    if (codec_str_is(type, "allowed_tools")) {
        const jt_node *mode = field(field(tc, "allowed_tools"), "mode");
        r->tool_choice =
            codec_str_is(mode, "required") ? CONV_TOOL_CHOICE_REQUIRED : CONV_TOOL_CHOICE_AUTO;
        return 0;
    }
    r->tool_choice = CONV_TOOL_CHOICE_AUTO; /* custom-tool choices: let the model decide */
    return 0;
}

static int get_bool(dec *d, const jt_node *root, const char *key, bool *out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_BOOL)) return type_error(d, "a boolean", v, "%s", key);
    *out = v->v.b;
    return 0;
}

/* A number in [lo, hi]; *has says whether it was given. */
static int get_number(dec *d, const jt_node *root, const char *key, double lo, double hi, bool *has,
                      double *out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_DOUBLE) && !jt_is(v, JT_INT)) return type_error(d, "a decimal", v, "%s", key);
    double x = codec_number(v);
    if (x < lo || x > hi) {
        codec_error_set(d->err, key,
                        "Invalid '%s': decimal %s %s value. Expected a value %s %g, but got %g "
                        "instead.",
                        key, x < lo ? "below" : "above", x < lo ? "minimum" : "maximum",
                        x < lo ? ">=" : "<=", x < lo ? lo : hi, x);
        return -1;
    }
    *has = true;
    *out = x;
    return 0;
}

static int get_int(dec *d, const jt_node *root, const char *key, int64_t min, bool *has,
                   int64_t *out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_INT)) return type_error(d, "an integer", v, "%s", key);
    int64_t x = v->v.i;
    if (x < min) {
        codec_error_set(d->err, key,
                        "Invalid '%s': integer below minimum value. Expected a value >= %lld, but "
                        "got %lld instead.",
                        key, (long long)min, (long long)x);
        return -1;
    }
    *has = true;
    *out = x;
    return 0;
}

static int get_string(dec *d, const jt_node *root, const char *key, const char **out) {
    const jt_node *v = field(root, key);
    if (!v) return 0;
    if (!jt_is(v, JT_STRING)) return type_error(d, "a string", v, "%s", key);
    *out = codec_str(&d->r->a, v, NULL);
    return 0;
}

static int decode_stop(dec *d, const jt_node *stop) {
    conv_request *r = d->r;
    if (jt_is(stop, JT_STRING)) {
        r->stop = arena_alloc(&r->a, sizeof(char *));
        r->stop[r->n_stop++] = codec_str(&r->a, stop, NULL);
        return 0;
    }
    if (!jt_is(stop, JT_ARRAY))
        return type_error(d, "one of a string or array of strings", stop, "stop");
    r->stop = arena_alloc(&r->a, (stop->len ? stop->len : 1) * sizeof(char *));
    size_t i = 0;
    for (const jt_node *s = JT_FIRST(stop); s < jt_next(stop); s = jt_next(s), i++) {
        if (!jt_is(s, JT_STRING)) {
            return type_error(d, "a string", s, "stop[%zu]", i);
        }
        r->stop[r->n_stop++] = codec_str(&r->a, s, NULL);
    }
    return 0;
}

static int decode_params(dec *d, const jt_node *root) {
    conv_request *r = d->r;
    bool has = false;
    int64_t n = 1, max_tokens = 0, max_completion = 0;
    if (get_int(d, root, "n", 1, &has, &n)) return -1;
    if (n > 1) {
        codec_error_set(d->err, "n",
                        "Invalid 'n': only n = 1 is supported by this gateway, got %lld.",
                        (long long)n);
        return -1;
    }
    has = false;
    if (get_int(d, root, "max_tokens", 1, &has, &max_tokens)) return -1;
    has = false;
    if (get_int(d, root, "max_completion_tokens", 1, &has, &max_completion)) return -1;
    r->max_tokens = has ? max_completion : max_tokens; /* the newer name wins */
    if (get_number(d, root, "temperature", 0, 2, &r->has_temperature, &r->temperature)) return -1;
    if (get_number(d, root, "top_p", 0, 1, &r->has_top_p, &r->top_p)) return -1;
    if (get_bool(d, root, "stream", &r->stream)) return -1;
    if (get_bool(d, root, "parallel_tool_calls", &r->parallel_tool_calls)) return -1;
    const jt_node *so = field(root, "stream_options");
    if (so) {
        if (!jt_is(so, JT_OBJECT)) return type_error(d, "an object", so, "stream_options");
        const jt_node *iu = field(so, "include_usage");
        if (iu && !jt_is(iu, JT_BOOL))
            return type_error(d, "a boolean", iu, "stream_options.include_usage");
        r->include_usage = iu && iu->v.b;
    }
    const jt_node *stop = field(root, "stop");
    if (stop && decode_stop(d, stop)) return -1;
    const jt_node *rf = field(root, "response_format");
    if (rf) {
        if (!jt_is(rf, JT_OBJECT)) return type_error(d, "an object", rf, "response_format");
        r->response_format = codec_json_text(&r->a, rf);
    }
    if (get_string(d, root, "reasoning_effort", &r->reasoning_effort)) return -1;
    r->thinking = r->reasoning_effort && strcmp(r->reasoning_effort, "none") != 0;
    if (get_string(d, root, "user", &r->user)) return -1;
    const jt_node *tools = field(root, "tools");
    if (tools && decode_tools(d, tools)) return -1;
    const jt_node *tc = field(root, "tool_choice");
    if (tc && decode_tool_choice(d, tc)) return -1;
    return 0; /* seed, logprobs, penalties, metadata, store, …: accepted and ignored */
}

int openai_decode_request(const char *body, size_t len, conv_request *out, codec_error *err) {
    dec d = {.r = out, .err = err, .sys = BUF_INIT, .scratch = BUF_INIT};
    json_tape tape = JSON_TAPE_INIT;
    int rc = -1;
    const jt_node *root = codec_begin_request(body, len, CONV_PROTO_OPENAI, &tape, out, err);
    if (!root) goto out;
    const jt_node *model = field(root, "model");
    if (!model) {
        missing(&d, "model");
        goto out;
    }
    if (!jt_is(model, JT_STRING)) {
        type_error(&d, "a string", model, "model");
        goto out;
    }
    out->model = codec_str(&out->a, model, NULL);
    if (decode_messages(&d, root) || decode_params(&d, root)) goto out;
    codec_finish_request(out, &d.sys, d.has_sys);
    rc = 0;
out:
    codec_end_request(&tape);
    buf_free(&d.sys);
    buf_free(&d.scratch);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* encoding                                                                                   */

static const char *finish_reason(const conv_response *r) {
    switch (r->stop) {
    case CONV_STOP_MAX_TOKENS: return "length";
    case CONV_STOP_TOOL_USE: return "tool_calls";
    case CONV_STOP_END_TURN:
    case CONV_STOP_STOP_SEQUENCE: break;
    }
    /* Clients run tools only on finish_reason "tool_calls"; an upstream may end a turn with
     * calls yet say end_turn. */
    return r->n_calls ? "tool_calls" : "stop";
}

static void put_usage(buf *out, const conv_usage *u, int64_t prompt_est, int64_t completion_est) {
    int64_t p = u->known ? u->input_tokens : prompt_est;
    int64_t c = u->known ? u->output_tokens : completion_est;
    buf_puts(out, "\"usage\":{\"prompt_tokens\":");
    buf_put_i64(out, p);
    buf_puts(out, ",\"completion_tokens\":");
    buf_put_i64(out, c);
    buf_puts(out, ",\"total_tokens\":");
    buf_put_i64(out, p + c);
    if (u->known) {
        buf_puts(out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        buf_put_i64(out, u->cached_tokens);
        buf_putc(out, '}');
    }
    buf_putc(out, '}');
}

static void put_call_id(buf *out, const char *id) {
    if (id && *id) {
        json_put_str(out, id);
        return;
    }
    char gen[40];
    ids_prefixed(gen, sizeof gen, "call_", 24);
    json_put_str(out, gen);
}

void openai_encode_response(buf *out, const conv_response *r, const openai_meta *m) {
    buf_puts(out, "{\"id\":");
    json_put_str(out, m->id);
    buf_puts(out, ",\"object\":\"chat.completion\",\"created\":");
    buf_put_i64(out, m->created);
    buf_puts(out, ",\"model\":");
    json_put_str(out, m->model);
    buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    size_t n_calls = 0;
    for (size_t i = 0; i < r->n_calls; i++)
        if (r->calls[i].name || r->calls[i].args) n_calls++; /* skip index gaps */
    if (r->text_len || !n_calls)
        json_put_strn(out, r->text ? r->text : "", r->text_len);
    else
        buf_puts(out, "null");
    if (r->thinking_len) {
        buf_puts(out, ",\"reasoning_content\":");
        json_put_strn(out, r->thinking, r->thinking_len);
    }
    if (n_calls) {
        buf_puts(out, ",\"tool_calls\":[");
        bool first = true;
        for (size_t i = 0; i < r->n_calls; i++) {
            const conv_tool_call_out *c = &r->calls[i];
            if (!c->name && !c->args) continue;
            buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
            first = false;
            put_call_id(out, c->id);
            buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
            json_put_str(out, c->name ? c->name : "");
            buf_puts(out, ",\"arguments\":");
            json_put_strn(out, c->args ? c->args : "", c->args_len);
            buf_puts(out, "}}");
        }
        buf_putc(out, ']');
    }
    buf_puts(out, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
    buf_puts(out, finish_reason(r));
    buf_puts(out, "\"}],");
    int64_t est = (codec_token_quarters(r->text, r->text_len) +
                   codec_token_quarters(r->thinking, r->thinking_len) + 3) /
                  4;
    for (size_t i = 0; i < r->n_calls; i++)
        est += codec_estimate_tokens(r->calls[i].args, r->calls[i].args_len);
    put_usage(out, &r->usage, m->prompt_tokens_estimate, est);
    buf_putc(out, '}');
}

/* ---- streaming ---- */

void openai_stream_init(openai_stream *s, const openai_meta *m, bool include_usage) {
    memset(s, 0, sizeof *s);
    s->include_usage = include_usage;
    s->prompt_estimate = m->prompt_tokens_estimate;
    /* Every chunk repeats id/created/model: render that prefix once. */
    buf_puts(&s->prefix, "data: {\"id\":");
    json_put_str(&s->prefix, m->id);
    buf_puts(&s->prefix, ",\"object\":\"chat.completion.chunk\",\"created\":");
    buf_put_i64(&s->prefix, m->created);
    buf_puts(&s->prefix, ",\"model\":");
    json_put_str(&s->prefix, m->model);
    buf_puts(&s->prefix, ",\"choices\":[");
    buf_fit(&s->prefix); /* kept for the whole stream */
}

void openai_stream_free(openai_stream *s) {
    buf_free(&s->prefix);
    free(s->tool_keys);
    memset(s, 0, sizeof *s);
}

/* prefix + {"index":0,"delta":{ — the caller writes the delta members */
static void choice_begin(const openai_stream *s, buf *out) {
    buf_append(out, s->prefix.data, s->prefix.len);
    buf_puts(out, "{\"index\":0,\"delta\":{");
}

static void choice_end(buf *out, const char *finish) {
    buf_puts(out, "},\"logprobs\":null,\"finish_reason\":");
    if (finish) {
        buf_putc(out, '"');
        buf_puts(out, finish);
        buf_putc(out, '"');
    } else {
        buf_puts(out, "null");
    }
    buf_puts(out, "}]}\n\n");
}

/* The first chunk names the role. Per the recordings, content is "" in text streams and null
 * when the answer opens with a tool call. */
static void ensure_started(openai_stream *s, buf *out, bool tool_first) {
    if (s->started) return;
    s->started = true;
    choice_begin(s, out);
    buf_puts(out, tool_first ? "\"role\":\"assistant\",\"content\":null"
                             : "\"role\":\"assistant\",\"content\":\"\",\"refusal\":null");
    choice_end(out, NULL);
}

static int tool_slot(const openai_stream *s, int key) {
    for (size_t i = 0; i < s->n_tools; i++)
        if (s->tool_keys[i] == key) return (int)i;
    return -1;
}

static void on_tool_start(openai_stream *s, const conv_event *ev, buf *out) {
    if (tool_slot(s, ev->index) >= 0) return; /* repeated start: the call is already open */
    if (s->n_tools == s->tools_cap) {
        s->tools_cap = s->tools_cap ? s->tools_cap * 2 : 4;
        s->tool_keys = xrealloc(s->tool_keys, s->tools_cap * sizeof *s->tool_keys);
    }
    size_t idx = s->n_tools;
    s->tool_keys[s->n_tools++] = ev->index;
    ensure_started(s, out, true);
    choice_begin(s, out);
    buf_puts(out, "\"tool_calls\":[{\"index\":");
    buf_put_u64(out, idx);
    buf_puts(out, ",\"id\":");
    put_call_id(out, ev->id);
    buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
    json_put_str(out, ev->name ? ev->name : "");
    buf_puts(out, ",\"arguments\":\"\"}}]");
    choice_end(out, NULL);
}

static void on_tool_args(openai_stream *s, const conv_event *ev, buf *out) {
    int idx = tool_slot(s, ev->index);
    if (idx < 0) {
        /* A fragment for a call never started would fail the SDK ("missing type"). */
        log_warn("openai stream: tool arguments before tool start dropped", "\"index\":%d",
                 ev->index);
        return;
    }
    if (!ev->len) return;
    s->out_quarters += codec_token_quarters(ev->text, ev->len);
    choice_begin(s, out);
    buf_puts(out, "\"tool_calls\":[{\"index\":");
    buf_put_i64(out, idx);
    buf_puts(out, ",\"function\":{\"arguments\":");
    json_put_strn(out, ev->text, ev->len);
    buf_puts(out, "}}]");
    choice_end(out, NULL);
}

static void on_finish(openai_stream *s, const conv_event *ev, buf *out) {
    ensure_started(s, out, false);
    const char *fr = "stop";
    if (ev->stop == CONV_STOP_MAX_TOKENS)
        fr = "length";
    else if (ev->stop == CONV_STOP_TOOL_USE || s->n_tools)
        fr = "tool_calls";
    choice_begin(s, out);
    choice_end(out, fr);
    if (s->include_usage) {
        /* its own chunk with choices: [] before [DONE] (§2.4) */
        buf_append(out, s->prefix.data, s->prefix.len);
        buf_puts(out, "],");
        put_usage(out, &ev->usage, s->prompt_estimate, (s->out_quarters + 3) / 4);
        buf_puts(out, "}\n\n");
    }
    buf_puts(out, "data: [DONE]\n\n");
}

/* Decision: no `data: [DONE]` after an error line. [DONE] means "completed"; the SDK throws
 * on the error object either way, and a raw reader that stops at [DONE] must not take a
 * failed generation for a finished one. */
static void on_error(const conv_event *ev, buf *out) {
    errors_mapping em = errors_map_class(CONV_PROTO_OPENAI, ev->err_class);
    buf_puts(out, "data: ");
    errors_openai_json(out, ev->text && *ev->text ? ev->text : "The upstream model failed.",
                       em.type, NULL, em.code);
    buf_puts(out, "\n\n");
}

bool openai_stream_event(openai_stream *s, const conv_event *ev, buf *out) {
    if (s->done) return true;
    switch (ev->type) {
    case CONV_EV_TEXT_DELTA:
    case CONV_EV_THINKING_DELTA:
        ensure_started(s, out, false);
        if (!ev->len) break;
        s->out_quarters += codec_token_quarters(ev->text, ev->len);
        choice_begin(s, out);
        /* No standard field for reasoning: reasoning_content is the de-facto one (DeepSeek,
         * vLLM); the official SDK ignores it. */
        buf_puts(out, ev->type == CONV_EV_TEXT_DELTA ? "\"content\":" : "\"reasoning_content\":");
        json_put_strn(out, ev->text, ev->len);
        choice_end(out, NULL);
        break;
    case CONV_EV_TOOL_CALL_START: on_tool_start(s, ev, out); break;
    case CONV_EV_TOOL_CALL_ARGS: on_tool_args(s, ev, out); break;
    case CONV_EV_FINISH:
        on_finish(s, ev, out);
        s->done = true;
        break;
    case CONV_EV_ERROR:
        on_error(ev, out);
        s->done = true;
        break;
    }
    return s->done;
}

/* ---- models ---- */

void openai_encode_model(buf *out, const codec_model_info *m) {
    buf_puts(out, "{\"id\":");
    json_put_str(out, m->id);
    buf_puts(out, ",\"object\":\"model\",\"created\":");
    buf_put_i64(out, m->created);
    buf_puts(out, ",\"owned_by\":");
    json_put_str(out, m->owned_by ? m->owned_by : "system");
    buf_putc(out, '}');
}

void openai_encode_models(buf *out, const codec_model_info *models, size_t n) {
    buf_puts(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(out, ',');
        openai_encode_model(out, &models[i]);
    }
    buf_puts(out, "]}");
}
