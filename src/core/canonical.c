#include "core/canonical.h"
#include "util/json_write.h"
#include <ctype.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Collapses every whitespace run to one space and trims the ends. Words are copied as runs:
 * a per-byte append made this the largest cost of hashing a 60 KB conversation. */
static void put_normalized(buf *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    bool any = false;
    buf_reserve(out, n);
    while (i < n) {
        size_t gap = i;
        while (i < n && isspace(p[i]))
            i++;
        if (i == n) break;
        if (i > gap && any) buf_putc(out, ' ');
        size_t word = i;
        while (i < n && !isspace(p[i]))
            i++;
        buf_append(out, s + word, i - word);
        any = true;
    }
}

static void put_field(buf *out, char tag, const char *s, size_t n) {
    buf_putc(out, tag);
    put_normalized(out, s, n);
    buf_putc(out, '\x1f'); /* unit separator: fields cannot run into each other */
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
    if (!args_len || canonical_json(args, args_len, out) != 0) {
        out->len = mark; /* unparseable (or empty) arguments: compare the normalized text */
        put_normalized(out, args ? args : "", args_len);
    }
    buf_putc(out, '\x1f');
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

/* System text without Claude Code's per-request billing header line. */
static void put_system(buf *out, const char *s, size_t n) {
    static const char billing[] = "x-anthropic-billing-header:";
    buf kept = BUF_INIT;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        size_t p = i;
        while (p < e && isspace((unsigned char)s[p]))
            p++;
        if (!(e - p >= sizeof billing - 1 && strncmp(s + p, billing, sizeof billing - 1) == 0)) {
            buf_append(&kept, s + i, e - i);
            buf_putc(&kept, '\n');
        }
        i = e + 1;
    }
    put_field(out, 'S', kept.data ? kept.data : "", kept.len);
    buf_free(&kept);
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
