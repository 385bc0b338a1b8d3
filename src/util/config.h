/* Every knob of the gateway in one table: name, type, environment variable, flag, default,
 * whether it is secret, and help. Precedence: defaults < .env file < environment < flags. */
#ifndef LGW_UTIL_CONFIG_H
#define LGW_UTIL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(field, type, ENV, "flag", "default", secret, "help") ; types: STR, BOOL, U64 */
#define CONFIG_KNOBS(X)                                                                            \
    X(listen, STR, "LISTEN", "listen", "127.0.0.1:8080", 0,                                        \
      "HOST:PORT to listen on (port 0 picks a free port)")                                         \
    X(api_keys, STR, "API_KEYS", "api-keys", "", 1,                                                \
      "comma-separated client API keys; empty disables auth")                                      \
    X(metrics_token, STR, "METRICS_TOKEN", "metrics-token", "", 1, "bearer token for /metrics")    \
    X(metrics_public, BOOL, "METRICS_PUBLIC", "metrics-public", "false", 0,                        \
      "serve /metrics without auth")                                                               \
    X(admin_token, STR, "ADMIN_TOKEN", "admin-token", "", 1,                                       \
      "bearer token for /internal/* (else any API key)")                                           \
    X(log_level, STR, "LOG_LEVEL", "log-level", "info", 0, "debug | info | warn | error")          \
    X(log_format, STR, "LOG_FORMAT", "log-format", "json", 0, "json | text")                       \
    X(access_log, BOOL, "ACCESS_LOG", "access-log", "true", 0,                                     \
      "one JSON line per request on stderr")                                                       \
    X(max_header_bytes, U64, "MAX_HEADER_BYTES", "max-header-bytes", "65536", 0,                   \
      "request line + headers limit (431)")                                                        \
    X(max_body_bytes, U64, "MAX_BODY_BYTES", "max-body-bytes", "33554432", 0,                      \
      "request body limit (413)")                                                                  \
    X(max_connections, U64, "MAX_CONNECTIONS", "max-connections", "20000", 0,                      \
      "concurrent client connections")                                                             \
    X(header_timeout_ms, U64, "HEADER_TIMEOUT_MS", "header-timeout-ms", "10000", 0,                \
      "time to receive request headers")                                                           \
    X(body_timeout_ms, U64, "BODY_TIMEOUT_MS", "body-timeout-ms", "60000", 0,                      \
      "time to receive a request body")                                                            \
    X(idle_timeout_ms, U64, "IDLE_TIMEOUT_MS", "idle-timeout-ms", "75000", 0,                      \
      "keep-alive idle time")                                                                      \
    X(write_timeout_ms, U64, "WRITE_TIMEOUT_MS", "write-timeout-ms", "60000", 0,                   \
      "client not reading output for this long is closed")                                         \
    X(drain_timeout_ms, U64, "DRAIN_TIMEOUT_MS", "drain-timeout-ms", "30000", 0,                   \
      "graceful shutdown: wait for in-flight responses")                                           \
    X(output_high_water, U64, "OUTPUT_HIGH_WATER", "output-high-water", "262144", 0,               \
      "client output bytes above which the upstream is paused")                                    \
    X(upstream_url, STR, "LINGMA_BASE_URL", "upstream-url", "https://lingma.alibabacloud.com", 0,  \
      "Lingma remote API base URL")                                                                \
    X(accounts_file, STR, "LINGMA_ACCOUNTS_FILE", "accounts", "", 0, "accounts JSON file")         \
    X(cache_dir, STR, "LINGMA_CACHE_DIR", "cache-dir", "", 0,                                      \
      "Lingma/QoderCN desktop login cache directory to import at start")                           \
    X(default_model, STR, "DEFAULT_MODEL", "default-model", "kmodel", 0,                           \
      "upstream model for unknown names (claude-*, gpt-*)")                                        \
    X(fallback_models, STR, "LINGMA_FALLBACK_MODELS", "fallback-models",                           \
      "kmodel,mmodel,dashscope_qwen3_coder,dashscope_qmodel,dashscope_qwen_max_latest,dashscope_"  \
      "qwen_plus_20250428_thinking",                                                               \
      0, "pre-first-byte model fallback order")                                                    \
    X(cosy_version, STR, "LINGMA_COSY_VERSION", "cosy-version", "2.11.2", 0,                       \
      "client version sent to Lingma")                                                             \
    X(connect_timeout_ms, U64, "UPSTREAM_CONNECT_TIMEOUT_MS", "upstream-connect-timeout-ms",       \
      "10000", 0, "upstream connect timeout")                                                      \
    X(first_byte_timeout_ms, U64, "UPSTREAM_FIRST_BYTE_TIMEOUT_MS",                                \
      "upstream-first-byte-timeout-ms", "60000", 0, "upstream time to first byte")                 \
    X(stall_timeout_ms, U64, "UPSTREAM_STALL_TIMEOUT_MS", "upstream-stall-timeout-ms", "120000",   \
      0, "upstream max gap between bytes")                                                         \
    X(upstream_buffer_bytes, U64, "UPSTREAM_BUFFER_BYTES", "upstream-buffer-bytes", "16384", 0,    \
      "upstream client receive buffer (one per process)")                                          \
    X(ping_interval_ms, U64, "PING_INTERVAL_MS", "ping-interval-ms", "10000", 0,                   \
      "Anthropic stream ping interval while waiting on the upstream")                              \
    X(model_list_ttl_ms, U64, "MODEL_LIST_TTL_MS", "model-list-ttl-ms", "600000", 0,               \
      "model catalog refresh period")                                                              \
    X(session_cache_max, U64, "SESSION_CACHE_MAX", "session-cache-max", "100000", 0,               \
      "conversations kept for session affinity (LRU)")                                             \
    X(session_idle_ttl_ms, U64, "SESSION_IDLE_TTL_MS", "session-idle-ttl-ms", "1800000", 0,        \
      "affinity entries idle longer than this are dropped")                                        \
    X(inflight_policy, STR, "INFLIGHT_POLICY", "inflight-policy", "fork", 0,                       \
      "second concurrent turn on one session: fork | wait | reject")                               \
    X(inflight_wait_ms, U64, "INFLIGHT_WAIT_MS", "inflight-wait-ms", "30000", 0,                   \
      "wait policy: longest wait for the session before 429")                                      \
    X(inflight_queue, U64, "INFLIGHT_QUEUE", "inflight-queue", "8", 0,                             \
      "wait policy: queued turns per session")                                                     \
    X(max_inflight, U64, "MAX_INFLIGHT", "max-inflight", "0", 0,                                   \
      "global cap on turns in flight (0 = none)")                                                  \
    X(max_inflight_queue, U64, "MAX_INFLIGHT_QUEUE", "max-inflight-queue", "1024", 0,              \
      "turns over MAX_INFLIGHT that wait (up to INFLIGHT_WAIT_MS) before 529/503")                 \
    X(account_max_inflight, U64, "ACCOUNT_MAX_INFLIGHT", "account-max-inflight", "0", 0,           \
      "per-account cap on turns in flight (0 = none)")                                             \
    X(cooldown_base_ms, U64, "COOLDOWN_BASE_MS", "cooldown-base-ms", "30000", 0,                   \
      "first cooldown after a rate limit (doubles per repeat)")                                    \
    X(cooldown_cap_ms, U64, "COOLDOWN_CAP_MS", "cooldown-cap-ms", "600000", 0,                     \
      "longest rate-limit cooldown")                                                               \
    X(quota_cooldown_ms, U64, "QUOTA_COOLDOWN_MS", "quota-cooldown-ms", "3600000", 0,              \
      "cooldown when an account's quota is exhausted")                                             \
    X(transient_cooldown_ms, U64, "TRANSIENT_COOLDOWN_MS", "transient-cooldown-ms", "15000", 0,    \
      "cooldown after repeated transient failures")                                                \
    X(transient_threshold, U64, "TRANSIENT_THRESHOLD", "transient-threshold", "3", 0,              \
      "consecutive transient failures before a cooldown")                                          \
    X(state_db, STR, "STATE_DB", "state", "./data/lingma-gateway.db", 0,                           \
      "durable state (SQLite): affinity, account states, counters; :memory: keeps nothing, empty " \
      "disables")                                                                                  \
    X(state_flush_ms, U64, "STATE_FLUSH_MS", "state-flush-ms", "250", 0,                           \
      "durable state write interval (a crash loses at most about this much)")                      \
    X(pool_max_accounts, U64, "POOL_MAX_ACCOUNTS", "pool-max-accounts", "256", 0,                  \
      "accounts the pool can hold, including those added at run time")                             \
    X(login_url, STR, "LINGMA_LOGIN_URL", "login-url",                                             \
      "https://lingma.alibabacloud.com/lingma/login", 0,                                           \
      "Lingma browser login entry (auto-login, /internal/login/start)")

