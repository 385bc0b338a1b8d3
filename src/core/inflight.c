#include "core/inflight.h"
#include "util/xalloc.h"
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#define N_BUCKETS 4096

struct inflight_waiter {
    uv_timer_t timer;
    struct slot *slot;
    inflight_waiter *next;
    inflight_wait_cb cb;
    void *ud;
    inflight *g;
    bool holds; /* granted a free slot: the callback (next loop turn) reports it */
};

typedef struct slot {
    struct slot *hnext;
    inflight_waiter *waiters_head, *waiters_tail;
    size_t n_waiters;
    inflight_waiter *granting; /* a waiter given the free slot, not yet told */
    char session_id[];         /* in the same allocation: one per turn in flight */
} slot;                        /* exists only while its session is busy */

struct inflight {
    uv_loop_t *loop;
    inflight_policy policy;
    size_t max_waiters;
    uint64_t wait_timeout_ms;
    size_t global_cap, turns;
    size_t turn_queue_max, turn_queue_len;
    struct inflight_turn_waiter *turn_head, *turn_tail;
    slot *buckets[N_BUCKETS];
};

struct inflight_turn_waiter {
    uv_timer_t timer; /* the wait timeout, then the deferred grant */
    inflight_turn_waiter *prev, *next;
    inflight_wait_cb cb;
    void *ud;
    inflight *g;
    bool granted; /* holds a counted slot, not yet told (and is out of the queue) */
};

int inflight_parse_policy(const char *s, inflight_policy *out) {
    if (!strcasecmp(s, "fork")) return *out = INFLIGHT_FORK, 0;
    if (!strcasecmp(s, "wait")) return *out = INFLIGHT_WAIT, 0;
    if (!strcasecmp(s, "reject")) return *out = INFLIGHT_REJECT, 0;
    return -1;
}

inflight *inflight_new(uv_loop_t *loop, inflight_policy policy, size_t max_waiters_per_session,
                       uint64_t wait_timeout_ms, size_t global_cap) {
    inflight *g = xcalloc(1, sizeof *g);
    g->loop = loop;
    g->policy = policy;
    g->max_waiters = max_waiters_per_session;
    g->wait_timeout_ms = wait_timeout_ms;
    g->global_cap = global_cap;
    return g;
}

static void on_waiter_closed(uv_handle_t *h) { free(h->data); }

static void waiter_close(inflight_waiter *w) {
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void turn_waiter_unlink(inflight *g, inflight_turn_waiter *w);
static void turn_waiter_close(inflight_turn_waiter *w);

void inflight_free(inflight *g) {
    if (!g) return;
    while (g->turn_head) {
        inflight_turn_waiter *w = g->turn_head;
        turn_waiter_unlink(g, w);
        turn_waiter_close(w);
    }
    for (size_t i = 0; i < N_BUCKETS; i++) {
        slot *s = g->buckets[i];
        while (s) {
            slot *next = s->hnext;
            for (inflight_waiter *w = s->waiters_head, *wn; w; w = wn) {
                wn = w->next;
                waiter_close(w);
            }
            if (s->granting) waiter_close(s->granting);
            free(s);
            s = next;
        }
    }
    free(g);
}

inflight_policy inflight_get_policy(const inflight *g) { return g->policy; }

bool inflight_turn_begin(inflight *g) {
    if (g->global_cap && (g->turns >= g->global_cap || g->turn_head)) return false;
    g->turns++;
    return true;
}

void inflight_set_turn_queue(inflight *g, size_t max_queued) { g->turn_queue_max = max_queued; }

static void on_turn_waiter_closed(uv_handle_t *h) { free(h->data); }

static void turn_waiter_unlink(inflight *g, inflight_turn_waiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        g->turn_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        g->turn_tail = w->prev;
    w->prev = w->next = NULL;
    g->turn_queue_len--;
}

static void turn_waiter_close(inflight_turn_waiter *w) {
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_turn_waiter_closed);
}

/* Runs on the loop turn after the hand-over (or at the timeout): never inside another turn's
 * release. */
static void on_turn_waiter_timer(uv_timer_t *t) {
    inflight_turn_waiter *w = t->data;
    bool granted = w->granted;
    if (!granted) turn_waiter_unlink(w->g, w); /* timed out in the queue */
    inflight_wait_cb cb = w->cb;
    void *ud = w->ud;
    w->granted = false;
    turn_waiter_close(w);
    cb(granted, ud);
}

