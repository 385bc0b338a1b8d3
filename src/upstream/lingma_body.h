/* The Lingma chat request body (lingma-upstream.md §1.6) built from the neutral request. */
#ifndef LGW_UPSTREAM_LINGMA_BODY_H
#define LGW_UPSTREAM_LINGMA_BODY_H
#include "core/conv.h"
#include "util/buf.h"

typedef struct lingma_body_opts {
    const char *model_key;    /* upstream key; "" = auto */
    const char *session_id;   /* the turn's upstream session id; "" = none */
    const char *cosy_version; /* business.version */
    bool is_vl;               /* the model takes images */
    bool is_reasoning;        /* the model reasons / the client asked for it */
    int64_t max_tokens_cap;   /* upper bound sent upstream (0 = none) */
} lingma_body_opts;

/* Appends the JSON body. request_id / chat_record_id are fresh per call. */
void lingma_body_build(const conv_request *r, const lingma_body_opts *o, buf *out);
#endif
