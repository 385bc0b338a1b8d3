/* Shared harness of the upstream-client end-to-end programs (test_upstream_*.c): starts
 * lingma-sim (LGW_SIM, port 0) once per program, gives each case a loop with a guard timer, a
 * lingma_remote and a control HTTP client, and records the neutral events of chat calls. */
#ifndef LGW_TESTS_UPSTREAM_SIM_HARNESS_H
#define LGW_TESTS_UPSTREAM_SIM_HARNESS_H
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

#define MAX_CALLS 4

typedef struct sim_proc {
    pid_t pid;
    int out; /* its stdout, kept open so a late write never hits a closed pipe */
    char base_url[192];
} sim_proc;
typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool guard_fired;
    lingma_remote *remote;
    http_client *ctl; /* /_sim control calls and hand-signed requests */
    uv_timer_t aux;   /* cancels from the loop */
    int freed;
} fx;
typedef struct models_res {
    bool done;
    int status;
    buf body;
} models_res;
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
typedef struct http_res {
    bool done, ok;
    int status;
    buf body;
} http_res;

extern sim_proc g_sim;

int sim_spawn(sim_proc *p, const char *opt, const char *val);
void sim_kill(sim_proc *p);
int sim_start(void **state);
int sim_stop(void **state);
int fx_setup(void **state);
int fx_teardown(void **state);
void on_guard(uv_timer_t *t);
void on_freed(void *ud);
lingma_remote *remote_new(fx *f, const char *base_url, long first_byte_timeout_ms,
                          long stall_timeout_ms);
lingma_account account(const char *user_id);
void body_for(const char *user_text, const char *model_key, const char *session_id, buf *out);
void on_models(int status, const char *body, size_t len, void *ud);
void rec_init(rec *r);
void rec_free(rec *r);
void rec_event(const conv_event *ev, void *ud);
void start_chat(fx *f, rec *r, const char *user_id, const char *text, const char *model,
                const char *session_id);
void chat(fx *f, rec *r, const char *text);
void assert_error(fx *f, const char *text, conv_error_class want);
void http_do(fx *f, const char *method, const char *path, const char *headers, const char *body,
             size_t body_len, http_res *out);
json_object *sim_record(fx *f, const char *key, const char *value, json_object **root);
json_object *field(json_object *o, const char *k);
void assert_json_equal(const char *got, const char *want);

/* Runs the case's loop until cond holds or the guard fires (then the case fails). */
#define RUN_UNTIL(f, cond, ms)                                                                     \
    do {                                                                                           \
        (f)->guard_fired = false;                                                                  \
        uv_timer_start(&(f)->guard, on_guard, (ms), 0);                                            \
        while (!(cond) && !(f)->guard_fired)                                                       \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        uv_timer_stop(&(f)->guard);                                                                \
        assert_true(cond);                                                                         \
    } while (0)
#endif
