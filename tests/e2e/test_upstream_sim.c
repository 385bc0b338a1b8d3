/* The upstream client (lingma_remote + lingma_body + catalog) against lingma-sim: every scripted
 * behaviour of the sim, checked as neutral events and error classes, plus signature rejection,
 * the model list and cancellation. Starts its own sim (LGW_SIM, port 0) and kills it at the end;
 * every case runs on one uv loop under a guard timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "core/conv.h"
#include "upstream/catalog.h"
#include "upstream/cosy.h"
#include "upstream/error_class.h"
#include "upstream/lingma_body.h"
#include "upstream/lingma_remote.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/ids.h"
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CASE_GUARD_MS 5000
#define CHAT_URL_PATH                                                                              \
    "/algo/api/v2/service/pro/sse/"                                                                \
    "agent_chat_generation?FetchKeys=llm_model_result&AgentId=agent_common"

/* ---- the simulator process ---- */

/* Reads "listening on HOST:PORT\n" from fd within timeout_ms. */
static int read_listen_line(int fd, char *line, size_t cap, int timeout_ms) {
    size_t n = 0;
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    while (n + 1 < cap) {
        int left = (int)((deadline - uv_hrtime()) / 1000000u);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (uv_hrtime() >= deadline || poll(&p, 1, left) <= 0) return -1;
        if (read(fd, &line[n], 1) != 1) return -1;
        if (line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    return 0;
}

typedef struct sim_proc {
    pid_t pid;
    int out; /* its stdout, kept open so a late write never hits a closed pipe */
    char base_url[192];
} sim_proc;

static sim_proc g_sim = {-1, -1, ""};

/* Starts LGW_SIM on a free port with one extra option pair (or none). */
static int sim_spawn(sim_proc *p, const char *opt, const char *val) {
    const char *path = getenv("LGW_SIM");
    if (!path || !*path) {
        fprintf(stderr, "LGW_SIM is not set (path of the lingma-sim binary)\n");
        return -1;
    }
    int fds[2];
    if (pipe(fds) != 0) return -1;
    p->pid = fork();
    if (p->pid < 0) return -1;
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test must not leave the sim running */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(path, path, "--listen", "127.0.0.1:0", "--quiet", opt, val, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->out = fds[0];
    char line[256], host[128];
    int port;
    if (read_listen_line(p->out, line, sizeof line, 5000) != 0 ||
        sscanf(line, "listening on %127[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "lingma-sim did not report its address\n");
        return -1;
    }
    snprintf(p->base_url, sizeof p->base_url, "http://%s:%d", host, port);
    return 0;
}

static void sim_kill(sim_proc *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        int st = 0;
        waitpid(p->pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "note: lingma-sim exited with status 0x%x\n", st);
        p->pid = -1;
    }
    if (p->out >= 0) close(p->out);
    p->out = -1;
}

static int sim_start(void **state) {
    (void)state;
    return sim_spawn(&g_sim, NULL, NULL);
}

static int sim_stop(void **state) {
    (void)state;
    sim_kill(&g_sim);
    return 0;
}

/* ---- per-case fixture: a loop, a remote, a control client ---- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool guard_fired;
    lingma_remote *remote;
    http_client *ctl; /* /_sim control calls and hand-signed requests */
    uv_timer_t aux;   /* cancels from the loop */
    int freed;
} fx;

static void on_guard(uv_timer_t *t) { ((fx *)t->data)->guard_fired = true; }

#define RUN_UNTIL(f, cond, ms)                                                                     \
    do {                                                                                           \
        (f)->guard_fired = false;                                                                  \
        uv_timer_start(&(f)->guard, on_guard, (ms), 0);                                            \
        while (!(cond) && !(f)->guard_fired)                                                       \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        uv_timer_stop(&(f)->guard);                                                                \
        assert_true(cond);                                                                         \
    } while (0)

static void on_freed(void *ud) { ((fx *)ud)->freed++; }

static lingma_remote *remote_new(fx *f, const char *base_url, long first_byte_timeout_ms,
                                 long stall_timeout_ms) {
    lingma_remote_options o = {.base_url = base_url, .cosy_version = "2.11.2"};
    http_client_options_defaults(&o.http);
    o.http.connect_timeout_ms = 2000;
    o.http.first_byte_timeout_ms = first_byte_timeout_ms;
    o.http.stall_timeout_ms = stall_timeout_ms;
    lingma_remote *r = NULL;
    assert_int_equal(lingma_remote_new(&r, &f->loop, &o), 0);
    return r;
}

static int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    uv_timer_init(&f->loop, &f->aux);
    f->remote = remote_new(f, g_sim.base_url, 3000, 3000);
    assert_int_equal(http_client_new(&f->ctl, &f->loop, NULL), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state) {
    fx *f = *state;
    int want = f->remote ? 2 : 1;
    f->freed = 0;
    if (f->remote) lingma_remote_free(f->remote, on_freed, f);
    http_client_free(f->ctl, on_freed, f);
    RUN_UNTIL(f, f->freed == want, 2000);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->aux, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle was closed */
    free(f);
    return 0;
}

/* ---- accounts and bodies ---- */

static lingma_account account(const char *user_id) {
    return (lingma_account){.name = "e2e",
                            .user_id = (char *)user_id,
                            .machine_id = "e2e-machine-0001",
                            .cosy_key = "ZTJlLWNvc3kta2V5",
                            .encrypt_user_info = "ZTJlLXVzZXItaW5mbw=="};
}

/* A one-message request whose user text carries the @sim directive. */
static void body_for(const char *user_text, const char *model_key, const char *session_id,
                     buf *out) {
    conv_request r;
    conv_request_init(&r, CONV_PROTO_OPENAI);
    conv_block *b = arena_calloc(&r.a, sizeof *b);
    b->type = CONV_BLOCK_TEXT;
    b->text = arena_strdup(&r.a, user_text);
    b->text_len = strlen(user_text);
    r.messages = arena_calloc(&r.a, sizeof *r.messages);
    r.messages[0] = (conv_message){.role = CONV_ROLE_USER, .blocks = b, .n_blocks = 1};
    r.n_messages = 1;
    lingma_body_opts o = {
        .model_key = model_key, .session_id = session_id, .cosy_version = "2.11.2"};
    lingma_body_build(&r, &o, out);
    conv_request_free(&r);
}

/* ---- recorders: a model-list result, the events of a chat call ---- */

typedef struct models_res {
    bool done;
    int status;
    buf body;
} models_res;

static void on_models(int status, const char *body, size_t len, void *ud) {
    models_res *m = ud;
    m->status = status;
    buf_append(&m->body, body, len);
    m->done = true;
}

#define MAX_CALLS 4

typedef struct rec_call {
    char id[64], name[64];
    int index;
    buf args;
    int n_arg_events;
} rec_call;

typedef struct rec {
    char seq[4096]; /* one letter per event: T text, R reasoning, S tool start, A args, F, E */
    size_t n_seq;
    int n_events;
    buf text, thinking;
    rec_call calls[MAX_CALLS];
    int n_calls;
    int n_terminal, late;
    conv_stop_reason stop;
    conv_usage usage;
    conv_error_class err;
    int status;
    char code[32];
    char msg[512];
    /* cancellation */
    lingma_call *call;
    fx *f;
    bool cancel_in_callback;
    bool free_remote_in_callback; /* after starting a model-list fetch */
    models_res fetch;
    int64_t cancel_ms;
    uv_timer_t *cancel_timer;
} rec;

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    buf_init(&r->text);
    buf_init(&r->thinking);
    for (int i = 0; i < MAX_CALLS; i++)
        buf_init(&r->calls[i].args);
}

static void rec_free(rec *r) {
    buf_free(&r->text);
    buf_free(&r->thinking);
    for (int i = 0; i < MAX_CALLS; i++)
        buf_free(&r->calls[i].args);
}

static rec_call *rec_call_at(rec *r, int index) {
    for (int i = 0; i < r->n_calls; i++)
        if (r->calls[i].index == index) return &r->calls[i];
    return NULL;
}

static void on_cancel_timer(uv_timer_t *t) {
    rec *r = t->data;
    r->cancel_ms = clock_wall_ms();
    lingma_call_cancel(r->call);
    r->call = NULL;
}

static void rec_event(const conv_event *ev, void *ud) {
    rec *r = ud;
    if (r->n_terminal) r->late++;
    static const char letters[] = {[CONV_EV_TEXT_DELTA] = 'T',      [CONV_EV_THINKING_DELTA] = 'R',
                                   [CONV_EV_TOOL_CALL_START] = 'S', [CONV_EV_TOOL_CALL_ARGS] = 'A',
                                   [CONV_EV_FINISH] = 'F',          [CONV_EV_ERROR] = 'E'};
    if (r->n_seq + 1 < sizeof r->seq) r->seq[r->n_seq++] = letters[ev->type];
    r->n_events++;
    switch (ev->type) {
    case CONV_EV_TEXT_DELTA: buf_append(&r->text, ev->text, ev->len); break;
    case CONV_EV_THINKING_DELTA: buf_append(&r->thinking, ev->text, ev->len); break;
    case CONV_EV_TOOL_CALL_START: {
        assert_true(r->n_calls < MAX_CALLS);
        assert_null(rec_call_at(r, ev->index)); /* one start per call */
        rec_call *c = &r->calls[r->n_calls++];
        c->index = ev->index;
        snprintf(c->id, sizeof c->id, "%s", ev->id ? ev->id : "");
        snprintf(c->name, sizeof c->name, "%s", ev->name ? ev->name : "");
        break;
    }
    case CONV_EV_TOOL_CALL_ARGS: {
        rec_call *c = rec_call_at(r, ev->index);
        assert_non_null(c); /* fragments only after their start */
        buf_append(&c->args, ev->text, ev->len);
        c->n_arg_events++;
        break;
    }
    case CONV_EV_FINISH:
        r->n_terminal++;
        r->stop = ev->stop;
        r->usage = ev->usage;
        break;
    case CONV_EV_ERROR:
        r->n_terminal++;
        r->err = ev->err_class;
        r->status = ev->status;
        snprintf(r->code, sizeof r->code, "%s", ev->err_code ? ev->err_code : "");
        snprintf(r->msg, sizeof r->msg, "%.*s", (int)ev->len, ev->text ? ev->text : "");
        break;
    }
    if (r->n_events == 1 && r->f && ev->type != CONV_EV_FINISH && ev->type != CONV_EV_ERROR) {
        if (r->free_remote_in_callback) {
            lingma_account a = account("u-e2e");
            assert_int_equal(lingma_models_fetch(r->f->remote, &a, on_models, &r->fetch), 0);
            r->cancel_ms = clock_wall_ms();
            lingma_remote_free(r->f->remote, on_freed, r->f);
            r->f->remote = NULL;
        } else if (r->cancel_in_callback) {
            r->cancel_ms = clock_wall_ms();
            lingma_call_cancel(r->call);
            r->call = NULL;
        } else if (r->cancel_timer) { /* from the loop, outside any upstream callback */
            uv_timer_start(r->cancel_timer, on_cancel_timer, 0, 0);
        }
    }
}

static void start_chat(fx *f, rec *r, const char *user_id, const char *text, const char *model,
                       const char *session_id) {
    buf body = BUF_INIT;
    body_for(text, model, session_id, &body);
    lingma_account a = account(user_id);
    r->call = lingma_chat_start(f->remote, &a, body.data, body.len, rec_event, r);
    buf_free(&body);
    assert_non_null(r->call);
}

/* Runs one chat turn to its terminal event, then a little longer to catch late events. */
static void chat(fx *f, rec *r, const char *text) {
    start_chat(f, r, "u-e2e", text, "kmodel", "");
    RUN_UNTIL(f, r->n_terminal > 0, CASE_GUARD_MS);
    for (int i = 0; i < 4; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r->n_terminal, 1);
    assert_int_equal(r->late, 0);
    r->seq[r->n_seq] = '\0';
}

static void assert_error(fx *f, const char *text, conv_error_class want) {
    rec r;
    rec_init(&r);
    chat(f, &r, text);
    if (r.err != want || r.seq[r.n_seq - 1] != 'E')
        fail_msg("%s: got %s (%s, status %d, code '%s', msg '%s'), want %s", text, r.seq,
                 conv_error_class_name(r.err), r.status, r.code, r.msg,
                 conv_error_class_name(want));
    rec_free(&r);
}

/* ---- plain HTTP through the control client ---- */

typedef struct http_res {
    bool done, ok;
    int status;
    buf body;
} http_res;

static void hr_response(http_call *c, int status, const char *ct, void *ud) {
    ((http_res *)ud)->status = status;
}
static void hr_data(http_call *c, const char *d, size_t n, void *ud) {
    buf_append(&((http_res *)ud)->body, d, n);
}
static void hr_done(http_call *c, const http_call_result *res, void *ud) {
    http_res *h = ud;
    h->ok = res->ok;
    h->done = true;
}

static void http_do(fx *f, const char *method, const char *path, struct curl_slist *headers,
                    const char *body, size_t body_len, http_res *out) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_sim.base_url, path);
    memset(out, 0, sizeof *out);
    buf_init(&out->body);
    http_call_request req = {
        .method = method, .url = url, .headers = headers, .body = body, .body_len = body_len};
    http_call_callbacks cb = {hr_response, hr_data, hr_done};
    assert_non_null(http_call_start(f->ctl, &req, &cb, out));
    RUN_UNTIL(f, out->done, CASE_GUARD_MS);
    assert_true(out->ok);
}

