#include "util/config.h"
#include "util/buf.h"
#include "util/json_write.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum { T_STR, T_BOOL, T_U64 } knob_type;

typedef struct knob {
    const char *field, *env, *flag, *def, *help;
    knob_type type;
    bool secret;
    size_t offset;
} knob;

#define T_OF_STR  T_STR
#define T_OF_BOOL T_BOOL
#define T_OF_U64  T_U64
static const knob KNOBS[] = {
#define X(f, type, env, flag, def, secret, help)                                                   \
    {#f, env, flag, def, help, T_OF_##type, secret, offsetof(config, f)},
    CONFIG_KNOBS(X)
#undef X
};
#define N_KNOBS (sizeof KNOBS / sizeof KNOBS[0])

static int parse_bool(const char *s, bool *out) {
    if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on"))
        return *out = true, 0;
    if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
        !strcasecmp(s, "off") || !*s)
        return *out = false, 0;
    return -1;
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!*s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* Sets one knob from text; returns 0 or -1 with a message. */
static int knob_set(config *cfg, const knob *k, const char *value, const char *source, buf *err) {
    void *slot = (char *)cfg + k->offset;
    switch (k->type) {
    case T_STR:
        free(*(char **)slot);
        *(char **)slot = xstrdup(value);
        return 0;
    case T_BOOL:
        if (parse_bool(value, slot) == 0) return 0;
        buf_printf(err, "%s: %s must be true or false, got \"%s\"", source, k->env, value);
        return -1;
    case T_U64:
        if (parse_u64(value, slot) == 0) return 0;
        buf_printf(err, "%s: %s must be a non-negative integer, got \"%s\"", source, k->env, value);
        return -1;
    }
    return -1;
}

static const knob *knob_by_env(const char *env) {
    for (size_t i = 0; i < N_KNOBS; i++)
        if (strcmp(KNOBS[i].env, env) == 0) return &KNOBS[i];
    return NULL;
}

static const knob *knob_by_flag(const char *flag, size_t len) {
    for (size_t i = 0; i < N_KNOBS; i++)
        if (strlen(KNOBS[i].flag) == len && strncmp(KNOBS[i].flag, flag, len) == 0)
            return &KNOBS[i];
    return NULL;
}

/* ---- .env ---- */

int config_parse_dotenv(const char *text, size_t len,
                        void (*on_pair)(const char *key, const char *value, void *ud), void *ud,
                        char *err, size_t err_cap) {
    size_t i = 0;
    int line = 0;
    buf key = BUF_INIT, val = BUF_INIT;
    int rc = 0;
    while (i < len) {
        line++;
        size_t eol = i;
        while (eol < len && text[eol] != '\n')
            eol++;
        size_t p = i, end = eol;
        if (end > p && text[end - 1] == '\r') end--;
        while (p < end && isspace((unsigned char)text[p]))
            p++;
        if (p == end || text[p] == '#') goto next;
        if (end - p > 7 && strncmp(text + p, "export", 6) == 0 &&
            isspace((unsigned char)text[p + 6])) {
            p += 7;
            while (p < end && isspace((unsigned char)text[p]))
                p++;
        }
        buf_reset(&key);
        buf_reset(&val);
        while (p < end && (isalnum((unsigned char)text[p]) || text[p] == '_'))
            buf_putc(&key, text[p++]);
        while (p < end && (text[p] == ' ' || text[p] == '\t'))
            p++;
        if (!key.len || p >= end || text[p] != '=') {
            snprintf(err, err_cap, "line %d: expected KEY=VALUE", line);
            rc = -1;
            goto out;
        }
        p++;
        while (p < end && (text[p] == ' ' || text[p] == '\t'))
            p++;
        if (p < end && (text[p] == '"' || text[p] == '\'')) {
            char q = text[p++];
            bool closed = false;
            while (p < end) {
                char ch = text[p++];
                if (ch == q) {
                    closed = true;
                    break;
                }
                if (q == '"' && ch == '\\' && p < end) {
                    char e = text[p++];
                    buf_putc(&val, e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
                } else {
                    buf_putc(&val, ch);
                }
            }
            if (!closed) {
                snprintf(err, err_cap, "line %d: unterminated quote", line);
                rc = -1;
                goto out;
            }
        } else {
            size_t vs = p;
            /* An unquoted value ends at " #" (inline comment); trailing blanks are dropped. */
            while (p < end && !(text[p] == '#' && p > vs && isspace((unsigned char)text[p - 1])))
                p++;
            size_t ve = p;
            while (ve > vs && isspace((unsigned char)text[ve - 1]))
                ve--;
            buf_append(&val, text + vs, ve - vs);
        }
        on_pair(key.data, val.data ? val.data : "", ud);
    next:
        i = eol + 1;
    }
out:
    buf_free(&key);
    buf_free(&val);
    return rc;
}

typedef struct dotenv_ctx {
    config *cfg;
    const char *(*env_lookup)(const char *);
    buf *err;
    const char *path;
    int failed;
} dotenv_ctx;

static void dotenv_pair(const char *key, const char *value, void *ud) {
    dotenv_ctx *ctx = ud;
    const knob *k = knob_by_env(key);
    if (!k || ctx->failed) return;    /* unknown keys in a shared .env are not ours */
    if (ctx->env_lookup(key)) return; /* the environment wins over .env */
    if (knob_set(ctx->cfg, k, value, ctx->path, ctx->err)) ctx->failed = 1;
}

static int load_dotenv(config *cfg, const char *path, bool required,
                       const char *(*env_lookup)(const char *), buf *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!required) return 0;
        buf_printf(err, "cannot read env file %s: %s", path, strerror(errno));
        return -1;
    }
    buf text = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&text, chunk, n);
        if (text.len > 1024 * 1024) break; /* a .env is small; refuse to slurp anything huge */
    }
    fclose(f);
    char perr[128];
    dotenv_ctx ctx = {cfg, env_lookup, err, path, 0};
    int rc = config_parse_dotenv(text.data ? text.data : "", text.len, dotenv_pair, &ctx, perr,
                                 sizeof perr);
    buf_free(&text);
    if (rc) {
        buf_printf(err, "%s: %s", path, perr);
        return -1;
    }
    if (ctx.failed) return -1;
    free(cfg->env_file);
    cfg->env_file = xstrdup(path);
    return 0;
}

