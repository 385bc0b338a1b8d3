/* /internal/sessions: the affinity entries (hashes, session ids, account names, times — never
 * conversation content).
 *
 * One entry, as exported and imported (a JSON line):
 *   {"key":"<32 hex>","session_id":"…","account":"…","created_ms":N,"last_used_ms":N,"turns":N,
 *    "continued":false}
 * The key already covers the caller's API key, so an imported entry only serves the same key.
 *
 * GET  sessions[?limit=N]  → {"count":N,"max":N,"idle_ttl_ms":N,"recent":[entry…]} newest first
 *                            (limit 20 by default, at most 1000)
 * GET  sessions/export     → application/x-ndjson, oldest first (import order keeps the LRU order)
 * POST sessions/import     → {"imported":N,"skipped":N,"errors":["line 3: …",…]} (first 10) */
#include "admin/handlers.h"
#include "front/codec_util.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_DEFAULT  20
#define RECENT_MAX      1000
#define EXPORT_CHUNK    (64u << 10)
#define IMPORT_LINE_MAX 4096
#define IMPORT_ERRORS   10

static void entry_json(buf *b, const conv_hash *key, const session_binding *sb, bool continued) {
    buf_puts(b, "{\"key\":\"");
    for (size_t i = 0; i < sizeof key->b; i++)
        buf_printf(b, "%02x", key->b[i]);
    buf_puts(b, "\",\"session_id\":");
    json_put_str(b, sb->session_id);
    buf_puts(b, ",\"account\":");
    json_put_str(b, sb->account);
    buf_printf(b, ",\"created_ms\":%lld,\"last_used_ms\":%lld,\"turns\":%u,\"continued\":%s}",
               (long long)sb->created_ms, (long long)sb->last_used_ms, sb->turns,
               continued ? "true" : "false");
}

typedef struct recent_entry {
    conv_hash key;
    session_binding b;
    bool continued;
} recent_entry;

typedef struct recent_ring {
    recent_entry *items;
    size_t cap, n, next;
} recent_ring;

static void keep_recent(const conv_hash *key, const session_binding *b, bool continued, void *ud) {
    recent_ring *r = ud;
    r->items[r->next] = (recent_entry){*key, *b, continued};
    r->next = (r->next + 1) % r->cap;
    if (r->n < r->cap) r->n++;
}

void admin_sessions_summary(admin_ctx *a, http_exchange *ex, const http_request *req) {
    long limit = RECENT_DEFAULT;
    const char *q = strstr(req->query, "limit=");
    if (q && (q == req->query || q[-1] == '&')) limit = strtol(q + 6, NULL, 10);
    if (limit < 0) limit = 0;
    if (limit > RECENT_MAX) limit = RECENT_MAX;
    recent_ring r = {xcalloc((size_t)limit + 1, sizeof(recent_entry)), (size_t)limit + 1, 0, 0};
    session_cache_visit(a->sessions, keep_recent, &r);
    buf b = BUF_INIT;
    buf_printf(&b, "{\"count\":%zu,\"max\":%llu,\"idle_ttl_ms\":%llu,\"recent\":[",
               session_cache_size(a->sessions), (unsigned long long)a->cfg->session_cache_max,
               (unsigned long long)a->cfg->session_idle_ttl_ms);
    /* The ring holds limit+1 so that "the newest limit" is simple: skip the oldest one kept. */
    size_t shown = r.n < (size_t)limit ? r.n : (size_t)limit;
    for (size_t k = 0; k < shown; k++) {
        const recent_entry *e = &r.items[(r.next + r.cap - 1 - k) % r.cap];
        if (k) buf_putc(&b, ',');
        entry_json(&b, &e->key, &e->b, e->continued);
    }
    buf_puts(&b, "]}");
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
    free(r.items);
}

typedef struct export_ctx {
    http_exchange *ex;
    buf b;
} export_ctx;

static void export_one(const conv_hash *key, const session_binding *sb, bool continued, void *ud) {
    export_ctx *x = ud;
    entry_json(&x->b, key, sb, continued);
    buf_putc(&x->b, '\n');
    if (x->b.len >= EXPORT_CHUNK) {
        http_stream_write(x->ex, x->b.data, x->b.len);
        buf_reset(&x->b);
    }
}

