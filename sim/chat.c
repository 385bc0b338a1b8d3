/* The chat endpoint after the signature checked out: body decoding (Encode=1) and validation
 * (§6.1 items 5–6), then the turn's plan — the default echo or what the directives script —
 * with usage and the simulated prefix cache, handed to stream.c. */
#include "encode1.h"
#include "sim.h"
#include "sim_json.h"
#include "stream.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

#define DEFAULT_CHUNKS        4
#define DEFAULT_RETRY_AFTER_S 2
#define TOOL_ECHO_CHARS       200

/* What the turn is about, read from the messages. */
typedef struct turn_facts {
    int n_messages;
    const char *last_role;
    json_object *last_user_content; /* borrowed from the body */
    json_object *last_content;
    size_t prompt_bytes;
    uint64_t prefix_hash;    /* over all messages */
    uint64_t prefix_hash_at; /* over the first `at` messages */
    uint32_t at;             /* the previous turn's message count (prefix cache) */
} turn_facts;

static bool query_has_encode1(const char *query) {
    for (const char *p = query; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n == 8 && memcmp(p, "Encode=1", 8) == 0) return true;
        p += n + (amp ? 1 : 0);
    }
    return false;
}

/* Text of a message content: a string, or the "text" of each part of an array. */
static void content_text(json_object *content, buf *out) {
    if (json_object_is_type(content, json_type_string)) {
        buf_append(out, json_object_get_string(content),
                   (size_t)json_object_get_string_len(content));
        return;
    }
    if (!json_object_is_type(content, json_type_array)) return;
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i), *text;
        if (json_object_object_get_ex(part, "text", &text) &&
            json_object_is_type(text, json_type_string))
            buf_append(out, json_object_get_string(text), (size_t)json_object_get_string_len(text));
    }
}

/* Walks the messages once: roles for the log, prompt size, and the chained prefix hash over
 * what identifies a message (role, text, tool calls, tool_call_id). Returns NULL or an error. */
static const char *read_messages(json_object *msgs, turn_facts *f, buf *roles, buf *scratch) {
    size_t n = json_object_array_length(msgs);
    uint64_t h = 0;
    buf_putc(roles, '[');
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *content = NULL, *calls;
        const char *role = sim_json_get_str(m, "role");
        if (!role) return "every message needs a string role";
        json_object_object_get_ex(m, "content", &content);
        if (i) buf_putc(roles, ',');
        json_put_str(roles, role);
        buf_reset(scratch);
        content_text(content, scratch);
        f->prompt_bytes += scratch->len;
        h = sim_prefix_hash_step(h, role, strlen(role));
        h = sim_prefix_hash_step(h, scratch->data ? scratch->data : "", scratch->len);
        if (json_object_object_get_ex(m, "tool_calls", &calls) &&
            json_object_is_type(calls, json_type_array)) {
            size_t len = 0;
            const char *s = json_object_to_json_string_length(calls, JSON_C_TO_STRING_PLAIN, &len);
            f->prompt_bytes += len;
            h = sim_prefix_hash_step(h, s, len);
        }
        const char *tcid = sim_json_get_str(m, "tool_call_id");
        if (tcid) h = sim_prefix_hash_step(h, tcid, strlen(tcid));
        if (i + 1 == f->at) f->prefix_hash_at = h;
        if (strcmp(role, "user") == 0) f->last_user_content = content;
        f->last_role = role;
        f->last_content = content;
    }
    buf_putc(roles, ']');
    f->n_messages = (int)n;
    f->prefix_hash = h;
    return NULL;
}

/* Decodes and parses the body; an Encode=1 body may use either layout (the one that yields
 * JSON is noted in the record). */
static json_object *parse_body(const http_request *req, sim_record *rec, buf *decoded, char *err,
                               size_t cap) {
    if (!rec->encoded) return sim_json_parse(req->body, req->body_len, err, cap);
    static const sim_encode1_variant order[] = {SIM_ENCODE1_Q, SIM_ENCODE1_LA};
    static const char *const names[] = {"Q", "LA"};
    for (size_t i = 0; i < 2; i++) {
        if (sim_encode1_decode(order[i], req->body, req->body_len, decoded) < 0) continue;
        json_object *v = sim_json_parse(decoded->data, decoded->len, err, cap);
        if (!v) continue;
        rec->encode_variant = xstrdup(names[i]);
        return v;
    }
    snprintf(err, cap, "Encode=1 body does not decode to JSON (variant Q nor LA)");
    return NULL;
}

