/* The gateway process: configuration, the HTTP server, and the route dispatcher.
 * Everything here lives on the one event-loop thread. */
#ifndef LGW_CORE_APP_H
#define LGW_CORE_APP_H
#include "core/auth.h"
#include "front/router.h"
#include "net/http_server.h"
#include "util/config.h"
#include <uv.h>

typedef struct app app;

/* Builds the app from a loaded config (takes ownership of it). Returns 0 or -1 (logged). */
int app_start(app **out, uv_loop_t *loop, config *cfg);
/* Graceful stop (signals call it): stop accepting, drain; the loop then runs dry. */
void app_stop(app *a);
/* After the loop has returned. */
void app_free(app *a);

/* Sends an error in the envelope of `family` (OpenAI or Anthropic). extra_headers may be NULL. */
void app_send_error(http_exchange *ex, route_family family, int status, const char *message,
                    const char *param, const char *code, const char *extra_headers);
#endif
