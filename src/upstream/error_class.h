/* Classification of upstream failures (lingma-upstream.md §5, §1.8) into conv_error_class,
 * the one input the account pool acts on. Pure functions. */
#ifndef LGW_UPSTREAM_ERROR_CLASS_H
#define LGW_UPSTREAM_ERROR_CLASS_H
#include "core/conv.h"

/* http_status: the HTTP status of the response (0 if unknown or not applicable).
 * envelope_status: statusCodeValue of an in-stream envelope (0 if none).
 * code: the upstream error code ("105", "10605", "INVALID_REQUEST", …) or NULL.
 * text: the message or the raw body (searched for known phrases), or NULL.
 * Precedence: billing/auth codes, then known phrases, then the status, then an HTML page on a
 * success status (a login redirect); anything unrecognised is TRANSIENT. */
conv_error_class upstream_classify(int http_status, int envelope_status, const char *code,
                                   const char *text);

/* What the pool does with a class, as a short phrase for logs and docs. */
const char *upstream_pool_action(conv_error_class c);

/* True if text looks like an HTML document (first non-blank byte '<' and an <html or
 * <!doctype html tag in the first 1 KiB). */
bool upstream_looks_like_html(const char *text, size_t len);
#endif
