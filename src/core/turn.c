#include "core/turn.h"
#include "core/canonical.h"
#include "front/anthropic_codec.h"
#include "front/errors.h"
#include "front/openai_codec.h"
#include "upstream/lingma_body.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include "util/log.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <string.h>

#define MAX_MODELS       8
#define MAX_TRIED        32
#define MAX_ATTEMPTS     6
#define MAX_TOKENS_CAP   16384 /* TAP caps max_tokens "to avoid upstream rejection" (§1.6.1) */
#define STREAM_TEXT_KEEP 1024  /* a stream's reply text held as it is; past it, only hashed */

typedef struct turn {
    turn_services *svc;
    http_exchange *ex;
    conv_request req;
    uint8_t key_digest[32];
    char request_id[32];
    uint64_t start_ns;

    /* what to try; what failed is kept on the heap, as only a failing attempt needs it */
    char (*models)[64]; /* n_models entries */
    size_t n_models, model_idx;
    const char **tried; /* MAX_TRIED slots, allocated at the first failure */
    size_t n_tried;
    unsigned attempts;
    conv_error_class last_error;
    int last_status;
    char *last_message;
    pool_account *auth_retry; /* retry this account once: its credentials were just reloaded */

    /* affinity */
    conv_hash *prefixes;
    affinity_result affinity;
    conv_hash matched;
    session_binding binding;
    char session_id[SESSION_ID_CAP];
    bool session_held;
    inflight_waiter *waiter;
    inflight_turn_waiter *turn_waiter; /* queued for a global slot */
    bool turn_counted;

    /* the current attempt */
    pool_account *acct;
    bool acct_probe;               /* this attempt is the account's half-open probe */
    conv_error_class acct_verdict; /* what releasing the account reports (NONE once finished) */
    lingma_call *call;
    buf body;
    uint64_t call_start_ns, first_event_ns, finish_ns;
    bool paused;

    /* the response */
    bool committed; /* bytes reached the client: no retry */
    conv_response resp;
    canonical_reply *reply_digest; /* a long streamed text, hashed as it came (collect) */
    union {                        /* by req.protocol */
        openai_stream os;
        anthropic_stream as;
    };
    bool encoder_ready;
    char msg_id[48];
    int64_t created;
    bool estimated;              /* the two below are set (estimate_prompt) */
    int64_t prompt_estimate;     /* calibrated: what clients see when usage is missing */
    int64_t prompt_estimate_raw; /* the estimator's own figure, to calibrate with */
    uv_timer_t ping_timer;
    uint64_t last_write_ns;
    bool ended;
} turn;

static void attempt_next(turn *t);
static void turn_finish(turn *t);

/* ---------------------------------------------------------------- helpers */

static const char *proto_name(const turn *t) {
    return t->req.protocol == CONV_PROTO_OPENAI ? "openai" : "anthropic";
}

static void stats_request_done(turn *t, int status) {
    stats *s = t->svc->stats;
    char labels[64];
    snprintf(labels, sizeof labels, "%s\x1f%s\x1f%dxx", proto_name(t),
             t->req.protocol == CONV_PROTO_OPENAI ? "chat_completions" : "messages", status / 100);
    stats_add(s, STAT_requests, labels, 1);
    double total = (double)(clock_mono_ns() - t->start_ns) / 1e9;
    stats_observe(s, STAT_request_duration, proto_name(t), total);
    if (t->first_event_ns)
        stats_observe(s, STAT_ttft, proto_name(t), (double)(t->first_event_ns - t->start_ns) / 1e9);
}

/* Time spent in the gateway: everything but waiting on the upstream. */
static double overhead_seconds(const turn *t) {
    uint64_t now = clock_mono_ns();
    uint64_t upstream = t->finish_ns > t->call_start_ns ? t->finish_ns - t->call_start_ns : 0;
    uint64_t total = now - t->start_ns;
    return total > upstream ? (double)(total - upstream) / 1e9 : 0;
}

