#include "front/router.h"
#include <stdbool.h>
#include <string.h>

typedef struct route_entry {
    const char *path;
    bool prefix; /* path is a prefix ending in '/', the rest is the parameter */
    const char *method;
    route_id id;
    route_family family;
} route_entry;

static const route_entry ROUTES[] = {
    {"/health", false, "GET", ROUTE_HEALTH, FAMILY_PLAIN},
    {"/healthz", false, "GET", ROUTE_HEALTH, FAMILY_PLAIN},
    {"/readyz", false, "GET", ROUTE_READYZ, FAMILY_PLAIN},
    {"/v1/chat/completions", false, "POST", ROUTE_CHAT_COMPLETIONS, FAMILY_OPENAI},
    {"/v1/messages", false, "POST", ROUTE_MESSAGES, FAMILY_ANTHROPIC},
    {"/v1/messages/count_tokens", false, "POST", ROUTE_COUNT_TOKENS, FAMILY_ANTHROPIC},
    {"/v1/models", false, "GET", ROUTE_MODELS, FAMILY_OPENAI},
    {"/v1/models/", true, "GET", ROUTE_MODEL_GET, FAMILY_OPENAI},
    {"/metrics", false, "GET", ROUTE_METRICS, FAMILY_PLAIN},
    {"/internal/", true, NULL, ROUTE_INTERNAL, FAMILY_OPENAI}, /* methods checked per endpoint */
};

route_family router_family(const char *path) {
    return strncmp(path, "/v1/messages", 12) == 0 && (path[12] == '\0' || path[12] == '/')
               ? FAMILY_ANTHROPIC
               : FAMILY_OPENAI;
}

route_match router_match(const char *method, const char *path) {
    route_match m = {ROUTE_NOT_FOUND, router_family(path), NULL, 0, NULL};
    size_t plen = strlen(path);
    /* A trailing slash is tolerated ("/v1/messages/"), as most clients join URLs sloppily. */
    if (plen > 1 && path[plen - 1] == '/') plen--;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const route_entry *r = &ROUTES[i];
        size_t rl = strlen(r->path);
        bool hit;
        if (r->prefix)
            hit = plen > rl && strncmp(path, r->path, rl) == 0;
        else
            hit = plen == rl && strncmp(path, r->path, rl) == 0;
        if (!hit) continue;
        if (r->method && strcmp(method, r->method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            m.id = ROUTE_METHOD_NOT_ALLOWED;
            m.allow = r->method;
            continue; /* another entry may still match with this method */
        }
        m.id = r->id;
        m.family = r->family == FAMILY_PLAIN ? FAMILY_OPENAI : r->family;
        m.allow = NULL;
        if (r->prefix) {
            m.param = path + rl;
            m.param_len = plen - rl;
        }
        return m;
    }
    return m;
}