/* ---- help ---- */

static char *help_text(void) {
    buf b = BUF_INIT;
    buf_puts(&b,
             "lingma-gateway " LGW_VERSION
             " - OpenAI and Anthropic APIs in front of Tongyi Lingma\n\n"
             "usage: lingma-gateway [options]\n"
             "       lingma-gateway import-cache DIR [--name N] --accounts PATH\n\n"
             "options (each also an environment variable; flags > environment > .env):\n"
             "  --env-file PATH   read KEY=VALUE lines (default ./.env if present)\n"
             "  --check-config    validate the configuration, print it (secrets redacted), exit\n"
             "  --help, --version\n");
    for (size_t i = 0; i < N_KNOBS; i++) {
        const knob *k = &KNOBS[i];
        buf_printf(&b, "  --%-30s %s\n  %-32s %s [default: %s]\n", k->flag, k->env, "", k->help,
                   *k->def ? k->def : "\"\"");
    }
    return buf_detach(&b, NULL);
}

int config_split_listen(const char *s, char *host, size_t host_cap, int *port) {
    const char *colon = strrchr(s, ':');
    if (!colon) return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl == 0 || hl >= host_cap) return -1;
    uint64_t p;
    if (parse_u64(colon + 1, &p) || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

config_status config_load(config *cfg, int argc, char **argv,
                          const char *(*env_lookup)(const char *), char **out_text) {
    memset(cfg, 0, sizeof *cfg);
    buf err = BUF_INIT;
    *out_text = NULL;
    for (size_t i = 0; i < N_KNOBS; i++)
        knob_set(cfg, &KNOBS[i], KNOBS[i].def, "default", &err);

    /* The env file comes first in precedence order, so find --env-file before anything else. */
    const char *env_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[i + 1];
        else if (strncmp(argv[i], "--env-file=", 11) == 0)
            env_file = argv[i] + 11;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *out_text = help_text();
            buf_free(&err);
            config_free(cfg); /* the defaults set above */
            return CONFIG_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            *out_text = xstrdup("lingma-gateway " LGW_VERSION "\n");
            buf_free(&err);
            config_free(cfg);
            return CONFIG_EXIT_OK;
        }
    }
    if (env_file ? load_dotenv(cfg, env_file, true, env_lookup, &err)
                 : load_dotenv(cfg, ".env", false, env_lookup, &err))
        goto fail;

    for (size_t i = 0; i < N_KNOBS; i++) {
        const char *v = env_lookup(KNOBS[i].env);
        if (v && knob_set(cfg, &KNOBS[i], v, "environment", &err)) goto fail;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            buf_printf(&err, "unexpected argument \"%s\" (see --help)", a);
            goto fail;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 8 && strncmp(name, "env-file", 8) == 0) {
            if (!eq) i++;
            continue;
        }
        if (nl == 12 && strncmp(name, "check-config", 12) == 0) {
            cfg->check_only = true;
            continue;
        }
        const knob *k = knob_by_flag(name, nl);
        if (!k) {
            buf_printf(&err, "unknown option --%.*s (see --help)", (int)nl, name);
            goto fail;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (k->type == T_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            buf_printf(&err, "option --%s needs a value", k->flag);
            goto fail;
        }
        if (knob_set(cfg, k, value, "command line", &err)) goto fail;
    }

    char host[256];
    if (config_split_listen(cfg->listen, host, sizeof host, &cfg->listen_port)) {
        buf_printf(&err, "LISTEN must be HOST:PORT, got \"%s\"", cfg->listen);
        goto fail;
    }
    cfg->listen_host = xstrdup(host);
    if (strcmp(cfg->log_format, "json") && strcmp(cfg->log_format, "text")) {
        buf_printf(&err, "LOG_FORMAT must be json or text, got \"%s\"", cfg->log_format);
        goto fail;
    }
    if (strcasecmp(cfg->inflight_policy, "fork") && strcasecmp(cfg->inflight_policy, "wait") &&
        strcasecmp(cfg->inflight_policy, "reject")) {
        buf_printf(&err, "INFLIGHT_POLICY must be fork, wait or reject, got \"%s\"",
                   cfg->inflight_policy);
        goto fail;
    }
    if (cfg->max_header_bytes < 1024 || cfg->max_body_bytes < 1024) {
        buf_puts(&err, "MAX_HEADER_BYTES and MAX_BODY_BYTES must be at least 1024");
        goto fail;
    }
    buf_free(&err);
    return CONFIG_OK;
