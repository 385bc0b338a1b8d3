#include "prefix_cache.h"
#include "util/xalloc.h"
#include <string.h>
#include <xxhash.h>

struct sim_prefix_cache {
    sim_prefix_entry *slots;
    size_t n;
};

sim_prefix_cache *sim_prefix_cache_new(size_t slots) {
    sim_prefix_cache *c = xcalloc(1, sizeof *c);
    c->slots = xcalloc(slots, sizeof *c->slots);
    c->n = slots;
    return c;
}

void sim_prefix_cache_free(sim_prefix_cache *c) {
    if (!c) return;
    free(c->slots);
    free(c);
}

void sim_prefix_cache_clear(sim_prefix_cache *c) { memset(c->slots, 0, c->n * sizeof *c->slots); }

uint64_t sim_prefix_hash_session(const char *session_id) {
    uint64_t h = XXH3_64bits(session_id, strlen(session_id));
    return h ? h : 1; /* 0 marks an empty slot */
}

uint64_t sim_prefix_hash_step(uint64_t prev, const char *part, size_t len) {
    return XXH3_64bits_withSeed(part, len, prev);
}

const sim_prefix_entry *sim_prefix_cache_find(const sim_prefix_cache *c, uint64_t session_hash) {
    const sim_prefix_entry *e = &c->slots[session_hash % c->n];
    return e->session_hash == session_hash ? e : NULL;
}

void sim_prefix_cache_store(sim_prefix_cache *c, const sim_prefix_entry *e) {
    c->slots[e->session_hash % c->n] = *e;
}
