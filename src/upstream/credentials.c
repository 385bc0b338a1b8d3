#include "upstream/credentials.h"
#include "upstream/cosy.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_ID_MAX   4096
#define CACHE_USER_MAX (256u << 10)
#define JSON_DEPTH     16

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void free_secret(char *s) {
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void lingma_account_free(lingma_account *a) {
    free(a->name);
    free(a->user_id);
    free(a->machine_id);
    free_secret(a->cosy_key);
    free_secret(a->encrypt_user_info);
    free_secret(a->oauth_token);
    free_secret(a->refresh_token);
    memset(a, 0, sizeof *a);
}

void lingma_account_list_free(lingma_account_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lingma_account_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

bool credentials_valid_name(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CREDENTIALS_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
            return false;
    }
    return true;
}

bool lingma_account_expired(const lingma_account *a, int64_t margin_ms) {
    return a->expire_time_ms > 0 && clock_wall_ms() + margin_ms > a->expire_time_ms;
}

/* ---- JSON helpers ---- */

static json_object *parse_json(const char *s, size_t n) {
    if (n > INT_MAX) return NULL;
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    if (o && json_tokener_get_parse_end(tok) != n) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

typedef enum { FIELD_OK, FIELD_ABSENT, FIELD_BAD } field_status;

/* A non-empty string field (copied). Absent, null and "" are FIELD_ABSENT. */
static field_status take_str(json_object *o, const char *key, char **out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return FIELD_ABSENT;
    if (!json_object_is_type(v, json_type_string)) return FIELD_BAD;
    if (!json_object_get_string_len(v)) return FIELD_ABSENT;
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return FIELD_BAD; /* an embedded NUL would truncate a header value */
    *out = xstrdup(json_object_get_string(v));
    return FIELD_OK;
}

/* An id given as a string or an integer (uids are numeric). */
static field_status take_id(json_object *o, const char *key, char **out) {
    json_object *v = NULL;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)) {
        char tmp[24];
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_object_get_int64(v));
        *out = xstrdup(tmp);
        return FIELD_OK;
    }
    return take_str(o, key, out);
}

/* Unix ms as a non-negative integer or a decimal string. */
static field_status take_ms(json_object *o, const char *key, int64_t *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return FIELD_ABSENT;
    int64_t x;
    if (json_object_is_type(v, json_type_int)) {
        x = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (!*s) return FIELD_ABSENT;
        char *end;
        errno = 0;
        long long y = strtoll(s, &end, 10);
        if (errno || *end || s[0] == '-' || s[0] == '+' || s[0] == ' ') return FIELD_BAD;
        x = y;
    } else {
        return FIELD_BAD;
    }
    if (x < 0) return FIELD_BAD;
    *out = x;
    return FIELD_OK;
}

/* ---- the accounts file ---- */

int lingma_account_mint(lingma_account *a, const char *pubkey_pem, char *err, size_t err_cap) {
    cosy_user_info u = {.uid = a->user_id,
                        .oauth_token = a->oauth_token,
                        .refresh_token = a->refresh_token,
                        .expire_time_ms = a->expire_time_ms};
    char *key = NULL, *info = NULL;
    if (!a->oauth_token || cosy_mint(&u, pubkey_pem, &key, &info)) {
        set_err(err, err_cap, "account \"%s\": cannot mint credentials from \"oauth_token\"",
                a->name ? a->name : "");
        return -1;
    }
    free_secret(a->cosy_key);
    free_secret(a->encrypt_user_info);
    a->cosy_key = key;
    a->encrypt_user_info = info;
    a->minted = true;
    return 0;
}

