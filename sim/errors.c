#include "errors.h"
#include "util/json_write.h"
#include <stdio.h>
#include <string.h>

static const sim_error_def ERRORS[] = {
    {"401", SIM_ERR_HTTP, 401, "401", "Unauthorized"},
    {"403", SIM_ERR_HTTP, 403, "403", "User invalid"},
    {"429", SIM_ERR_HTTP, 429, "429", "Too many requests, please try again later"},
    {"500", SIM_ERR_HTTP, 500, "500", "Internal server error"},
    {"503", SIM_ERR_HTTP, 503, "503", "Service temporarily unavailable"},
    {"login", SIM_ERR_LOGIN, 302, "302", "Login required"},
    {"env403_105", SIM_ERR_ENVELOPE, 403, "105", "Login expired"},
    {"env403_110", SIM_ERR_ENVELOPE, 403, "110", "Daily request limit reached"},
    {"env403_112", SIM_ERR_ENVELOPE, 403, "112", "Quota exhausted"},
    {"env429_10605", SIM_ERR_ENVELOPE, 429, "10605", "{\"isQueued\":true}"},
    {"env500", SIM_ERR_ENVELOPE, 500, "500", "Internal server error"},
    {"env400", SIM_ERR_ENVELOPE, 400, "INVALID_REQUEST", "invalid request"},
};

const sim_error_def *sim_error_lookup(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
        if (strlen(ERRORS[i].name) == len && memcmp(ERRORS[i].name, name, len) == 0)
            return &ERRORS[i];
    return NULL;
}

const sim_error_def *sim_error_after_finish(void) { return sim_error_lookup("env500", 6); }
const sim_error_def *sim_error_invalid_request(void) { return sim_error_lookup("env400", 6); }

const char *sim_status_name(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "BAD_REQUEST";
    case 401: return "UNAUTHORIZED";
    case 403: return "FORBIDDEN";
    case 429: return "TOO_MANY_REQUESTS";
    case 500: return "INTERNAL_SERVER_ERROR";
    case 503: return "SERVICE_UNAVAILABLE";
    default: return "ERROR";
    }
}

void sim_error_envelope_body(buf *b, const sim_error_def *def, const char *message) {
    buf_puts(b, "{\"code\":");
    json_put_str(b, def->code);
    buf_puts(b, ",\"message\":");
    json_put_str(b, message ? message : def->message);
    buf_putc(b, '}');
}

size_t sim_respond_http_error(http_exchange *ex, int status, const char *code, const char *message,
                              const char *request_id, int retry_after_s) {
    buf b = BUF_INIT;
    buf_puts(&b, "{\"requestId\":");
    json_put_str(&b, request_id);
    buf_puts(&b, ",\"success\":false,\"errorCode\":");
    json_put_str(&b, code);
    buf_puts(&b, ",\"errorMessage\":");
    json_put_str(&b, message);
    buf_puts(&b, "}");
    char extra[64] = "";
    if (retry_after_s > 0) snprintf(extra, sizeof extra, "Retry-After: %d\r\n", retry_after_s);
    size_t len = b.len;
    http_respond(ex, status, "application/json", b.data, b.len, extra[0] ? extra : NULL);
    buf_free(&b);
    return len;
}

size_t sim_respond_login_redirect(http_exchange *ex) {
    static const char body[] =
        "<html><body>Redirecting to <a href=\"/login\">/login</a></body></html>";
    http_respond(ex, 302, "text/html;charset=UTF-8", body, sizeof body - 1,
                 "Location: /login?oauth_callback=%2Falgo\r\n");
    return sizeof body - 1;
}

size_t sim_respond_login_page(http_exchange *ex) {
    static const char page[] =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Alibaba Cloud - Sign "
        "In</title>"
        "</head>\n<body><div id=\"login\"><h1>Sign in to Alibaba Cloud</h1>"
        "<form method=\"post\" action=\"/login\"><input name=\"loginId\" type=\"text\">"
        "<input name=\"password\" type=\"password\"><button type=\"submit\">Sign In</button>"
        "</form></div></body></html>\n";
    http_respond(ex, 200, "text/html;charset=UTF-8", page, sizeof page - 1, NULL);
    return sizeof page - 1;
}

size_t sim_respond_no_such_key(http_exchange *ex, const char *path) {
    buf b = BUF_INIT;
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>NoSuchKey</Code>\n"
                 "  <Message>The specified key does not exist.</Message>\n  <Key>");
    for (const char *p = path; *p; p++) { /* the path is client input: escape it for XML */
        switch (*p) {
        case '<': buf_puts(&b, "&lt;"); break;
        case '>': buf_puts(&b, "&gt;"); break;
        case '&': buf_puts(&b, "&amp;"); break;
        default: buf_putc(&b, *p);
        }
    }
    buf_puts(&b, "</Key>\n</Error>\n");
    size_t len = b.len;
    http_respond(ex, 404, "application/xml", b.data, b.len, NULL);
    buf_free(&b);
    return len;
}
