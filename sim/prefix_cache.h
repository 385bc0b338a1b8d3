/* A stand-in for the upstream's prompt prefix cache, keyed by session_id. When a turn extends
 * the conversation recorded for its session, the previous turn's prompt tokens count as
 * cached_tokens — which makes the gateway's session affinity observable to tests.
 * A fixed direct-mapped table: a colliding session simply evicts the other (a cache miss). */
#ifndef LGW_SIM_PREFIX_CACHE_H
#define LGW_SIM_PREFIX_CACHE_H
#include <stddef.h>
#include <stdint.h>

typedef struct sim_prefix_cache sim_prefix_cache;

/* What a session's previous turn looked like. */
typedef struct sim_prefix_entry {
    uint64_t session_hash; /* 0: empty */
    uint64_t prefix_hash;  /* chained hash over its messages */
    uint32_t n_messages;
    int32_t prompt_tokens;
} sim_prefix_entry;

sim_prefix_cache *sim_prefix_cache_new(size_t slots);
void sim_prefix_cache_free(sim_prefix_cache *c);
void sim_prefix_cache_clear(sim_prefix_cache *c);

uint64_t sim_prefix_hash_session(const char *session_id);
/* Chains one message (role, text parts) into a running prefix hash. */
uint64_t sim_prefix_hash_step(uint64_t prev, const char *part, size_t len);

/* The recorded previous turn of the session, or NULL. */
const sim_prefix_entry *sim_prefix_cache_find(const sim_prefix_cache *c, uint64_t session_hash);
void sim_prefix_cache_store(sim_prefix_cache *c, const sim_prefix_entry *e);
#endif
