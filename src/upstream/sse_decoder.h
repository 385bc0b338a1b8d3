/* Incremental decoder of the Lingma chat SSE stream (lingma-upstream.md §1.7, §1.8) into
 * neutral conv_events. Pure: the transport feeds bytes as they arrive and calls finish at EOF.
 *
 * Every `data:` line is decoded on its own as soon as its line ends, as the reference clients
 * do (Lingma sends one line per event), so an event never waits for the blank line and any
 * split of the byte stream yields the same events. A data line holds an envelope
 * {"body":"<inner json>","statusCodeValue":200,…} or a bare inner chunk; the inner chunk is an
 * OpenAI chat.completion.chunk or an error object.
 *
 * Terminal events: exactly one CONV_EV_FINISH or CONV_EV_ERROR is emitted over the life of the
 * decoder (FINISH at [DONE] — the stream ends for the client when the upstream ends it — or at
 * finish() when a finish_reason was seen); after it, input is ignored. The callback must not
 * free the decoder. */
#ifndef LGW_UPSTREAM_SSE_DECODER_H
#define LGW_UPSTREAM_SSE_DECODER_H
#include "core/conv.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>

#define SSE_DECODER_DEFAULT_MAX_LINE (8u << 20)
#define SSE_DECODER_MAX_TOOL_CALLS   128

struct json_tokener;

typedef enum { SSE_DEC_RUNNING, SSE_DEC_FINISHED, SSE_DEC_FAILED } sse_decoder_state;

typedef struct sse_tool_slot {
    int upstream_index; /* the index the upstream keys fragments with */
    char *id;           /* NULL until given (or generated at start) */
    bool id_generated;  /* id is ours: a later upstream id replaces nothing */
    bool started;       /* TOOL_CALL_START emitted */
    buf pending_args;   /* argument fragments that arrived before the name */
} sse_tool_slot;

typedef struct sse_decoder {
    conv_event_fn cb;
    void *ud;
    size_t max_line;
    sse_decoder_state state;
    buf line;         /* the current, unterminated line */
    bool cr_pending;  /* the last byte was CR: a following LF ends the same line */
    bool skip_line;   /* discarding the rest of an overlong line */
    buf head;         /* the first bytes of the body while no data line was seen */
    bool any_data;    /* a data: line was seen */
    bool any_content; /* a content event (text, thinking, tool call) was emitted */
    bool html_content_type;
    bool gen_finished; /* finish_reason or a finish frame was seen */
    conv_stop_reason stop;
    conv_usage usage;
    sse_tool_slot *tools;
    size_t n_tools, tools_cap;
    struct json_tokener *tok; /* created by the first line that needs json-c */
    buf body;                 /* the unescaped body of an envelope read by the fast path, reused */
} sse_decoder;

/* max_line 0 = SSE_DECODER_DEFAULT_MAX_LINE. */
void sse_decoder_init(sse_decoder *d, conv_event_fn cb, void *ud, size_t max_line);
void sse_decoder_free(sse_decoder *d);
/* The response Content-Type: text/html marks the body as a login page. Call before feeding. */
void sse_decoder_set_content_type(sse_decoder *d, const char *content_type);
void sse_decoder_feed(sse_decoder *d, const char *data, size_t len);
/* End of the body: completes the stream or reports why it is incomplete. */
void sse_decoder_finish(sse_decoder *d);
/* True once a text, thinking or tool-call event was emitted (no retry after that). */
bool sse_decoder_emitted(const sse_decoder *d);
/* True once the terminal event was emitted. */
bool sse_decoder_done(const sse_decoder *d);
#endif
