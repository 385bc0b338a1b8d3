/* OpenAI Chat Completions codec (client-wire.md §2): request body → conv_request, and
 * conv_response / conv_events → chat.completion JSON / chat.completion.chunk SSE lines.
 * Pure: no I/O. Output is appended to a caller-owned buf. */
#ifndef LGW_FRONT_OPENAI_CODEC_H
#define LGW_FRONT_OPENAI_CODEC_H
#include "core/conv.h"
#include "front/codec_util.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stdint.h>

#define OPENAI_ID_CAP 48

/* "chatcmpl-" + 29 base62 characters. */
void openai_new_completion_id(char out[OPENAI_ID_CAP]);

/* Decodes a /v1/chat/completions body. `out` is initialised here (CONV_PROTO_OPENAI); the
 * caller calls conv_request_free(out) whatever the result. Returns 0, or -1 with `err` set
 * (status 400; err->param "" means param:null). Unknown fields are ignored. `out` holds copies
 * only: the body may be freed once this returns. */
int openai_decode_request(const char *body, size_t len, conv_request *out, codec_error *err);

/* Identity of one completion, shared by both encoders. */
typedef struct openai_meta {
    const char *id;                 /* "chatcmpl-…" */
    int64_t created;                /* unix seconds */
    const char *model;              /* the name the client asked for */
    int64_t prompt_tokens_estimate; /* used when the upstream reported no usage */
} openai_meta;

/* Appends a complete chat.completion object (§2.3). */
void openai_encode_response(buf *out, const conv_response *r, const openai_meta *m);

/* Streaming encoder (§2.4): one state per response. Nothing is written before the first
 * event, so the caller may still retry elsewhere until then. */
typedef struct openai_stream {
    buf prefix; /* `data: {"id":…,"object":…,"created":…,"model":…,"choices":[` */
    bool include_usage;
    bool started; /* role chunk written */
    bool done;    /* finish or error written: later events are ignored */
    int64_t prompt_estimate;
    int64_t out_quarters; /* output estimate when the upstream reports no usage */
    int *tool_keys;       /* upstream tool-call index of each client index 0,1,2… */
    size_t n_tools, tools_cap;
} openai_stream;

void openai_stream_init(openai_stream *s, const openai_meta *m, bool include_usage);
void openai_stream_free(openai_stream *s);
/* Appends the bytes for one event. Returns true once the stream has ended (after FINISH:
 * the finish chunk, the usage chunk if asked, `data: [DONE]`; after ERROR: one error line). */
bool openai_stream_event(openai_stream *s, const conv_event *ev, buf *out);

/* GET /v1/models and /v1/models/{id} bodies (§2.7). */
void openai_encode_models(buf *out, const codec_model_info *models, size_t n);
void openai_encode_model(buf *out, const codec_model_info *m);
#endif
