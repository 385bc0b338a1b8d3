#include "upstream/error_class.h"
#include <string.h>
#include <strings.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Case-insensitive search in the first n bytes of hay (strcasestr is a GNU extension). */
static bool ci_contains_n(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (!hay || m > n) return false;
    for (size_t i = 0; i + m <= n; i++) {
        if (lower((unsigned char)hay[i]) != lower((unsigned char)needle[0])) continue;
        if (strncasecmp(hay + i, needle, m) == 0) return true;
    }
    return false;
}

static bool ci_contains(const char *hay, const char *needle) {
    return hay && ci_contains_n(hay, strlen(hay), needle);
}

bool upstream_looks_like_html(const char *text, size_t len) {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len || text[i] != '<') return false;
    size_t n = len - i > 1024 ? 1024 : len - i;
    return ci_contains_n(text + i, n, "<html") || ci_contains_n(text + i, n, "<!doctype html");
}

static bool code_is(const char *code, const char *want) { return code && !strcmp(code, want); }

static const char *const AUTH_PHRASES[] = {
    "login expired", "token is not active", "has expired", "invalid token", "user invalid",
};
static const char *const REQUEST_PHRASES[] = {
    "context length",  "context_length_exceeded", "maximum context length", "context window",
    "model not found", "model_not_found",         "invalid_request",        "unknown model",
};

static bool any_phrase(const char *text, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ci_contains(text, list[i])) return true;
    return false;
}

conv_error_class upstream_classify(int http_status, int envelope_status, const char *code,
                                   const char *text) {
    /* An error envelope arrives inside an HTTP 200: its own status is the meaningful one. */
    int status = envelope_status >= 400 ? envelope_status : http_status;

    if (code_is(code, "105")) return CONV_ERR_AUTH;
    if (code_is(code, "110") || code_is(code, "112")) return CONV_ERR_QUOTA;
    if (code_is(code, "10605")) return CONV_ERR_RATE_LIMIT;
    if (code_is(code, "INVALID_REQUEST")) return CONV_ERR_REQUEST_FATAL;
    if (code_is(code, "NoSuchKey") || ci_contains(text, "NoSuchKey")) return CONV_ERR_CONFIG_FATAL;

    if (ci_contains(text, "isQueued")) return CONV_ERR_RATE_LIMIT;
    if (ci_contains(text, "pricingUrl")) return CONV_ERR_QUOTA;
    if (any_phrase(text, AUTH_PHRASES, sizeof AUTH_PHRASES / sizeof *AUTH_PHRASES))
        return CONV_ERR_AUTH;
    if (any_phrase(text, REQUEST_PHRASES, sizeof REQUEST_PHRASES / sizeof *REQUEST_PHRASES))
        return CONV_ERR_REQUEST_FATAL;

    if (status == 401 || status == 403) return CONV_ERR_AUTH;
    if (status == 429) return CONV_ERR_RATE_LIMIT;
    if (status == 408 || status >= 500) return CONV_ERR_TRANSIENT;
    /* 404 without NoSuchKey still means the path does not exist on that host. */
    if (status == 404) return CONV_ERR_CONFIG_FATAL;
    if (status >= 400) return CONV_ERR_REQUEST_FATAL;

    /* A 2xx/3xx HTML page is the gateway's login page after a redirect. A 5xx HTML page from a
     * proxy was handled above as transient. */
    if (text && upstream_looks_like_html(text, strlen(text))) return CONV_ERR_AUTH;
    return CONV_ERR_TRANSIENT;
}

static const char *const POOL_ACTIONS[] = {
    [CONV_ERR_NONE] = "none",
    [CONV_ERR_AUTH] = "mark needs_login, switch account",
    [CONV_ERR_RATE_LIMIT] = "cool down (exponential), switch account",
    [CONV_ERR_QUOTA] = "cool down until quota reset, switch account",
    [CONV_ERR_TRANSIENT] = "retry elsewhere if nothing was sent, else fail",
    [CONV_ERR_TIMEOUT] = "retry elsewhere if nothing was sent, else fail (504)",
    [CONV_ERR_REQUEST_FATAL] = "return 4xx to the client, no penalty",
    [CONV_ERR_CONFIG_FATAL] = "stop: operator must fix the configuration",
    [CONV_ERR_CANCELLED] = "release the slot, no penalty",
};

const char *upstream_pool_action(conv_error_class c) {
    if ((unsigned)c >= sizeof POOL_ACTIONS / sizeof *POOL_ACTIONS || !POOL_ACTIONS[c])
        return "unknown";
    return POOL_ACTIONS[c];
}