/* First `max_chars` UTF-8 characters of s. */
static size_t utf8_prefix(const char *s, size_t len, size_t max_chars) {
    size_t i = 0, chars = 0;
    while (i < len && chars < max_chars) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    return i;
}

static size_t piece_for(const sim_directive *d, size_t len) {
    int64_t size = sim_directive_int(d, SIM_DI_chunk_size, 0);
    if (size > 0) return (size_t)size;
    size_t chunks = (size_t)sim_directive_int(d, SIM_DI_chunks, DEFAULT_CHUNKS);
    return len ? (len + chunks - 1) / chunks : 0;
}

static char *trimmed_dup(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    return xstrndup(s, n);
}

/* The reply text of a turn; `text` is the last user text without directive lines. */
static char *reply_text(const sim_directive *eff, const char *after_tool, const turn_facts *f,
                        const buf *text, buf *scratch) {
    int64_t long_line = sim_directive_int(eff, SIM_DI_long_line, 0);
    if (long_line > 0) {
        char *s = xmalloc((size_t)long_line + 1);
        for (int64_t i = 0; i < long_line; i++)
            s[i] = (char)('a' + i % 26);
        s[long_line] = '\0';
        return s;
    }
    if (eff->strs[SIM_DS_reply]) return xstrdup(eff->strs[SIM_DS_reply]);
    if (strcmp(f->last_role, "tool") == 0) {
        if (after_tool) return xstrdup(after_tool);
        buf_reset(scratch);
        content_text(f->last_content, scratch);
        size_t n = utf8_prefix(scratch->data ? scratch->data : "", scratch->len, TOOL_ECHO_CHARS);
        buf out = BUF_INIT;
        buf_puts(&out, "tool result received: ");
        buf_append(&out, scratch->data ? scratch->data : "", n);
        return buf_detach(&out, NULL);
    }
    if (sim_directive_has_tools(eff)) return NULL; /* a pure tool call unless reply= says more */
    char *t = trimmed_dup(text->data ? text->data : "", text->len);
    buf out = BUF_INIT;
    buf_puts(&out, "echo: ");
    buf_puts(&out, t);
    free(t);
    return buf_detach(&out, NULL);
}

static void respond_http_error(http_exchange *ex, sim_record *rec, const sim_directive *eff,
                               const char *auth_rid) {
    const sim_error_def *e = eff->error;
    size_t n;
    if (e->kind == SIM_ERR_LOGIN) {
        n = sim_respond_login_redirect(ex);
    } else {
        int retry = e->status == 429
                        ? (int)sim_directive_int(eff, SIM_DI_retry_after, DEFAULT_RETRY_AFTER_S)
                        : 0;
        n = sim_respond_http_error(ex, e->status, e->code, e->message, auth_rid, retry);
    }
    sim_record_close(rec, e->status, n, true, false);
}

static void start_stream(sim *s, http_exchange *ex, sim_record *rec, sim_stream_plan *plan) {
    rec->stream = true;
    if (!plan->chunk_id) {
        char hex[25];
        ids_hex(hex, 12);
        buf id = BUF_INIT;
        buf_printf(&id, "chatcmpl-%s", hex);
        plan->chunk_id = buf_detach(&id, NULL);
    }
    if (!plan->model) plan->model = xstrdup(sim_catalog_default_key(s->catalog));
    plan->created = clock_wall_ms() / 1000;
    sim_stream_start(s, ex, plan, rec->seq);
}

/* An invalid body: HTTP 200 with an in-stream 400 INVALID_REQUEST envelope (§1.8). */
static void reject_body(sim *s, http_exchange *ex, sim_record *rec, const char *message,
                        const char *reason) {
    sim_stream_plan plan = {0};
    rec->verified = false;
    free(rec->reason);
    rec->reason = xstrdup(reason ? reason : message);
    plan.env_error = sim_error_invalid_request();
    plan.env_message = xstrdup(message);
    start_stream(s, ex, rec, &plan);
}

