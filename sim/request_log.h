/* What reached the fake: a bounded ring of request records, read by tests at /_sim/requests.
 * Records are addressed by seq; a stream that ends later looks its record up again, so a record
 * overwritten in the meantime is simply not updated. Stored bodies share one byte budget. */
#ifndef LGW_SIM_REQUEST_LOG_H
#define LGW_SIM_REQUEST_LOG_H
#include "util/buf.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sim_record {
    uint64_t seq;    /* 0: slot unused */
    int64_t time_ms; /* wall clock at arrival */
    uint64_t start_ns;
    /* heap strings owned by the record; NULL renders as null */
    char *method, *path, *query, *account, *machine_id, *reason, *session_id, *request_id,
        *auth_request_id, *cosy_version, *encode_variant, *model, *roles_json, *directive_json,
        *body_json;
    bool verified, encoded, stream, finished, client_closed, script;
    int status, n_messages;
    int prompt_tokens, completion_tokens, cached_tokens; /* -1: not applicable */
    size_t body_len;
    uint64_t bytes_sent;
    int64_t closed_at_ms; /* wall clock when the response ended or the client left; 0: open */
    double duration_ms;
} sim_record;

typedef struct sim_request_log sim_request_log;

sim_request_log *sim_request_log_new(size_t capacity, size_t body_budget);
void sim_request_log_free(sim_request_log *log);
void sim_request_log_clear(sim_request_log *log);

/* A fresh record (the oldest is recycled when full) with seq, time and start filled. */
sim_record *sim_request_log_add(sim_request_log *log, uint64_t start_ns);
/* The record of seq, or NULL if it was recycled or cleared. */
sim_record *sim_request_log_get(sim_request_log *log, uint64_t seq);
/* Takes ownership of body (JSON text) within the byte budget, evicting older bodies. */
void sim_request_log_keep_body(sim_request_log *log, sim_record *rec, char *body, size_t len);
/* Marks the response complete: status, bytes, end time. */
void sim_record_close(sim_record *rec, int status, uint64_t bytes, bool finished,
                      bool client_closed);

/* {"requests":[...]} of records with seq > since, oldest first. */
void sim_request_log_render(const sim_request_log *log, buf *b, uint64_t since, bool full);
#endif
