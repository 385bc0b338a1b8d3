/* One Lingma remote API endpoint: signed chat calls that stream neutral events, and the model
 * list (lingma-upstream.md §1). Owns the HTTP client (upstream/http_client on the loop). */
#ifndef LGW_UPSTREAM_LINGMA_REMOTE_H
#define LGW_UPSTREAM_LINGMA_REMOTE_H
#include "core/conv.h"
#include "upstream/credentials.h"
#include "upstream/http_client.h"
#include <uv.h>

typedef struct lingma_remote lingma_remote;
typedef struct lingma_call lingma_call;

typedef struct lingma_remote_options {
    const char *base_url;     /* copied */
    const char *cosy_version; /* copied */
    http_client_options http;
} lingma_remote_options;

int lingma_remote_new(lingma_remote **out, uv_loop_t *loop, const lingma_remote_options *opt);
/* Aborts every unfinished chat call and model-list fetch (no more callbacks; their handles are
 * invalid from here on) and calls done(ud) once everything is released. */
void lingma_remote_free(lingma_remote *r, void (*done)(void *), void *ud);

/* Starts a chat call with `body` (exact bytes, copied). Events arrive through cb: content
 * events, then exactly one terminal CONV_EV_FINISH or CONV_EV_ERROR, after which nothing more
 * comes and the call frees itself once its transfer ends (so its connection is reused).
 * The account is only read during this call. Returns NULL if the call cannot start. */
lingma_call *lingma_chat_start(lingma_remote *r, const lingma_account *acct, const char *body,
                               size_t body_len, conv_event_fn cb, void *ud);
/* Client gone: abort now, close the upstream connection, no more events. Only before the
 * terminal event; may be called from inside the call's own event callback. */
void lingma_call_cancel(lingma_call *c);
/* Number of chat calls and model-list fetches whose transfer has not ended yet. */
size_t lingma_remote_active_calls(const lingma_remote *r);
void lingma_call_pause(lingma_call *c);
void lingma_call_resume(lingma_call *c);

/* GET the model list for an account; cb gets the HTTP status (0 on transport failure) and the
 * body (borrowed for the callback). */
typedef void (*lingma_models_cb)(int status, const char *body, size_t len, void *ud);
int lingma_models_fetch(lingma_remote *r, const lingma_account *acct, lingma_models_cb cb,
                        void *ud);
#endif
