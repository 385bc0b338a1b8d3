#include "front/codec_util.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/swar.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void codec_error_set(codec_error *e, const char *param, const char *fmt, ...) {
    e->status = 400;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void codec_path(char dst[CODEC_PATH_CAP], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, CODEC_PATH_CAP, fmt, ap);
    va_end(ap);
}

/* Depth is bounded by the tokener (64), so recursion is safe. */
static int all_numbers_finite(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_double: return isfinite(json_object_get_double(v));
    case json_type_array: {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            if (!all_numbers_finite(json_object_array_get_idx(v, i))) return 0;
        return 1;
    }
    case json_type_object: {
        json_object_object_foreach(v, key, val) {
            (void)key;
            if (!all_numbers_finite(val)) return 0;
        }
        return 1;
    }
    default: return 1;
    }
}

json_object *codec_parse_json(const char *body, size_t len, const char **why) {
    json_object *root = NULL;
    json_tokener *tok = json_tokener_new_ex(CODEC_JSON_MAX_DEPTH);
    if (!tok) abort(); /* only fails on out-of-memory */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    if (len > INT32_MAX) {
        *why = "body too large";
        goto out;
    }
    if (!body) body = "", len = 0;
    root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!root) {
        /* json-c's value for a null document is NULL, with "success" as its error */
        *why = jerr == json_tokener_continue  ? "unexpected end of input"
               : jerr == json_tokener_success ? "null where an object was expected"
                                              : json_tokener_error_desc(jerr);
        goto out;
    }
    /* json-c stops at a NUL byte: anything but whitespace after the value is an error */
    for (size_t end = json_tokener_get_parse_end(tok); end < len; end++) {
        char c = body[end];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            *why = "unexpected data after the JSON value";
            json_object_put(root);
            root = NULL;
            goto out;
        }
    }
    if (!all_numbers_finite(root)) {
        *why = "NaN and Infinity are not valid JSON numbers";
        json_object_put(root);
        root = NULL;
    }
out:
    json_tokener_free(tok);
    return root;
}

#define BAD_JSON_MESSAGE                                                                           \
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "       \
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent " \
    "was not valid JSON. If you have trouble figuring out how to fix this, please contact us "     \
    "through our help center at help.openai.com.)"

void codec_end_request(json_tape *t) { json_tape_free(t); }

const jt_node *codec_read_json(const char *text, size_t len, json_tape *t, const char **why) {
    /* The scanner's document is taken only when it is an object: every other root (json-c's "body
     * too large" and its wording for a bare null included) then reads the same whichever builder
     * would have run. */
    if (len <= INT32_MAX && json_tape_scan(t, text ? text : "", len)) {
        if (jt_is(json_tape_root(t), JT_OBJECT)) return json_tape_root(t);
        json_tape_free(t);
    }
    json_object *tree = codec_parse_json(text, len, why);
    if (!tree) return NULL;
    json_tape_from_jsonc(t, tree);
    return json_tape_root(t);
}

const jt_node *codec_begin_request(const char *body, size_t len, conv_protocol proto, json_tape *t,
                                   conv_request *out, codec_error *err) {
    conv_request_init(out, proto);
    arena_init(&out->a, len / 2 + 1024 < 8192 ? len / 2 + 1024 : 8192);
    bool oa = proto == CONV_PROTO_OPENAI;
    const char *why = NULL;
    const jt_node *root = codec_read_json(body, len, t, &why);
    if (!root) {
        if (oa)
            codec_error_set(err, NULL, "%s", BAD_JSON_MESSAGE);
        else
            codec_error_set(err, NULL, "The request body is not valid JSON: %s", why);
        return NULL;
    }
    if (!jt_is(root, JT_OBJECT)) {
        if (oa)
            codec_error_set(err, NULL, "Invalid request body: expected a JSON object, but got %s.",
                            codec_json_type_desc(root));
        else
            codec_error_set(err, NULL, "The request body must be a JSON object, got %s",
                            codec_json_type_desc(root));
        return NULL;
    }
    return root;
}

