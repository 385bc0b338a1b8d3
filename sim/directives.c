/* The `@sim` directive language.
 *
 * A directive is a line of the LAST USER TEXT message that starts (after optional blanks) with
 * `@sim` followed by blank-separated key=value pairs:
 *
 *     @sim chunks=3 delay_ms=50 reply="hello world"
 *     @sim tool=read_file args={"path":"main.c"} arg_chunk=4
 *
 * A value is either a bare token (up to the next blank) or a JSON object, array or string; a JSON
 * value may span lines (json-c's tokener finds its end). Several @sim lines merge, later keys
 * win. Directive lines are removed from the text the default echo repeats. Unknown keys and
 * malformed values are errors: the turn gets an in-stream 400 INVALID_REQUEST envelope naming
 * the problem, so a typo in a test fails loudly.
 *
 * The directive applies to the turn where its user message is the last message. When the last
 * message is a tool result, the turn is a final text reply: `after_tool` (from the last user
 * message) replaces the default "tool result received: ..." and every other key is ignored.
 *
 * Keys:
 *   chunks=N              split the reply into N content chunks (default 4)
 *   chunk_size=N          ... or into pieces of N bytes (wins over chunks)
 *   delay_ms=N            pause between events
 *   first_byte_delay_ms=N pause before the response headers
 *   reply=TEXT            reply text instead of the echo
 *   reasoning=TEXT        reasoning_content deltas before the content
 *   tool=NAME args=JSON   a tool call (arguments streamed in arg_chunk=N byte fragments,
 *                         default three); tool2=/args2= ... tool8=/args8= for more calls;
 *                         finish_reason becomes tool_calls; no content unless reply= is given
 *   interleave=1          parallel calls the way OpenAI-style streams may send them: every
 *                         call's head first, then argument fragments round-robin (call 0's
 *                         first, call 1's first, ..., call 0's second, ...)
 *   after_tool=TEXT       the reply of the next turn, once the client sends the tool result
 *   usage=off             no usage object on the final chunk
 *   finish=stop|length|tool_calls  finish_reason override
 *   error=401|403|429|500|503      HTTP error before the stream (429 has Retry-After)
 *   retry_after=N         Retry-After seconds for error=429 (default 2)
 *   error=login           302 to /login, which serves a 200 HTML login page
 *   error=env403_105|env403_110|env403_112|env429_10605|env500|env400
 *                         HTTP 200 with one in-stream error envelope (§1.8), then end
 *   error_after_finish=1  an error envelope after the finish chunk, before [DONE]
 *   truncate=1            content chunks, then end without finish chunk or [DONE]
 *   stall_ms=N            pause N ms after the first generated event
 *   no_done=1             finish chunk but no [DONE]
 *   done=envelope|bare    [DONE] inside an envelope body instead of a bare data line
 *   keepalive=1           a `: keep-alive` comment before every event
 *   long_line=N           the content is one chunk of N bytes
 *   space=1               write `data: ` (with a space) instead of `data:`
 * Flags accept 1/0, true/false, on/off, yes/no. */
#include "directives.h"
#include "sim_json.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

typedef struct int_key {
    const char *name;
    int64_t min, max;
} int_key;

#define SIM_X_INT(n, lo, hi) {#n, lo, hi},
#define SIM_X_NAME(n)        #n,
static const int_key INT_KEYS[] = {SIM_DIRECTIVE_INTS(SIM_X_INT)};
static const char *const STR_KEYS[] = {SIM_DIRECTIVE_STRS(SIM_X_NAME)};
static const char *const FLAG_KEYS[] = {SIM_DIRECTIVE_FLAGS(SIM_X_NAME)};
#undef SIM_X_INT
#undef SIM_X_NAME

void sim_directive_init(sim_directive *d) {
    memset(d, 0, sizeof *d);
    for (int i = 0; i < SIM_DI_COUNT; i++)
        d->ints[i] = -1;
    for (int i = 0; i < SIM_DF_COUNT; i++)
        d->flags[i] = -1;
    d->done_envelope = -1;
}

void sim_directive_clear(sim_directive *d) {
    for (int i = 0; i < SIM_DS_COUNT; i++)
        free(d->strs[i]);
    for (int i = 0; i < SIM_MAX_TOOLS; i++) {
        free(d->tool_name[i]);
        free(d->tool_args[i]);
    }
    sim_directive_init(d);
}