/* The sim's newest log record whose string field `key` equals `value`; *root owns it. */
static json_object *sim_record(fx *f, const char *key, const char *value, json_object **root) {
    http_res h;
    http_do(f, "GET", "/_sim/requests", NULL, NULL, 0, &h);
    assert_int_equal(h.status, 200);
    *root = json_tokener_parse(h.body.data);
    buf_free(&h.body);
    assert_non_null(*root);
    json_object *list = NULL, *found = NULL;
    assert_true(json_object_object_get_ex(*root, "requests", &list));
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *lr = json_object_array_get_idx(list, i), *v;
        if (json_object_object_get_ex(lr, key, &v) && json_object_is_type(v, json_type_string) &&
            strcmp(json_object_get_string(v), value) == 0)
            found = lr;
    }
    return found;
}

static json_object *field(json_object *o, const char *k) {
    json_object *v = NULL;
    json_object_object_get_ex(o, k, &v);
    return v;
}

static void assert_json_equal(const char *got, const char *want) {
    json_object *g = json_tokener_parse(got), *w = json_tokener_parse(want);
    if (!g || !json_object_equal(g, w)) fail_msg("JSON '%s' != '%s'", got, want);
    json_object_put(g);
    json_object_put(w);
}

/* ---- text, chunks, framing variants ---- */

