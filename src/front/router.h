/* Route table: path (without query) + method → route. Unknown paths and wrong methods are
 * answered in the envelope of the protocol the path belongs to. */
#ifndef LGW_FRONT_ROUTER_H
#define LGW_FRONT_ROUTER_H
#include <stddef.h>

typedef enum {
    ROUTE_NOT_FOUND,
    ROUTE_METHOD_NOT_ALLOWED,
    ROUTE_HEALTH,
    ROUTE_READYZ,
    ROUTE_CHAT_COMPLETIONS,
    ROUTE_MESSAGES,
    ROUTE_COUNT_TOKENS,
    ROUTE_MODELS,
    ROUTE_MODEL_GET, /* /v1/models/{id}: param = id */
    ROUTE_METRICS,
    ROUTE_INTERNAL, /* /internal/...: param = rest after /internal/ */
} route_id;

typedef enum { FAMILY_OPENAI, FAMILY_ANTHROPIC, FAMILY_PLAIN } route_family;

typedef struct route_match {
    route_id id;
    route_family family;
    const char *param; /* points into the path */
    size_t param_len;
    const char *allow; /* for 405: the methods allowed */
} route_match;

route_match router_match(const char *method, const char *path);
/* The protocol family a path belongs to (Anthropic for /v1/messages*, else OpenAI). */
route_family router_family(const char *path);
#endif
