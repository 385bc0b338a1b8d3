/* SessionCache: (API key, conversation prefix) → upstream session id and account.
 *
 * After a completed turn the conversation including the reply is recorded under its
 * canonical hash. A request hits when its history strictly extends a recorded conversation
 * (the longest recorded prefix wins) that has not been continued yet; a recorded prefix that
 * was already continued means the history was edited or replayed: a fork (fresh session).
 * Bounded by an LRU with an idle TTL; entries hold hashes, never content. */
#ifndef LGW_CORE_SESSION_CACHE_H
#define LGW_CORE_SESSION_CACHE_H
#include "core/canonical.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_ID_CAP      40
#define SESSION_ACCOUNT_CAP 64

typedef enum { AFFINITY_MISS, AFFINITY_HIT, AFFINITY_FORK } affinity_result;
const char *affinity_result_name(affinity_result r);

typedef struct session_binding {
    char session_id[SESSION_ID_CAP];
    char account[SESSION_ACCOUNT_CAP];
    int64_t created_ms, last_used_ms;
    uint32_t turns;
} session_binding;

typedef struct session_cache session_cache;

session_cache *session_cache_new(size_t max_entries, int64_t idle_ttl_ms);
void session_cache_free(session_cache *c);

/* prefixes[0..n-1]: hashes of the request's conversation at each boundary (n = messages + 1).
 * Looks for the longest recorded prefix among prefixes[1..n-2]... (a strict prefix of the
 * request). On HIT, *out is the binding and *matched its key. */
affinity_result session_cache_lookup(session_cache *c, const conv_hash *prefixes, size_t n,
                                     session_binding *out, conv_hash *matched);
/* Records a finished turn: `key` (the conversation including the reply) → binding. If
 * `continued` is given, that entry is marked continued (a later request extending it again is
 * a fork). */
void session_cache_record(session_cache *c, const conv_hash *continued, const conv_hash *key,
                          const session_binding *b);
size_t session_cache_size(const session_cache *c);

/* Export / import (JSON lines, no conversation content): iterate entries oldest first. */
typedef void (*session_cache_visit_fn)(const conv_hash *key, const session_binding *b,
                                       bool continued, void *ud);
void session_cache_visit(const session_cache *c, session_cache_visit_fn fn, void *ud);
void session_cache_insert_raw(session_cache *c, const conv_hash *key, const session_binding *b,
                              bool continued);

/* Durable state: called (loop thread) with the new content of every entry that is inserted,
 * updated or marked continued, whichever path changed it. Evictions are not reported (the store
 * applies the same TTL and bound). fn = NULL stops the calls. */
void session_cache_set_observer(session_cache *c, session_cache_visit_fn fn, void *ud);
#endif
