/* One turn: a decoded client request, carried to the upstream and back.
 *
 *   resolve_model → session cache (affinity) → in-flight guard → pool pick → upstream call
 *   → neutral events → front encoder → client, flushed per event
 *
 * Until the first byte reaches the client a failed attempt moves to another account, then
 * along the model fallback list (bounded). After it, never. A client that goes away cancels
 * the upstream call at once and every slot is released on every path. */
#ifndef LGW_CORE_TURN_H
#define LGW_CORE_TURN_H
#include "core/conv.h"
#include "core/inflight.h"
#include "core/pool.h"
#include "core/session_cache.h"
#include "core/stats.h"
#include "core/token_calibration.h"
#include "net/http_server.h"
#include "upstream/catalog.h"
#include "upstream/lingma_remote.h"
#include "util/buf.h"
#include "util/config.h"

/* The long-lived services a turn uses; owned by the app. */
typedef struct turn_services {
    uv_loop_t *loop;
    const config *cfg;
    pool *pool;
    lingma_remote *remote;
    catalog *catalog;
    session_cache *sessions;
    inflight *inflight;
    stats *stats;
    token_calibration *calibration;
    buf scratch; /* one event's frames, encoded and written synchronously by any turn */
} turn_services;

/* Starts a turn for an authenticated, decoded request. Takes ownership of *req (moved out;
 * the caller's struct is left empty). key_digest: SHA-256 of the caller's API key (zeroes
 * when auth is off) — conversations are scoped by it. */
void turn_start(turn_services *svc, http_exchange *ex, conv_request *req,
                const uint8_t key_digest[32]);
#endif
