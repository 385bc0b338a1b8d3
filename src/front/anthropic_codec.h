/* Anthropic Messages codec (client-wire.md §1): request body → conv_request, conv_response /
 * conv_events → message JSON / named-event SSE, count_tokens estimate, models list.
 * Pure: no I/O. Output is appended to a caller-owned buf. */
#ifndef LGW_FRONT_ANTHROPIC_CODEC_H
#define LGW_FRONT_ANTHROPIC_CODEC_H
#include "core/conv.h"
#include "front/codec_util.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stdint.h>

#define ANTHROPIC_ID_CAP 40

/* "msg_" + 24 base62 characters. */
void anthropic_new_message_id(char out[ANTHROPIC_ID_CAP]);

typedef enum {
    ANTHROPIC_DECODE_MESSAGES,     /* POST /v1/messages: max_tokens required */
    ANTHROPIC_DECODE_COUNT_TOKENS, /* POST /v1/messages/count_tokens: no max_tokens */
} anthropic_decode_mode;

/* Decodes a /v1/messages (or count_tokens) body. `out` is initialised here
 * (CONV_PROTO_ANTHROPIC); the caller calls conv_request_free(out) whatever the result.
 * Returns 0, or -1 with `err` set (status 400, message names the field as "field: problem",
 * err->param = the field path). Unknown fields and block types are never an error. `out` holds
 * copies only: the body may be freed once this returns. */
int anthropic_decode_request(const char *body, size_t len, anthropic_decode_mode mode,
                             conv_request *out, codec_error *err);

/* Estimated input tokens of a request (method: codec_estimate_request_tokens). */
int64_t anthropic_count_tokens(const conv_request *r);
/* {"input_tokens":N} */
void anthropic_encode_count_tokens(buf *out, int64_t input_tokens);

/* Identity of one message, shared by both encoders. */
typedef struct anthropic_meta {
    const char *id;                /* "msg_…" */
    const char *model;             /* the name the client asked for */
    int64_t input_tokens_estimate; /* message_start usage, and when the upstream has none */
    const char *request_id;        /* echoed in mid-stream error events; may be NULL */
} anthropic_meta;

/* Appends a complete message object (§1.4). */
void anthropic_encode_response(buf *out, const conv_response *r, const anthropic_meta *m);

typedef enum {
    ANTHROPIC_BLOCK_NONE,
    ANTHROPIC_BLOCK_TEXT,
    ANTHROPIC_BLOCK_THINKING,
    ANTHROPIC_BLOCK_TOOL_USE,
} anthropic_block_kind;

/* Bytes of tool-call arguments one stream may hold back (D34): the upstream decoder's bound on
 * one SSE line (SSE_DECODER_DEFAULT_MAX_LINE). Over it the stream ends with an error event. */
#define ANTHROPIC_STREAM_TOOL_BUFFER_MAX (8u << 20)

/* Where a tool call's argument text stands, seen as one JSON value (D34). */
typedef enum {
    ANTHROPIC_ARGS_EMPTY,    /* only whitespace so far */
    ANTHROPIC_ARGS_OPEN,     /* inside a top-level object or array */
    ANTHROPIC_ARGS_COMPLETE, /* a whole object or array: only whitespace can validly follow */
    ANTHROPIC_ARGS_OTHER,    /* anything else (scalar, garbage after the value): never complete */
} anthropic_args_state;

typedef struct anthropic_args_scan {
    anthropic_args_state state;
    int depth;
    bool in_str, esc;
} anthropic_args_scan;

/* A tool call that started while another tool block was open and still incomplete: held until
 * its turn (D34). */
typedef struct anthropic_pending_tool {
    int key; /* upstream tool-call index */
    char *id, *name;
    buf args;
} anthropic_pending_tool;

/* Streaming encoder (§1.5): one state per response. Nothing is written before the first
 * event, so the caller may still retry elsewhere until then. */
typedef struct anthropic_stream {
    char *id, *model, *request_id;
    int64_t input_estimate;
    bool started; /* message_start written */
    bool done;    /* message_stop or error written: later events are ignored */
    bool pinged;
    anthropic_block_kind open; /* the block currently open, if any */
    int open_index;            /* its content index */
    int open_tool_key;         /* its upstream tool-call index (TOOL_USE) */
    int next_index;            /* content index of the next block */
    bool saw_tool;
    int64_t out_quarters;  /* output estimate when the upstream reports no usage */
    int *closed_tool_keys; /* tool calls already closed: late fragments are dropped */
    size_t n_closed, closed_cap;
    anthropic_args_scan open_args;   /* the open tool block's arguments so far */
    anthropic_pending_tool *pending; /* held tool calls, by upstream index */
    size_t n_pending, pending_cap;
    size_t pending_bytes;   /* their argument bytes */
    size_t tool_buffer_max; /* ANTHROPIC_STREAM_TOOL_BUFFER_MAX unless a test lowers it */
} anthropic_stream;

void anthropic_stream_init(anthropic_stream *s, const anthropic_meta *m);
void anthropic_stream_free(anthropic_stream *s);
/* Appends the frames for one event. Returns true once the stream has ended (message_stop or
 * an error event written). */
bool anthropic_stream_event(anthropic_stream *s, const conv_event *ev, buf *out);
/* `event: ping` keep-alive frame, byte-for-byte as the real API sends it. */
void anthropic_stream_ping(buf *out);

/* GET /v1/models page (§1.8): `limit` ≤ 0 means the API default (20), capped at 1000;
 * after_id / before_id (may be NULL) are the cursors the SDK sends. */
void anthropic_encode_models(buf *out, const codec_model_info *models, size_t n, int limit,
                             const char *after_id, const char *before_id);
/* GET /v1/models/{id} */
void anthropic_encode_model(buf *out, const codec_model_info *m);
#endif