void admin_sessions_export(admin_ctx *a, http_exchange *ex) {
    export_ctx x = {ex, BUF_INIT};
    http_stream_start(ex, 200, "application/x-ndjson", NULL);
    session_cache_visit(a->sessions, export_one, &x);
    if (x.b.len) http_stream_write(ex, x.b.data, x.b.len);
    http_stream_end(ex);
    buf_free(&x.b);
}

/* ---------------------------------------------------------------- import */

static bool get_i64(json_object *o, const char *k, int64_t *out) {
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return *out >= 0;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_key(const char *hex, conv_hash *key) {
    if (!hex || strlen(hex) != 2 * sizeof key->b) return false;
    for (size_t i = 0; i < sizeof key->b; i++) {
        int h = hex_digit(hex[2 * i]), l = hex_digit(hex[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        key->b[i] = (uint8_t)(h * 16 + l);
    }
    return true;
}

static bool printable(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e) return false;
    return true;
}

/* One line → an entry; NULL on success, else why not. */
static const char *import_line(admin_ctx *a, const char *line, size_t len) {
    const char *why = NULL;
    json_object *o = codec_parse_json(line, len, &why);
    if (!o) return why;
    conv_hash key;
    session_binding b;
    memset(&b, 0, sizeof b);
    const char *sid = admin_json_str(o, "session_id"), *acct = admin_json_str(o, "account");
    int64_t created, used, turns;
    json_object *cont = NULL;
    json_object_object_get_ex(o, "continued", &cont);
    if (!json_object_is_type(o, json_type_object))
        why = "not an object";
    else if (!parse_key(admin_json_str(o, "key"), &key))
        why = "\"key\" must be 32 hex digits";
    else if (!sid || !*sid || strlen(sid) >= SESSION_ID_CAP || !printable(sid))
        why = "bad \"session_id\"";
    else if (!acct || !credentials_valid_name(acct))
        why = "bad \"account\"";
    else if (!get_i64(o, "created_ms", &created) || !get_i64(o, "last_used_ms", &used) ||
             !get_i64(o, "turns", &turns) || turns > UINT32_MAX)
        why = "created_ms, last_used_ms and turns must be non-negative integers";
    else if (cont && !json_object_is_type(cont, json_type_boolean))
        why = "\"continued\" must be a boolean";
    if (!why) {
        snprintf(b.session_id, sizeof b.session_id, "%s", sid);
        snprintf(b.account, sizeof b.account, "%s", acct);
        b.created_ms = created;
        b.last_used_ms = used;
        b.turns = (uint32_t)turns;
        session_cache_insert_raw(a->sessions, &key, &b, cont && json_object_get_boolean(cont));
    }
    json_object_put(o);
    return why;
}

void admin_sessions_import(admin_ctx *a, http_exchange *ex, const http_request *req) {
    size_t imported = 0, skipped = 0, n_err = 0, lineno = 0;
    buf errs = BUF_INIT;
    for (const char *p = req->body, *end = req->body + req->body_len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        const char *why = NULL;
        size_t blank = 0;
        while (blank < len && (p[blank] == ' ' || p[blank] == '\t' || p[blank] == '\r'))
            blank++;
        if (blank < len) {
            why = len > IMPORT_LINE_MAX ? "line too long" : import_line(a, p, len);
            if (why)
                skipped++;
            else
                imported++;
        }
        if (why && n_err++ < IMPORT_ERRORS) {
            char msg[160];
            snprintf(msg, sizeof msg, "line %zu: %s", lineno, why);
            if (errs.len) buf_putc(&errs, ',');
            json_put_str(&errs, msg);
        }
        p += len + (nl != NULL);
    }
    buf b = BUF_INIT;
    buf_printf(&b, "{\"imported\":%zu,\"skipped\":%zu,\"errors\":[%.*s]}", imported, skipped,
               (int)errs.len, errs.data ? errs.data : "");
    admin_respond_json(ex, 200, &b);
    buf_free(&b);
    buf_free(&errs);
}
