/* Upstream error shapes (spec §1.8): HTTP errors before the stream, the 302 → HTML login page of
 * an expired gateway session, and in-stream error envelopes (HTTP 200, statusCodeValue >= 400). */
#ifndef LGW_SIM_ERRORS_H
#define LGW_SIM_ERRORS_H
#include "net/http_server.h"
#include "util/buf.h"

typedef enum { SIM_ERR_HTTP, SIM_ERR_LOGIN, SIM_ERR_ENVELOPE } sim_error_kind;

typedef struct sim_error_def {
    const char *name; /* directive value: "429", "login", "env403_105", ... */
    sim_error_kind kind;
    int status;       /* HTTP status, or the envelope's statusCodeValue */
    const char *code; /* errorCode / envelope body code */
    const char *message;
} sim_error_def;

/* NULL when `name` is not a known error. */
const sim_error_def *sim_error_lookup(const char *name, size_t len);
/* The error used by error_after_finish and for invalid requests. */
const sim_error_def *sim_error_after_finish(void);
const sim_error_def *sim_error_invalid_request(void);

/* Spring-style status name for an envelope's "statusCode" ("OK", "FORBIDDEN", ...). */
const char *sim_status_name(int status);

/* Appends the inner body JSON of an error envelope: {"code":"105","message":"Login expired"}. */
void sim_error_envelope_body(buf *b, const sim_error_def *def, const char *message);

/* Responds with the standard JSON error {"requestId","success":false,"errorCode","errorMessage"}.
 * retry_after_s > 0 adds Retry-After. Returns the body length (for the request log). */
size_t sim_respond_http_error(http_exchange *ex, int status, const char *code, const char *message,
                              const char *request_id, int retry_after_s);
/* 302 to /login: what a client sees when the gateway session expired. */
size_t sim_respond_login_redirect(http_exchange *ex);
/* The HTML login page the redirect leads to (HTTP 200, zero data: lines). */
size_t sim_respond_login_page(http_exchange *ex);
/* 404 NoSuchKey XML: what the asset bucket answers for a wrong base URL. */
size_t sim_respond_no_such_key(http_exchange *ex, const char *path);
#endif