static void plan_reply(sim_stream_plan *plan, const sim_directive *eff, char *reply,
                       const turn_facts *f, int cached, uint64_t seq) {
    plan->content = reply;
    if (eff->strs[SIM_DS_reasoning]) plan->reasoning = xstrdup(eff->strs[SIM_DS_reasoning]);
    size_t content_len = reply ? strlen(reply) : 0;
    size_t reasoning_len = plan->reasoning ? strlen(plan->reasoning) : 0;
    int64_t long_line = sim_directive_int(eff, SIM_DI_long_line, 0);
    plan->content_piece = long_line > 0 ? (size_t)long_line : piece_for(eff, content_len);
    plan->reasoning_piece = piece_for(eff, reasoning_len);
    plan->arg_piece = (size_t)sim_directive_int(eff, SIM_DI_arg_chunk, 0);
    size_t generated = content_len + reasoning_len;
    for (int i = 0; i < SIM_MAX_TOOLS; i++) {
        if (!eff->tool_name[i]) continue;
        sim_tool_call *t = &plan->tools[plan->n_tools];
        buf id = BUF_INIT;
        buf_printf(&id, "call_%llu_%d", (unsigned long long)seq, plan->n_tools);
        t->id = buf_detach(&id, NULL);
        t->name = xstrdup(eff->tool_name[i]);
        t->args = xstrdup(eff->tool_args[i] ? eff->tool_args[i] : "{}");
        generated += strlen(t->name) + strlen(t->args);
        plan->n_tools++;
    }
    plan->finish_reason = eff->finish ? eff->finish : plan->n_tools ? "tool_calls" : "stop";
    plan->usage = sim_directive_flag(eff, SIM_DF_usage, true);
    plan->prompt_tokens = f->prompt_bytes / 4 > 0 ? (int)(f->prompt_bytes / 4) : 1;
    plan->completion_tokens = generated / 4 > 0 ? (int)(generated / 4) : 1;
    plan->cached_tokens = cached;
    plan->delay_ms = (uint32_t)sim_directive_int(eff, SIM_DI_delay_ms, 0);
    plan->first_byte_delay_ms = (uint32_t)sim_directive_int(eff, SIM_DI_first_byte_delay_ms, 0);
    plan->stall_ms = (uint32_t)sim_directive_int(eff, SIM_DI_stall_ms, 0);
    plan->error_after_finish = sim_directive_flag(eff, SIM_DF_error_after_finish, false);
    plan->truncate = sim_directive_flag(eff, SIM_DF_truncate, false);
    plan->no_done = sim_directive_flag(eff, SIM_DF_no_done, false);
    plan->keepalive = sim_directive_flag(eff, SIM_DF_keepalive, false);
    plan->space = sim_directive_flag(eff, SIM_DF_space, false);
    plan->interleave = sim_directive_flag(eff, SIM_DF_interleave, false);
    plan->done_envelope = eff->done_envelope > 0;
}

