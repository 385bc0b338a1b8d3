#include "core/state_store.h"
#include "util/clock.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_VERSION 1
#define PENDING_AFFINITY_MAX                                                                       \
    65536                     /* rows waiting for a slow disk; beyond, new ones are dropped        \
                               */
#define PRUNE_EVERY_MS  60000 /* expired / surplus affinity rows are deleted this often */
#define BUSY_TIMEOUT_MS 5000  /* another process holding the write lock (shared file) */
#define FP_BYTES        8     /* credential fingerprint: 16 hex chars of SHA-256 */

typedef struct aff_rec {
    conv_hash key;
    session_binding b;
    bool continued;
} aff_rec;

typedef struct acct_rec {
    char name[CREDENTIALS_NAME_MAX + 1];
    bool del;
    account_state state;
    char reason[64];
    int64_t since_ms, cool_until_ms;
    unsigned backoff_level;
    uint64_t ok_total, err_total;
    char fp[2 * FP_BYTES + 1];
} acct_rec;

typedef struct ctr_rec {
    const char *metric; /* static: the stats table's name */
    char *labels;
    double value;
} ctr_rec;

/* One transaction's worth of rows. Built on the loop thread, written by one job. */
typedef struct batch {
    aff_rec *aff;
    size_t n_aff, cap_aff;
    acct_rec *acct;
    size_t n_acct, cap_acct;
    ctr_rec *ctr;
    size_t n_ctr, cap_ctr;
    bool prune;
    int rc;        /* set by the job */
    uint64_t rows; /* written by the job */
} batch;

/* The last state handed to the writer, per pool slot / counter series, to send only changes. */
typedef struct acct_seen {
    bool valid, removed;
    acct_rec row;
    const char *cred_key; /* identity of the credentials: replaced credentials mean a new fp */
} acct_seen;

typedef struct ctr_seen {
    const char *metric;
    char *labels;
    double value;
} ctr_seen;

struct state_store {
    uv_loop_t *loop;
    sqlite3 *db;
    bool ready; /* open completed: the final flush may run */
    sqlite3_stmt *put_aff, *put_acct, *del_acct, *put_ctr, *prune_ttl, *prune_max;
    state_store_options opt;
    char *path;
    uv_timer_t timer;
    bool timer_open;
    uv_work_t work;
    bool writing; /* a job owns `job` and the database */
    batch *pending, *job;
    session_cache *sessions;
    pool *pool;
    stats *stats;
    acct_seen *acct_seen;
    size_t n_acct_seen;
    ctr_seen *ctr_seen;
    size_t n_ctr_seen, ctr_idx;
    batch *ctr_target;
    int64_t last_prune_ms;
    bool overflowing, failing;
    uint64_t flushes, rows_written, dropped, errors;
    int64_t last_flush_ms;
};

/* ---------------------------------------------------------------- batches */

static batch *batch_new(void) { return xcalloc(1, sizeof(batch)); }

static void batch_free(batch *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_ctr; i++)
        free(b->ctr[i].labels);
    free(b->aff);
    free(b->acct);
    free(b->ctr);
    free(b);
}

static bool batch_empty(const batch *b) {
    return !b->n_aff && !b->n_acct && !b->n_ctr && !b->prune;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 64;                                                        \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                        \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------- SQLite */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS affinity(key BLOB PRIMARY KEY, session_id TEXT NOT NULL,"
    " account TEXT NOT NULL, created_ms INTEGER NOT NULL, last_used_ms INTEGER NOT NULL,"
    " turns INTEGER NOT NULL, continued INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS affinity_last_used ON affinity(last_used_ms);"
    "CREATE TABLE IF NOT EXISTS accounts(name TEXT PRIMARY KEY, state TEXT NOT NULL,"
    " reason TEXT NOT NULL, since_ms INTEGER NOT NULL, cool_until_ms INTEGER NOT NULL,"
    " backoff_level INTEGER NOT NULL, ok_total INTEGER NOT NULL, err_total INTEGER NOT NULL,"
    " fp TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters(metric TEXT NOT NULL, labels TEXT NOT NULL,"
    " value REAL NOT NULL, PRIMARY KEY(metric, labels)) WITHOUT ROWID;";

static int db_fail(state_store *s, const char *what, char *err, size_t err_cap) {
    snprintf(err, err_cap, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int prepare(state_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t err_cap) {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_fail(s, "prepare", err, err_cap);
    return 0;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path, char *err, size_t err_cap) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        snprintf(err, err_cap, "state path too long");
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, err_cap, "cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c) return 0;
    }
}

static int setup_schema(state_store *s, char *err, size_t err_cap) {
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, "read schema version", err, err_cap);
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        snprintf(err, err_cap, "%s: schema version %d is newer than this build's (%d)", s->path,
                 version, SCHEMA_VERSION);
        return -1;
    }
    if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA user_version = 1", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, "create schema", err, err_cap);
    return 0;
}

