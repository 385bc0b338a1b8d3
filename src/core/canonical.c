#include "core/canonical.h"
#include "util/json_write.h"
#include "util/swar.h"
#include "util/xalloc.h"
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* isspace() of the C locale, the gateway's only one. */
static bool is_ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Appends s with every whitespace run collapsed to one space. *ws says whether the output ends in
 * whitespace (start a field with true, so leading whitespace is dropped); it carries across
 * calls, so a field can be fed in pieces. Text up to the next control character or double space
 * is copied 16 bytes at a time straight into the buffer (reserved once: the result is never
 * longer than s); only those bytes are looked at one by one. */
static void normalize_into(buf *out, const char *s, size_t n, bool *ws) {
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(out, n + 16); /* + the block store's overhang */
    char *o = out->data + out->len;
    bool prev = *ws;
    size_t i = 0;
    while (i < n) {
        while (n - i >= 16) {
            unsigned k = swar_norm_clean16(p + i, o, prev);
            o += k;
            i += k;
            if (k) prev = p[i - 1] == ' '; /* a clean byte is whitespace only as a space */
            if (k < 16) break;
        }
        if (i == n) break;
        bool w = is_ws(p[i]);
        *o = w ? ' ' : (char)p[i]; /* a space after whitespace is overwritten next */
        o += !(w && prev);
        prev = w;
        i++;
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    *ws = prev;
}

/* Ends a field fed through normalize_into from `start`: drops its trailing space. */
static void end_field(buf *out, size_t start, bool ws) {
    if (ws && out->len > start) out->data[--out->len] = '\0';
    buf_putc(out, '\x1f'); /* unit separator: fields cannot run into each other */
}

static void put_field(buf *out, char tag, const char *s, size_t n) {
    buf_putc(out, tag);
    size_t start = out->len;
    bool ws = true;
    normalize_into(out, s, n, &ws);
    end_field(out, start, ws);
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_json(buf *out, json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(v), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys) abort();
        json_object_object_foreach(v, k, val) {
            (void)val;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, cmp_keys);
        buf_putc(out, '{');
        for (i = 0; i < n; i++) {
            if (i) buf_putc(out, ',');
            json_put_str(out, keys[i]);
            buf_putc(out, ':');
            put_json(out, json_object_object_get(v, keys[i]));
        }
        buf_putc(out, '}');
        free(keys);
        break;
    }
    case json_type_array: {
        buf_putc(out, '[');
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            if (i) buf_putc(out, ',');
            put_json(out, json_object_array_get_idx(v, i));
        }
        buf_putc(out, ']');
        break;
    }
    case json_type_string:
        json_put_strn(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_null: buf_puts(out, "null"); break;
    default: buf_puts(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)); break;
    }
}

int canonical_json(const char *json, size_t len, buf *out) {
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) return -1;
    json_object *v = json_tokener_parse_ex(tok, json, (int)len);
    bool ok = v && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(v);
        return -1;
    }
    put_json(out, v);
    json_object_put(v);
    return 0;
}

static void put_tool_call(buf *out, const char *name, const char *args, size_t args_len) {
    put_field(out, 'C', name ? name : "", name ? strlen(name) : 0);
    size_t mark = out->len;
    if (args_len && canonical_json(args, args_len, out) == 0) {
        buf_putc(out, '\x1f');
        return;
    }
    out->len = mark; /* unparseable (or empty) arguments: compare the normalized text */
    bool ws = true;
    normalize_into(out, args ? args : "", args_len, &ws);
    end_field(out, mark, ws);
}

void canonical_message(buf *out, const conv_message *m) {
    static const char roles[] = {'s', 'u', 'a', 't'};
    buf_putc(out, roles[m->role]);
    for (size_t i = 0; i < m->n_blocks; i++) {
        const conv_block *b = &m->blocks[i];
        switch (b->type) {
        case CONV_BLOCK_TEXT:
            if (b->text_len) put_field(out, 'T', b->text, b->text_len);
            break;
        case CONV_BLOCK_TOOL_RESULT:
            put_field(out, 'R', b->text ? b->text : "", b->text_len);
            break;
        case CONV_BLOCK_TOOL_CALL: put_tool_call(out, b->tool_name, b->text, b->text_len); break;
        case CONV_BLOCK_IMAGE: {
            XXH128_hash_t h = b->data
                                  ? XXH3_128bits(b->data, b->data_len)
                                  : XXH3_128bits(b->url ? b->url : "", b->url ? strlen(b->url) : 0);
            buf_putc(out, 'I');
            buf_append(out, &h, sizeof h);
            buf_putc(out, '\x1f');
            break;
        }
        case CONV_BLOCK_THINKING: break; /* not part of what the upstream session keeps */
        }
    }
    buf_putc(out, '\x1e'); /* record separator */
}

