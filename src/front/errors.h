/* Error envelopes of both client protocols, and the mapping from neutral error classes to
 * the status and type each protocol uses (client-wire.md §1.7, §2.6). */
#ifndef LGW_FRONT_ERRORS_H
#define LGW_FRONT_ERRORS_H
#include "core/conv.h"
#include "util/buf.h"

/* {"error":{"message":…,"type":…,"param":…|null,"code":…|null}} */
void errors_openai_json(buf *out, const char *message, const char *type, const char *param,
                        const char *code);
/* {"type":"error","error":{"type":…,"message":…},"request_id":…} */
void errors_anthropic_json(buf *out, const char *type, const char *message, const char *request_id);

/* The Anthropic error.type for an HTTP status (400 → invalid_request_error, ...). */
const char *errors_anthropic_type_for_status(int status);
/* The OpenAI error.type for an HTTP status (400 → invalid_request_error, 5xx → server_error). */
const char *errors_openai_type_for_status(int status);

/* What a failed turn becomes for the client. `overloaded` = no upstream account was usable. */
typedef struct errors_mapping {
    int status;
    const char *type; /* protocol's error.type */
    const char *code; /* OpenAI code or NULL */
} errors_mapping;
errors_mapping errors_map_class(conv_protocol proto, conv_error_class cls);
errors_mapping errors_map_overloaded(conv_protocol proto);
#endif