int state_store_open(state_store **out, uv_loop_t *loop, const state_store_options *o, char *err,
                     size_t err_cap) {
    state_store *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->opt = *o;
    s->path = xstrdup(o->path);
    s->opt.path = s->path;
    if (!s->opt.flush_ms) s->opt.flush_ms = 250;
    s->pending = batch_new();
    bool memory = strcmp(o->path, ":memory:") == 0;
    if (!memory && strncmp(o->path, "file:", 5) != 0 && make_parent_dirs(o->path, err, err_cap))
        goto fail;
    if (sqlite3_open_v2(o->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                        NULL) != SQLITE_OK) {
        db_fail(s, "open", err, err_cap);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* WAL + NORMAL: a commit is a write() into the log, durable across a process crash. */
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK) {
        db_fail(s, "set WAL mode", err, err_cap);
        goto fail;
    }
    if (setup_schema(s, err, err_cap)) goto fail;
    if (prepare(s, "INSERT OR REPLACE INTO affinity VALUES(?1,?2,?3,?4,?5,?6,?7)", &s->put_aff, err,
                err_cap) ||
        prepare(s, "INSERT OR REPLACE INTO accounts VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                &s->put_acct, err, err_cap) ||
        prepare(s, "DELETE FROM accounts WHERE name = ?1", &s->del_acct, err, err_cap) ||
        prepare(s, "INSERT OR REPLACE INTO counters VALUES(?1,?2,?3)", &s->put_ctr, err, err_cap) ||
        prepare(s, "DELETE FROM affinity WHERE last_used_ms < ?1", &s->prune_ttl, err, err_cap) ||
        prepare(s,
                "DELETE FROM affinity WHERE key IN (SELECT key FROM affinity"
                " ORDER BY last_used_ms DESC LIMIT -1 OFFSET ?1)",
                &s->prune_max, err, err_cap))
        goto fail;
    s->ready = true;
    *out = s;
    return 0;
fail:
    state_store_free(s);
    return -1;
}

static int step_done(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int write_rows(state_store *s, const batch *b, int64_t now, uint64_t *rows) {
    for (size_t i = 0; i < b->n_aff; i++) {
        const aff_rec *r = &b->aff[i];
        sqlite3_stmt *st = s->put_aff;
        sqlite3_bind_blob(st, 1, r->key.b, sizeof r->key.b, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->b.session_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->b.account, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->b.created_ms);
        sqlite3_bind_int64(st, 5, r->b.last_used_ms);
        sqlite3_bind_int64(st, 6, r->b.turns);
        sqlite3_bind_int(st, 7, r->continued);
        if (step_done(st)) return -1;
    }
    for (size_t i = 0; i < b->n_acct; i++) {
        const acct_rec *r = &b->acct[i];
        sqlite3_stmt *st = r->del ? s->del_acct : s->put_acct;
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
        if (!r->del) {
            sqlite3_bind_text(st, 2, account_state_name(r->state), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, r->reason, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, r->since_ms);
            sqlite3_bind_int64(st, 5, r->cool_until_ms);
            sqlite3_bind_int64(st, 6, r->backoff_level);
            sqlite3_bind_int64(st, 7, (sqlite3_int64)r->ok_total);
            sqlite3_bind_int64(st, 8, (sqlite3_int64)r->err_total);
            sqlite3_bind_text(st, 9, r->fp, -1, SQLITE_STATIC);
        }
        if (step_done(st)) return -1;
    }
    for (size_t i = 0; i < b->n_ctr; i++) {
        sqlite3_stmt *st = s->put_ctr;
        sqlite3_bind_text(st, 1, b->ctr[i].metric, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, b->ctr[i].labels, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, b->ctr[i].value);
        if (step_done(st)) return -1;
    }
    *rows = b->n_aff + b->n_acct + b->n_ctr;
    if (b->prune) {
        if (s->opt.session_ttl_ms > 0) {
            sqlite3_bind_int64(s->prune_ttl, 1, now - s->opt.session_ttl_ms);
            if (step_done(s->prune_ttl)) return -1;
        }
        sqlite3_bind_int64(s->prune_max, 1, (sqlite3_int64)s->opt.session_max);
        if (step_done(s->prune_max)) return -1;
    }
    return 0;
}

/* One transaction. Runs on the worker (or the loop thread when no job can be running). */
static int write_batch(state_store *s, const batch *b, uint64_t *rows) {
    *rows = 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
    if (write_rows(s, b, clock_wall_ms(), rows) ||
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        *rows = 0;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- loading */

static account_state state_from_name(const char *n) {
    for (int st = ACCOUNT_READY; st <= ACCOUNT_DISABLED; st++)
        if (strcmp(account_state_name((account_state)st), n) == 0) return (account_state)st;
    return ACCOUNT_READY;
}

static void cred_fingerprint(const lingma_account *a, char out[2 * FP_BYTES + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    out[0] = '\0';
    if (!c) return;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(c, a->cosy_key, strlen(a->cosy_key)) && EVP_DigestUpdate(c, "\n", 1) &&
        EVP_DigestUpdate(c, a->encrypt_user_info, strlen(a->encrypt_user_info)) &&
        EVP_DigestFinal_ex(c, md, &md_len) && md_len >= FP_BYTES)
        for (int i = 0; i < FP_BYTES; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
}

static const char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static int load_affinity(state_store *s, session_cache *c, size_t *n) {
    sqlite3_stmt *st = NULL;
    int64_t oldest =
        s->opt.session_ttl_ms > 0 ? clock_wall_ms() - s->opt.session_ttl_ms : INT64_MIN;
    /* Oldest first, so the cache's LRU order (and its bound) comes out as before. */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT key,session_id,account,created_ms,last_used_ms,turns,continued"
                           " FROM affinity WHERE last_used_ms >= ?1 ORDER BY last_used_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, oldest);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sid = col_text(st, 1), *acct = col_text(st, 2);
        if (sqlite3_column_bytes(st, 0) != (int)sizeof(conv_hash) || !*sid ||
            strlen(sid) >= SESSION_ID_CAP || strlen(acct) >= SESSION_ACCOUNT_CAP)
            continue; /* not ours: skip rather than trust */
        conv_hash key;
        memcpy(key.b, sqlite3_column_blob(st, 0), sizeof key.b);
        session_binding b = {.created_ms = sqlite3_column_int64(st, 3),
                             .last_used_ms = sqlite3_column_int64(st, 4),
                             .turns = (uint32_t)sqlite3_column_int64(st, 5)};
        snprintf(b.session_id, sizeof b.session_id, "%s", sid);
        snprintf(b.account, sizeof b.account, "%s", acct);
        session_cache_insert_raw(c, &key, &b, sqlite3_column_int(st, 6) != 0);
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_accounts(state_store *s, pool *p, size_t *n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name,state,reason,since_ms,cool_until_ms,backoff_level,ok_total,"
                           "err_total,fp FROM accounts",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pool_account *a = pool_find(p, col_text(st, 0));
        if (!a) continue; /* not configured now; the row waits for it */
        char fp[2 * FP_BYTES + 1];
        cred_fingerprint(&a->cred, fp);
        pool_saved_state saved = {.state = state_from_name(col_text(st, 1)),
                                  .reason = col_text(st, 2),
                                  .since_ms = sqlite3_column_int64(st, 3),
                                  .cool_until_ms = sqlite3_column_int64(st, 4),
                                  .backoff_level = (unsigned)sqlite3_column_int64(st, 5),
                                  .ok_total = (uint64_t)sqlite3_column_int64(st, 6),
                                  .err_total = (uint64_t)sqlite3_column_int64(st, 7)};
        /* A login verdict belongs to the credentials it was made on; a cooldown to the account. */
        if ((saved.state == ACCOUNT_NEEDS_LOGIN || saved.state == ACCOUNT_DISABLED) &&
            strcmp(fp, col_text(st, 8)) != 0)
            saved.state = ACCOUNT_READY;
        pool_restore(p, a, &saved);
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_counters(state_store *s, stats *stt, size_t *n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT metric,labels,value FROM counters", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (stats_restore_counter(stt, col_text(st, 0), col_text(st, 1),
                                  sqlite3_column_double(st, 2)) == 0)
            (*n)++;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int state_store_load(state_store *s, session_cache *c, pool *p, stats *st, char *err,
                     size_t err_cap) {
    size_t n_aff = 0, n_acct = 0, n_ctr = 0;
    uint64_t rows;
    batch prune = {.prune = true};
    if (write_batch(s, &prune, &rows)) return db_fail(s, "prune", err, err_cap);
    s->last_prune_ms = clock_wall_ms();
    if (load_affinity(s, c, &n_aff)) return db_fail(s, "load affinity", err, err_cap);
    if (load_accounts(s, p, &n_acct)) return db_fail(s, "load accounts", err, err_cap);
    if (load_counters(s, st, &n_ctr)) return db_fail(s, "load counters", err, err_cap);
    log_info("state loaded", "\"sessions\":%zu,\"accounts\":%zu,\"counters\":%zu", n_aff, n_acct,
             n_ctr);
    return 0;
}

/* ---------------------------------------------------------------- collecting changes */

static void on_session_change(const conv_hash *key, const session_binding *b, bool continued,
                              void *ud) {
    state_store *s = ud;
    batch *p = s->pending;
    if (p->n_aff >= PENDING_AFFINITY_MAX) {
        s->dropped++;
        if (!s->overflowing) log_warn("state store is behind: affinity updates dropped", NULL);
        s->overflowing = true;
        return;
    }
    GROW(p->aff, p->n_aff, p->cap_aff);
    p->aff[p->n_aff++] = (aff_rec){*key, *b, continued};
}

static void collect_accounts(state_store *s, batch *b) {
    pool *p = s->pool;
    if (s->n_acct_seen < p->n) {
        s->acct_seen = xrealloc(s->acct_seen, p->n * sizeof *s->acct_seen);
        memset(s->acct_seen + s->n_acct_seen, 0, (p->n - s->n_acct_seen) * sizeof *s->acct_seen);
        s->n_acct_seen = p->n;
    }
    for (size_t i = 0; i < p->n; i++) {
        const pool_account *a = &p->accounts[i];
        acct_seen *seen = &s->acct_seen[i];
        acct_rec r;
        memset(&r, 0, sizeof r); /* compared with memcmp: padding must be zero too */
        r.state = a->state;
        r.since_ms = a->since_ms;
        r.cool_until_ms = a->cool_until_ms;
        r.backoff_level = a->backoff_level;
        r.ok_total = a->ok_total;
        r.err_total = a->err_total;
        r.del = a->removed;
        snprintf(r.name, sizeof r.name, "%s", a->cred.name);
        snprintf(r.reason, sizeof r.reason, "%s", a->reason);
        if (seen->valid && seen->removed == a->removed && seen->cred_key == a->cred.cosy_key &&
            memcmp(&seen->row, &r, offsetof(acct_rec, fp)) == 0)
            continue;
        bool was_live = seen->valid && !seen->removed;
        seen->valid = true;
        seen->removed = a->removed;
        seen->cred_key = a->cred.cosy_key;
        seen->row = r;
        if (a->removed && !was_live) continue;
        if (!a->removed) cred_fingerprint(&a->cred, r.fp);
        GROW(b->acct, b->n_acct, b->cap_acct);
        b->acct[b->n_acct++] = r;
    }
}

static void visit_counter(const char *metric, const char *labels, double value, void *ud) {
    state_store *s = ud;
    size_t i = s->ctr_idx++;
    if (i == s->n_ctr_seen) {
        s->ctr_seen = xrealloc(s->ctr_seen, (i + 1) * sizeof *s->ctr_seen);
        s->ctr_seen[i] = (ctr_seen){NULL, NULL, 0};
        s->n_ctr_seen++;
    }
    ctr_seen *seen = &s->ctr_seen[i];
    if (seen->metric == metric && seen->labels && strcmp(seen->labels, labels) == 0 &&
        seen->value == value)
        return;
    if (!seen->labels || strcmp(seen->labels, labels) != 0) {
        free(seen->labels);
        seen->labels = xstrdup(labels);
    }
    seen->metric = metric;
    seen->value = value;
    batch *b = s->ctr_target;
    GROW(b->ctr, b->n_ctr, b->cap_ctr);
    b->ctr[b->n_ctr++] = (ctr_rec){metric, xstrdup(labels), value};
}

/* Forgets what was sent, so that the next flush rewrites every account and counter. */
static void forget_seen(state_store *s) {
    for (size_t i = 0; i < s->n_ctr_seen; i++)
        free(s->ctr_seen[i].labels);
    free(s->ctr_seen);
    s->ctr_seen = NULL;
    s->n_ctr_seen = 0;
    free(s->acct_seen);
    s->acct_seen = NULL;
    s->n_acct_seen = 0;
}

static void collect(state_store *s, batch *b) {
    if (s->pool) collect_accounts(s, b);
    if (s->stats) {
        s->ctr_idx = 0;
        s->ctr_target = b;
        stats_visit_counters(s->stats, visit_counter, s);
    }
}

/* ---------------------------------------------------------------- flushing */

static void note_result(state_store *s, int rc, uint64_t rows) {
    s->flushes++;
    s->last_flush_ms = clock_wall_ms();
    if (rc == 0) {
        s->rows_written += rows;
        if (s->failing) log_info("state store writes again", NULL);
        s->failing = false;
        return;
    }
    s->errors++;
    if (!s->failing) log_error("state store write failed", "\"path\":\"%s\"", s->path);
    s->failing = true;
    forget_seen(s); /* accounts and counters are rewritten in full next time */
}

static void job_work(uv_work_t *w) {
    state_store *s = w->data;
    s->job->rc = write_batch(s, s->job, &s->job->rows);
}

static void job_done(uv_work_t *w, int status) {
    state_store *s = w->data;
    batch *b = s->job;
    note_result(s, status == 0 ? b->rc : -1, b->rows);
    batch_free(b);
    s->job = NULL;
    s->writing = false;
}

static void on_tick(uv_timer_t *t) {
    state_store *s = t->data;
    if (s->writing) return; /* the disk is slow: affinity rows keep gathering, bounded */
    batch *b = s->pending;
    collect(s, b);
    int64_t now = clock_wall_ms();
    if (now - s->last_prune_ms >= PRUNE_EVERY_MS) {
        b->prune = true;
        s->last_prune_ms = now;
    }
    if (batch_empty(b)) return;
    s->overflowing = false;
    s->job = b;
    s->pending = batch_new();
    s->writing = true;
    s->work.data = s;
    if (uv_queue_work(s->loop, &s->work, job_work, job_done) != 0) {
        s->writing = false;
        s->job = NULL;
        note_result(s, -1, 0);
        batch_free(b);
    }
}

void state_store_start(state_store *s, session_cache *c, pool *p, stats *st) {
    s->sessions = c;
    s->pool = p;
    s->stats = st;
    session_cache_set_observer(c, on_session_change, s);
    uv_timer_init(s->loop, &s->timer);
    s->timer.data = s;
    s->timer_open = true;
    uv_timer_start(&s->timer, on_tick, s->opt.flush_ms, s->opt.flush_ms);
}

static void on_timer_closed(uv_handle_t *h) { ((state_store *)h->data)->timer_open = false; }

void state_store_stop(state_store *s) {
    if (!s || !s->timer_open || uv_is_closing((uv_handle_t *)&s->timer)) return;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

int state_store_flush_sync(state_store *s) {
    if (s->writing) return -1;
    batch *b = s->pending;
    collect(s, b);
    s->pending = batch_new();
    uint64_t rows = 0;
    int rc = batch_empty(b) ? 0 : write_batch(s, b, &rows);
    if (!batch_empty(b)) note_result(s, rc, rows);
    batch_free(b);
    return rc;
}

void state_store_free(state_store *s) {
    if (!s) return;
    if (s->ready && state_store_flush_sync(s) == 0)
        log_info("state saved", "\"path\":\"%s\",\"rows_written\":%llu", s->path,
                 (unsigned long long)s->rows_written);
    if (s->sessions) session_cache_set_observer(s->sessions, NULL, NULL);
    sqlite3_finalize(s->put_aff);
    sqlite3_finalize(s->put_acct);
    sqlite3_finalize(s->del_acct);
    sqlite3_finalize(s->put_ctr);
    sqlite3_finalize(s->prune_ttl);
    sqlite3_finalize(s->prune_max);
    sqlite3_close(s->db);
    forget_seen(s);
    batch_free(s->pending);
    free(s->path);
    free(s);
}

void state_store_info_json(const state_store *s, buf *out) {
    buf_puts(out, "{\"path\":");
    json_put_str(out, s->path);
    buf_printf(out,
               ",\"flush_ms\":%llu,\"flushes\":%llu,\"rows_written\":%llu,\"pending\":%zu,"
               "\"dropped\":%llu,\"errors\":%llu,\"last_flush_ms\":%lld}",
               (unsigned long long)s->opt.flush_ms, (unsigned long long)s->flushes,
               (unsigned long long)s->rows_written, s->pending->n_aff,
               (unsigned long long)s->dropped, (unsigned long long)s->errors,
               (long long)s->last_flush_ms);
}
