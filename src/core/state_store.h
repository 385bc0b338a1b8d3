/* StateStore: what survives a restart — affinity entries, account states and cooldowns,
 * cumulative counters — in SQLite (WAL, synchronous=NORMAL).
 *
 *   loop thread                                   libuv thread pool (one job at a time)
 *   session cache observer ─▶ pending batch ──┐
 *   flush timer (STATE_FLUSH_MS): account and ├──▶ write job: one transaction of upserts
 *   counter rows that changed since last time ┘      (+ pruning of expired affinity rows)
 *
 * The loop thread only copies small records; SQLite runs in the worker. A commit in WAL mode
 * with synchronous=NORMAL is a write() without fsync: it survives kill -9 (not a power cut), so
 * a crash loses at most the pending batch, about one flush interval. Loading happens once at
 * start-up, before serving; the last batch is written synchronously at shutdown.
 *
 * The database holds hashes, session ids, account names and numbers — never conversation content
 * or a credential (accounts carry a 16-hex fingerprint of theirs, to tell whether a saved
 * needs-login verdict still applies). Return convention: 0 or -1 (err filled). */
#ifndef LGW_CORE_STATE_STORE_H
#define LGW_CORE_STATE_STORE_H
#include "core/pool.h"
#include "core/session_cache.h"
#include "core/stats.h"
#include "util/buf.h"
#include <stdint.h>
#include <uv.h>

typedef struct state_store state_store;

typedef struct state_store_options {
    const char *path;       /* file path or ":memory:"; the parent directory is created */
    uint64_t flush_ms;      /* batch interval */
    int64_t session_ttl_ms; /* affinity rows idle longer than this are pruned (0 = never) */
    size_t session_max;     /* at most this many affinity rows are kept (newest) */
} state_store_options;

int state_store_open(state_store **out, uv_loop_t *loop, const state_store_options *o, char *err,
                     size_t err_cap);
/* Start-up: loads saved state into the services (accounts by name; unknown names are kept in
 * the database for when they come back). Returns 0 or -1. */
int state_store_load(state_store *s, session_cache *c, pool *p, stats *st, char *err,
                     size_t err_cap);
/* Starts recording changes of these services (they must outlive the store's use of them). */
void state_store_start(state_store *s, session_cache *c, pool *p, stats *st);
/* Shutdown, on the loop: stops the timer (closes its handle). A write job in progress ends
 * while the loop runs dry. */
void state_store_stop(state_store *s);
/* Writes everything pending on the calling thread (no write job may be running: call it after
 * the loop has returned, or from tests between jobs). Returns 0 or -1. */
int state_store_flush_sync(state_store *s);
/* After the loop has returned: final flush, close. NULL is a no-op. */
void state_store_free(state_store *s);

/* {"path":…,"flush_ms":…,"flushes":…,"rows_written":…,"pending":…,"dropped":…,"errors":…,
 *  "last_flush_ms":…} for /internal/stats. */
void state_store_info_json(const state_store *s, buf *out);
#endif