void sim_chat_handle(sim *s, http_exchange *ex, const http_request *req, sim_record *rec,
                     const char *auth_rid) {
    char err[256], msg[300];
    buf decoded = BUF_INIT, roles = BUF_INIT, scratch = BUF_INIT, rest = BUF_INIT;
    json_object *body = NULL, *v;
    sim_directive eff, said;
    sim_stream_plan plan = {0};
    turn_facts f = {.last_role = ""};
    sim_directive_init(&eff);
    sim_directive_init(&said);

    sim_account *acct = sim_scripts_find(s->scripts, rec->account);
    const sim_directive *script = sim_account_take(acct, true);
    const sim_catalog *cat = acct && acct->catalog ? acct->catalog : s->catalog;
    rec->script = script != NULL;
    /* An account-level HTTP error comes before the body is looked at, like a rate limiter. */
    if (script && script->error && script->error->kind != SIM_ERR_ENVELOPE) {
        sim_directive_overlay(&eff, script);
        respond_http_error(ex, rec, &eff, auth_rid);
        goto out;
    }

    rec->encoded = query_has_encode1(req->query);
    body = parse_body(req, rec, &decoded, err, sizeof err);
    if (!body || !json_object_is_type(body, json_type_object)) {
        reject_body(s, ex, rec, body ? "request body must be a JSON object" : err, NULL);
        goto out;
    }
    const char *text = rec->encoded ? decoded.data : req->body;
    size_t text_len = rec->encoded ? decoded.len : req->body_len;
    sim_request_log_keep_body(s->log, rec, xstrndup(text, text_len), text_len);

    const char *sid = sim_json_get_str(body, "session_id");
    const char *rid = sim_json_get_str(body, "request_id");
    rec->session_id = sid ? xstrdup(sid) : NULL;
    rec->request_id = rid ? xstrdup(rid) : NULL;
    json_object *mc = NULL;
    const char *key =
        json_object_object_get_ex(body, "model_config", &mc) ? sim_json_get_str(mc, "key") : NULL;
    rec->model = key ? xstrdup(key) : NULL;

    if (!json_object_object_get_ex(body, "stream", &v) ||
        !json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v)) {
        reject_body(s, ex, rec, "stream must be true", NULL);
        goto out;
    }
    json_object *msgs = NULL;
    if (!json_object_object_get_ex(body, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) == 0) {
        reject_body(s, ex, rec, "messages must be a non-empty array", NULL);
        goto out;
    }
    if (!key) {
        reject_body(s, ex, rec, "model_config.key missing", NULL);
        goto out;
    }
    if (!sim_catalog_accepts(cat, key)) {
        snprintf(msg, sizeof msg, "model not found: %s", key);
        reject_body(s, ex, rec, "model not found", msg);
        goto out;
    }

    uint64_t sh = sid && *sid ? sim_prefix_hash_session(sid) : 0;
    const sim_prefix_entry *prev = sh ? sim_prefix_cache_find(s->cache, sh) : NULL;
    f.at = prev ? prev->n_messages : 0;
    const char *bad = read_messages(msgs, &f, &roles, &scratch);
    if (bad) { /* roles is half-built: keep it out of the log */
        reject_body(s, ex, rec, bad, NULL);
        goto out;
    }
    rec->n_messages = f.n_messages;
    rec->roles_json = buf_detach(&roles, NULL);

    /* The directive lives in the last user text; it scripts this turn only when that message is
     * the last one — after a tool result only its after_tool is used. */
    buf_reset(&scratch);
    content_text(f.last_user_content, &scratch);
    int found = sim_directive_parse_text(&said, scratch.data ? scratch.data : "", scratch.len,
                                         &rest, err, sizeof err);
    bool user_turn = strcmp(f.last_role, "user") == 0;
    if (found < 0 && user_turn) {
        snprintf(msg, sizeof msg, "lingma-sim directive: %s", err);
        reject_body(s, ex, rec, msg, NULL);
        goto out;
    }
    const char *after_tool = found > 0 ? said.strs[SIM_DS_after_tool] : NULL;
    sim_directive_overlay(&eff, &s->defaults);
    if (user_turn && found > 0) sim_directive_overlay(&eff, &said);
    if (script) sim_directive_overlay(&eff, script);
    if (!sim_directive_is_empty(&eff)) {
        buf d = BUF_INIT;
        sim_directive_render(&eff, &d);
        rec->directive_json = buf_detach(&d, NULL);
    }

    if (eff.error && eff.error->kind != SIM_ERR_ENVELOPE) {
        respond_http_error(ex, rec, &eff, auth_rid);
        goto out;
    }
    plan.model = xstrdup(*key && strcmp(key, "org_auto") != 0 ? key : sim_catalog_default_key(cat));
    if (eff.error) {
        plan.env_error = eff.error;
        start_stream(s, ex, rec, &plan);
        goto out;
    }

    int cached = prev && (uint32_t)f.n_messages > f.at && f.prefix_hash_at == prev->prefix_hash
                     ? prev->prompt_tokens
                     : 0;
    char *reply = reply_text(&eff, after_tool, &f, &rest, &scratch);
    plan_reply(&plan, &eff, reply, &f, cached, rec->seq);
    rec->prompt_tokens = plan.prompt_tokens;
    rec->completion_tokens = plan.completion_tokens;
    rec->cached_tokens = cached;
    if (sh) {
        sim_prefix_entry e = {sh, f.prefix_hash, (uint32_t)f.n_messages, plan.prompt_tokens};
        sim_prefix_cache_store(s->cache, &e);
    }
    start_stream(s, ex, rec, &plan);
out:
    sim_stream_plan_free(&plan); /* a no-op once a stream took it over */
    sim_directive_clear(&eff);
    sim_directive_clear(&said);
    json_object_put(body);
    buf_free(&decoded);
    buf_free(&roles);
    buf_free(&scratch);
    buf_free(&rest);
}
