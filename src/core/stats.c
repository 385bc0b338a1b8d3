#include "core/stats.h"
#include "util/xalloc.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct metric_def {
    const char *name, *help, *labels;
    metric_kind kind;
} metric_def;

static const metric_def DEFS[] = {
#define X(id, kind, name, help, labels) {name, help, labels, KIND_##kind},
    STATS_METRICS(X)
#undef X
};

/* Buckets in seconds: from 50 µs (gateway overhead) to 5 min (long generations). */
static const double BUCKETS[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
                                 2.5,     5,      10,      30,     60,    120,    300};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

typedef struct series {
    char *labels; /* values joined by 0x1f */
    double value; /* counter / gauge */
    double sum;
    uint64_t count;
    uint64_t buckets[N_BUCKETS];
    struct series *next;
} series;

struct stats {
    series *head[STAT__COUNT];
};

stats *stats_new(void) {
    stats *s = xcalloc(1, sizeof *s);
    stats_set(s, STAT_build_info, LGW_VERSION, 1);
    return s;
}

void stats_free(stats *s) {
    if (!s) return;
    for (int i = 0; i < STAT__COUNT; i++) {
        series *x = s->head[i];
        while (x) {
            series *n = x->next;
            free(x->labels);
            free(x);
            x = n;
        }
    }
    free(s);
}

/* Series are few per metric (bounded labels), so a list is fast enough and keeps order. */
static series *get(stats *s, stat_id id, const char *labels) {
    series **pp = &s->head[id];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->labels, labels) == 0) return *pp;
    series *x = xcalloc(1, sizeof *x);
    x->labels = xstrdup(labels);
    *pp = x;
    return x;
}

void stats_add(stats *s, stat_id id, const char *labels, double v) {
    get(s, id, labels)->value += v;
}
void stats_set(stats *s, stat_id id, const char *labels, double v) {
    get(s, id, labels)->value = v;
}

void stats_observe(stats *s, stat_id id, const char *labels, double seconds) {
    series *x = get(s, id, labels);
    x->sum += seconds;
    x->count++;
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (seconds <= BUCKETS[i]) x->buckets[i]++;
}

void stats_clear(stats *s, stat_id id) {
    for (series *x = s->head[id]; x; x = x->next)
        x->value = 0;
}

double stats_get(const stats *s, stat_id id, const char *labels) {
    for (series *x = s->head[id]; x; x = x->next)
        if (strcmp(x->labels, labels) == 0) return x->value;
    return 0;
}

/* Label values are escaped per the exposition format: backslash, quote, newline. */
static void put_label_value(buf *out, const char *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' || v[i] == '"')
            buf_putc(out, '\\'), buf_putc(out, v[i]);
        else if (v[i] == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, v[i]);
    }
}

/* {name="value",...} from the declared names and the 0x1f-joined values; extra may add le. */
static void put_labels(buf *out, const char *names, const char *values, const char *extra) {
    if (!*names && !extra) return;
    buf_putc(out, '{');
    bool first = true;
    const char *n = names, *v = values;
    while (*n) {
        size_t nl = strcspn(n, ","), vl = strcspn(v, "\x1f");
        if (!first) buf_putc(out, ',');
        buf_append(out, n, nl);
        buf_puts(out, "=\"");
        put_label_value(out, v, vl);
        buf_putc(out, '"');
        first = false;
        n += nl + (n[nl] == ',');
        v += vl + (v[vl] == '\x1f');
    }
    if (extra) {
        if (!first) buf_putc(out, ',');
        buf_puts(out, extra);
    }
    buf_putc(out, '}');
}

static void put_value(buf *out, double v) {
    if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
        buf_put_i64(out, (int64_t)v);
    else
        buf_printf(out, "%.9g", v);
}

void stats_render(const stats *s, buf *out) {
    static const char *const TYPES[] = {"counter", "gauge", "histogram"};
    for (int i = 0; i < STAT__COUNT; i++) {
        const metric_def *d = &DEFS[i];
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, TYPES[d->kind]);
        for (const series *x = s->head[i]; x; x = x->next) {
            if (d->kind != KIND_HISTOGRAM) {
                buf_puts(out, d->name);
                put_labels(out, d->labels, x->labels, NULL);
                buf_putc(out, ' ');
                put_value(out, x->value);
                buf_putc(out, '\n');
                continue;
            }
            for (size_t b = 0; b <= N_BUCKETS; b++) {
                char le[48];
                if (b < N_BUCKETS)
                    snprintf(le, sizeof le, "le=\"%g\"", BUCKETS[b]);
                else
                    snprintf(le, sizeof le, "le=\"+Inf\"");
                buf_printf(out, "%s_bucket", d->name);
                put_labels(out, d->labels, x->labels, le);
                buf_putc(out, ' ');
                buf_put_u64(out, b < N_BUCKETS ? x->buckets[b] : x->count);
                buf_putc(out, '\n');
            }
            buf_printf(out, "%s_sum", d->name);
            put_labels(out, d->labels, x->labels, NULL);
            buf_printf(out, " %.9g\n%s_count", x->sum, d->name);
            put_labels(out, d->labels, x->labels, NULL);
            buf_putc(out, ' ');
            buf_put_u64(out, x->count);
            buf_putc(out, '\n');
        }
    }
}

void stats_visit_counters(const stats *s, stats_visit_fn fn, void *ud) {
    for (int i = 0; i < STAT__COUNT; i++)
        if (DEFS[i].kind == KIND_COUNTER)
            for (const series *x = s->head[i]; x; x = x->next)
                fn(DEFS[i].name, x->labels, x->value, ud);
}

int stats_restore_counter(stats *s, const char *metric, const char *labels, double value) {
    for (int i = 0; i < STAT__COUNT; i++)
        if (DEFS[i].kind == KIND_COUNTER && strcmp(DEFS[i].name, metric) == 0) {
            get(s, (stat_id)i, labels)->value = value;
            return 0;
        }
    return -1;
}
