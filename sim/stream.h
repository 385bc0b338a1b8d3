/* One chat SSE stream in the envelope format of spec §1.7:
 *   data:{"headers":{},"body":"<chat.completion.chunk
 * JSON>","statusCodeValue":200,"statusCode":"OK"} Events are generated lazily from a plan (no
 * pre-rendered event list), written one per http_stream_write, paced by one uv_timer, and paused
 * while the client's output is congested. */
#ifndef LGW_SIM_STREAM_H
#define LGW_SIM_STREAM_H
#include "directives.h"
#include "errors.h"
#include "net/http_server.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sim sim;

typedef struct sim_tool_call {
    char *id, *name, *args;
} sim_tool_call;

/* What to send. Strings are heap-owned by the plan; sim_stream_start takes the plan over. */
typedef struct sim_stream_plan {
    char *chunk_id; /* "chatcmpl-..." */
    char *model;
    int64_t created;                       /* unix seconds */
    const sim_error_def *env_error;        /* an in-stream error envelope instead of a reply */
    char *env_message;                     /* its message (NULL: the error's default) */
    char *reasoning, *content;             /* NULL or text */
    size_t reasoning_piece, content_piece; /* bytes per delta (0: all at once) */
    size_t arg_piece;                      /* bytes per argument fragment (0: thirds) */
    sim_tool_call tools[SIM_MAX_TOOLS];
    int n_tools;
    const char *finish_reason;
    bool usage;
    int prompt_tokens, completion_tokens, cached_tokens;
    uint32_t delay_ms, first_byte_delay_ms, stall_ms;
    bool error_after_finish, truncate, no_done, done_envelope, keepalive, space;
    bool interleave; /* tool heads first, then argument fragments round-robin */
} sim_stream_plan;

void sim_stream_plan_free(sim_stream_plan *p);

/* Starts streaming `plan` (taken over) as the response of ex. record_seq is the request-log
 * entry updated when the stream ends. */
void sim_stream_start(sim *s, http_exchange *ex, sim_stream_plan *plan, uint64_t record_seq);
#endif