static void log_turn_fields(turn *t) {
    if (!t->ex) return;
    char frag[512];
    double ttft_ms = t->first_event_ns ? (double)(t->first_event_ns - t->start_ns) / 1e6 : -1;
    snprintf(frag, sizeof frag,
             "\"model\":\"%s\",\"account\":\"%s\",\"session_id\":\"%s\",\"affinity\":\"%s\","
             "\"attempts\":%u,\"ttft_ms\":%.3f,\"overhead_ms\":%.3f",
             t->n_models ? t->models[t->model_idx < t->n_models ? t->model_idx : 0] : "",
             t->acct ? t->acct->cred.name : "", t->session_id, affinity_result_name(t->affinity),
             t->attempts, ttft_ms, overhead_seconds(t) * 1e3);
    http_exchange_log_field(t->ex, frag);
}

/* Frames are encoded into the loop's one scratch buffer and written at once (the connection
 * copies what the socket does not take), so a held stream keeps no output buffer of its own. */
static buf *out_buf(turn *t) { return &t->svc->scratch; }

static void write_out(turn *t) {
    buf *out = out_buf(t);
    if (!out->len || !t->ex) {
        buf_reset(out);
        return;
    }
    t->last_write_ns = clock_mono_ns();
    http_stream_write(t->ex, out->data, out->len);
    buf_reset(out);
    if (t->ex && t->call && !t->paused && http_exchange_congested(t->ex)) {
        t->paused = true; /* backpressure: let the client catch up before reading on */
        lingma_call_pause(t->call);
    }
}

/* ---------------------------------------------------------------- lifecycle */

static void on_ping_timer_closed(uv_handle_t *h) {
    turn *t = h->data;
    conv_request_free(&t->req);
    conv_response_free(&t->resp);
    canonical_reply_free(t->reply_digest);
    if (t->encoder_ready) {
        if (t->req.protocol == CONV_PROTO_OPENAI)
            openai_stream_free(&t->os);
        else
            anthropic_stream_free(&t->as);
    }
    buf_free(&t->body);
    free(t->models);
    free(t->tried);
    free(t->last_message);
    free(t->prefixes);
    free(t);
}

/* Releases everything the turn holds; the exchange must already be finished or gone. */
/* Gives back every slot the turn holds: the account (with the attempt's verdict), a queue
 * place, the session and the global count. Runs before the response's last bytes go out, so a
 * pipelined next request on the connection never counts against this turn. Idempotent. */
static void turn_release_slots(turn *t) {
    if (t->acct) pool_release(t->svc->pool, t->acct, t->acct_probe, t->acct_verdict);
    t->acct = NULL;
    if (t->waiter) inflight_wait_cancel(t->svc->inflight, t->waiter);
    t->waiter = NULL;
    if (t->turn_waiter) inflight_turn_wait_cancel(t->svc->inflight, t->turn_waiter);
    t->turn_waiter = NULL;
    if (t->session_held) inflight_release(t->svc->inflight, t->session_id);
    t->session_held = false;
    if (t->turn_counted) inflight_turn_end(t->svc->inflight);
    t->turn_counted = false;
}

static void turn_finish(turn *t) {
    if (t->ended) return;
    t->ended = true;
    if (t->call) {
        lingma_call_cancel(t->call);
        t->call = NULL;
    }
    turn_release_slots(t);
    uv_timer_stop(&t->ping_timer);
    uv_close((uv_handle_t *)&t->ping_timer, on_ping_timer_closed);
}

static void on_client_abort(http_exchange *ex, void *ud) {
    (void)ex;
    turn *t = ud;
    t->ex = NULL;
    stats_add(t->svc->stats, STAT_disconnects, "", 1);
    if (t->call) {
        lingma_call_cancel(t->call); /* closes the upstream connection now */
        t->call = NULL;
    }
    if (t->acct) {
        pool_release(t->svc->pool, t->acct, t->acct_probe, CONV_ERR_CANCELLED);
        t->acct = NULL;
    }
    turn_finish(t);
}

static void on_client_drain(http_exchange *ex, void *ud) {
    (void)ex;
    turn *t = ud;
    if (t->paused && t->call) {
        t->paused = false;
        lingma_call_resume(t->call);
    }
}

/* ---------------------------------------------------------------- responses */

static void respond_error(turn *t, int status, const char *type, const char *message,
                          const char *code, const char *extra_headers) {
    if (!t->ex) return;
    log_turn_fields(t);
    buf b = BUF_INIT;
    if (t->req.protocol == CONV_PROTO_ANTHROPIC)
        errors_anthropic_json(&b, type, message, t->request_id);
    else
        errors_openai_json(&b, message, type, NULL, code);
    stats_request_done(t, status);
    turn_release_slots(t);
    http_respond(t->ex, status, "application/json", b.data, b.len, extra_headers);
    t->ex = NULL;
    buf_free(&b);
}

