#include "core/session_cache.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include <string.h>

typedef struct entry {
    conv_hash key;
    session_binding b;
    bool continued;
    struct entry *hnext;               /* hash chain */
    struct entry *lru_prev, *lru_next; /* head = most recently used */
} entry;

struct session_cache {
    entry **buckets;
    size_t n_buckets; /* power of two */
    size_t n, max;
    int64_t ttl_ms;
    entry *lru_head, *lru_tail;
    session_cache_visit_fn observer;
    void *observer_ud;
};

const char *affinity_result_name(affinity_result r) {
    switch (r) {
    case AFFINITY_MISS: return "miss";
    case AFFINITY_HIT: return "hit";
    case AFFINITY_FORK: return "fork";
    }
    return "unknown";
}

session_cache *session_cache_new(size_t max_entries, int64_t idle_ttl_ms) {
    session_cache *c = xcalloc(1, sizeof *c);
    c->max = max_entries ? max_entries : 1;
    c->ttl_ms = idle_ttl_ms;
    c->n_buckets = 1024;
    while (c->n_buckets < c->max / 2 && c->n_buckets < (1u << 22))
        c->n_buckets *= 2;
    c->buckets = xcalloc(c->n_buckets, sizeof *c->buckets);
    return c;
}

void session_cache_free(session_cache *c) {
    if (!c) return;
    entry *e = c->lru_head;
    while (e) {
        entry *next = e->lru_next;
        free(e);
        e = next;
    }
    free(c->buckets);
    free(c);
}

static size_t bucket_of(const session_cache *c, const conv_hash *k) {
    uint64_t v;
    memcpy(&v, k->b, sizeof v); /* the key is already a uniform hash */
    return (size_t)(v & (c->n_buckets - 1));
}

static entry *find(const session_cache *c, const conv_hash *k) {
    for (entry *e = c->buckets[bucket_of(c, k)]; e; e = e->hnext)
        if (memcmp(e->key.b, k->b, sizeof k->b) == 0) return e;
    return NULL;
}

static void lru_unlink(session_cache *c, entry *e) {
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(session_cache *c, entry *e) {
    e->lru_next = c->lru_head;
    e->lru_prev = NULL;
    if (c->lru_head) c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (!c->lru_tail) c->lru_tail = e;
}

static void remove_entry(session_cache *c, entry *e) {
    entry **pp = &c->buckets[bucket_of(c, &e->key)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    free(e);
    c->n--;
}

/* Drops idle entries from the cold end, and anything over capacity. */
static void evict(session_cache *c, int64_t now) {
    while (c->lru_tail &&
           (c->n > c->max || (c->ttl_ms > 0 && now - c->lru_tail->b.last_used_ms > c->ttl_ms)))
        remove_entry(c, c->lru_tail);
}

affinity_result session_cache_lookup(session_cache *c, const conv_hash *prefixes, size_t n,
                                     session_binding *out, conv_hash *matched) {
    int64_t now = clock_wall_ms();
    evict(c, now);
    /* prefixes[n-1] is the whole request; only strict prefixes of it can be recorded turns. */
    for (size_t i = n >= 2 ? n - 2 : 0; i >= 1 && i < n; i--) {
        entry *e = find(c, &prefixes[i]);
        if (!e) continue;
        /* evict() only trims the cold end; imported entries need not be in last_used order. */
        if (c->ttl_ms > 0 && now - e->b.last_used_ms > c->ttl_ms) {
            remove_entry(c, e);
            continue;
        }
        if (e->continued) return AFFINITY_FORK;
        e->b.last_used_ms = now;
        lru_unlink(c, e);
        lru_push_front(c, e);
        *out = e->b;
        *matched = e->key;
        return AFFINITY_HIT;
    }
    return AFFINITY_MISS;
}

void session_cache_insert_raw(session_cache *c, const conv_hash *key, const session_binding *b,
                              bool continued) {
    entry *e = find(c, key);
    if (!e) {
        e = xcalloc(1, sizeof *e);
        e->key = *key;
        size_t bi = bucket_of(c, key);
        e->hnext = c->buckets[bi];
        c->buckets[bi] = e;
        c->n++;
    } else {
        lru_unlink(c, e);
    }
    e->b = *b;
    e->continued = continued;
    lru_push_front(c, e);
    if (c->observer) c->observer(&e->key, &e->b, e->continued, c->observer_ud);
    evict(c, clock_wall_ms());
}

void session_cache_record(session_cache *c, const conv_hash *continued, const conv_hash *key,
                          const session_binding *b) {
    if (continued) {
        entry *prev = find(c, continued);
        if (prev && !prev->continued) {
            prev->continued = true;
            if (c->observer) c->observer(&prev->key, &prev->b, true, c->observer_ud);
        }
    }
    session_binding nb = *b;
    nb.last_used_ms = clock_wall_ms();
    session_cache_insert_raw(c, key, &nb, false);
}

size_t session_cache_size(const session_cache *c) { return c->n; }

void session_cache_visit(const session_cache *c, session_cache_visit_fn fn, void *ud) {
    for (entry *e = c->lru_tail; e; e = e->lru_prev)
        fn(&e->key, &e->b, e->continued, ud);
}

void session_cache_set_observer(session_cache *c, session_cache_visit_fn fn, void *ud) {
    c->observer = fn;
    c->observer_ud = ud;
}
