#include "upstream_sim_harness.h"

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

sim_proc g_sim = {-1, -1, ""};

/* Starts LGW_SIM on a free port with one extra option pair (or none). */
int sim_spawn(sim_proc *p, const char *opt, const char *val) {
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

void sim_kill(sim_proc *p) {
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

int sim_start(void **state) {
    (void)state;
    return sim_spawn(&g_sim, NULL, NULL);
}

int sim_stop(void **state) {
    (void)state;
    sim_kill(&g_sim);
    return 0;
}

/* ---- per-case fixture: a loop, a remote, a control client ---- */

void on_guard(uv_timer_t *t) { ((fx *)t->data)->guard_fired = true; }

void on_freed(void *ud) { ((fx *)ud)->freed++; }

lingma_remote *remote_new(fx *f, const char *base_url, long first_byte_timeout_ms,
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

int fx_setup(void **state) {
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

int fx_teardown(void **state) {
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

lingma_account account(const char *user_id) {
    return (lingma_account){.name = "e2e",
                            .user_id = (char *)user_id,
                            .machine_id = "e2e-machine-0001",
                            .cosy_key = "ZTJlLWNvc3kta2V5",
                            .encrypt_user_info = "ZTJlLXVzZXItaW5mbw=="};
}

/* A one-message request whose user text carries the @sim directive. */
void body_for(const char *user_text, const char *model_key, const char *session_id, buf *out) {
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

void on_models(int status, const char *body, size_t len, void *ud) {
    models_res *m = ud;
    m->status = status;
    buf_append(&m->body, body, len);
    m->done = true;
}

void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    buf_init(&r->text);
    buf_init(&r->thinking);
    for (int i = 0; i < MAX_CALLS; i++)
        buf_init(&r->calls[i].args);
}

void rec_free(rec *r) {
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

void rec_event(const conv_event *ev, void *ud) {
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

void start_chat(fx *f, rec *r, const char *user_id, const char *text, const char *model,
                const char *session_id) {
    buf body = BUF_INIT;
    body_for(text, model, session_id, &body);
    lingma_account a = account(user_id);
    r->call = lingma_chat_start(f->remote, &a, body.data, body.len, rec_event, r);
    buf_free(&body);
    assert_non_null(r->call);
}

/* Runs one chat turn to its terminal event, then a little longer to catch late events. */
void chat(fx *f, rec *r, const char *text) {
    start_chat(f, r, "u-e2e", text, "kmodel", "");
    RUN_UNTIL(f, r->n_terminal > 0, CASE_GUARD_MS);
    for (int i = 0; i < 4; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r->n_terminal, 1);
    assert_int_equal(r->late, 0);
    r->seq[r->n_seq] = '\0';
}

void assert_error(fx *f, const char *text, conv_error_class want) {
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

void http_do(fx *f, const char *method, const char *path, const char *headers, const char *body,
             size_t body_len, http_res *out) {
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
json_object *sim_record(fx *f, const char *key, const char *value, json_object **root) {
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

json_object *field(json_object *o, const char *k) {
    json_object *v = NULL;
    json_object_object_get_ex(o, k, &v);
    return v;
}

void assert_json_equal(const char *got, const char *want) {
    json_object *g = json_tokener_parse(got), *w = json_tokener_parse(want);
    if (!g || !json_object_equal(g, w)) fail_msg("JSON '%s' != '%s'", got, want);
    json_object_put(g);
    json_object_put(w);
}