/* Reads one entry; `label` names it in errors (its name, or accounts[i] before the name). */
static int parse_entry(json_object *e, size_t idx, const char *pubkey_pem, lingma_account *a,
                       char *err, size_t err_cap) {
    char label[CREDENTIALS_NAME_MAX + 16];
    field_status st;
    snprintf(label, sizeof label, "accounts[%zu]", idx);
    if (!json_object_is_type(e, json_type_object)) {
        set_err(err, err_cap, "%s: must be an object", label);
        return -1;
    }
    st = take_str(e, "name", &a->name);
    if (st != FIELD_OK || !credentials_valid_name(a->name)) {
        set_err(err, err_cap, "%s: %s field \"name\" (1-%d chars of A-Z a-z 0-9 . _ @ + -)", label,
                st == FIELD_ABSENT ? "missing" : "invalid", CREDENTIALS_NAME_MAX);
        return -1;
    }
    snprintf(label, sizeof label, "account \"%s\"", a->name);

    static const struct {
        const char *key;
        size_t off;
        bool required;
    } fields[] = {
        {"user_id", offsetof(lingma_account, user_id), true},
        {"machine_id", offsetof(lingma_account, machine_id), true},
        {"cosy_key", offsetof(lingma_account, cosy_key), false},
        {"encrypt_user_info", offsetof(lingma_account, encrypt_user_info), false},
        {"oauth_token", offsetof(lingma_account, oauth_token), false},
        {"refresh_token", offsetof(lingma_account, refresh_token), false},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        char **slot = (char **)((char *)a + fields[i].off);
        st = i == 0 ? take_id(e, fields[i].key, slot) : take_str(e, fields[i].key, slot);
        if (st == FIELD_BAD || (st == FIELD_ABSENT && fields[i].required)) {
            set_err(err, err_cap, "%s: %s field \"%s\"", label,
                    st == FIELD_BAD ? "invalid (not a string)" : "missing", fields[i].key);
            return -1;
        }
    }
    if (take_ms(e, "expire_time", &a->expire_time_ms) == FIELD_BAD) {
        set_err(err, err_cap,
                "%s: invalid field \"expire_time\" (unix ms as a number or decimal string)", label);
        return -1;
    }
    if (!a->cosy_key && !a->encrypt_user_info) {
        if (!a->oauth_token) {
            set_err(err, err_cap, "%s: missing field \"cosy_key\" (or \"oauth_token\" to mint it)",
                    label);
            return -1;
        }
        return lingma_account_mint(a, pubkey_pem, err, err_cap);
    }
    if (!a->cosy_key || !a->encrypt_user_info) {
        set_err(err, err_cap, "%s: missing field \"%s\"", label,
                a->cosy_key ? "encrypt_user_info" : "cosy_key");
        return -1;
    }
    return 0;
}

int credentials_parse(const char *json, size_t len, const char *pubkey_pem,
                      lingma_account_list *out, char *err, size_t err_cap) {
    lingma_account_list l = {NULL, 0};
    json_object *root = parse_json(json, len), *arr = NULL;
    int rc = -1;
    if (!json_object_is_type(root, json_type_object)) {
        set_err(err, err_cap, "accounts file: not a JSON object");
        goto out;
    }
    if (!json_object_object_get_ex(root, "accounts", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        set_err(err, err_cap, "accounts file: missing array \"accounts\"");
        goto out;
    }
    size_t n = json_object_array_length(arr);
    l.items = xcalloc(n ? n : 1, sizeof *l.items);
    for (size_t i = 0; i < n; i++) {
        lingma_account *a = &l.items[l.n++];
        if (parse_entry(json_object_array_get_idx(arr, i), i, pubkey_pem, a, err, err_cap))
            goto out;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(l.items[j].name, a->name)) {
                set_err(err, err_cap, "account \"%s\": duplicate name", a->name);
                goto out;
            }
        }
    }
    *out = l;
    l.items = NULL;
    l.n = 0;
    rc = 0;
out:
    lingma_account_list_free(&l);
    json_object_put(root);
    return rc;
}

/* Reads a whole file of at most max bytes. */
static int read_file(const char *path, size_t max, buf *out, char *err, size_t err_cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char tmp[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (out->len + n > max) {
            set_err(err, err_cap, "%s: larger than %zu bytes", path, max);
            rc = -1;
            break;
        }
        buf_append(out, tmp, n);
    }
    if (rc == 0 && ferror(f)) {
        set_err(err, err_cap, "%s: read error", path);
        rc = -1;
    }
    OPENSSL_cleanse(tmp, sizeof tmp);
    fclose(f);
    return rc;
}

static void free_secret_buf(buf *b) {
    if (b->data) OPENSSL_cleanse(b->data, b->cap);
    buf_free(b);
}

int credentials_load(const char *path, const char *pubkey_pem, lingma_account_list *out, char *err,
                     size_t err_cap) {
    buf b = BUF_INIT;
    int rc = read_file(path, CREDENTIALS_FILE_MAX, &b, err, err_cap);
    if (rc == 0) rc = credentials_parse(b.data ? b.data : "", b.len, pubkey_pem, out, err, err_cap);
    free_secret_buf(&b);
    return rc;
}