static void replace_str(char **dst, const char *src) {
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

void sim_directive_overlay(sim_directive *dst, const sim_directive *src) {
    for (int i = 0; i < SIM_DI_COUNT; i++)
        if (src->ints[i] >= 0) dst->ints[i] = src->ints[i];
    for (int i = 0; i < SIM_DS_COUNT; i++)
        if (src->strs[i]) replace_str(&dst->strs[i], src->strs[i]);
    for (int i = 0; i < SIM_DF_COUNT; i++)
        if (src->flags[i] >= 0) dst->flags[i] = src->flags[i];
    if (src->done_envelope >= 0) dst->done_envelope = src->done_envelope;
    if (src->finish) dst->finish = src->finish;
    if (src->error) dst->error = src->error;
    if (sim_directive_has_tools(src)) {
        for (int i = 0; i < SIM_MAX_TOOLS; i++) {
            replace_str(&dst->tool_name[i], src->tool_name[i]);
            replace_str(&dst->tool_args[i], src->tool_args[i]);
        }
    }
}

bool sim_directive_has_tools(const sim_directive *d) {
    for (int i = 0; i < SIM_MAX_TOOLS; i++)
        if (d->tool_name[i]) return true;
    return false;
}

bool sim_directive_is_empty(const sim_directive *d) {
    for (int i = 0; i < SIM_DI_COUNT; i++)
        if (d->ints[i] >= 0) return false;
    for (int i = 0; i < SIM_DS_COUNT; i++)
        if (d->strs[i]) return false;
    for (int i = 0; i < SIM_DF_COUNT; i++)
        if (d->flags[i] >= 0) return false;
    return d->done_envelope < 0 && !d->finish && !d->error && !sim_directive_has_tools(d);
}

int64_t sim_directive_int(const sim_directive *d, int idx, int64_t dflt) {
    return d->ints[idx] >= 0 ? d->ints[idx] : dflt;
}

bool sim_directive_flag(const sim_directive *d, int idx, bool dflt) {
    return d->flags[idx] >= 0 ? d->flags[idx] != 0 : dflt;
}

/* ---- one key=value ---- */

/* A value as seen by the setters: `raw` is the text form's exact bytes (NULL in the JSON form),
 * `jv` the JSON value (NULL for a bare token). */
typedef struct value {
    const char *raw;
    size_t raw_len;
    json_object *jv;
} value;

/* The value as text: a JSON string's content, a bare token, or a JSON scalar's spelling. */
static void value_text(const value *v, const char **s, size_t *n) {
    if (v->jv && json_object_is_type(v->jv, json_type_string)) {
        *s = json_object_get_string(v->jv);
        *n = (size_t)json_object_get_string_len(v->jv);
    } else if (v->raw) {
        *s = v->raw, *n = v->raw_len;
    } else {
        *s = json_object_get_string(v->jv);
        *n = strlen(*s);
    }
}

static bool text_is(const char *s, size_t n, const char *word) {
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int set_int(int64_t *dst, const int_key *k, const value *v, char *err, size_t cap) {
    const char *s;
    size_t n;
    value_text(v, &s, &n);
    int64_t x = 0;
    bool ok = n > 0 && n <= 12;
    for (size_t i = 0; ok && i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            ok = false;
        else
            x = x * 10 + (s[i] - '0');
    }
    if (!ok || x < k->min || x > k->max) {
        snprintf(err, cap, "%s wants an integer in [%lld, %lld], got '%.*s'", k->name,
                 (long long)k->min, (long long)k->max, (int)(n > 40 ? 40 : n), s);
        return -1;
    }
    *dst = x;
    return 0;
}

static int set_flag(int8_t *dst, const char *name, const value *v, char *err, size_t cap) {
    if (v->jv && json_object_is_type(v->jv, json_type_boolean)) {
        *dst = json_object_get_boolean(v->jv) ? 1 : 0;
        return 0;
    }
    const char *s;
    size_t n;
    value_text(v, &s, &n);
    if (text_is(s, n, "1") || text_is(s, n, "true") || text_is(s, n, "on") || text_is(s, n, "yes"))
        *dst = 1;
    else if (text_is(s, n, "0") || text_is(s, n, "false") || text_is(s, n, "off") ||
             text_is(s, n, "no"))
        *dst = 0;
    else {
        snprintf(err, cap, "%s wants 1/0, true/false, on/off or yes/no", name);
        return -1;
    }
    return 0;
}

/* Tool arguments keep the exact text given (a JSON string value gives its content verbatim, so
 * a test can send arguments that are not valid JSON). */
static char *args_text(const value *v) {
    if (v->jv && json_object_is_type(v->jv, json_type_string))
        return xstrndup(json_object_get_string(v->jv), (size_t)json_object_get_string_len(v->jv));
    if (v->raw) return xstrndup(v->raw, v->raw_len);
    return xstrdup(json_object_to_json_string_ext(v->jv, JSON_C_TO_STRING_PLAIN));
}

/* "tool" / "tool1".."tool8" → 0..7 (same for "args"); -1 when `key` is not of that family. */
static int numbered(const char *key, size_t klen, const char *stem) {
    size_t sl = strlen(stem);
    if (klen < sl || memcmp(key, stem, sl) != 0) return -1;
    if (klen == sl) return 0;
    if (klen == sl + 1 && key[sl] >= '1' && key[sl] <= '0' + SIM_MAX_TOOLS) return key[sl] - '1';
    return -1;
}

static int set_key(sim_directive *d, const char *key, size_t klen, const value *v, char *err,
                   size_t cap) {
    const char *s;
    size_t n;
    for (int i = 0; i < SIM_DI_COUNT; i++)
        if (text_is(key, klen, INT_KEYS[i].name))
            return set_int(&d->ints[i], &INT_KEYS[i], v, err, cap);
    for (int i = 0; i < SIM_DF_COUNT; i++)
        if (text_is(key, klen, FLAG_KEYS[i]))
            return set_flag(&d->flags[i], FLAG_KEYS[i], v, err, cap);
    for (int i = 0; i < SIM_DS_COUNT; i++) {
        if (!text_is(key, klen, STR_KEYS[i])) continue;
        value_text(v, &s, &n);
        free(d->strs[i]);
        d->strs[i] = xstrndup(s, n);
        return 0;
    }
    int t = numbered(key, klen, "tool");
    if (t >= 0) {
        value_text(v, &s, &n);
        if (n == 0) {
            snprintf(err, cap, "%.*s wants a tool name", (int)klen, key);
            return -1;
        }
        free(d->tool_name[t]);
        d->tool_name[t] = xstrndup(s, n);
        return 0;
    }
    t = numbered(key, klen, "args");
    if (t >= 0) {
        free(d->tool_args[t]);
        d->tool_args[t] = args_text(v);
        return 0;
    }
    value_text(v, &s, &n);
    if (text_is(key, klen, "error")) {
        d->error = sim_error_lookup(s, n);
        if (d->error) return 0;
        snprintf(err, cap, "unknown error '%.*s'", (int)(n > 40 ? 40 : n), s);
        return -1;
    }
    if (text_is(key, klen, "done")) {
        if (text_is(s, n, "envelope") || text_is(s, n, "bare")) {
            d->done_envelope = text_is(s, n, "envelope");
            return 0;
        }
        snprintf(err, cap, "done wants envelope or bare");
        return -1;
    }
    if (text_is(key, klen, "finish")) {
        static const char *const reasons[] = {"stop", "length", "tool_calls"};
        for (size_t i = 0; i < 3; i++)
            if (text_is(s, n, reasons[i])) return d->finish = reasons[i], 0;
        snprintf(err, cap, "finish wants stop, length or tool_calls");
        return -1;
    }
    snprintf(err, cap, "unknown key '%.*s'", (int)(klen > 40 ? 40 : klen), key);
    return -1;
}

static int validate(const sim_directive *d, char *err, size_t cap) {
    for (int i = 0; i < SIM_MAX_TOOLS; i++) {
        if (d->tool_args[i] && !d->tool_name[i]) {
            char n[8] = "";
            if (i) snprintf(n, sizeof n, "%d", i + 1);
            snprintf(err, cap, "args%s given without tool%s", n, n);
            return -1;
        }
    }
    return 0;
}

/* ---- text form ---- */

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
static bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Parses the pairs of one @sim line from text[*pos]; leaves *pos after its newline. */
static int parse_pairs(sim_directive *d, const char *text, size_t len, size_t *pos, char *err,
                       size_t cap) {
    size_t p = *pos;
    int rc = 0;
    for (;;) {
        while (p < len && is_blank(text[p]))
            p++;
        if (p >= len || text[p] == '\n') {
            if (p < len) p++;
            break;
        }
        size_t k = p;
        while (p < len && is_key_char(text[p]))
            p++;
        if (p == k || p >= len || text[p] != '=') {
            snprintf(err, cap, "expected key=value at '%.*s'", (int)(len - k > 30 ? 30 : len - k),
                     text + k);
            return -1;
        }
        size_t klen = p - k;
        p++; /* '=' */
        value v = {text + p, 0, NULL};
        if (p < len && (text[p] == '{' || text[p] == '[' || text[p] == '"')) {
            v.jv = sim_json_parse_prefix(text + p, len - p, &v.raw_len);
            if (!v.jv) {
                snprintf(err, cap, "%.*s: malformed JSON value", (int)klen, text + k);
                return -1;
            }
            /* The tokenizer consumes the blank that ends the value; it is not part of it. */
            while (v.raw_len && (is_blank(v.raw[v.raw_len - 1]) || v.raw[v.raw_len - 1] == '\n'))
                v.raw_len--;
        } else {
            while (p + v.raw_len < len && !is_blank(text[p + v.raw_len]) &&
                   text[p + v.raw_len] != '\n')
                v.raw_len++;
        }
        p += v.raw_len;
        if (v.raw_len == 0) {
            snprintf(err, cap, "%.*s: empty value", (int)klen, text + k);
            return -1;
        }
        rc = set_key(d, text + k, klen, &v, err, cap);
        json_object_put(v.jv);
        if (rc < 0) return -1;
    }
    *pos = p;
    return 0;
}

int sim_directive_parse_text(sim_directive *d, const char *text, size_t len, buf *rest, char *err,
                             size_t cap) {
    int found = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t p = pos;
        while (p < len && is_blank(text[p]))
            p++;
        if (len - p >= 4 && memcmp(text + p, "@sim", 4) == 0 &&
            (p + 4 == len || is_blank(text[p + 4]) || text[p + 4] == '\n')) {
            pos = p + 4;
            if (parse_pairs(d, text, len, &pos, err, cap) < 0) return -1;
            found++;
            continue;
        }
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        if (rest) buf_append(rest, text + pos, end - pos);
        pos = end;
    }
    if (found && validate(d, err, cap) < 0) return -1;
    return found;
}

/* ---- JSON form ---- */

int sim_directive_from_json(sim_directive *d, json_object *obj, const char *const *skip, char *err,
                            size_t cap) {
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(err, cap, "a directive object must be a JSON object");
        return -1;
    }
    json_object_object_foreach(obj, key, val) {
        bool skipped = false;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = strcmp(*s, key) == 0;
        if (skipped) continue;
        if (!val || json_object_is_type(val, json_type_null)) {
            snprintf(err, cap, "%s: null value", key);
            return -1;
        }
        value v = {NULL, 0, val};
        bool structured =
            json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array);
        if (structured && numbered(key, strlen(key), "args") < 0) {
            snprintf(err, cap, "%s: object or array value not accepted", key);
            return -1;
        }
        if (set_key(d, key, strlen(key), &v, err, cap) < 0) return -1;
    }
    return validate(d, err, cap);
}