conv_block *codec_new_block(conv_message *m, conv_block_type t) {
    conv_block *b = &m->blocks[m->n_blocks++];
    memset(b, 0, sizeof *b);
    b->type = t;
    return b;
}

void codec_add_tool(conv_request *r, const jt_node *name, const jt_node *description,
                    const jt_node *schema) {
    conv_tool *t = &r->tools[r->n_tools++];
    memset(t, 0, sizeof *t);
    t->name = codec_str(&r->a, name, NULL);
    if (jt_is(description, JT_STRING)) t->description = codec_str(&r->a, description, NULL);
    if (schema) t->parameters_json = codec_json_text(&r->a, schema);
}

void codec_append_system(buf *sys, bool *has_sys, const char *s, size_t n) {
    if (*has_sys) buf_append(sys, "\n\n", 2);
    buf_append(sys, s, n);
    *has_sys = true;
}

const char *codec_str(arena *a, const jt_node *s, size_t *len) {
    if (len) *len = s->len;
    return arena_strndup(a, s->s, s->len);
}

bool codec_str_is(const jt_node *s, const char *lit) {
    if (!jt_is(s, JT_STRING)) return false;
    size_t n = strlen(lit);
    return s->len >= n && memcmp(s->s, lit, n) == 0 && (s->len == n || s->s[n] == '\0');
}

double codec_number(const jt_node *n) {
    if (jt_is(n, JT_INT) && n->v.i == INT64_MAX && n->len < 32) {
        char text[32];
        memcpy(text, n->s, n->len);
        text[n->len] = '\0';
        return (double)strtoull(text, NULL, 10);
    }
    return jt_number(n);
}

const char *codec_json_text(arena *a, const jt_node *v) {
    buf b = BUF_INIT;
    jt_put_json(&b, v);
    const char *text = arena_strndup(a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return text;
}

static const char *find_call_name(const conv_request *r, size_t before, const char *id) {
    for (size_t i = before; i-- > 0;) {
        const conv_message *m = &r->messages[i];
        if (m->role != CONV_ROLE_ASSISTANT) continue;
        for (size_t j = m->n_blocks; j-- > 0;) {
            const conv_block *b = &m->blocks[j];
            if (b->type == CONV_BLOCK_TOOL_CALL && b->tool_id && strcmp(b->tool_id, id) == 0)
                return b->tool_name;
        }
    }
    return NULL;
}

void codec_link_tool_results(conv_request *r) {
    for (size_t i = 0; i < r->n_messages; i++) {
        conv_message *m = &r->messages[i];
        for (size_t j = 0; j < m->n_blocks; j++) {
            conv_block *b = &m->blocks[j];
            if (b->type == CONV_BLOCK_TOOL_RESULT && !b->tool_name && b->tool_id)
                b->tool_name = find_call_name(r, i, b->tool_id);
        }
    }
}

void codec_log_dropped(const char *where, const jt_node *type, const char *absent) {
    if (!log_enabled(LOG_DEBUG)) return;
    buf text = BUF_INIT;
    const char *p = absent;
    size_t len = strlen(absent);
    if (jt_is(type, JT_STRING)) {
        p = type->s;
        len = type->len;
    } else if (type) {
        jt_put_json(&text, type);
        p = text.data;
        len = text.len;
    }
    char clean[49];
    size_t n = 0;
    for (size_t i = 0; i < len && p[i] && n < sizeof clean - 1; i++) {
        char c = p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-')
            clean[n++] = c;
    }
    clean[n] = '\0';
    buf_free(&text);
    log_debug("front: unknown item degraded", "\"where\":\"%s\",\"type\":\"%s\"", where, clean);
}

const char *codec_json_type_desc(const jt_node *v) {
    switch (v ? (jt_type)v->type : JT_NULL) {
    case JT_NULL: return "null";
    case JT_BOOL: return "a boolean";
    case JT_DOUBLE: return "a decimal";
    case JT_INT: return "an integer";
    case JT_OBJECT: return "an object";
    case JT_ARRAY: return "an array";
    case JT_STRING: return "a string";
    }
    return "an unknown type";
}

static int64_t byte_quarters(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 4;
    if ((c & 0xF8) == 0xF0) return 8;
    return 0; /* continuation and invalid bytes add nothing */
}

/* ASCII words (no high bit in 8 bytes) count 8 quarters at once: prompts are mostly ASCII. */
int64_t codec_token_quarters(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    int64_t q = 0;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        if (!(swar_load(p + i) & SWAR_HIGH)) {
            q += 8;
            continue;
        }
        for (size_t k = 0; k < 8; k++)
            q += byte_quarters(p[i + k]);
    }
    for (; i < n; i++)
        q += byte_quarters(p[i]);
    return q;
}