static void test_text_stream(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    char sid[40];
    snprintf(sid, sizeof sid, "e2e-text-");
    ids_hex(sid + strlen(sid), 8);
    start_chat(f, &r, "u-e2e", "Say hello world\n@sim chunks=3", "kmodel", sid);
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    r.seq[r.n_seq] = '\0';
    assert_string_equal(r.seq, "TTTF");
    assert_string_equal(r.text.data, "echo: Say hello world");
    assert_int_equal(r.stop, CONV_STOP_END_TURN);
    assert_true(r.usage.known);
    assert_true(r.usage.input_tokens > 0);
    assert_int_equal(r.usage.output_tokens, (int64_t)strlen("echo: Say hello world") / 4);
    assert_int_equal(r.thinking.len, 0);
    /* the sim verified the signature and saw our body */
    json_object *root, *lr = sim_record(f, "session_id", sid, &root);
    assert_non_null(lr);
    assert_true(json_object_get_boolean(field(lr, "verified")));
    assert_string_equal(json_object_get_string(field(lr, "model")), "kmodel");
    assert_string_equal(json_object_get_string(field(lr, "account")), "u-e2e");
    assert_int_equal(json_object_get_int(field(lr, "status")), 200);
    assert_int_equal(r.usage.input_tokens, json_object_get_int64(field(lr, "prompt_tokens")));
    assert_int_equal(r.usage.output_tokens, json_object_get_int64(field(lr, "completion_tokens")));
    json_object_put(root);
    rec_free(&r);
}