/* System text without Claude Code's per-request billing header line. The kept lines are fed
 * to the field with their newlines, which normalising turns into the separating space. */
static void put_system(buf *out, const char *s, size_t n) {
    static const char billing[] = "x-anthropic-billing-header:";
    buf_putc(out, 'S');
    size_t start = out->len;
    bool ws = true;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        size_t p = i;
        while (p < e && is_ws((unsigned char)s[p]))
            p++;
        if (!(e - p >= sizeof billing - 1 && memcmp(s + p, billing, sizeof billing - 1) == 0))
            normalize_into(out, s + i, e - i + (nl != NULL), &ws);
        i = e + 1;
    }
    end_field(out, start, ws);
}

static conv_hash chain(const conv_hash *prev, const buf *bytes) {
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, prev->b, sizeof prev->b);
    XXH3_128bits_update(&st, bytes->data ? bytes->data : "", bytes->len);
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    conv_hash out;
    XXH128_canonicalFromHash((XXH128_canonical_t *)out.b, h);
    return out;
}

void canonical_prefix_hashes(const uint8_t key_digest[32], const conv_request *r, conv_hash *out) {
    buf b = BUF_INIT;
    buf_reserve(&b, 64 + r->system_len); /* the largest record is usually the system text */
    buf_append(&b, key_digest, 32);
    put_system(&b, r->system ? r->system : "", r->system_len);
    conv_hash zero = {{0}};
    out[0] = chain(&zero, &b);
    for (size_t i = 0; i < r->n_messages; i++) {
        buf_reset(&b);
        canonical_message(&b, &r->messages[i]);
        out[i + 1] = chain(&out[i], &b);
    }
    buf_free(&b);
}

struct canonical_reply {
    XXH3_state_t *st;  /* XXH3_createState: the state wants 64-byte alignment */
    bool text_started; /* the 'T' field is open */
    bool ws;           /* the normalised text so far ends in whitespace... */
    bool held_space;   /* ...whose one space is hashed only if more text follows (end_field) */
    buf piece;
};

canonical_reply *canonical_reply_new(conv_hash prev) {
    canonical_reply *r = xcalloc(1, sizeof *r);
    r->st = XXH3_createState();
    if (!r->st) abort();
    XXH3_128bits_reset(r->st);
    XXH3_128bits_update(r->st, prev.b, sizeof prev.b);
    XXH3_128bits_update(r->st, "a", 1);
    return r;
}

void canonical_reply_text(canonical_reply *r, const char *s, size_t n) {
    if (!n) return;
    if (!r->text_started) {
        XXH3_128bits_update(r->st, "T", 1);
        r->text_started = r->ws = true;
    }
    buf_reset(&r->piece);
    normalize_into(&r->piece, s, n, &r->ws);
    size_t len = r->piece.len;
    if (!len) return;
    /* After held whitespace the piece starts with text (normalising dropped its leading run). */
    if (r->held_space) XXH3_128bits_update(r->st, " ", 1);
    r->held_space = r->ws;
    XXH3_128bits_update(r->st, r->piece.data, len - r->ws);
    if (r->piece.cap > 4096) buf_free(&r->piece); /* one long piece does not pin its buffer */
}

conv_hash canonical_reply_finish(canonical_reply *r, const conv_response *reply) {
    buf b = BUF_INIT;
    if (r->text_started) buf_putc(&b, '\x1f');
    for (size_t i = 0; i < reply->n_calls; i++)
        if (reply->calls[i].name)
            put_tool_call(&b, reply->calls[i].name, reply->calls[i].args, reply->calls[i].args_len);
    buf_putc(&b, '\x1e');
    XXH3_128bits_update(r->st, b.data, b.len);
    conv_hash out;
    XXH128_canonicalFromHash((XXH128_canonical_t *)out.b, XXH3_128bits_digest(r->st));
    buf_free(&b);
    canonical_reply_free(r);
    return out;
}

void canonical_reply_free(canonical_reply *r) {
    if (!r) return;
    XXH3_freeState(r->st);
    buf_free(&r->piece);
    free(r);
}

conv_hash canonical_extend_reply(conv_hash prev, const conv_response *reply) {
    buf b = BUF_INIT;
    buf_putc(&b, 'a');
    if (reply->text_len) put_field(&b, 'T', reply->text, reply->text_len);
    for (size_t i = 0; i < reply->n_calls; i++)
        if (reply->calls[i].name)
            put_tool_call(&b, reply->calls[i].name, reply->calls[i].args, reply->calls[i].args_len);
    buf_putc(&b, '\x1e');
    conv_hash h = chain(&prev, &b);
    buf_free(&b);
    return h;
}
