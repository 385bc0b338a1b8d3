#include "upstream/sse_fast.h"
#include "util/json_unescape.h"
#include <string.h>

/* A string byte json-c copies as it is (no UTF-8 validation, see DESIGN D5). */
#define PLAIN(c) ((unsigned char)(c) >= 0x20 && (c) != '"' && (c) != '\\')

/* Only space and tab: a data line holds no CR or LF, and a body with them goes to json-c. */
static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* The rest of a JSON string from p (inside it, not within an escape), unescaped to *w when w is
 * not NULL. Returns the position after the closing quote, or NULL. The output is never longer
 * than the input, so *w may trail p in the same memory. */
static const char *scan_string(const char *p, const char *end, char **w) {
    for (;;) {
        if (w) {
            char *o = *w;
            while (p < end && PLAIN(*p))
                *o++ = *p++;
            *w = o;
        } else {
            while (p < end && PLAIN(*p))
                p++;
        }
        if (p == end || (unsigned char)*p < 0x20) return NULL;
        if (*p++ == '"') return p;
        p = json_unescape_one(p, end, w);
        if (!p) return NULL;
    }
}

/* A non-negative integer without leading zeros of at most max_digits digits (≤ 18: int64). */
static const char *read_uint(const char *p, const char *end, int max_digits, int64_t *out) {
    int64_t v = 0;
    int k = 0;
    for (; p + k < end && p[k] >= '0' && p[k] <= '9'; k++)
        if (k < max_digits) v = v * 10 + (p[k] - '0');
    if (!k || k > max_digits || (k > 1 && p[0] == '0')) return NULL;
    if (p + k < end && (p[k] == '.' || p[k] == 'e' || p[k] == 'E')) return NULL;
    *out = v;
    return p + k;
}

static const char *literal(const char *p, const char *end, const char *word, size_t k) {
    return (size_t)(end - p) >= k && !memcmp(p, word, k) ? p + k : NULL;
}

#define LITERAL(p, end, word) literal(p, end, word, sizeof(word) - 1)

/* "key" and its colon; keys with escapes are left to json-c. */
static const char *read_key(const char *p, const char *end, const char **key, size_t *len) {
    if (p == end || *p != '"') return NULL;
    *key = ++p;
    while (p < end && PLAIN(*p))
        p++;
    if (p == end || *p != '"') return NULL;
    *len = (size_t)(p - *key);
    p = skip_ws(p + 1, end);
    if (p == end || *p != ':') return NULL;
    return skip_ws(p + 1, end);
}

/* After a member: the next key's position (*more) or the position after the closing '}'. */
static const char *next_member(const char *p, const char *end, bool *more) {
    p = skip_ws(p, end);
    if (p == end) return NULL;
    *more = *p == ',';
    if (*more) return skip_ws(p + 1, end);
    return *p == '}' ? p + 1 : NULL;
}

/* ---- the envelope ---- */

/* A value of an envelope key the decoder does not read: a string, an integer, true, false,
 * null, or a flat object of strings (headers). */
