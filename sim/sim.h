/* lingma-sim: a fake of the Lingma remote HTTP API (spec lingma-upstream.md §1.3–1.9, §6.1).
 *
 * Architecture (one libuv loop, no threads):
 *   main.c        CLI, config file, signals, server lifetime
 *   routes.c      dispatch of upstream paths (model list, chat, /login, unknown → NoSuchKey)
 *   control.c     /_sim/... runtime control (request log, per-account scripts, reset)
 *   login.c       /lingma/login: the browser login page, redirecting to an auth callback (§3.2)
 *   verify.c      COSY bearer + header verification, written independently of src/upstream
 *   encode1.c     Encode=1 body decoding (variant Q, then the LA variant)
 *   chat.c        chat body validation, reply planning (echo, directives, usage, prefix cache)
 *   stream.c      one SSE stream: envelope events paced by a uv_timer, backpressure-aware
 *   directives.c  the `@sim key=value` vocabulary (also the JSON form used by account scripts)
 *   scripts.c     per-account scripted behaviour keyed by Cosy-User
 *   catalog.c     model catalogs and the pre-rendered model-list body
 *   errors.c      upstream error shapes: HTTP errors, login redirect, in-stream envelopes
 *   request_log.c bounded ring of what reached the fake, for tests
 *   prefix_cache.c per-session prefix cache that makes cached_tokens observable
 *   sim_json.c    strict json-c parsing helpers
 *
 * Everything runs on the loop thread; the `sim` context is the single owner of shared state. */
#ifndef LGW_SIM_SIM_H
#define LGW_SIM_SIM_H
#include "net/http_server.h"
#include "util/buf.h"
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "directives.h"
#include "prefix_cache.h"
#include "request_log.h"
#include "scripts.h"

typedef enum { SIM_REJECT_401, SIM_REJECT_HTML } sim_reject_style;

typedef struct sim {
    http_server *srv;
    int64_t skew_s;
    sim_reject_style reject;
    json_object *config;    /* parsed --config (owned), replayed by /_sim/reset; NULL if none */
    sim_catalog *catalog;   /* global catalog (config "catalog" or the default) */
    sim_directive defaults; /* config "defaults": applied to every chat turn */
    sim_scripts *scripts;
    sim_request_log *log;
    sim_prefix_cache *cache;
    uint64_t n_streams; /* open streams, for the shutdown log */
    /* Scratch for building one SSE event at a time (loop thread only; the server copies). */
    buf inner, event;
} sim;

/* Loads accounts (and nothing else) from s->config into s->scripts. Returns 0 or -1 + err. */
int sim_apply_config_accounts(sim *s, char *err, size_t cap);

/* routes.c: the http_handler_fn of the server. */
void sim_routes_handle(http_exchange *ex, const http_request *req, void *ud);
/* control.c: /_sim/... */
void sim_control_handle(sim *s, http_exchange *ex, const http_request *req);
/* chat.c: a verified chat request; rec is the request's log record (valid during the call). */
void sim_chat_handle(sim *s, http_exchange *ex, const http_request *req, sim_record *rec,
                     const char *auth_request_id);
#endif