static void test_default_chunks_and_usage(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "count the bytes\n@sim delay_ms=5");
    assert_string_equal(r.seq, "TTTTF");
    assert_string_equal(r.text.data, "echo: count the bytes");
    assert_true(r.usage.known);
    assert_int_equal(r.usage.output_tokens, 21 / 4);
    assert_int_equal(r.usage.cached_tokens, 0);
    rec_free(&r);
}

static void test_reply_chunk_size_utf8(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim reply=\"héllo wörld ✓\" chunk_size=2");
    assert_string_equal(r.text.data, "héllo wörld ✓");
    assert_true(r.n_seq >= 8); /* many small deltas, still one text */
    rec_free(&r);
}

static void test_reasoning(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "think first\n@sim reasoning=\"step one, then step two\" chunks=2");
    assert_string_equal(r.seq, "RRTTF");
    assert_string_equal(r.thinking.data, "step one, then step two");
    assert_string_equal(r.text.data, "echo: think first");
    rec_free(&r);
}

static void test_tool_call_fragments(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    /* args last: the sim keeps the blank after a JSON value in the arguments (see the report) */
    chat(f, &r,
         "read it\n@sim tool=read_file arg_chunk=7 args={\"path\":\"src/main.c\",\"limit\":100}");
    assert_int_equal(r.n_calls, 1);
    assert_string_equal(r.calls[0].name, "read_file");
    assert_true(strlen(r.calls[0].id) > 0);
    assert_string_equal(r.calls[0].args.data, "{\"path\":\"src/main.c\",\"limit\":100}");
    assert_true(r.calls[0].n_arg_events >= 4); /* 33 bytes in 7-byte fragments */
    assert_int_equal(r.text.len, 0);
    assert_int_equal(r.seq[0], 'S');
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_int_equal(r.stop, CONV_STOP_TOOL_USE);
    rec_free(&r);
}

