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
/* The canonical bytes of one message (exposed for tests). */
void canonical_message(buf *out, const conv_message *m);
/* Canonical JSON text (sorted keys, no whitespace) of a JSON document; returns -1 if invalid. */
int canonical_json(const char *json, size_t len, buf *out);
#endif