/* ---- desktop cache import ---- */

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int credentials_import_cache(const char *dir, const char *name, lingma_account *out, char *err,
                             size_t err_cap) {
    lingma_account a = {0};
    buf path = BUF_INIT, id = BUF_INIT, user = BUF_INIT, plain = BUF_INIT;
    json_object *o = NULL;
    int rc = -1;
    const char *base = "/cache";
    buf_printf(&path, "%s/cache/id", dir);
    if (!file_exists(path.data)) base = ""; /* DIR is the cache folder itself */
    buf_reset(&path);
    buf_printf(&path, "%s%s/id", dir, base);
    if (read_file(path.data, CACHE_ID_MAX, &id, err, err_cap)) goto out;
    const char *mid = id.data ? id.data : "";
    size_t mlen = id.len;
    while (mlen && (*mid == ' ' || *mid == '\t' || *mid == '\r' || *mid == '\n'))
        mid++, mlen--;
    while (mlen && (mid[mlen - 1] == ' ' || mid[mlen - 1] == '\t' || mid[mlen - 1] == '\r' ||
                    mid[mlen - 1] == '\n'))
        mlen--;
    if (mlen < COSY_KEY_LEN || memchr(mid, '\0', mlen)) {
        set_err(err, err_cap, "%s: machine id must be at least %d characters", path.data,
                COSY_KEY_LEN);
        goto out;
    }
    a.machine_id = xstrndup(mid, mlen);

    buf_reset(&path);
    buf_printf(&path, "%s%s/user", dir, base);
    if (read_file(path.data, CACHE_USER_MAX, &user, err, err_cap)) goto out;
    if (cosy_cache_decrypt(a.machine_id, user.data ? user.data : "", user.len, &plain)) {
        set_err(err, err_cap, "%s: cannot decrypt with the machine id (not base64 AES-128-CBC?)",
                path.data);
        goto out;
    }
    o = parse_json(plain.data, plain.len);
    if (!json_object_is_type(o, json_type_object)) {
        set_err(err, err_cap, "%s: decrypted content is not a JSON object", path.data);
        goto out;
    }
    static const char *const required[] = {"key", "encrypt_user_info"};
    char **slots[] = {&a.cosy_key, &a.encrypt_user_info};
    for (size_t i = 0; i < 2; i++) {
        if (take_str(o, required[i], slots[i]) != FIELD_OK) {
            set_err(err, err_cap, "%s: missing field \"%s\"", path.data, required[i]);
            goto out;
        }
    }
    if (take_id(o, "uid", &a.user_id) != FIELD_OK && take_id(o, "aid", &a.user_id) != FIELD_OK) {
        set_err(err, err_cap, "%s: missing field \"uid\"", path.data);
        goto out;
    }
    /* Optional fields: a malformed one is dropped rather than failing the import. */
    take_str(o, "security_oauth_token", &a.oauth_token);
    take_str(o, "refresh_token", &a.refresh_token);
    take_ms(o, "expire_time", &a.expire_time_ms);
    if (name) {
        if (!credentials_valid_name(name)) {
            set_err(err, err_cap, "invalid account name (1-%d chars of A-Z a-z 0-9 . _ @ + -)",
                    CREDENTIALS_NAME_MAX);
            goto out;
        }
        a.name = xstrdup(name);
    } else if (take_str(o, "name", &a.name) != FIELD_OK || !credentials_valid_name(a.name)) {
        free(a.name);
        a.name = credentials_valid_name(a.user_id) ? xstrdup(a.user_id) : xstrdup("lingma");
    }
    *out = a;
    memset(&a, 0, sizeof a);
    rc = 0;
out:
    lingma_account_free(&a);
    json_object_put(o);
    free_secret_buf(&plain);
    free_secret_buf(&user);
    buf_free(&id);
    buf_free(&path);
    return rc;
}

/* ---- writing the accounts file ---- */

