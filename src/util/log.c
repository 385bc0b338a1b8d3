#include "util/log.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json_write.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static log_level min_level = LOG_INFO;
static int as_json = 1;
static const char *const NAMES[] = {"debug", "info", "warn", "error"};

void log_configure(log_level min, int json) {
    min_level = min;
    as_json = json;
}

int log_parse_level(const char *s, log_level *out) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, NAMES[i]) == 0) return *out = (log_level)i, 0;
    if (strcasecmp(s, "warning") == 0) return *out = LOG_WARN, 0;
    return -1;
}

int log_enabled(log_level lvl) { return lvl >= min_level; }

static void write_all(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) return; /* stderr gone: nothing sensible to do */
        p += w, n -= (size_t)w;
    }
}

void log_event(log_level lvl, const char *msg, const char *fields_fmt, ...) {
    if (lvl < min_level) return;
    char ts[40];
    clock_format_rfc3339(clock_wall_ms(), ts, sizeof ts);
    buf b = BUF_INIT;
    if (as_json) {
        buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, NAMES[lvl]);
        json_put_str(&b, msg);
        if (fields_fmt && *fields_fmt) {
            buf_putc(&b, ',');
            va_list ap;
            va_start(ap, fields_fmt);
            buf_vprintf(&b, fields_fmt, ap);
            va_end(ap);
        }
        buf_puts(&b, "}\n");
    } else {
        buf_printf(&b, "%s %-5s %s", ts, NAMES[lvl], msg);
        if (fields_fmt && *fields_fmt) {
            buf_putc(&b, ' ');
            va_list ap;
            va_start(ap, fields_fmt);
            buf_vprintf(&b, fields_fmt, ap);
            va_end(ap);
        }
        buf_putc(&b, '\n');
    }
    write_all(b.data, b.len);
    buf_free(&b);
}

void log_raw_line(const char *line, unsigned long len) { write_all(line, len); }