fail:
    *out_text = buf_detach(&err, NULL);
    config_free(cfg);
    return CONFIG_ERROR;
}

void config_free(config *cfg) {
    for (size_t i = 0; i < N_KNOBS; i++)
        if (KNOBS[i].type == T_STR) {
            char **slot = (char **)((char *)cfg + KNOBS[i].offset);
            free(*slot);
            *slot = NULL;
        }
    free(cfg->env_file);
    free(cfg->listen_host);
    cfg->env_file = cfg->listen_host = NULL;
}

char *config_to_json(const config *cfg) {
    buf b = BUF_INIT;
    buf_putc(&b, '{');
    for (size_t i = 0; i < N_KNOBS; i++) {
        const knob *k = &KNOBS[i];
        const void *slot = (const char *)cfg + k->offset;
        if (i) buf_putc(&b, ',');
        json_put_key(&b, k->env);
        switch (k->type) {
        case T_STR: {
            const char *v = *(char *const *)slot;
            if (k->secret)
                json_put_str(&b, v && *v ? "<redacted>" : "");
            else
                json_put_str(&b, v ? v : "");
            break;
        }
        case T_BOOL: json_put_bool(&b, *(const bool *)slot); break;
        case T_U64: buf_put_u64(&b, *(const uint64_t *)slot); break;
        }
    }
    buf_puts(&b, ",\"env_file\":");
    json_put_str(&b, cfg->env_file);
    buf_putc(&b, '}');
    return buf_detach(&b, NULL);
}