static json_object *account_to_json(const lingma_account *a) {
    json_object *e = json_object_new_object();
    json_object_object_add(e, "name", json_object_new_string(a->name));
    json_object_object_add(e, "user_id", json_object_new_string(a->user_id));
    json_object_object_add(e, "machine_id", json_object_new_string(a->machine_id));
    json_object_object_add(e, "cosy_key", json_object_new_string(a->cosy_key));
    json_object_object_add(e, "encrypt_user_info", json_object_new_string(a->encrypt_user_info));
    if (a->oauth_token)
        json_object_object_add(e, "oauth_token", json_object_new_string(a->oauth_token));
    if (a->refresh_token)
        json_object_object_add(e, "refresh_token", json_object_new_string(a->refresh_token));
    if (a->expire_time_ms > 0)
        json_object_object_add(e, "expire_time", json_object_new_int64(a->expire_time_ms));
    return e;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A rename is durable only once its directory is synced; without this a crash can bring the
 * old file back after the caller was told the save succeeded. */
static int fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    buf dir = BUF_INIT;
    if (!slash)
        buf_append(&dir, ".", 1);
    else if (slash == path)
        buf_append(&dir, "/", 1);
    else
        buf_append(&dir, path, (size_t)(slash - path));
    int fd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    buf_free(&dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Writes text to path through a temp file in the same directory, so readers see the old or the
 * new file, never a partial one. */
static int write_atomic(const char *path, const char *text, size_t len, char *err, size_t err_cap) {
    buf tmp = BUF_INIT;
    int fd = -1, rc = -1;
    bool created = false;
    buf_printf(&tmp, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        set_err(err, err_cap, "%s: cannot create temp file: %s", path, strerror(errno));
        goto out;
    }
    created = true;
    if (fchmod(fd, 0600) || write_all(fd, text, len) || fsync(fd)) {
        set_err(err, err_cap, "%s: write failed: %s", tmp.data, strerror(errno));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        set_err(err, err_cap, "%s: write failed: %s", tmp.data, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp.data, path)) {
        set_err(err, err_cap, "%s: rename failed: %s", path, strerror(errno));
        goto out;
    }
    created = false; /* the temp name is gone now */
    if (fsync_parent_dir(path)) {
        set_err(err, err_cap, "%s: directory sync failed: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (rc && created) unlink(tmp.data);
    buf_free(&tmp);
    return rc;
}

/* Index of the entry named `name` in an accounts array, or its length when absent. */
static size_t entry_index(json_object *arr, const char *name) {
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *nm = NULL;
        json_object_object_get_ex(json_object_array_get_idx(arr, i), "name", &nm);
        if (json_object_is_type(nm, json_type_string) && !strcmp(json_object_get_string(nm), name))
            return i;
    }
    return n;
}

/* Writes the accounts document atomically (mode 0600); the text holds secrets and is wiped. */
static int write_accounts_json(const char *path, json_object *root, char *err, size_t err_cap) {
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE,
        &len);
    buf out_text = BUF_INIT;
    buf_append(&out_text, text, len);
    buf_putc(&out_text, '\n');
    int rc = write_atomic(path, out_text.data, out_text.len, err, err_cap);
    free_secret_buf(&out_text);
    return rc;
}

int credentials_append(const char *path, const lingma_account *a, bool *replaced, char *err,
                       size_t err_cap) {
    buf old = BUF_INIT;
    json_object *root = NULL, *arr = NULL;
    int rc = -1;
    if (replaced) *replaced = false;
    if (!credentials_valid_name(a->name) || !a->user_id || !a->machine_id || !a->cosy_key ||
        !a->encrypt_user_info) {
        set_err(err, err_cap, "account \"%s\": incomplete, not written",
                credentials_valid_name(a->name) ? a->name : "?");
        goto out;
    }
    if (file_exists(path)) {
        if (read_file(path, CREDENTIALS_FILE_MAX, &old, err, err_cap)) goto out;
        root = parse_json(old.data ? old.data : "", old.len);
        if (!json_object_is_type(root, json_type_object)) {
            set_err(err, err_cap, "%s: not a JSON object; not modified", path);
            goto out;
        }
    } else {
        root = json_object_new_object();
    }
    if (!json_object_object_get_ex(root, "accounts", &arr)) {
        arr = json_object_new_array();
        json_object_object_add(root, "accounts", arr);
    } else if (!json_object_is_type(arr, json_type_array)) {
        set_err(err, err_cap, "%s: \"accounts\" is not an array; not modified", path);
        goto out;
    }
    size_t n = json_object_array_length(arr), at = entry_index(arr, a->name);
    if (at < n) {
        json_object_array_put_idx(arr, at, account_to_json(a)); /* frees the old entry */
        if (replaced) *replaced = true;
    } else {
        json_object_array_add(arr, account_to_json(a));
    }
    rc = write_accounts_json(path, root, err, err_cap);
out:
    json_object_put(root);
    free_secret_buf(&old);
    return rc;
}

int credentials_load_sources(const char *accounts_file, const char *cache_dir,
                             lingma_account_list *out, char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    if (accounts_file && *accounts_file &&
        credentials_load(accounts_file, NULL, out, err, err_cap) != 0)
        return -1;
    if (cache_dir && *cache_dir) {
        lingma_account acc;
        if (credentials_import_cache(cache_dir, NULL, &acc, err, err_cap) != 0) {
            lingma_account_list_free(out);
            return -1;
        }
        out->items = xrealloc(out->items, (out->n + 1) * sizeof *out->items);
        out->items[out->n++] = acc;
    }
    return 0;
}

int credentials_remove(const char *path, const char *name, bool *found, char *err, size_t err_cap) {
    buf old = BUF_INIT;
    json_object *root = NULL, *arr = NULL;
    int rc = -1;
    *found = false;
    if (!file_exists(path)) return 0;
    if (read_file(path, CREDENTIALS_FILE_MAX, &old, err, err_cap)) goto out;
    root = parse_json(old.data ? old.data : "", old.len);
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "accounts", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        set_err(err, err_cap, "%s: no \"accounts\" array; not modified", path);
        goto out;
    }
    size_t at = entry_index(arr, name);
    if (at < json_object_array_length(arr)) {
        json_object_array_del_idx(arr, at, 1);
        *found = true;
    }
    if (!*found) {
        rc = 0;
        goto out;
    }
    rc = write_accounts_json(path, root, err, err_cap);
out:
    json_object_put(root);
    free_secret_buf(&old);
    return rc;
}