typedef struct config {
#define X_FIELD_STR(f)                           char *f;
#define X_FIELD_BOOL(f)                          bool f;
#define X_FIELD_U64(f)                           uint64_t f;
#define X(f, type, env, flag, def, secret, help) X_FIELD_##type(f)
    CONFIG_KNOBS(X)
#undef X
    char *env_file; /* the .env file that was read, or NULL */
    char *listen_host;
    int listen_port;
    bool check_only; /* --check-config */
} config;

typedef enum { CONFIG_OK, CONFIG_EXIT_OK, CONFIG_ERROR } config_status;

/* env_lookup: returns the value of an environment variable or NULL (tests pass a fake).
 * On CONFIG_EXIT_OK (--help, --version) the text to print is in *out_text (heap).
 * On CONFIG_ERROR *out_text has the message. */
config_status config_load(config *cfg, int argc, char **argv,
                          const char *(*env_lookup)(const char *), char **out_text);
void config_free(config *cfg);
/* Parses a .env file into (key, value) callbacks. Returns 0, or -1 with a message. */
int config_parse_dotenv(const char *text, size_t len,
                        void (*on_pair)(const char *key, const char *value, void *ud), void *ud,
                        char *err, size_t err_cap);
/* Writes the effective configuration as JSON, secrets redacted (for --check-config and
 * /internal/config). Returns a heap string. */
char *config_to_json(const config *cfg);
/* Splits HOST:PORT ([v6]:port accepted). Returns 0 or -1. */
int config_split_listen(const char *s, char *host, size_t host_cap, int *port);
#endif