int64_t codec_estimate_tokens(const char *s, size_t n) {
    return (codec_token_quarters(s, n) + 3) / 4;
}

/* Estimation method (calibration comes later, against real counts):
 *   text of every kind (system, text, thinking, tool results, tool-call arguments, tool
 *   names, descriptions and schemas as their JSON text) → codec_estimate_tokens;
 *   + 3 per request (reply priming), + 4 per message and for the system prompt (role framing),
 *   + 5 per tool call / tool result block (id and wrapper), + 1600 per image (the size of a
 *   ~1.15-megapixel image; we do not decode dimensions), + 8 per tool definition and a
 *   one-time 320 when tools are present (the provider's tool-use preamble). */
enum {
    EST_REQUEST = 3,
    EST_MESSAGE = 4,
    EST_TOOL_BLOCK = 5,
    EST_IMAGE = 1600,
    EST_TOOL_DEF = 8,
    EST_TOOLS_PREAMBLE = 320,
};

static int64_t str_tokens(const char *s) { return s ? codec_estimate_tokens(s, strlen(s)) : 0; }

int64_t codec_estimate_request_tokens(const conv_request *r) {
    int64_t q = 0; /* quarter tokens of all text */
    int64_t fixed = EST_REQUEST;
    if (r->system) {
        q += codec_token_quarters(r->system, r->system_len);
        fixed += EST_MESSAGE;
    }
    for (size_t i = 0; i < r->n_messages; i++) {
        const conv_message *m = &r->messages[i];
        fixed += EST_MESSAGE;
        for (size_t j = 0; j < m->n_blocks; j++) {
            const conv_block *b = &m->blocks[j];
            if (b->text) q += codec_token_quarters(b->text, b->text_len);
            switch (b->type) {
            case CONV_BLOCK_IMAGE: fixed += EST_IMAGE; break;
            case CONV_BLOCK_TOOL_CALL: fixed += EST_TOOL_BLOCK + str_tokens(b->tool_name); break;
            case CONV_BLOCK_TOOL_RESULT: fixed += EST_TOOL_BLOCK; break;
            case CONV_BLOCK_TEXT:
            case CONV_BLOCK_THINKING: break;
            }
        }
    }
    if (r->n_tools) fixed += EST_TOOLS_PREAMBLE;
    for (size_t i = 0; i < r->n_tools; i++) {
        const conv_tool *t = &r->tools[i];
        fixed += EST_TOOL_DEF + str_tokens(t->name) + str_tokens(t->description) +
                 str_tokens(t->parameters_json);
    }
    return fixed + (q + 3) / 4;
}

void codec_finish_request(conv_request *r, const buf *sys, bool has_sys) {
    if (has_sys) {
        r->system_len = sys->len;
        r->system = arena_strndup(&r->a, sys->data ? sys->data : "", sys->len);
    }
    codec_link_tool_results(r);
}
