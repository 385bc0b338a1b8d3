/* Logging to stderr: JSON lines (default) or text. The access log is a separate record kind.
 * Never pass a secret to a log call; log key ids (first 8 hex of the key's SHA-256). */
#ifndef LGW_UTIL_LOG_H
#define LGW_UTIL_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_configure(log_level min, int json);
int log_parse_level(const char *s, log_level *out);
int log_enabled(log_level lvl);
/* msg is a short event name or sentence; fields is a preformatted JSON fragment
 * (`"k":v,"k2":v2`) or NULL. In text mode the fragment is printed as is. */
void log_event(log_level lvl, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes one already-built JSON object line (access log). */
void log_raw_line(const char *line, unsigned long len);

#define log_debug(...) log_event(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_event(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_event(LOG_ERROR, __VA_ARGS__)
#endif