/* No usable account: 529 (Anthropic) / 503 (OpenAI) with retry-after from the pool. */
static void respond_overloaded(turn *t) {
    errors_mapping m = errors_map_overloaded(t->req.protocol);
    int64_t next = pool_next_ready_ms(t->svc->pool), now = clock_wall_ms();
    int64_t secs = next > now ? (next - now + 999) / 1000 : 1;
    if (secs < 1) secs = 1;
    char hdr[64];
    snprintf(hdr, sizeof hdr, "retry-after: %lld\r\n", (long long)secs);
    respond_error(t, m.status, m.type,
                  t->svc->pool->n ? "All upstream accounts are busy or cooling down; retry later."
                                  : "No upstream account is configured.",
                  m.code, hdr);
}

static void respond_class_error(turn *t, conv_error_class cls, const char *message) {
    errors_mapping m = errors_map_class(t->req.protocol, cls);
    char hdr[64] = "";
    if (m.status == 429) {
        int64_t next = pool_next_ready_ms(t->svc->pool), now = clock_wall_ms();
        snprintf(hdr, sizeof hdr, "retry-after: %lld\r\n",
                 (long long)(next > now ? (next - now + 999) / 1000 : 1));
    }
    char msg[320];
    snprintf(msg, sizeof msg, "Upstream error (%s): %s", conv_error_class_name(cls),
             message && *message ? message : "no detail");
    respond_error(t, m.status, m.type, msg, m.code, hdr[0] ? hdr : NULL);
}

/* The request's token estimate walks all its text, so it is made while the upstream works on
 * the first attempt, or at first need if no attempt starts; the request is alive either way. */
static void estimate_prompt(turn *t) {
    if (t->estimated) return;
    t->estimated = true;
    t->prompt_estimate_raw = codec_estimate_request_tokens(&t->req);
    t->prompt_estimate = token_calibration_apply(t->svc->calibration, t->prompt_estimate_raw);
}

static void ensure_encoder(turn *t) {
    if (t->encoder_ready) return;
    estimate_prompt(t); /* before commit_stream lets the request go */
    t->encoder_ready = true;
    if (t->req.protocol == CONV_PROTO_OPENAI) {
        openai_meta m = {t->msg_id, t->created, t->req.model, t->prompt_estimate};
        openai_stream_init(&t->os, &m, t->req.include_usage);
    } else {
        anthropic_meta m = {t->msg_id, t->req.model, t->prompt_estimate, t->request_id};
        anthropic_stream_init(&t->as, &m);
    }
}

static void on_ping(uv_timer_t *timer) {
    turn *t = timer->data;
    if (!t->ex || t->ended) return;
    /* Only a quiet stream needs a sign of life. */
    if (clock_mono_ns() - t->last_write_ns < t->svc->cfg->ping_interval_ms * 1000000ull / 2) return;
    anthropic_stream_ping(out_buf(t));
    write_out(t);
}

/* Once committed, a stream never builds another upstream body, and its encoder holds its own
 * copies of the names it echoes: the decoded request (a 60 KB prompt is ~80 KB here) goes now
 * rather than at the end of a long stream. The scalars read later stay. */
static void release_request(turn *t) {
    conv_request keep = {.protocol = t->req.protocol,
                         .stream = t->req.stream,
                         .include_usage = t->req.include_usage,
                         .n_messages = t->req.n_messages};
    conv_request_free(&t->req);
    t->req = keep;
}