static void test_two_tool_calls_with_text(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r,
         "@sim reply=\"Looking.\" tool=ls args={\"dir\":\".\"} tool2=cat args2={\"file\":\"a\"}");
    assert_string_equal(r.text.data, "Looking.");
    assert_int_equal(r.n_calls, 2);
    assert_string_equal(r.calls[0].name, "ls");
    assert_string_equal(r.calls[1].name, "cat");
    assert_string_not_equal(r.calls[0].id, r.calls[1].id);
    assert_json_equal(r.calls[0].args.data, "{\"dir\":\".\"}");
    assert_json_equal(r.calls[1].args.data, "{\"file\":\"a\"}");
    assert_true(r.calls[0].n_arg_events > 1 && r.calls[1].n_arg_events > 1);
    assert_int_equal(r.stop, CONV_STOP_TOOL_USE);
    rec_free(&r);
}

static void test_usage_off(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "no usage\n@sim usage=off");
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_false(r.usage.known);
    rec_free(&r);
}

static void test_finish_length(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "long\n@sim finish=length");
    assert_string_equal(r.text.data, "echo: long");
    assert_int_equal(r.seq[r.n_seq - 1], 'F');
    assert_int_equal(r.stop, CONV_STOP_MAX_TOKENS);
    rec_free(&r);
}

static void test_framing_variants(void **state) {
    fx *f = *state;
    /* each still finishes normally with the whole text */
    static const char *const variants[] = {
        "v\n@sim no_done=1",            /* finish_reason without [DONE] */
        "v\n@sim done=envelope",        /* [DONE] inside an envelope */
        "v\n@sim keepalive=1",          /* comment lines between events */
        "v\n@sim space=1",              /* "data: " */
        "v\n@sim error_after_finish=1", /* error envelope after the finish: ignored */
        "v\n@sim keepalive=1 space=1 done=envelope delay_ms=2",
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        rec r;
        rec_init(&r);
        chat(f, &r, variants[i]);
        if (strcmp(r.seq, "TTTTF") != 0) /* "echo: v" in 4 pieces */
            fail_msg("%s: events %s (%s)", variants[i], r.seq, r.msg);
        assert_string_equal(r.text.data, "echo: v");
        assert_int_equal(r.stop, CONV_STOP_END_TURN);
        assert_true(r.usage.known);
        rec_free(&r);
    }
}

static void test_long_line(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim long_line=100000");
    assert_string_equal(r.seq, "TF");
    assert_int_equal(r.text.len, 100000);
    for (size_t i = 0; i < r.text.len; i++)
        if (r.text.data[i] != (char)('a' + i % 26)) fail_msg("byte %zu differs", i);
    rec_free(&r);
}

/* ---- error classes ---- */

static void test_http_errors(void **state) {
    fx *f = *state;
    assert_error(f, "@sim error=401", CONV_ERR_AUTH);
    assert_error(f, "@sim error=403", CONV_ERR_AUTH);
    assert_error(f, "@sim error=login", CONV_ERR_AUTH);
    assert_error(f, "@sim error=429", CONV_ERR_RATE_LIMIT);
    assert_error(f, "@sim error=500", CONV_ERR_TRANSIENT);
    assert_error(f, "@sim error=503", CONV_ERR_TRANSIENT);
}

static void test_http_error_details(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim error=429");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.status, 429);
    assert_string_equal(r.code, "429");
    rec_free(&r);
}

