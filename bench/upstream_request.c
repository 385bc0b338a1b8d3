/* upstream_request: the request the gateway would send upstream for a client request, for the
 * benchmarks' "direct" runs (bench/run.sh).
 *
 *   upstream_request --fixture PATH --protocol openai|anthropic --accounts PATH --out DIR
 *                    [--account NAME] [--stream 0|1] [--directive "chunks=8 delay_ms=0"]
 *
 * It edits the client fixture (stream flag; a `@sim` directive line appended to the last user
 * message), decodes it with the gateway's own codec, builds the Lingma body with
 * lingma_body_build and signs it with cosy_headers, exactly as turn.c / lingma_remote.c do.
 * Written to DIR:
 *   client.json       the client request (what goes to the gateway)
 *   upstream.json     the Lingma body (what goes straight to the simulator)
 *   upstream.headers  the signed headers, one "Name: value" per line
 *   upstream.path     the upstream request path
 * The simulator accepts a Cosy-Date within ±300 s: run this right before each measurement. */
#include "front/anthropic_codec.h"
#include "front/openai_codec.h"
#include "upstream/cosy.h"
#include "upstream/credentials.h"
#include "upstream/lingma_body.h"
#include "util/buf.h"
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The chat path of lingma_remote.c (§1.5). */
#define CHAT_PATH                                                                                  \
    "/algo/api/v2/service/pro/sse/"                                                                \
    "agent_chat_generation?FetchKeys=llm_model_result&AgentId=agent_common"
#define MAX_TOKENS_CAP 16384 /* as turn.c */

typedef struct options {
    const char *fixture, *protocol, *accounts, *account, *out_dir, *directive;
    int stream; /* -1 = as in the fixture */
} options;