void inflight_turn_end(inflight *g) {
    inflight_turn_waiter *w = g->turn_head;
    if (!w) {
        if (g->turns) g->turns--;
        return;
    }
    /* The slot passes straight to the oldest waiter: the count does not change. */
    turn_waiter_unlink(g, w);
    w->granted = true;
    uv_timer_start(&w->timer, on_turn_waiter_timer, 0, 0);
}

inflight_turn_waiter *inflight_turn_wait(inflight *g, inflight_wait_cb cb, void *ud) {
    if (g->turn_queue_len >= g->turn_queue_max) return NULL;
    inflight_turn_waiter *w = xcalloc(1, sizeof *w);
    w->cb = cb;
    w->ud = ud;
    w->g = g;
    uv_timer_init(g->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_turn_waiter_timer, g->wait_timeout_ms, 0);
    w->prev = g->turn_tail;
    if (g->turn_tail)
        g->turn_tail->next = w;
    else
        g->turn_head = w;
    g->turn_tail = w;
    g->turn_queue_len++;
    return w;
}

void inflight_turn_wait_cancel(inflight *g, inflight_turn_waiter *w) {
    if (w->granted) {
        w->granted = false;
        turn_waiter_close(w);
        inflight_turn_end(g); /* the slot it was handed goes to the next one */
        return;
    }
    turn_waiter_unlink(g, w);
    turn_waiter_close(w);
}

size_t inflight_turns(const inflight *g) { return g->turns; }

static slot **find(inflight *g, const char *id) {
    slot **pp = &g->buckets[XXH3_64bits(id, strlen(id)) & (N_BUCKETS - 1)];
    while (*pp && strcmp((*pp)->session_id, id) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

bool inflight_try_acquire(inflight *g, const char *session_id) {
    slot **pp = find(g, session_id);
    if (*pp) return false;
    size_t n = strlen(session_id) + 1;
    slot *s = xcalloc(1, sizeof *s + n);
    memcpy(s->session_id, session_id, n);
    *pp = s;
    return true;
}

static void unlink_waiter(slot *s, inflight_waiter *w) {
    inflight_waiter **pp = &s->waiters_head;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (!*pp) return;
    *pp = w->next;
    if (s->waiters_tail == w) {
        s->waiters_tail = NULL;
        for (inflight_waiter *x = s->waiters_head; x; x = x->next)
            s->waiters_tail = x;
    }
    s->n_waiters--;
}

static void on_wait_timeout(uv_timer_t *t) {
    inflight_waiter *w = t->data;
    bool granted = w->holds;
    if (granted)
        w->slot->granting = NULL;
    else
        unlink_waiter(w->slot, w);
    inflight_wait_cb cb = w->cb;
    void *ud = w->ud;
    waiter_close(w);
    cb(granted, ud);
}

inflight_waiter *inflight_wait(inflight *g, const char *session_id, inflight_wait_cb cb, void *ud) {
    slot *s = *find(g, session_id);
    bool free_now = !s;
    if (free_now) { /* already free: the waiter takes it, told on the next loop turn */
        inflight_try_acquire(g, session_id);
        s = *find(g, session_id);
    } else if (s->n_waiters >= g->max_waiters) {
        return NULL;
    }
    inflight_waiter *w = xcalloc(1, sizeof *w);
    w->slot = s;
    w->cb = cb;
    w->ud = ud;
    w->g = g;
    w->holds = free_now;
    uv_timer_init(g->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_timeout, free_now ? 0 : g->wait_timeout_ms, 0);
    if (free_now) {
        s->granting = w;
        return w;
    }
    if (s->waiters_tail)
        s->waiters_tail->next = w;
    else
        s->waiters_head = w;
    s->waiters_tail = w;
    s->n_waiters++;
    return w;
}

void inflight_wait_cancel(inflight *g, inflight_waiter *w) {
    if (w->holds) { /* granted but not yet told: give the slot back */
        char *id = xstrdup(w->slot->session_id);
        w->slot->granting = NULL;
        waiter_close(w);
        inflight_release(g, id);
        free(id);
        return;
    }
    unlink_waiter(w->slot, w);
    waiter_close(w);
}

void inflight_release(inflight *g, const char *session_id) {
    slot **pp = find(g, session_id);
    slot *s = *pp;
    if (!s) return;
    inflight_waiter *w = s->waiters_head;
    if (w) { /* hand the slot straight to the next waiter */
        unlink_waiter(s, w);
        inflight_wait_cb cb = w->cb;
        void *ud = w->ud;
        waiter_close(w);
        cb(true, ud);
        return;
    }
    *pp = s->hnext;
    free(s);
}