static void test_envelope_errors(void **state) {
    fx *f = *state;
    assert_error(f, "@sim error=env403_105", CONV_ERR_AUTH);
    assert_error(f, "@sim error=env403_110", CONV_ERR_QUOTA);
    assert_error(f, "@sim error=env403_112", CONV_ERR_QUOTA);
    assert_error(f, "@sim error=env429_10605", CONV_ERR_RATE_LIMIT);
    assert_error(f, "@sim error=env500", CONV_ERR_TRANSIENT);
    assert_error(f, "@sim error=env400", CONV_ERR_REQUEST_FATAL);
}

static void test_envelope_error_details(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "@sim error=env403_105");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.status, 403);
    assert_string_equal(r.code, "105");
    rec_free(&r);
}

static void test_truncated_streams(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    chat(f, &r, "cut\n@sim truncate=1");
    assert_string_equal(r.seq, "TTTE"); /* 9 bytes in 4 pieces of 3, then the failure */
    assert_string_equal(r.text.data, "echo: cut");
    assert_int_equal(r.err, CONV_ERR_TRANSIENT);
    rec_free(&r);
}

static void test_unknown_model_is_request_fatal(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    start_chat(f, &r, "u-e2e", "hi", "no_such_model", "");
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    assert_int_equal(r.err, CONV_ERR_REQUEST_FATAL);
    assert_string_equal(r.code, "INVALID_REQUEST");
    rec_free(&r);
}

static void test_stall_timeout(void **state) {
    fx *f = *state;
    lingma_remote *fast = remote_new(f, g_sim.base_url, 3000, 300);
    lingma_remote *keep = f->remote;
    f->remote = fast;
    rec r;
    rec_init(&r);
    uint64_t t0 = uv_hrtime();
    chat(f, &r, "slow\n@sim stall_ms=3000");
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    assert_int_equal(r.err, CONV_ERR_TIMEOUT);
    assert_int_equal(r.seq[0], 'T'); /* it stalled after the first event */
    assert_int_equal(r.seq[r.n_seq - 1], 'E');
    assert_true(ms >= 250 && ms < 2000);
    rec_free(&r);
    /* a stall shorter than the timeout is fine */
    rec_init(&r);
    chat(f, &r, "slow\n@sim stall_ms=100");
    assert_string_equal(r.seq, "TTTTF");
    rec_free(&r);
    /* a slow first byte is a timeout too */
    lingma_remote_free(fast, on_freed, f);
    fast = f->remote = remote_new(f, g_sim.base_url, 300, 3000);
    rec_init(&r);
    chat(f, &r, "slow\n@sim first_byte_delay_ms=3000");
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.err, CONV_ERR_TIMEOUT);
    rec_free(&r);
    f->remote = keep;
    lingma_remote_free(fast, on_freed, f);
    RUN_UNTIL(f, f->freed == 2, 2000);
    f->freed = 0;
}

/* ---- signature rejection ---- */

static int64_t real_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static int64_t hour_behind_ms(void) { return real_wall_ms() - 3600 * 1000; }

static void test_clock_tampered(void **state) {
    fx *f = *state;
    buf body = BUF_INIT;
    body_for("hi", "kmodel", "", &body);
    lingma_account a = account("u-clock");
    rec r;
    rec_init(&r);
    clock_set_fake_wall_ms(hour_behind_ms); /* signing reads the clock inside chat_start */
    r.call = lingma_chat_start(f->remote, &a, body.data, body.len, rec_event, &r);
    clock_set_fake_wall_ms(NULL);
    buf_free(&body);
    assert_non_null(r.call);
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    assert_int_equal(r.err, CONV_ERR_AUTH);
    assert_int_equal(r.status, 401);
    json_object *root, *lr = sim_record(f, "account", "u-clock", &root);
    assert_non_null(lr);
    assert_false(json_object_get_boolean(field(lr, "verified")));
    assert_non_null(strstr(json_object_get_string(field(lr, "reason")), "cosy-date"));
    json_object_put(root);
    rec_free(&r);
}

