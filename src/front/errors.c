#include "front/errors.h"
#include "util/json_write.h"

void errors_openai_json(buf *out, const char *message, const char *type, const char *param,
                        const char *code) {
    buf_puts(out, "{\"error\":{\"message\":");
    json_put_str(out, message ? message : "");
    buf_puts(out, ",\"type\":");
    json_put_str(out, type ? type : "invalid_request_error");
    buf_puts(out, ",\"param\":");
    json_put_str(out, param); /* NULL → null */
    buf_puts(out, ",\"code\":");
    json_put_str(out, code);
    buf_puts(out, "}}");
}

void errors_anthropic_json(buf *out, const char *type, const char *message,
                           const char *request_id) {
    buf_puts(out, "{\"type\":\"error\",\"error\":{\"type\":");
    json_put_str(out, type ? type : "api_error");
    buf_puts(out, ",\"message\":");
    json_put_str(out, message ? message : "");
    buf_puts(out, "},\"request_id\":");
    json_put_str(out, request_id);
    buf_putc(out, '}');
}

const char *errors_anthropic_type_for_status(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 405: return "invalid_request_error";
    case 408: return "timeout_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

const char *errors_openai_type_for_status(int status) {
    if (status == 429) return "requests";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

errors_mapping errors_map_class(conv_protocol proto, conv_error_class cls) {
    bool oa = proto == CONV_PROTO_OPENAI;
    switch (cls) {
    case CONV_ERR_RATE_LIMIT:
        return oa ? (errors_mapping){429, "requests", "rate_limit_exceeded"}
                  : (errors_mapping){429, "rate_limit_error", NULL};
    case CONV_ERR_QUOTA:
        return oa ? (errors_mapping){429, "insufficient_quota", "insufficient_quota"}
                  : (errors_mapping){429, "rate_limit_error", NULL};
    case CONV_ERR_TIMEOUT:
        return oa ? (errors_mapping){504, "server_error", "upstream_timeout"}
                  : (errors_mapping){504, "timeout_error", NULL};
    case CONV_ERR_REQUEST_FATAL:
        return oa ? (errors_mapping){400, "invalid_request_error", NULL}
                  : (errors_mapping){400, "invalid_request_error", NULL};
    case CONV_ERR_AUTH:
    case CONV_ERR_TRANSIENT:
        return oa ? (errors_mapping){502, "server_error", "upstream_error"}
                  : (errors_mapping){500, "api_error", NULL};
    case CONV_ERR_CONFIG_FATAL:
    case CONV_ERR_CANCELLED:
    case CONV_ERR_NONE: break;
    }
    return oa ? (errors_mapping){500, "server_error", NULL}
              : (errors_mapping){500, "api_error", NULL};
}

errors_mapping errors_map_overloaded(conv_protocol proto) {
    return proto == CONV_PROTO_OPENAI ? (errors_mapping){503, "server_error", "overloaded"}
                                      : (errors_mapping){529, "overloaded_error", NULL};
}
