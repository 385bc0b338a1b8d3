/* The upstream client against lingma-sim, the guarding side: signature rejection (tampered clock
 * or body), the model list, and cancellation closing the upstream connection within 100 ms. */
#include "upstream_sim_harness.h"

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
    buf h = BUF_INIT;
    assert_int_equal(cosy_headers(&cr, &h), 0);
    http_res res;
    http_do(f, "POST", CHAT_URL_PATH, h.data, b.data, b.len, &res); /* signed A, sent B */
    assert_int_equal(res.status, 401);
    assert_int_equal(upstream_classify(res.status, 0, NULL, res.body.data), CONV_ERR_AUTH);
    json_object *root, *lr = sim_record(f, "account", "u-body", &root);
    assert_non_null(lr);
    assert_false(json_object_get_boolean(field(lr, "verified")));
    assert_non_null(strstr(json_object_get_string(field(lr, "reason")), "signature"));
    json_object_put(root);
    buf_free(&res.body);
    /* the same headers with the body they were made for pass */
    buf_reset(&h);
    cr.user_id = "u-body-ok";
    assert_int_equal(cosy_headers(&cr, &h), 0);
    http_do(f, "POST", CHAT_URL_PATH, h.data, a.data, a.len, &res);
    buf_free(&h);
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
#define CASE(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_clock_tampered),     CASE(test_clock_tampered_html_login),
        CASE(test_body_tampered),      CASE(test_model_list),
        CASE(test_cancel_from_loop),   CASE(test_free_remote_in_flight),
        CASE(test_cancel_in_callback),
    };
    int failed = cmocka_run_group_tests(tests, sim_start, sim_stop);
    return failed;
}