/* With --reject-style html a bad signature gets a 302 to an HTML login page (§1.8). */
static void test_clock_tampered_html_login(void **state) {
    fx *f = *state;
    sim_proc html = {-1, -1, ""};
    assert_int_equal(sim_spawn(&html, "--reject-style", "html"), 0);
    lingma_remote *keep = f->remote;
    f->remote = remote_new(f, html.base_url, 3000, 3000);
    buf body = BUF_INIT;
    body_for("hi", "kmodel", "", &body);
    lingma_account a = account("u-clock-html");
    rec r;
    rec_init(&r);
    clock_set_fake_wall_ms(hour_behind_ms);
    r.call = lingma_chat_start(f->remote, &a, body.data, body.len, rec_event, &r);
    clock_set_fake_wall_ms(NULL);
    buf_free(&body);
    assert_non_null(r.call);
    RUN_UNTIL(f, r.n_terminal > 0, CASE_GUARD_MS);
    r.seq[r.n_seq] = '\0';
    assert_string_equal(r.seq, "E");
    assert_int_equal(r.err, CONV_ERR_AUTH);
    lingma_remote_free(f->remote, on_freed, f);
    f->remote = keep;
    RUN_UNTIL(f, f->freed == 1, 2000);
    f->freed = 0;
    sim_kill(&html);
    rec_free(&r);
}

static void test_body_tampered(void **state) {
    fx *f = *state;
    buf a = BUF_INIT, b = BUF_INIT;
    body_for("body A", "kmodel", "", &a);
    body_for("body B", "kmodel", "", &b);
    cosy_request cr = {.cosy_key = "ZTJlLWNvc3kta2V5",
                       .encrypt_user_info = "ZTJlLXVzZXItaW5mbw==",
                       .user_id = "u-body",
                       .machine_id = "e2e-machine-0001",
                       .path = CHAT_URL_PATH,
                       .body = a.data,
                       .body_len = a.len,
                       .accept = "text/event-stream"};
    struct curl_slist *h = NULL;
    assert_int_equal(cosy_headers(&cr, &h), 0);
    http_res res;
    http_do(f, "POST", CHAT_URL_PATH, h, b.data, b.len, &res); /* signed A, sent B */
    assert_int_equal(res.status, 401);
    assert_int_equal(upstream_classify(res.status, 0, NULL, res.body.data), CONV_ERR_AUTH);
    json_object *root, *lr = sim_record(f, "account", "u-body", &root);
    assert_non_null(lr);
    assert_false(json_object_get_boolean(field(lr, "verified")));
    assert_non_null(strstr(json_object_get_string(field(lr, "reason")), "signature"));
    json_object_put(root);
    buf_free(&res.body);
    /* the same headers with the body they were made for pass */
    h = NULL;
    cr.user_id = "u-body-ok";
    assert_int_equal(cosy_headers(&cr, &h), 0);
    http_do(f, "POST", CHAT_URL_PATH, h, a.data, a.len, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body.data, "data:[DONE]"));
    buf_free(&res.body);
    lr = sim_record(f, "account", "u-body-ok", &root);
    assert_non_null(lr);
    assert_true(json_object_get_boolean(field(lr, "verified")));
    json_object_put(root);
    buf_free(&a);
    buf_free(&b);
}

/* ---- model list ---- */

static void test_model_list(void **state) {
    fx *f = *state;
    models_res m = {0};
    buf_init(&m.body);
    lingma_account a = account("u-e2e");
    assert_int_equal(lingma_models_fetch(f->remote, &a, on_models, &m), 0);
    RUN_UNTIL(f, m.done, CASE_GUARD_MS);
    assert_int_equal(m.status, 200);
    catalog c;
    catalog_init(&c);
    assert_int_equal(catalog_parse(&c, m.body.data, m.body.len), 0);
    assert_int_equal(c.n, 7);
    const catalog_model *k = catalog_find(&c, "kmodel");
    assert_non_null(k);
    assert_string_equal(k->display_name, "Kimi-K2.6");
    assert_true(k->max_input_tokens > 0);
    assert_true(catalog_find(&c, "dashscope_qwen_vl_max")->is_vl);
    assert_true(catalog_find(&c, "dashscope_qwen_plus_20250428_thinking")->is_reasoning);
    resolve_kind kind;
    assert_string_equal(resolve_model(&c, "qwen3-coder", "kmodel", &kind), "dashscope_qwen3_coder");
    assert_int_equal(kind, RESOLVE_DISPLAY);
    catalog_free(&c);
    buf_free(&m.body);
    /* the sim verified the signed GET */
    json_object *root, *lr = sim_record(f, "path", "/algo/api/v2/model/list", &root);
    assert_non_null(lr);
    assert_true(json_object_get_boolean(field(lr, "verified")));
    json_object_put(root);
}