static const char *skip_env_value(const char *p, const char *end) {
    int64_t num;
    if (p == end) return NULL;
    switch (*p) {
    case '"': return scan_string(p + 1, end, NULL);
    case 't': return LITERAL(p, end, "true");
    case 'f': return LITERAL(p, end, "false");
    case 'n': return LITERAL(p, end, "null");
    case '{': break;
    default: return read_uint(p, end, 18, &num);
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (bool more = true; more;) {
        const char *key;
        size_t key_len;
        if (!(p = read_key(p, end, &key, &key_len))) return NULL;
        if (p == end || *p != '"' || !(p = scan_string(p + 1, end, NULL))) return NULL;
        if (!(p = next_member(p, end, &more))) return NULL;
    }
    return p;
}

bool sse_fast_envelope(const char *s, size_t n, buf *body, int64_t *status) {
    const char *p = s, *end = s + n;
    bool have_body = false, have_status = false;
    *status = 200;
    if (p == end || *p != '{') return false;
    p = skip_ws(p + 1, end);
    for (bool more = true; more;) {
        const char *key;
        size_t key_len;
        if (!(p = read_key(p, end, &key, &key_len))) return false;
        if (key_len == 4 && !memcmp(key, "body", 4)) {
            if (have_body || p == end || *p != '"') return false;
            have_body = true;
            buf_reset(body);
            buf_reserve(body, (size_t)(end - p));
            char *w = body->data;
            if (!(p = scan_string(p + 1, end, &w))) return false;
            body->len = (size_t)(w - body->data);
            body->data[body->len] = '\0';
        } else if (key_len == 15 && !memcmp(key, "statusCodeValue", 15)) {
            if (have_status) return false;
            have_status = true;
            p = read_uint(p, end, 3, status);
            if (p && *status >= 400) return false; /* an error: json-c reads all of it */
        } else {
            p = skip_env_value(p, end);
        }
        if (!p || !(p = next_member(p, end, &more))) return false;
    }
    return have_body && p == end;
}

/* ---- the chunk ----
 * {"id":…,"object":…,"created":…,"model":…,"choices":[{"index":0,"delta":{"role":…,
 * "content":…,"reasoning_content":…,"tool_calls":[{"index":0,"id":…,"type":"function",
 * "function":{"name":…,"arguments":…}}]},"finish_reason":…}],"usage":{"prompt_tokens":…,
 * "completion_tokens":…,"total_tokens":…,"prompt_tokens_details":{"cached_tokens":…}}}
 * Every key is optional and may come once; values the decoder does not read must still be a
 * string, a small integer or null. Any other key (error, code, success, the alternative finish
 * frame's timings, …) leaves the chunk to json-c, which knows what it means. */

typedef struct key {
    const char *s;
    size_t n;
} key;

#define KEY(s)                                                                                     \
    { s, sizeof(s) - 1 }

typedef struct reader {
    char *s;         /* the chunk: strings are given as positions in it */
    const char *end; /* s + its length */
    sse_fast_chunk *c;
    sse_fast_tool *tool; /* the tool-call fragment being read */
} reader;

/* Reads one member's value: key is its index in the object's key list. */
typedef const char *(*member_fn)(reader *r, int key, const char *p);

/* An object (p at '{') whose keys are all in keys (≤ 8, each at most once). */
static const char *read_object(reader *r, const char *p, const key *keys, int n_keys,
                               member_fn fn) {
    unsigned seen = 0;
    p = skip_ws(p + 1, r->end);
    if (p < r->end && *p == '}') return p + 1;
    for (bool more = true; more;) {
        const char *k;
        size_t k_len;
        if (!(p = read_key(p, r->end, &k, &k_len))) return NULL;
        int i = 0;
        while (i < n_keys && (keys[i].n != k_len || memcmp(keys[i].s, k, k_len)))
            i++;
        if (i == n_keys || seen & 1u << i) return NULL;
        seen |= 1u << i;
        if (!(p = fn(r, i, p)) || !(p = next_member(p, r->end, &more))) return NULL;
    }
    return p;
}

/* A string or null into out (NULL: not kept). An escaped string is only checked here and is
 * unescaped by finish() once the whole chunk is known to be ours. */
static const char *read_str(reader *r, const char *p, sse_fast_str *out) {
    if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
    if (p == r->end || *p != '"') return NULL;
    const char *start = ++p;
    while (p < r->end && PLAIN(*p))
        p++;
    bool escaped = p < r->end && *p == '\\';
    if (escaped && !(p = scan_string(p, r->end, NULL))) return NULL;
    if (!escaped) {
        if (p == r->end || *p != '"') return NULL;
        p++;
    }
    if (out) *out = (sse_fast_str){r->s + (start - r->s), (size_t)(p - 1 - start), escaped};
    return p;
}

/* A small integer or null (*out untouched, *has false). */
static const char *read_count(reader *r, const char *p, int max_digits, int64_t *out, bool *has) {
    if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
    p = read_uint(p, r->end, max_digits, out);
    if (p && has) *has = true;
    return p;
}

enum { DETAILS_CACHED };
static const key DETAILS_KEYS[] = {KEY("cached_tokens")};

static const char *details_member(reader *r, int k, const char *p) {
    (void)k;
    sse_fast_usage *u = &r->c->usage;
    return read_count(r, p, 18, &u->cached, &u->has_cached);
}

enum { USAGE_PROMPT, USAGE_COMPLETION, USAGE_TOTAL, USAGE_DETAILS };
static const key USAGE_KEYS[] = {KEY("prompt_tokens"), KEY("completion_tokens"),
                                 KEY("total_tokens"), KEY("prompt_tokens_details")};

static const char *usage_member(reader *r, int k, const char *p) {
    sse_fast_usage *u = &r->c->usage;
    int64_t total;
    switch (k) {
    case USAGE_PROMPT: return read_count(r, p, 18, &u->input, &u->has_input);
    case USAGE_COMPLETION: return read_count(r, p, 18, &u->output, &u->has_output);
    case USAGE_TOTAL: return read_count(r, p, 18, &total, NULL);
    default:
        if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
        if (p == r->end || *p != '{') return NULL;
        return read_object(r, p, DETAILS_KEYS, 1, details_member);
    }
}

enum { FN_NAME, FN_ARGUMENTS };
static const key FN_KEYS[] = {KEY("name"), KEY("arguments")};

static const char *fn_member(reader *r, int k, const char *p) {
    return read_str(r, p, k == FN_NAME ? &r->tool->name : &r->tool->args);
}

enum { TOOL_INDEX, TOOL_ID, TOOL_TYPE, TOOL_FUNCTION };
static const key TOOL_KEYS[] = {KEY("index"), KEY("id"), KEY("type"), KEY("function")};

static const char *tool_member(reader *r, int k, const char *p) {
    switch (k) {
    case TOOL_INDEX: return read_count(r, p, 9, &r->tool->index, NULL); /* ≤ INT_MAX */
    case TOOL_ID: return read_str(r, p, &r->tool->id);
    case TOOL_TYPE: return read_str(r, p, NULL);
    default:
        if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
        if (p == r->end || *p != '{') return NULL;
        return read_object(r, p, FN_KEYS, 2, fn_member);
    }
}

static const char *read_tool_calls(reader *r, const char *p) {
    sse_fast_chunk *c = r->c;
    if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
    if (p == r->end || *p != '[') return NULL;
    p = skip_ws(p + 1, r->end);
    if (p < r->end && *p == ']') return p + 1;
    for (;;) {
        if (c->n_tools == SSE_FAST_MAX_TOOLS || p == r->end || *p != '{') return NULL;
        r->tool = &c->tools[c->n_tools++];
        *r->tool = (sse_fast_tool){.index = -1};
        if (!(p = read_object(r, p, TOOL_KEYS, 4, tool_member))) return NULL;
        p = skip_ws(p, r->end);
        if (p == r->end) return NULL;
        if (*p == ']') return p + 1;
        if (*p != ',') return NULL;
        p = skip_ws(p + 1, r->end);
    }
}

enum { DELTA_ROLE, DELTA_CONTENT, DELTA_REASONING, DELTA_TOOL_CALLS, DELTA_TOOL_CALL_ID };
static const key DELTA_KEYS[] = {KEY("role"), KEY("content"), KEY("reasoning_content"),
                                 KEY("tool_calls"), KEY("tool_call_id")};

static const char *delta_member(reader *r, int k, const char *p) {
    sse_fast_chunk *c = r->c;
    switch (k) {
    case DELTA_ROLE: return read_str(r, p, NULL);
    case DELTA_CONTENT: return read_str(r, p, &c->content);
    case DELTA_REASONING: return read_str(r, p, &c->reasoning);
    case DELTA_TOOL_CALLS: return read_tool_calls(r, p);
    default: return read_str(r, p, &c->tool_call_id);
    }
}

enum { CHOICE_INDEX, CHOICE_DELTA, CHOICE_FINISH, CHOICE_LOGPROBS };
static const key CHOICE_KEYS[] = {KEY("index"), KEY("delta"), KEY("finish_reason"),
                                  KEY("logprobs")};

static const char *choice_member(reader *r, int k, const char *p) {
    int64_t index;
    if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
    switch (k) {
    case CHOICE_INDEX: return read_uint(p, r->end, 18, &index);
    case CHOICE_DELTA:
        if (p == r->end || *p != '{') return NULL;
        return read_object(r, p, DELTA_KEYS, 5, delta_member);
    case CHOICE_FINISH: return read_str(r, p, &r->c->finish_reason);
    default: return NULL; /* logprobs other than null */
    }
}

/* [], or [ one choice ]. */
static const char *read_choices(reader *r, const char *p) {
    if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
    if (p == r->end || *p != '[') return NULL;
    p = skip_ws(p + 1, r->end);
    if (p < r->end && *p == ']') return p + 1;
    if (p == r->end || *p != '{') return NULL;
    r->c->choice = true;
    if (!(p = read_object(r, p, CHOICE_KEYS, 4, choice_member))) return NULL;
    p = skip_ws(p, r->end);
    return p < r->end && *p == ']' ? p + 1 : NULL;
}

enum { TOP_ID, TOP_OBJECT, TOP_CREATED, TOP_MODEL, TOP_FINGERPRINT, TOP_CHOICES, TOP_USAGE };
static const key TOP_KEYS[] = {
    KEY("id"),      KEY("object"), KEY("created"), KEY("model"), KEY("system_fingerprint"),
    KEY("choices"), KEY("usage")};

static const char *top_member(reader *r, int k, const char *p) {
    int64_t created;
    switch (k) {
    case TOP_CREATED: return read_count(r, p, 18, &created, NULL);
    case TOP_CHOICES: return read_choices(r, p);
    case TOP_USAGE:
        if (p < r->end && *p == 'n') return LITERAL(p, r->end, "null");
        if (p == r->end || *p != '{') return NULL;
        return read_object(r, p, USAGE_KEYS, 4, usage_member);
    default: return read_str(r, p, NULL);
    }
}

/* Unescapes (in place) and terminates a string the decoder reads. */
static void finish(sse_fast_str *str) {
    if (!str->p) return;
    if (str->escaped) {
        char *w = str->p;
        scan_string(str->p, str->p + str->n + 1, &w);
        str->n = (size_t)(w - str->p);
    }
    str->p[str->n] = '\0';
}

bool sse_fast_chunk_read(sse_fast_chunk *c, char *s, size_t n) {
    reader r = {s, s + n, c, NULL};
    c->choice = false;
    c->n_tools = 0;
    c->reasoning = c->content = c->tool_call_id = c->finish_reason = (sse_fast_str){0};
    c->usage = (sse_fast_usage){0};
    if (!n || *s != '{') return false;
    const char *p = read_object(&r, s, TOP_KEYS, 7, top_member);
    if (p != r.end) return false;
    finish(&c->reasoning);
    finish(&c->content);
    finish(&c->tool_call_id);
    finish(&c->finish_reason);
    for (size_t i = 0; i < c->n_tools; i++) {
        finish(&c->tools[i].id);
        finish(&c->tools[i].name);
        finish(&c->tools[i].args);
    }
    return true;
}