/* ---- rendering ---- */

static void put_sep(buf *b, bool *first) {
    if (!*first) buf_putc(b, ',');
    *first = false;
}

void sim_directive_render(const sim_directive *d, buf *b) {
    bool first = true;
    buf_putc(b, '{');
    for (int i = 0; i < SIM_DI_COUNT; i++) {
        if (d->ints[i] < 0) continue;
        put_sep(b, &first);
        json_put_key(b, INT_KEYS[i].name);
        buf_put_i64(b, d->ints[i]);
    }
    for (int i = 0; i < SIM_DS_COUNT; i++) {
        if (!d->strs[i]) continue;
        put_sep(b, &first);
        json_put_key(b, STR_KEYS[i]);
        json_put_str(b, d->strs[i]);
    }
    for (int i = 0; i < SIM_DF_COUNT; i++) {
        if (d->flags[i] < 0) continue;
        put_sep(b, &first);
        json_put_key(b, FLAG_KEYS[i]);
        json_put_bool(b, d->flags[i] != 0);
    }
    if (d->done_envelope >= 0) {
        put_sep(b, &first);
        buf_puts(b, d->done_envelope ? "\"done\":\"envelope\"" : "\"done\":\"bare\"");
    }
    if (d->finish) {
        put_sep(b, &first);
        json_put_key(b, "finish");
        json_put_str(b, d->finish);
    }
    if (d->error) {
        put_sep(b, &first);
        json_put_key(b, "error");
        json_put_str(b, d->error->name);
    }
    for (int i = 0; i < SIM_MAX_TOOLS; i++) {
        if (!d->tool_name[i]) continue;
        char n[8] = "", key[16];
        if (i) snprintf(n, sizeof n, "%d", i + 1);
        snprintf(key, sizeof key, "tool%s", n);
        put_sep(b, &first);
        json_put_key(b, key);
        json_put_str(b, d->tool_name[i]);
        if (!d->tool_args[i]) continue;
        snprintf(key, sizeof key, "args%s", n);
        put_sep(b, &first);
        json_put_key(b, key);
        json_put_str(b, d->tool_args[i]);
    }
    buf_putc(b, '}');
}