/* ---- cancellation ---- */

/* Polls the sim's log until the session's record says the connection ended. */
static json_object *wait_closed(fx *f, const char *sid, json_object **root) {
    for (int i = 0; i < 100; i++) {
        json_object *lr = sim_record(f, "session_id", sid, root);
        if (lr && json_object_get_int64(field(lr, "closed_at_ms")) > 0) return lr;
        json_object_put(*root);
        uv_sleep(10);
    }
    fail_msg("the sim never saw session %s end", sid);
    return NULL;
}

static void cancel_case(fx *f, bool in_callback) {
    rec r;
    rec_init(&r);
    r.f = f;
    r.cancel_in_callback = in_callback;
    r.cancel_timer = &f->aux;
    f->aux.data = &r;
    char sid[40];
    snprintf(sid, sizeof sid, "e2e-cancel-");
    ids_hex(sid + strlen(sid), 8);
    start_chat(f, &r, "u-e2e", "slow stream\n@sim chunks=20 delay_ms=150", "kmodel", sid);
    RUN_UNTIL(f, r.cancel_ms > 0, CASE_GUARD_MS);
    /* let the loop run for a while: the cancelled call must stay silent */
    f->guard_fired = false;
    uv_timer_start(&f->guard, on_guard, 400, 0);
    while (!f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r.n_events, 1);
    assert_int_equal(r.n_terminal, 0);
    json_object *root, *lr = wait_closed(f, sid, &root);
    assert_true(json_object_get_boolean(field(lr, "client_closed")));
    int64_t closed = json_object_get_int64(field(lr, "closed_at_ms"));
    if (closed - r.cancel_ms > 100)
        fail_msg("the sim saw the close %lld ms after the cancel",
                 (long long)(closed - r.cancel_ms));
    json_object_put(root);
    rec_free(&r);
}

static void test_cancel_from_loop(void **state) { cancel_case(*state, false); }

/* Freeing the remote from inside an event callback, with a model-list fetch just started:
 * everything is released (LeakSanitizer), nothing more is reported, the stream is closed. */
static void test_free_remote_in_flight(void **state) {
    fx *f = *state;
    rec r;
    rec_init(&r);
    r.f = f;
    r.free_remote_in_callback = true;
    char sid[40];
    snprintf(sid, sizeof sid, "e2e-free-");
    ids_hex(sid + strlen(sid), 8);
    start_chat(f, &r, "u-e2e", "slow stream\n@sim chunks=20 delay_ms=150", "kmodel", sid);
    RUN_UNTIL(f, f->freed == 1, CASE_GUARD_MS);
    f->guard_fired = false;
    uv_timer_start(&f->guard, on_guard, 300, 0);
    while (!f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r.n_events, 1);
    assert_false(r.fetch.done); /* fetches are dropped silently too */
    json_object *root, *lr = wait_closed(f, sid, &root);
    assert_true(json_object_get_boolean(field(lr, "client_closed")));
    json_object_put(root);
    f->freed = 0;
    rec_free(&r);
}
static void test_cancel_in_callback(void **state) { cancel_case(*state, true); }

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (http_client_global_init() != 0) return 1;
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_text_stream),
        CASE(test_default_chunks_and_usage),
        CASE(test_reply_chunk_size_utf8),
        CASE(test_reasoning),
        CASE(test_tool_call_fragments),
        CASE(test_two_tool_calls_with_text),
        CASE(test_usage_off),
        CASE(test_finish_length),
        CASE(test_framing_variants),
        CASE(test_long_line),
        CASE(test_http_errors),
        CASE(test_http_error_details),
        CASE(test_envelope_errors),
        CASE(test_envelope_error_details),
        CASE(test_truncated_streams),
        CASE(test_unknown_model_is_request_fatal),
        CASE(test_stall_timeout),
        CASE(test_clock_tampered),
        CASE(test_clock_tampered_html_login),
        CASE(test_body_tampered),
        CASE(test_model_list),
        CASE(test_cancel_from_loop),
        CASE(test_cancel_in_callback),
        CASE(test_free_remote_in_flight),
    };
    int failed = cmocka_run_group_tests(tests, sim_start, sim_stop);
    http_client_global_cleanup();
    return failed;
}
