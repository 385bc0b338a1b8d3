/* InFlightGuard: at most one turn in flight per upstream session, plus a global cap.
 * A second turn on a busy session follows the policy: fork (a fresh session for it), wait
 * (bounded queue + timeout, then 429) or reject (429). */
#ifndef LGW_CORE_INFLIGHT_H
#define LGW_CORE_INFLIGHT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum { INFLIGHT_FORK, INFLIGHT_WAIT, INFLIGHT_REJECT } inflight_policy;
int inflight_parse_policy(const char *s, inflight_policy *out);

typedef struct inflight inflight;
typedef struct inflight_waiter inflight_waiter;

/* granted: true = the session slot is now held by the waiter; false = timed out / queue full. */
typedef void (*inflight_wait_cb)(bool granted, void *ud);

inflight *inflight_new(uv_loop_t *loop, inflight_policy policy, size_t max_waiters_per_session,
                       uint64_t wait_timeout_ms, size_t global_cap);
void inflight_free(inflight *g);
inflight_policy inflight_get_policy(const inflight *g);

/* Global cap: true if a new turn may start (and counts it); release with inflight_turn_end. */
bool inflight_turn_begin(inflight *g);
void inflight_turn_end(inflight *g);

/* Turns over the global cap queue (FIFO, at most max_queued, each for the wait timeout) instead
 * of being refused at once. 0 = no queue. */
void inflight_set_turn_queue(inflight *g, size_t max_queued);
typedef struct inflight_turn_waiter inflight_turn_waiter;
/* Queues for a global slot; cb(true) (on a later loop turn) means the turn is counted and may
 * start; cb(false) means it waited too long. Returns NULL when the queue is full. */
inflight_turn_waiter *inflight_turn_wait(inflight *g, inflight_wait_cb cb, void *ud);
/* Leaves the queue without a callback (client gone); a slot already handed over is passed on. */
void inflight_turn_wait_cancel(inflight *g, inflight_turn_waiter *w);
size_t inflight_turns(const inflight *g);

/* Takes the session's slot if free. */
bool inflight_try_acquire(inflight *g, const char *session_id);
/* Queues for the slot (WAIT policy). Returns NULL if the queue is full (caller answers 429). */
inflight_waiter *inflight_wait(inflight *g, const char *session_id, inflight_wait_cb cb, void *ud);
/* Leaves the queue without a callback (client gone). */
void inflight_wait_cancel(inflight *g, inflight_waiter *w);
/* Frees the slot; the next waiter (if any) gets it. */
void inflight_release(inflight *g, const char *session_id);
#endif
