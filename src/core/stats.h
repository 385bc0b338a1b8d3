/* StatsCollector: every metric declared once in an X-macro table (name, type, help, labels);
 * the exposition at /metrics is generated from the same table. Loop-thread only: no locks.
 * Label values are bounded: protocol and route names, status classes, account names from the
 * configuration, model keys from the catalog, fixed outcome words. */
#ifndef LGW_CORE_STATS_H
#define LGW_CORE_STATS_H
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

/* X(id, kind, "name", "help", "label names, comma separated") ; kinds: COUNTER, GAUGE, HISTOGRAM */
#define STATS_METRICS(X)                                                                           \
    X(requests, COUNTER, "lingma_gateway_requests_total",                                          \
      "Client requests by protocol, route and status class.", "protocol,route,status_class")       \
    X(request_duration, HISTOGRAM, "lingma_gateway_request_duration_seconds",                      \
      "Time from request received to response end.", "protocol")                                   \
    X(ttft, HISTOGRAM, "lingma_gateway_time_to_first_token_seconds",                               \
      "Time from request received to the first content event.", "protocol")                        \
    X(overhead, HISTOGRAM, "lingma_gateway_overhead_seconds",                                      \
      "Time spent in the gateway, upstream waiting excluded.", "protocol")                         \
    X(upstream_attempts, COUNTER, "lingma_gateway_upstream_attempts_total",                        \
      "Upstream attempts by account and outcome.", "account,outcome")                              \
    X(retries, COUNTER, "lingma_gateway_retries_total",                                            \
      "Attempts moved to another account before the first byte.", "")                              \
    X(fallbacks, COUNTER, "lingma_gateway_model_fallbacks_total",                                  \
      "Attempts moved to the next model of the fallback list.", "")                                \
    X(tokens, COUNTER, "lingma_gateway_tokens_total", "Tokens reported by the upstream.",          \
      "direction")                                                                                 \
    X(affinity, COUNTER, "lingma_gateway_affinity_total", "Session affinity results.", "result")   \
    X(sessions, GAUGE, "lingma_gateway_sessions", "Conversations in the session cache.", "")       \
    X(inflight, GAUGE, "lingma_gateway_inflight_turns", "Turns in flight.", "")                    \
    X(account_inflight, GAUGE, "lingma_gateway_account_inflight_turns",                            \
      "Turns in flight per account.", "account")                                                   \
    X(account_state, GAUGE, "lingma_gateway_account_state", "1 for the state each account is in.", \
      "account,state")                                                                             \
    X(cooldowns, COUNTER, "lingma_gateway_cooldowns_total",                                        \
      "Accounts put to cool down, by reason.", "reason")                                           \
    X(token_estimate_ratio, GAUGE, "lingma_gateway_token_estimate_ratio",                          \
      "Upstream-reported prompt tokens per estimated token (count_tokens calibration).", "")       \
    X(disconnects, COUNTER, "lingma_gateway_client_disconnects_total",                             \
      "Clients that went away before their response ended.", "")                                   \
    X(connections, GAUGE, "lingma_gateway_connections", "Open client connections.", "")            \
    X(build_info, GAUGE, "lingma_gateway_build_info", "Build information.", "version")

typedef enum {
#define X(id, kind, name, help, labels) STAT_##id,
    STATS_METRICS(X)
#undef X
        STAT__COUNT
} stat_id;

typedef struct stats stats;

stats *stats_new(void);
void stats_free(stats *s);
/* labels: the values, in the declared order, joined by '\x1f' (or "" for none). */
void stats_add(stats *s, stat_id id, const char *labels, double v);
void stats_set(stats *s, stat_id id, const char *labels, double v);
void stats_observe(stats *s, stat_id id, const char *labels, double seconds);
/* Zeroes every series of a gauge (before re-setting per-account gauges). */
void stats_clear(stats *s, stat_id id);
double stats_get(const stats *s, stat_id id, const char *labels);
/* Prometheus text exposition (version 0.0.4). */
void stats_render(const stats *s, buf *out);
/* Visit every counter series (durable state saves and restores them). */
typedef void (*stats_visit_fn)(const char *metric, const char *labels, double value, void *ud);
void stats_visit_counters(const stats *s, stats_visit_fn fn, void *ud);
int stats_restore_counter(stats *s, const char *metric, const char *labels, double value);
#endif
