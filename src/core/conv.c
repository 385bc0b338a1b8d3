#include "core/conv.h"
#include "util/xalloc.h"
#include <string.h>

void conv_request_init(conv_request *r, conv_protocol protocol) {
    memset(r, 0, sizeof *r);
    arena_init(&r->a, 8192);
    r->protocol = protocol;
    r->parallel_tool_calls = true;
}

void conv_request_free(conv_request *r) { arena_free(&r->a); }

const char *conv_error_class_name(conv_error_class c) {
    switch (c) {
    case CONV_ERR_NONE: return "none";
    case CONV_ERR_AUTH: return "auth";
    case CONV_ERR_RATE_LIMIT: return "rate_limit";
    case CONV_ERR_QUOTA: return "quota";
    case CONV_ERR_TRANSIENT: return "transient";
    case CONV_ERR_TIMEOUT: return "timeout";
    case CONV_ERR_REQUEST_FATAL: return "request_fatal";
    case CONV_ERR_CONFIG_FATAL: return "config_fatal";
    case CONV_ERR_CANCELLED: return "cancelled";
    }
    return "unknown";
}

void conv_response_init(conv_response *r) { memset(r, 0, sizeof *r); }

void conv_response_free(conv_response *r) {
    free(r->text);
    free(r->thinking);
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].args);
    }
    free(r->calls);
    free(r->stop_sequence);
    memset(r, 0, sizeof *r);
}

static void grow_append(char **p, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1)
            c *= 2;
        *p = xrealloc(*p, c);
        *cap = c;
    }
    if (n) memcpy(*p + *len, s, n);
    *len += n;
    (*p)[*len] = '\0';
}

static conv_tool_call_out *call_at(conv_response *r, int index) {
    /* Calls are kept in order of first appearance; index is the upstream's key. We store the
     * upstream index in the slot position when possible, else append. */
    size_t want = index < 0 ? r->n_calls : (size_t)index;
    while (r->n_calls <= want) {
        if (r->n_calls == r->calls_cap) {
            r->calls_cap = r->calls_cap ? r->calls_cap * 2 : 4;
            r->calls = xrealloc(r->calls, r->calls_cap * sizeof *r->calls);
        }
        memset(&r->calls[r->n_calls], 0, sizeof *r->calls);
        r->n_calls++;
    }
    return &r->calls[want];
}

void conv_response_add(conv_response *r, const conv_event *ev) {
    switch (ev->type) {
    case CONV_EV_TEXT_DELTA:
        grow_append(&r->text, &r->text_len, &r->text_cap, ev->text, ev->len);
        break;
    case CONV_EV_THINKING_DELTA:
        grow_append(&r->thinking, &r->thinking_len, &r->thinking_cap, ev->text, ev->len);
        break;
    case CONV_EV_TOOL_CALL_START: {
        if (ev->index < 0 || ev->index > 1024) break;
        conv_tool_call_out *c = call_at(r, ev->index);
        free(c->id);
        free(c->name);
        c->id = xstrdup(ev->id ? ev->id : "");
        c->name = xstrdup(ev->name ? ev->name : "");
        break;
    }
    case CONV_EV_TOOL_CALL_ARGS: {
        if (ev->index < 0 || ev->index > 1024) break;
        conv_tool_call_out *c = call_at(r, ev->index);
        grow_append(&c->args, &c->args_len, &c->args_cap, ev->text, ev->len);
        break;
    }
    case CONV_EV_FINISH:
        r->finished = true;
        r->stop = ev->stop;
        free(r->stop_sequence);
        r->stop_sequence = ev->stop_sequence ? xstrdup(ev->stop_sequence) : NULL;
        if (ev->usage.known) r->usage = ev->usage;
        break;
    case CONV_EV_ERROR: break;
    }
}
