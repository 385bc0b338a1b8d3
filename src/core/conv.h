/* The neutral conversation model shared by both front protocols and the upstream.
 *
 * Front decoders (OpenAI, Anthropic) turn a client body into a conv_request; the upstream
 * encoder turns a conv_request into a Lingma body. The upstream decoder turns the Lingma SSE
 * stream into conv_events; front encoders turn conv_events into client bytes. Neither side
 * ever sees the other's protocol.
 *
 * Ownership: every string and array of a conv_request lives in its arena (`a`), freed at once
 * by conv_request_free. Event payloads (conv_event) are borrowed for the duration of the
 * callback only. */
#ifndef LGW_CORE_CONV_H
#define LGW_CORE_CONV_H
#include "util/arena.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CONV_ROLE_SYSTEM, CONV_ROLE_USER, CONV_ROLE_ASSISTANT, CONV_ROLE_TOOL } conv_role;

typedef enum {
    CONV_BLOCK_TEXT,        /* text */
    CONV_BLOCK_IMAGE,       /* media_type + data (base64), or url (http(s) or data:) */
    CONV_BLOCK_TOOL_CALL,   /* tool_id, tool_name, text = arguments as a JSON string */
    CONV_BLOCK_TOOL_RESULT, /* tool_id, text = result flattened to text, is_error */
    CONV_BLOCK_THINKING,    /* text = reasoning from history (signature dropped) */
} conv_block_type;

typedef struct conv_block {
    conv_block_type type;
    const char *text; /* NUL-terminated; text_len excludes the NUL */
    size_t text_len;
    const char *media_type; /* IMAGE */
    const char *data;       /* IMAGE: base64 payload (no data: prefix) */
    size_t data_len;
    const char *url;     /* IMAGE: remote or data: URL when no inline data */
    const char *tool_id; /* TOOL_CALL / TOOL_RESULT */
    const char *tool_name;
    bool is_error; /* TOOL_RESULT */
} conv_block;

typedef struct conv_message {
    conv_role role;
    conv_block *blocks;
    size_t n_blocks;
    const char *name; /* optional participant name */
} conv_message;

typedef struct conv_tool {
    const char *name;
    const char *description;     /* may be NULL */
    const char *parameters_json; /* JSON schema as text; NULL = none given */
} conv_tool;

typedef enum {
    CONV_TOOL_CHOICE_UNSET, /* client said nothing: upstream default */
    CONV_TOOL_CHOICE_AUTO,
    CONV_TOOL_CHOICE_NONE,
    CONV_TOOL_CHOICE_REQUIRED, /* OpenAI "required", Anthropic "any" */
    CONV_TOOL_CHOICE_NAMED,    /* tool_choice_name */
} conv_tool_choice;

typedef enum { CONV_PROTO_OPENAI, CONV_PROTO_ANTHROPIC } conv_protocol;

typedef struct conv_request {
    arena a;
    conv_protocol protocol;
    const char *model;  /* the name the client asked for (echoed back) */
    const char *system; /* all system text joined with "\n\n"; NULL if none */
    size_t system_len;
    conv_message *messages; /* without system messages */
    size_t n_messages;
    conv_tool *tools;
    size_t n_tools;
    conv_tool_choice tool_choice;
    const char *tool_choice_name;
    bool parallel_tool_calls; /* default true */
    bool stream;
    bool include_usage; /* OpenAI stream_options.include_usage */
    int64_t max_tokens; /* 0 = unset */
    bool has_temperature, has_top_p, has_top_k;
    double temperature, top_p;
    int64_t top_k;
    const char **stop; /* stop sequences */
    size_t n_stop;
    bool thinking;                /* Anthropic thinking enabled, or OpenAI reasoning_effort set */
    const char *reasoning_effort; /* low / medium / high, or NULL */
    const char *response_format;  /* JSON text of response_format, or NULL */
    const char *user;             /* end-user id (metadata.user_id / user) */
    bool has_images;
} conv_request;

void conv_request_init(conv_request *r, conv_protocol protocol);
void conv_request_free(conv_request *r);

/* ---- the response stream ---- */

typedef enum {
    CONV_STOP_END_TURN,
    CONV_STOP_MAX_TOKENS,
    CONV_STOP_TOOL_USE,
    CONV_STOP_STOP_SEQUENCE,
} conv_stop_reason;

typedef struct conv_usage {
    bool known;
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_tokens; /* upstream prefix-cache hits, if reported */
} conv_usage;

/* Upstream error classes (lingma-upstream.md §5) and what the pool does with each. */
typedef enum {
    CONV_ERR_NONE,
    CONV_ERR_AUTH,          /* credential rejected / login expired: needs_login, switch account */
    CONV_ERR_RATE_LIMIT,    /* 429, queue throttle: cool down, switch account */
    CONV_ERR_QUOTA,         /* daily count / credits exhausted: cool down until reset */
    CONV_ERR_TRANSIENT,     /* 5xx, reset, truncated stream: retry elsewhere before first byte */
    CONV_ERR_TIMEOUT,       /* connect / first-byte / stall timeout: transient, reported as 504 */
    CONV_ERR_REQUEST_FATAL, /* 400, context too long, unknown model: client's fault, no penalty */
    CONV_ERR_CONFIG_FATAL,  /* wrong base URL etc.: operator's fault */
    CONV_ERR_CANCELLED,     /* the client went away */
} conv_error_class;

const char *conv_error_class_name(conv_error_class c);

typedef enum {
    CONV_EV_TEXT_DELTA,      /* text, len */
    CONV_EV_THINKING_DELTA,  /* text, len */
    CONV_EV_TOOL_CALL_START, /* index, id, name: a new tool call begins */
    CONV_EV_TOOL_CALL_ARGS,  /* index, text, len: a fragment of the arguments JSON */
    CONV_EV_FINISH,          /* stop, usage: the generation ended normally */
    CONV_EV_ERROR,           /* err_class, status (upstream HTTP/envelope status), text = message */
} conv_event_type;

typedef struct conv_event {
    conv_event_type type;
    const char *text;
    size_t len;
    int index;
    const char *id;
    const char *name;
    conv_stop_reason stop;
    const char *stop_sequence; /* for CONV_STOP_STOP_SEQUENCE, else NULL */
    conv_usage usage;
    conv_error_class err_class;
    int status;
    const char *err_code; /* upstream code such as "105", or NULL */
} conv_event;

typedef void (*conv_event_fn)(const conv_event *ev, void *ud);

/* ---- a collected (non-streaming) response ---- */

typedef struct conv_tool_call_out {
    char *id;
    char *name;
    char *args; /* JSON text accumulated from fragments (heap) */
    size_t args_len, args_cap;
} conv_tool_call_out;

typedef struct conv_response {
    char *text;
    size_t text_len, text_cap;
    char *thinking;
    size_t thinking_len, thinking_cap;
    conv_tool_call_out *calls;
    size_t n_calls, calls_cap;
    bool finished;
    conv_stop_reason stop;
    char *stop_sequence;
    conv_usage usage;
} conv_response;

void conv_response_init(conv_response *r);
void conv_response_free(conv_response *r);
/* Folds one event into the response (text, thinking, tool calls, finish; errors are the caller's).
 */
void conv_response_add(conv_response *r, const conv_event *ev);
#endif