static int read_file(const char *path, buf *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "upstream_request: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(out, chunk, n);
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    return rc;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "upstream_request: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* Appends "\n@sim <directive>" to the last user message's text. */
static int add_directive(json_object *root, const char *directive) {
    json_object *msgs, *last = NULL;
    if (!json_object_object_get_ex(root, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array))
        return -1;
    for (size_t i = json_object_array_length(msgs); i-- > 0;) {
        json_object *m = json_object_array_get_idx(msgs, i), *role;
        if (json_object_object_get_ex(m, "role", &role) &&
            strcmp(json_object_get_string(role), "user") == 0) {
            last = m;
            break;
        }
    }
    if (!last) return -1;
    buf line = BUF_INIT;
    buf_printf(&line, "\n@sim %s", directive);
    json_object *content;
    int rc = -1;
    if (!json_object_object_get_ex(last, "content", &content)) goto out;
    if (json_object_is_type(content, json_type_string)) {
        buf t = BUF_INIT;
        buf_puts(&t, json_object_get_string(content));
        buf_append(&t, line.data, line.len);
        json_object_object_add(last, "content", json_object_new_string_len(t.data, (int)t.len));
        buf_free(&t);
        rc = 0;
    } else if (json_object_is_type(content, json_type_array)) {
        json_object *block = json_object_new_object();
        json_object_object_add(block, "type", json_object_new_string("text"));
        json_object_object_add(block, "text", json_object_new_string(line.data + 1));
        json_object_array_add(content, block);
        rc = 0;
    }
out:
    buf_free(&line);
    return rc;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.stream = -1};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--fixture") == 0)
            o->fixture = v;
        else if (strcmp(k, "--protocol") == 0)
            o->protocol = v;
        else if (strcmp(k, "--accounts") == 0)
            o->accounts = v;
        else if (strcmp(k, "--account") == 0)
            o->account = v;
        else if (strcmp(k, "--out") == 0)
            o->out_dir = v;
        else if (strcmp(k, "--directive") == 0)
            o->directive = v;
        else if (strcmp(k, "--stream") == 0)
            o->stream = atoi(v) != 0;
        else
            return -1;
    }
    if (argc % 2 == 0 || !o->fixture || !o->protocol || !o->accounts || !o->out_dir) return -1;
    if (strcmp(o->protocol, "openai") != 0 && strcmp(o->protocol, "anthropic") != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: upstream_request --fixture PATH --protocol openai|anthropic "
                        "--accounts PATH --out DIR [--account NAME] [--stream 0|1] "
                        "[--directive TEXT]\n");
        return 2;
    }
    int rc = 1;
    buf raw = BUF_INIT, body = BUF_INIT, hdrs = BUF_INIT;
    json_object *root = NULL;
    buf h = BUF_INIT;
    lingma_account_list accts = {0};
    conv_request req;
    bool req_init = false;
    char err[512];

    if (read_file(o.fixture, &raw) != 0) goto out;
    root = json_tokener_parse(raw.data);
    if (!root) {
        fprintf(stderr, "upstream_request: %s is not JSON\n", o.fixture);
        goto out;
    }
    if (o.stream >= 0) json_object_object_add(root, "stream", json_object_new_boolean(o.stream));
    if (o.directive && add_directive(root, o.directive) != 0) {
        fprintf(stderr, "upstream_request: no user message to carry the directive\n");
        goto out;
    }
    size_t clen;
    const char *client = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &clen);

    codec_error cerr = {0};
    bool openai = strcmp(o.protocol, "openai") == 0;
    int drc = openai
                  ? openai_decode_request(client, clen, &req, &cerr)
                  : anthropic_decode_request(client, clen, ANTHROPIC_DECODE_MESSAGES, &req, &cerr);
    req_init = true;
    if (drc != 0) {
        fprintf(stderr, "upstream_request: the codec rejects the fixture: %s\n", cerr.message);
        goto out;
    }

    if (credentials_load(o.accounts, NULL, &accts, err, sizeof err) != 0) {
        fprintf(stderr, "upstream_request: %s\n", err);
        goto out;
    }
    const lingma_account *a = NULL;
    for (size_t i = 0; i < accts.n; i++)
        if (!o.account || strcmp(accts.items[i].name, o.account) == 0) {
            a = &accts.items[i];
            break;
        }
    if (!a) {
        fprintf(stderr, "upstream_request: no such account\n");
        goto out;
    }

    /* As turn.c: the client's model name is the upstream key here (the bench uses kmodel). */
    lingma_body_opts bo = {.model_key =
                               req.model && strcmp(req.model, "auto") != 0 ? req.model : "",
                           .session_id = "bench-session-0000-0000-000000000000",
                           .cosy_version = COSY_DEFAULT_VERSION,
                           .max_tokens_cap = MAX_TOKENS_CAP};
    lingma_body_build(&req, &bo, &body);

    cosy_request cr = {.cosy_key = a->cosy_key,
                       .encrypt_user_info = a->encrypt_user_info,
                       .user_id = a->user_id,
                       .machine_id = a->machine_id,
                       .path = CHAT_PATH,
                       .body = body.data,
                       .body_len = body.len,
                       .accept = "text/event-stream"};
    if (cosy_headers(&cr, &h) != 0) {
        fprintf(stderr, "upstream_request: signing failed\n");
        goto out;
    }
    /* One "Name: value" per line for bench/request.lua. */
    for (const char *p = h.data, *eol; p && (eol = strstr(p, "\r\n")); p = eol + 2) {
        buf_append(&hdrs, p, (size_t)(eol - p));
        buf_putc(&hdrs, '\n');
    }
    if (write_file(o.out_dir, "client.json", client, clen) != 0 ||
        write_file(o.out_dir, "upstream.json", body.data, body.len) != 0 ||
        write_file(o.out_dir, "upstream.headers", hdrs.data ? hdrs.data : "", hdrs.len) != 0 ||
        write_file(o.out_dir, "upstream.path", CHAT_PATH, strlen(CHAT_PATH)) != 0)
        goto out;
    rc = 0;
out:
    if (req_init) conv_request_free(&req);
    buf_free(&h);
    lingma_account_list_free(&accts);
    json_object_put(root);
    buf_free(&raw);
    buf_free(&body);
    buf_free(&hdrs);
    return rc;
}