/* The first byte goes out: from here on there is no retry. */
static void commit_stream(turn *t) {
    if (t->committed) return;
    t->committed = true;
    release_request(t);
    http_stream_start(t->ex, 200, "text/event-stream",
                      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    if (t->req.protocol == CONV_PROTO_ANTHROPIC && t->svc->cfg->ping_interval_ms) {
        /* While waiting on a live upstream the client hears a ping; a stalled upstream is cut
         * by the transport's stall timeout, which ends the stream with an error event. */
        uv_timer_start(&t->ping_timer, on_ping, t->svc->cfg->ping_interval_ms,
                       t->svc->cfg->ping_interval_ms);
    }
}

/* One event into the client's stream, written now. True once the encoder has ended the
 * stream: at a terminal event, or by itself (D34's limit on held tool arguments). */
static bool stream_event(turn *t, const conv_event *ev) {
    ensure_encoder(t);
    commit_stream(t);
    bool ended = t->req.protocol == CONV_PROTO_OPENAI
                     ? openai_stream_event(&t->os, ev, out_buf(t))
                     : anthropic_stream_event(&t->as, ev, out_buf(t));
    write_out(t);
    return ended;
}

/* The stream's last frame is out: log the turn and end the response. */
static void end_stream(turn *t) {
    log_turn_fields(t);
    stats_request_done(t, 200);
    turn_release_slots(t);
    if (t->ex) http_stream_end(t->ex);
    t->ex = NULL;
}

static void record_affinity(turn *t) {
    if (!t->prefixes || !t->acct) return;
    conv_hash key = t->reply_digest
                        ? canonical_reply_finish(t->reply_digest, &t->resp)
                        : canonical_extend_reply(t->prefixes[t->req.n_messages], &t->resp);
    t->reply_digest = NULL;
    session_binding b = t->binding;
    if (t->affinity != AFFINITY_HIT || strcmp(b.session_id, t->session_id) != 0) {
        memset(&b, 0, sizeof b);
        b.created_ms = clock_wall_ms();
    }
    snprintf(b.session_id, sizeof b.session_id, "%s", t->session_id);
    snprintf(b.account, sizeof b.account, "%s", t->acct->cred.name);
    b.turns++;
    session_cache_record(t->svc->sessions, t->affinity == AFFINITY_HIT ? &t->matched : NULL, &key,
                         &b);
    stats_set(t->svc->stats, STAT_sessions, "", (double)session_cache_size(t->svc->sessions));
}

static void count_tokens(turn *t) {
    if (!t->resp.usage.known) return;
    estimate_prompt(t);
    token_calibration_observe(t->svc->calibration, t->prompt_estimate_raw,
                              t->resp.usage.input_tokens);
    stats_set(t->svc->stats, STAT_token_estimate_ratio, "", t->svc->calibration->ratio);
    stats_add(t->svc->stats, STAT_tokens, "input", (double)t->resp.usage.input_tokens);
    stats_add(t->svc->stats, STAT_tokens, "output", (double)t->resp.usage.output_tokens);
    stats_add(t->svc->stats, STAT_tokens, "cached", (double)t->resp.usage.cached_tokens);
}

static void finish_success(turn *t, const conv_event *ev) {
    t->finish_ns = clock_mono_ns();
    char labels[96];
    snprintf(labels, sizeof labels, "%s\x1fok", t->acct->cred.name);
    stats_add(t->svc->stats, STAT_upstream_attempts, labels, 1);
    t->acct_verdict = CONV_ERR_NONE; /* released with the slots, before the last bytes */
    record_affinity(t);
    count_tokens(t);
    stats_observe(t->svc->stats, STAT_overhead, proto_name(t), overhead_seconds(t));
    if (t->req.stream) {
        stream_event(t, ev);
        end_stream(t);
    } else {
        buf b = BUF_INIT;
        estimate_prompt(t);
        if (t->req.protocol == CONV_PROTO_OPENAI) {
            openai_meta m = {t->msg_id, t->created, t->req.model, t->prompt_estimate};
            openai_encode_response(&b, &t->resp, &m);
        } else {
            anthropic_meta m = {t->msg_id, t->req.model, t->prompt_estimate, t->request_id};
            anthropic_encode_response(&b, &t->resp, &m);
        }
        char hdr[64];
        snprintf(hdr, sizeof hdr, "x-gateway-overhead-ms: %.3f\r\n", overhead_seconds(t) * 1e3);
        log_turn_fields(t);
        stats_request_done(t, 200);
        turn_release_slots(t);
        http_respond(t->ex, 200, "application/json", b.data, b.len, hdr);
        buf_free(&b);
    }
    t->ex = NULL;
    turn_finish(t);
}

static bool retryable(conv_error_class c) {
    return c == CONV_ERR_RATE_LIMIT || c == CONV_ERR_QUOTA || c == CONV_ERR_AUTH ||
           c == CONV_ERR_TRANSIENT || c == CONV_ERR_TIMEOUT;
}

static void attempt_failed(turn *t, const conv_event *ev) {
    conv_error_class cls = ev->err_class;
    pool_account *a = t->acct;
    t->acct = NULL;
    t->last_error = cls;
    t->last_status = ev->status;
    free(t->last_message);
    size_t mlen = ev->text ? (ev->len < 255 ? ev->len : 255) : 0;
    t->last_message = xstrndup(ev->text ? ev->text : "", mlen);
    char labels[96];
    snprintf(labels, sizeof labels, "%s\x1f%s", a->cred.name, conv_error_class_name(cls));
    stats_add(t->svc->stats, STAT_upstream_attempts, labels, 1);
    if (cls == CONV_ERR_AUTH && pool_reload_after_auth_failure(t->svc->pool, a)) {
        pool_release(t->svc->pool, a, t->acct_probe,
                     CONV_ERR_CANCELLED); /* no verdict yet: retry it once */
        t->auth_retry = a;
    } else {
        if (cls == CONV_ERR_RATE_LIMIT || cls == CONV_ERR_QUOTA) {
            stats_add(t->svc->stats, STAT_cooldowns, cls == CONV_ERR_QUOTA ? "quota" : "rate_limit",
                      1);
        }
        pool_release(t->svc->pool, a, t->acct_probe, cls);
        if (!t->tried) t->tried = xcalloc(MAX_TRIED, sizeof *t->tried);
        if (t->n_tried < MAX_TRIED) t->tried[t->n_tried++] = a->cred.name;
    }
    log_info(
        "upstream attempt failed",
        "\"request_id\":\"%s\",\"account\":\"%s\",\"class\":\"%s\",\"status\":%d,\"committed\":%s",
        t->request_id, a->cred.name, conv_error_class_name(cls), ev->status,
        t->committed ? "true" : "false");
    if (t->committed) { /* bytes are out: end the stream with an error in the client's framing */
        stream_event(t, ev);
        end_stream(t);
        turn_finish(t);
        return;
    }
    if (!retryable(cls) || t->attempts >= MAX_ATTEMPTS) {
        respond_class_error(t, cls, t->last_message);
        turn_finish(t);
        return;
    }
    stats_add(t->svc->stats, STAT_retries, "", 1);
    conv_response_free(&t->resp); /* nothing reached the client: start the answer afresh */
    conv_response_init(&t->resp);
    canonical_reply_free(t->reply_digest);
    t->reply_digest = NULL;
    attempt_next(t);
}

/* What a turn keeps of the reply. A non-streamed answer keeps all of it: it is encoded at the
 * finish. A stream keeps only what the session cache hashes there (record_affinity): no thinking,
 * no text when there is nothing to record, and text past STREAM_TEXT_KEEP bytes hashed as it
 * arrives instead of held, so a long answer does not grow a held stream. */
static void collect(turn *t, const conv_event *ev) {
    if (t->req.stream && ev->type == CONV_EV_THINKING_DELTA) return;
    if (t->req.stream && ev->type == CONV_EV_TEXT_DELTA) {
        if (!t->prefixes) return;
        if (!t->reply_digest && t->resp.text_len + ev->len > STREAM_TEXT_KEEP) {
            t->reply_digest = canonical_reply_new(t->prefixes[t->req.n_messages]);
            canonical_reply_text(t->reply_digest, t->resp.text, t->resp.text_len);
            free(t->resp.text);
            t->resp.text = NULL;
            t->resp.text_len = t->resp.text_cap = 0;
        }
        if (t->reply_digest) {
            canonical_reply_text(t->reply_digest, ev->text, ev->len);
            return;
        }
    }
    conv_response_add(&t->resp, ev);
}

static void on_upstream_event(const conv_event *ev, void *ud) {
    turn *t = ud;
    if (ev->type == CONV_EV_FINISH || ev->type == CONV_EV_ERROR) t->call = NULL; /* self-frees */
    if (!t->ex) return;
    if (!t->first_event_ns && ev->type != CONV_EV_ERROR) t->first_event_ns = clock_mono_ns();
    switch (ev->type) {
    case CONV_EV_FINISH:
        collect(t, ev);
        finish_success(t, ev);
        return;
    case CONV_EV_ERROR: attempt_failed(t, ev); return;
    default: break;
    }
    collect(t, ev);
    if (!t->req.stream) return; /* collected; answered at FINISH */
    if (stream_event(t, ev)) {  /* the encoder gave up mid-stream: stop the upstream too */
        log_info("stream ended by the encoder", "\"request_id\":\"%s\"", t->request_id);
        end_stream(t);
        turn_finish(t);
    }
}

/* ---------------------------------------------------------------- attempts */

static void new_session_id(turn *t) {
    char u[37];
    ids_uuid4(u);
    snprintf(t->session_id, sizeof t->session_id, "%s", u);
}

static void attempt_next(turn *t) {
    if (!t->ex) {
        turn_finish(t);
        return;
    }
    pool *p = t->svc->pool;
    pool_account *a = NULL;
    for (;;) {
        if (t->attempts >= MAX_ATTEMPTS) break;
        const char *preferred = t->affinity == AFFINITY_HIT ? t->binding.account : NULL;
        if (t->auth_retry) { /* it just reloaded its credentials: retry it first */
            preferred = t->auth_retry->cred.name;
            t->auth_retry = NULL;
        }
        a = pool_pick(p, preferred, t->tried, t->n_tried);
        if (a) break;
        if (t->model_idx + 1 >= t->n_models || t->last_error == CONV_ERR_NONE) break;
        t->model_idx++; /* every account failed this model: fall back to the next one */
        t->n_tried = 0;
        stats_add(t->svc->stats, STAT_fallbacks, "", 1);
    }
    if (!a) {
        if (t->last_error != CONV_ERR_NONE && pool_any_usable(p))
            respond_class_error(t, t->last_error, t->last_message);
        else if (t->last_error != CONV_ERR_NONE && t->last_error != CONV_ERR_RATE_LIMIT &&
                 t->last_error != CONV_ERR_QUOTA && t->last_error != CONV_ERR_AUTH)
            respond_class_error(t, t->last_error, t->last_message);
        else
            respond_overloaded(t);
        turn_finish(t);
        return;
    }
    /* The conversation's session lives on its account; another account means a new session. */
    if (t->affinity == AFFINITY_HIT && strcmp(a->cred.name, t->binding.account) != 0 &&
        strcmp(t->session_id, t->binding.session_id) == 0) {
        stats_add(t->svc->stats, STAT_affinity, "migrate", 1);
        if (t->session_held) inflight_release(t->svc->inflight, t->session_id);
        t->session_held = false;
        new_session_id(t);
        t->session_held = inflight_try_acquire(t->svc->inflight, t->session_id);
    }
    t->attempts++;
    t->acct_probe = pool_acquire(p, a);
    t->acct_verdict = CONV_ERR_CANCELLED; /* until the attempt has a verdict */
    t->acct = a;
    const char *model = t->models[t->model_idx];
    const catalog_model *cm = catalog_find(t->svc->catalog, model);
    lingma_body_opts o = {.model_key = strcmp(model, "auto") == 0 ? "" : model,
                          .session_id = t->session_id,
                          .cosy_version = t->svc->cfg->cosy_version,
                          .is_vl = cm && cm->is_vl,
                          .is_reasoning = cm && cm->is_reasoning,
                          .max_tokens_cap = MAX_TOKENS_CAP};
    buf_reset(&t->body);
    lingma_body_build(&t->req, &o, &t->body);
    t->call_start_ns = clock_mono_ns();
    t->call = lingma_chat_start(t->svc->remote, &a->cred, t->body.data, t->body.len,
                                on_upstream_event, t);
    buf_free(&t->body); /* signed and copied by the transport; a retry rebuilds it */
    if (t->call) estimate_prompt(t);
    if (!t->call) {
        conv_event ev = {.type = CONV_EV_ERROR,
                         .err_class = CONV_ERR_TRANSIENT,
                         .text = "could not start the upstream call"};
        ev.len = strlen(ev.text);
        attempt_failed(t, &ev);
    }
}

/* The session slot is ours (or the policy forked): go. */
static void begin_attempts(turn *t) { attempt_next(t); }

static void on_session_granted(bool granted, void *ud) {
    turn *t = ud;
    t->waiter = NULL;
    if (!granted) {
        errors_mapping m = errors_map_class(t->req.protocol, CONV_ERR_RATE_LIMIT);
        respond_error(t, 429, m.type,
                      "Another turn of this conversation is still in flight; retry when it ends.",
                      m.code, "retry-after: 1\r\n");
        turn_finish(t);
        return;
    }
    t->session_held = true;
    begin_attempts(t);
}

static void turn_admitted(turn *t);

static void on_turn_slot(bool granted, void *ud) {
    turn *t = ud;
    t->turn_waiter = NULL;
    if (!granted) {
        respond_overloaded(t);
        turn_finish(t);
        return;
    }
    t->turn_counted = true;
    turn_admitted(t);
}

void turn_start(turn_services *svc, http_exchange *ex, conv_request *req,
                const uint8_t key_digest[32]) {
    turn *t = xcalloc(1, sizeof *t);
    t->svc = svc;
    t->ex = ex;
    t->req = *req;
    memset(req, 0, sizeof *req); /* moved */
    memcpy(t->key_digest, key_digest, 32);
    const http_request *hr = http_exchange_request(ex);
    snprintf(t->request_id, sizeof t->request_id, "%s", hr->request_id);
    t->start_ns = hr->start_ns ? hr->start_ns : clock_mono_ns();
    t->created = clock_wall_ms() / 1000;
    conv_response_init(&t->resp);
    uv_timer_init(svc->loop, &t->ping_timer);
    t->ping_timer.data = t;
    if (t->req.protocol == CONV_PROTO_OPENAI)
        openai_new_completion_id(t->msg_id);
    else
        anthropic_new_message_id(t->msg_id);
    http_exchange_set_callbacks(ex, on_client_abort, on_client_drain, t);

    resolve_kind kind;
    const char *key = resolve_model(svc->catalog, t->req.model, svc->cfg->default_model, &kind);
    if (!key) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The model `%.200s` does not exist or you do not have access to it.",
                 t->req.model ? t->req.model : "");
        respond_error(t, 404,
                      t->req.protocol == CONV_PROTO_OPENAI ? "invalid_request_error"
                                                           : "not_found_error",
                      msg, "model_not_found", NULL);
        turn_finish(t);
        return;
    }
    char order[MAX_MODELS][64];
    t->n_models =
        catalog_attempt_order(svc->catalog, key, svc->cfg->fallback_models, order, MAX_MODELS);
    t->models = xmalloc((t->n_models ? t->n_models : 1) * sizeof *t->models);
    memcpy(t->models, order, t->n_models * sizeof *t->models);

    if (inflight_turn_begin(svc->inflight)) {
        t->turn_counted = true;
        turn_admitted(t);
        return;
    }
    /* Over the global cap: queue (bounded, timed) rather than refuse at once. */
    t->turn_waiter = inflight_turn_wait(svc->inflight, on_turn_slot, t);
    if (!t->turn_waiter) {
        respond_overloaded(t);
        turn_finish(t);
    }
}

