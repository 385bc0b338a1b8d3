/* Canonical conversation: a protocol-neutral serialisation of what the upstream session
 * "remembers", hashed at every message boundary. The same conversation sent through
 * /v1/chat/completions and /v1/messages hashes identically; volatile parts are left out:
 * cache_control, thinking (and its signatures), tool-call ids (they differ per protocol:
 * call_… vs toolu_…), Claude Code's x-anthropic-billing-header system line, and
 * whitespace-only differences. Tool arguments are compared as canonical JSON (sorted keys). */
#ifndef LGW_CORE_CANONICAL_H
#define LGW_CORE_CANONICAL_H
#include "core/conv.h"
#include "util/buf.h"
#include <stdint.h>

typedef struct conv_hash {
    uint8_t b[16];
} conv_hash;

/* out[0] covers the key scope + system text; out[i] the first i messages. out has
 * r->n_messages + 1 entries. key_digest: SHA-256 of the caller's API key (zeroes = no key). */
void canonical_prefix_hashes(const uint8_t key_digest[32], const conv_request *r, conv_hash *out);
/* The hash after appending the assistant's reply to the conversation ending at prev. */
conv_hash canonical_extend_reply(conv_hash prev, const conv_response *reply);
/* canonical_extend_reply computed while the reply streams in, so a held stream need not keep a
 * long text: each text piece is normalised and hashed on arrival; the tool calls (whose
 * arguments are compared as canonical JSON, so must be whole) are hashed at the end. */
typedef struct canonical_reply canonical_reply;
canonical_reply *canonical_reply_new(conv_hash prev);
/* The next piece of the reply's text (the pieces, joined, are its text). */
void canonical_reply_text(canonical_reply *r, const char *s, size_t n);
/* The hash with reply's tool calls appended (reply's own text is not read); frees r. */
conv_hash canonical_reply_finish(canonical_reply *r, const conv_response *reply);
void canonical_reply_free(canonical_reply *r);
/* The canonical bytes of one message (exposed for tests). */
void canonical_message(buf *out, const conv_message *m);
/* Canonical JSON text (sorted keys, no whitespace) of a JSON document; returns -1 if invalid. */
int canonical_json(const char *json, size_t len, buf *out);
#endif
