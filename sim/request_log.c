#include "request_log.h"
#include "util/clock.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

struct sim_request_log {
    sim_record *ring;
    size_t cap;
    uint64_t next_seq; /* never reset, so `since` stays meaningful across clears */
    size_t body_bytes, body_budget;
};

sim_request_log *sim_request_log_new(size_t capacity, size_t body_budget) {
    sim_request_log *log = xcalloc(1, sizeof *log);
    log->ring = xcalloc(capacity, sizeof *log->ring);
    log->cap = capacity;
    log->next_seq = 1;
    log->body_budget = body_budget;
    return log;
}

static void record_release(sim_request_log *log, sim_record *r) {
    char **strs[] = {&r->method,          &r->path,          &r->query,          &r->account,
                     &r->machine_id,      &r->reason,        &r->session_id,     &r->request_id,
                     &r->auth_request_id, &r->cosy_version,  &r->encode_variant, &r->model,
                     &r->roles_json,      &r->directive_json};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    log->body_bytes -= r->body_len;
    free(r->body_json);
    memset(r, 0, sizeof *r);
}

void sim_request_log_clear(sim_request_log *log) {
    for (size_t i = 0; i < log->cap; i++)
        record_release(log, &log->ring[i]);
}

void sim_request_log_free(sim_request_log *log) {
    if (!log) return;
    sim_request_log_clear(log);
    free(log->ring);
    free(log);
}

sim_record *sim_request_log_add(sim_request_log *log, uint64_t start_ns) {
    uint64_t seq = log->next_seq++;
    sim_record *r = &log->ring[seq % log->cap];
    record_release(log, r);
    r->seq = seq;
    r->time_ms = clock_wall_ms();
    r->start_ns = start_ns;
    r->prompt_tokens = r->completion_tokens = r->cached_tokens = -1;
    return r;
}

sim_record *sim_request_log_get(sim_request_log *log, uint64_t seq) {
    sim_record *r = &log->ring[seq % log->cap];
    return r->seq == seq ? r : NULL;
}

void sim_request_log_keep_body(sim_request_log *log, sim_record *rec, char *body, size_t len) {
    if (len > log->body_budget) {
        free(body);
        return;
    }
    /* Evict the oldest bodies first: walk the ring from the slot after the newest record. */
    for (size_t i = 1; i <= log->cap && log->body_bytes + len > log->body_budget; i++) {
        sim_record *r = &log->ring[(rec->seq + i) % log->cap];
        if (r == rec || !r->body_json) continue;
        log->body_bytes -= r->body_len;
        free(r->body_json);
        r->body_json = NULL;
        r->body_len = 0;
    }
    log->body_bytes -= rec->body_len;
    free(rec->body_json);
    rec->body_json = body;
    rec->body_len = len;
    log->body_bytes += len;
}

void sim_record_close(sim_record *rec, int status, uint64_t bytes, bool finished,
                      bool client_closed) {
    rec->status = status;
    rec->bytes_sent = bytes;
    rec->finished = finished;
    rec->client_closed = client_closed;
    rec->closed_at_ms = clock_wall_ms();
    rec->duration_ms = (double)(clock_mono_ns() - rec->start_ns) / 1e6;
}

static void put_str_field(buf *b, const char *key, const char *v) {
    buf_putc(b, ',');
    json_put_key(b, key);
    json_put_str(b, v);
}

static void put_raw_field(buf *b, const char *key, const char *json) {
    buf_putc(b, ',');
    json_put_key(b, key);
    buf_puts(b, json ? json : "null");
}

static void put_int_field(buf *b, const char *key, int64_t v, bool present) {
    buf_putc(b, ',');
    json_put_key(b, key);
    if (present)
        buf_put_i64(b, v);
    else
        buf_puts(b, "null");
}

static void put_bool_field(buf *b, const char *key, bool v) {
    buf_putc(b, ',');
    json_put_key(b, key);
    json_put_bool(b, v);
}

static void render_record(const sim_record *r, buf *b, bool full) {
    buf_puts(b, "{\"seq\":");
    buf_put_u64(b, r->seq);
    put_int_field(b, "time_ms", r->time_ms, true);
    put_str_field(b, "method", r->method);
    put_str_field(b, "path", r->path);
    put_str_field(b, "query", r->query);
    put_str_field(b, "account", r->account);
    put_str_field(b, "machine_id", r->machine_id);
    put_bool_field(b, "verified", r->verified);
    put_str_field(b, "reason", r->reason);
    put_str_field(b, "auth_request_id", r->auth_request_id);
    put_str_field(b, "cosy_version", r->cosy_version);
    put_bool_field(b, "encoded", r->encoded);
    put_str_field(b, "encode_variant", r->encode_variant);
    put_str_field(b, "session_id", r->session_id);
    put_str_field(b, "request_id", r->request_id);
    put_str_field(b, "model", r->model);
    put_int_field(b, "n_messages", r->n_messages, r->roles_json != NULL);
    put_raw_field(b, "roles", r->roles_json);
    put_raw_field(b, "directive", r->directive_json);
    put_bool_field(b, "script", r->script);
    put_int_field(b, "prompt_tokens", r->prompt_tokens, r->prompt_tokens >= 0);
    put_int_field(b, "completion_tokens", r->completion_tokens, r->completion_tokens >= 0);
    put_int_field(b, "cached_tokens", r->cached_tokens, r->cached_tokens >= 0);
    put_int_field(b, "status", r->status, r->status != 0);
    put_int_field(b, "bytes_sent", (int64_t)r->bytes_sent, true);
    put_bool_field(b, "stream", r->stream);
    put_bool_field(b, "finished", r->finished);
    put_bool_field(b, "client_closed", r->client_closed);
    put_int_field(b, "closed_at_ms", r->closed_at_ms, r->closed_at_ms != 0);
    buf_puts(b, ",\"duration_ms\":");
    if (r->closed_at_ms)
        json_put_double(b, r->duration_ms);
    else
        buf_puts(b, "null");
    if (full) put_raw_field(b, "body", r->body_json);
    buf_putc(b, '}');
}

void sim_request_log_render(const sim_request_log *log, buf *b, uint64_t since, bool full) {
    buf_puts(b, "{\"requests\":[");
    bool first = true;
    uint64_t oldest = log->next_seq > log->cap ? log->next_seq - log->cap : 1;
    if (oldest <= since) oldest = since + 1;
    for (uint64_t seq = oldest; seq < log->next_seq; seq++) {
        const sim_record *r = &log->ring[seq % log->cap];
        if (r->seq != seq) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        render_record(r, b, full);
    }
    buf_puts(b, "]}");
}