/* Counted against the global cap: find the conversation's session and go. */
static void turn_admitted(turn *t) {
    turn_services *svc = t->svc;
    /* Affinity: the same key + the same conversation prefix → the same upstream session. */
    t->prefixes = xcalloc(t->req.n_messages + 1, sizeof *t->prefixes);
    canonical_prefix_hashes(t->key_digest, &t->req, t->prefixes);
    t->affinity = session_cache_lookup(svc->sessions, t->prefixes, t->req.n_messages + 1,
                                       &t->binding, &t->matched);
    stats_add(svc->stats, STAT_affinity, affinity_result_name(t->affinity), 1);
    if (t->affinity == AFFINITY_HIT)
        snprintf(t->session_id, sizeof t->session_id, "%s", t->binding.session_id);
    else
        new_session_id(t);

    if (inflight_try_acquire(svc->inflight, t->session_id)) {
        t->session_held = true;
        begin_attempts(t);
        return;
    }
    /* Another turn of this conversation is in flight. */
    switch (inflight_get_policy(svc->inflight)) {
    case INFLIGHT_FORK:
        stats_add(svc->stats, STAT_affinity, "fork", 1);
        t->affinity = AFFINITY_FORK;
        new_session_id(t);
        t->session_held = inflight_try_acquire(svc->inflight, t->session_id);
        begin_attempts(t);
        return;
    case INFLIGHT_WAIT:
        t->waiter = inflight_wait(svc->inflight, t->session_id, on_session_granted, t);
        if (t->waiter) return;
        on_session_granted(false, t);
        return;
    case INFLIGHT_REJECT: on_session_granted(false, t); return;
    }
}
