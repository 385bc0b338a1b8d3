/* canonical: the protocol-neutral conversation and its rolling prefix hashes.
 *
 * The same conversation decoded from an OpenAI body and from an Anthropic body (through the
 * real decoders) must hash identically at every message boundary; volatile parts (cache_control,
 * thinking + signatures, tool-call ids, the billing-header system line, whitespace, key order of
 * tool arguments) must not count; the API key scope and any real edit must. */
#include "core/canonical.h"
#include "front/anthropic_codec.h"
#include "front/openai_codec.h"
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <cmocka.h>

#include "random_text.h"

#define MAX_HASHES 16

typedef struct hashed {
    size_t n; /* boundaries = messages + 1 */
    conv_hash h[MAX_HASHES];
} hashed;

static const uint8_t KEY_NONE[32];

static void key_of(uint8_t out[32], uint8_t fill) { memset(out, fill, 32); }

static void hash_request(const conv_request *r, const uint8_t key[32], hashed *out) {
    assert_true(r->n_messages + 1 <= MAX_HASHES);
    out->n = r->n_messages + 1;
    canonical_prefix_hashes(key, r, out->h);
}

static void hash_openai(const char *body, const uint8_t key[32], hashed *out) {
    conv_request r;
    codec_error err;
    memset(&err, 0, sizeof err);
    int rc = openai_decode_request(body, strlen(body), &r, &err);
    if (rc != 0) fail_msg("openai decode failed: %s", err.message);
    hash_request(&r, key, out);
    conv_request_free(&r);
}

static void hash_anthropic(const char *body, const uint8_t key[32], hashed *out) {
    conv_request r;
    codec_error err;
    memset(&err, 0, sizeof err);
    int rc = anthropic_decode_request(body, strlen(body), ANTHROPIC_DECODE_MESSAGES, &r, &err);
    if (rc != 0) fail_msg("anthropic decode failed: %s", err.message);
    hash_request(&r, key, out);
    conv_request_free(&r);
}

static bool hash_eq(const conv_hash *a, const conv_hash *b) { return memcmp(a->b, b->b, 16) == 0; }

static void assert_same_hashes(const hashed *a, const hashed *b, const char *what) {
    if (a->n != b->n) fail_msg("%s: %zu vs %zu boundaries", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (!hash_eq(&a->h[i], &b->h[i])) fail_msg("%s: hashes differ at boundary %zu", what, i);
}

/* ---------------------------------------------------------------- the reference conversation
 * system, user text, assistant text + tool call, tool result, user text. */

static const char OPENAI_BODY[] =
    "{\"model\":\"gpt-4o\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a careful assistant.\\nAnswer briefly.\"},"
    "{\"role\":\"user\",\"content\":\"List the files, please.\"},"
    "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":[{\"id\":\"call_Xy12\","
    "\"type\":\"function\",\"function\":{\"name\":\"list_dir\","
    "\"arguments\":\"{\\\"path\\\":\\\"src\\\",\\\"depth\\\":2,\\\"opts\\\":{\\\"hidden\\\":false,"
    "\\\"all\\\":true}}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_Xy12\",\"content\":\"main.c\\nutil.c\"},"
    "{\"role\":\"user\",\"content\":\"Now read main.c\"}]}";

/* The same, as Claude Code would send it: billing line, cache_control, thinking with a
 * signature, toolu_ ids, arguments as an object with other key order, extra whitespace. */
static const char ANTHROPIC_BODY[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":["
    "{\"type\":\"text\",\"text\":\"x-anthropic-billing-header: cc_version=2.0.14; "
    "cc_entrypoint=cli\"},"
    "{\"type\":\"text\",\"text\":\"You are a careful assistant.\\n  Answer   briefly.\","
    "\"cache_control\":{\"type\":\"ephemeral\"}}],"
    "\"messages\":["
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"List the files, please.\","
    "\"cache_control\":{\"type\":\"ephemeral\"}}]},"
    "{\"role\":\"assistant\",\"content\":["
    "{\"type\":\"thinking\",\"thinking\":\"The user wants a "
    "listing.\",\"signature\":\"EqQBCkYIBxgCKkD\"},"
    "{\"type\":\"text\",\"text\":\"Let me look. \"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_01AbCdEf\",\"name\":\"list_dir\","
    "\"input\":{\"opts\":{\"all\":true,\"hidden\":false},\"depth\":2,\"path\":\"src\"}}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01AbCdEf\","
    "\"content\":[{\"type\":\"text\",\"text\":\"main.c\\nutil.c\"}]},"
    "{\"type\":\"text\",\"text\":\"Now read "
    "main.c\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}";

/* A minimal Anthropic form of the same conversation, the baseline for single-variable checks. */
#define A_HEAD "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
#define A_SYS  "\"system\":\"You are a careful assistant.\\nAnswer briefly.\","
#define A_U1   "{\"role\":\"user\",\"content\":\"List the files, please.\"}"
#define A_A1(extra, id, input)                                                                     \
    "{\"role\":\"assistant\",\"content\":[" extra "{\"type\":\"text\",\"text\":\"Let me look.\"}," \
    "{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"list_dir\",\"input\":" input "}]}"
#define A_INPUT "{\"path\":\"src\",\"depth\":2,\"opts\":{\"hidden\":false,\"all\":true}}"
#define A_T1(id)                                                                                   \
    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"" id "\","        \
    "\"content\":\"main.c\\nutil.c\"}]}"
#define A_U2 "{\"role\":\"user\",\"content\":\"Now read main.c\"}"

static const char ANTHROPIC_BASE[] = A_HEAD A_SYS
    "\"messages\":[" A_U1 "," A_A1("", "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}";

static void test_openai_and_anthropic_hash_alike(void **state) {
    (void)state;
    hashed o, a, base;
    hash_openai(OPENAI_BODY, KEY_NONE, &o);
    hash_anthropic(ANTHROPIC_BODY, KEY_NONE, &a);
    hash_anthropic(ANTHROPIC_BASE, KEY_NONE, &base);
    assert_int_equal(o.n, 5); /* system + 4 messages (u, a, tool, u) */
    assert_same_hashes(&o, &a, "openai vs anthropic (claude-code style)");
    assert_same_hashes(&o, &base, "openai vs anthropic (plain)");
    /* and the boundaries are really distinct */
    for (size_t i = 1; i < o.n; i++)
        assert_false(hash_eq(&o.h[i - 1], &o.h[i]));
}

static void test_same_key_same_hash_with_key(void **state) {
    (void)state;
    uint8_t k[32];
    key_of(k, 0x5a);
    hashed o, a;
    hash_openai(OPENAI_BODY, k, &o);
    hash_anthropic(ANTHROPIC_BODY, k, &a);
    assert_same_hashes(&o, &a, "same key, both protocols");
}

static void check_variant_same(const char *variant, const char *what) {
    hashed base, v;
    hash_anthropic(ANTHROPIC_BASE, KEY_NONE, &base);
    hash_anthropic(variant, KEY_NONE, &v);
    assert_same_hashes(&base, &v, what);
}

static void test_cache_control_ignored(void **state) {
    (void)state;
    check_variant_same(
        A_HEAD
        "\"system\":[{\"type\":\"text\",\"text\":\"You are a careful assistant.\\nAnswer "
        "briefly.\",\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"List the "
        "files, please.\",\"cache_control\":{\"type\":\"ephemeral\"}}]}," A_A1(
            "", "toolu_1",
            A_INPUT) "," A_T1("toolu_1") ","
                                         "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                                         "\"text\":\"Now read main.c\","
                                         "\"cache_control\":{\"type\":\"ephemeral\"}}]}]}",
        "cache_control");
}

static void test_thinking_and_signature_ignored(void **state) {
    (void)state;
    check_variant_same(
        A_HEAD A_SYS
        "\"messages\":[" A_U1
        "," A_A1("{\"type\":\"thinking\",\"thinking\":\"hmm, a listing\","
                 "\"signature\":\"sigA\"},{\"type\":\"redacted_thinking\",\"data\":\"xyz\"},",
                 "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
        "thinking blocks");
    /* a different signature / thinking text changes nothing either */
    hashed x, y;
    hash_anthropic(A_HEAD A_SYS
                   "\"messages\":[" A_U1
                   "," A_A1("{\"type\":\"thinking\",\"thinking\":\"one\",\"signature\":\"s1\"},",
                            "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
                   KEY_NONE, &x);
    hash_anthropic(A_HEAD A_SYS
                   "\"messages\":[" A_U1
                   "," A_A1("{\"type\":\"thinking\",\"thinking\":\"two\",\"signature\":\"s2\"},",
                            "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
                   KEY_NONE, &y);
    assert_same_hashes(&x, &y, "thinking text and signature");
}

static void test_tool_ids_ignored(void **state) {
    (void)state;
    check_variant_same(A_HEAD A_SYS
                       "\"messages\":[" A_U1
                       "," A_A1("", "call_ZZZ999", A_INPUT) "," A_T1("call_ZZZ999") "," A_U2 "]}",
                       "tool ids");
}

static void test_billing_header_ignored(void **state) {
    (void)state;
    check_variant_same(
        A_HEAD
        "\"system\":\"x-anthropic-billing-header: cc_version=1.0.99; cch=deadbeef\\nYou are a "
        "careful assistant.\\nAnswer briefly.\",\"messages\":[" A_U1
        "," A_A1("", "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
        "billing header line");
    /* but a different real system prompt counts */
    hashed base, v;
    hash_anthropic(ANTHROPIC_BASE, KEY_NONE, &base);
    hash_anthropic(A_HEAD "\"system\":\"You are a sloppy assistant.\",\"messages\":[" A_U1
                          "," A_A1("", "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
                   KEY_NONE, &v);
    for (size_t i = 0; i < base.n; i++)
        assert_false(hash_eq(&base.h[i], &v.h[i]));
}

static void test_whitespace_ignored(void **state) {
    (void)state;
    check_variant_same(
        A_HEAD
        "\"system\":\"  You are a careful assistant.\\n\\n\\tAnswer briefly.\\n\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"List  the files,\\nplease. \"}," A_A1(
            "", "toolu_1", A_INPUT) ","
                                    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                                    "\"tool_use_id\":\"toolu_1\","
                                    "\"content\":\"main.c\\r\\n  util.c\\n\"}]},"
                                    "{\"role\":\"user\",\"content\":\"\\nNow read main.c\\n\"}]}",
        "whitespace");
    /* whitespace between words is not the same as no whitespace */
    hashed base, v;
    hash_anthropic(ANTHROPIC_BASE, KEY_NONE, &base);
    hash_anthropic(A_HEAD A_SYS "\"messages\":[" A_U1 "," A_A1("", "toolu_1", A_INPUT) "," A_T1(
                       "toolu_1") ",{\"role\":\"user\",\"content\":\"Nowread main.c\"}]}",
                   KEY_NONE, &v);
    assert_false(hash_eq(&base.h[4], &v.h[4]));
}

static void test_tool_argument_key_order_ignored(void **state) {
    (void)state;
    check_variant_same(A_HEAD A_SYS "\"messages\":[" A_U1
                                    "," A_A1("", "toolu_1",
                                             "{\"opts\":{\"all\":true,\"hidden\":false},\"path\":"
                                             "\"src\",\"depth\":2}") "," A_T1("toolu_1") "," A_U2
                                                                                         "]}",
                       "tool argument key order");
    /* OpenAI arguments as text with spaces and another order */
    hashed o1, o2;
#define FMT                                                                                        \
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"                       \
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"        \
    "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"%s\"}}]},"                          \
    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"ok\"}]}"
    char b1[512], b2[512];
    snprintf(b1, sizeof b1, FMT, "{\\\"a\\\":1,\\\"b\\\":[1,2,{\\\"y\\\":1,\\\"x\\\":2}]}");
    snprintf(b2, sizeof b2, FMT,
             "{ \\\"b\\\": [1, 2, {\\\"x\\\": 2, \\\"y\\\": 1}], \\\"a\\\": 1 }");
    hash_openai(b1, KEY_NONE, &o1);
    hash_openai(b2, KEY_NONE, &o2);
    assert_same_hashes(&o1, &o2, "openai argument text");
    /* different values do count */
    snprintf(b2, sizeof b2, FMT, "{\\\"a\\\":2,\\\"b\\\":[1,2,{\\\"y\\\":1,\\\"x\\\":2}]}");
    hash_openai(b2, KEY_NONE, &o2);
    assert_false(hash_eq(&o1.h[2], &o2.h[2]));
    assert_true(hash_eq(&o1.h[1], &o2.h[1]));
#undef FMT
}

static void test_key_digest_scopes_hashes(void **state) {
    (void)state;
    uint8_t k1[32], k2[32];
    key_of(k1, 1);
    key_of(k2, 2);
    hashed a, b, none;
    hash_openai(OPENAI_BODY, k1, &a);
    hash_openai(OPENAI_BODY, k2, &b);
    hash_openai(OPENAI_BODY, KEY_NONE, &none);
    for (size_t i = 0; i < a.n; i++) {
        assert_false(hash_eq(&a.h[i], &b.h[i]));
        assert_false(hash_eq(&a.h[i], &none.h[i]));
    }
}

static void test_changed_message_changes_all_later(void **state) {
    (void)state;
    hashed base, v;
    hash_anthropic(ANTHROPIC_BASE, KEY_NONE, &base);
    /* edit message 1 (the first user message): boundary 0 equal, 1.. differ */
    hash_anthropic(A_HEAD A_SYS
                   "\"messages\":[{\"role\":\"user\",\"content\":\"List the files, "
                   "quickly.\"}," A_A1("", "toolu_1", A_INPUT) "," A_T1("toolu_1") "," A_U2 "]}",
                   KEY_NONE, &v);
    assert_int_equal(base.n, v.n);
    assert_true(hash_eq(&base.h[0], &v.h[0]));
    for (size_t i = 1; i < base.n; i++)
        assert_false(hash_eq(&base.h[i], &v.h[i]));
    /* edit the tool result (message 3): boundaries 0..2 equal, 3.. differ */
    hash_anthropic(A_HEAD A_SYS "\"messages\":[" A_U1 "," A_A1(
                       "", "toolu_1",
                       A_INPUT) ","
                                "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                                "\"tool_use_id\":\"toolu_1\",\"content\":\"main.c\"}]}," A_U2 "]}",
                   KEY_NONE, &v);
    for (size_t i = 0; i < 3; i++)
        assert_true(hash_eq(&base.h[i], &v.h[i]));
    for (size_t i = 3; i < base.n; i++)
        assert_false(hash_eq(&base.h[i], &v.h[i]));
    /* a role change with the same text counts too */
    hashed u, a;
    hash_openai("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", KEY_NONE,
                &u);
    hash_openai("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}",
                KEY_NONE, &a);
    assert_true(hash_eq(&u.h[0], &a.h[0]));
    assert_false(hash_eq(&u.h[1], &a.h[1]));
}

/* The key a finished turn is recorded under (request + reply) must equal the prefix hash the
 * next request computes for the same history, from either protocol. */
static void test_extend_reply_matches_next_request(void **state) {
    (void)state;
    hashed t1, t2o, t2a;
    hash_openai("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
                "{\"role\":\"user\",\"content\":\"hello\"}]}",
                KEY_NONE, &t1);
    conv_response reply;
    conv_response_init(&reply);
    conv_event ev = {.type = CONV_EV_TEXT_DELTA, .text = "echo: ", .len = 6};
    conv_response_add(&reply, &ev);
    ev.text = "hello";
    ev.len = 5;
    conv_response_add(&reply, &ev);
    conv_hash key = canonical_extend_reply(t1.h[1], &reply);
    conv_response_free(&reply);

    hash_openai("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
                "{\"role\":\"user\",\"content\":\"hello\"},"
                "{\"role\":\"assistant\",\"content\":\"echo: hello\"},"
                "{\"role\":\"user\",\"content\":\"more\"}]}",
                KEY_NONE, &t2o);
    hash_anthropic(
        "{\"model\":\"m\",\"max_tokens\":10,\"system\":\"sys\",\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"echo: hello\"}]},"
        "{\"role\":\"user\",\"content\":\"more\"}]}",
        KEY_NONE, &t2a);
    assert_true(hash_eq(&key, &t2o.h[2]));
    assert_true(hash_eq(&key, &t2a.h[2]));
}

static void test_extend_reply_with_tool_call(void **state) {
    (void)state;
    hashed t1, t2;
    hash_openai("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"ls\"}]}", KEY_NONE,
                &t1);
    conv_response reply;
    conv_response_init(&reply);
    conv_event ev = {.type = CONV_EV_THINKING_DELTA, .text = "think", .len = 5};
    conv_response_add(&reply, &ev);
    ev = (conv_event){
        .type = CONV_EV_TOOL_CALL_START, .index = 0, .id = "call_q", .name = "list_dir"};
    conv_response_add(&reply, &ev);
    ev = (conv_event){.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "{\"path\": ", .len = 9};
    conv_response_add(&reply, &ev);
    ev = (conv_event){.type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "\"src\"}", .len = 6};
    conv_response_add(&reply, &ev);
    conv_hash key = canonical_extend_reply(t1.h[1], &reply);
    conv_response_free(&reply);
    hash_anthropic("{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                   "{\"role\":\"user\",\"content\":\"ls\"},"
                   "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_9\","
                   "\"name\":\"list_dir\",\"input\":{\"path\":\"src\"}}]},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
                   "\"toolu_9\",\"content\":\"a\"}]}]}",
                   KEY_NONE, &t2);
    assert_true(hash_eq(&key, &t2.h[2]));
}

static void test_canonical_json(void **state) {
    (void)state;
    buf b = BUF_INIT;
    assert_int_equal(
        canonical_json("{ \"b\" : [ 1 , {\"d\":null,\"c\":\"x\"} ], \"a\":true }", 50, &b), 0);
    assert_string_equal(b.data, "{\"a\":true,\"b\":[1,{\"c\":\"x\",\"d\":null}]}");
    buf_reset(&b);
    assert_int_equal(canonical_json("{\"a\":", 5, &b), -1);
    buf_free(&b);
}

/* ---- the word-at-a-time normaliser against the byte-at-a-time definition ---- */

/* Whitespace runs → one space, ends trimmed: the canonical form as first defined. */
static void ref_normalize(buf *out, const unsigned char *p, size_t n) {
    bool any = false, gap = false;
    for (size_t i = 0; i < n; i++) {
        if (isspace(p[i])) {
            gap = true;
            continue;
        }
        if (gap && any) buf_putc(out, ' ');
        buf_putc(out, (char)p[i]);
        any = true;
        gap = false;
    }
}

static size_t random_text(unsigned char *out, size_t cap, uint32_t *seed) {
    static const char *const pieces[] = {
        "word ",
        "longer words here ",
        " ",
        "  ",
        "\n",
        "\t",
        "\r\n",
        "\v",
        "\f",
        "x",
        "\x01",
        "\xe4\xb8\xad",
        "\xa0",
        "x-anthropic-billing-header: v=1\n",
        "  x-anthropic-billing-header:",
        "abcdefgh",
        "\n\n   ",
    };
    return random_pieces(out, cap, seed, pieces, sizeof pieces / sizeof *pieces);
}

static void test_text_normalization_matches_definition(void **state) {
    (void)state;
    static unsigned char text[8192];
    uint32_t seed = 7;
    buf got = BUF_INIT, want = BUF_INIT;
    for (int round = 0; round < 3000; round++) {
        size_t n =
            random_text(text, round < 2990 ? 1 + next_rand(&seed) % 200 : sizeof text, &seed);
        for (size_t off = 0; off < 8 && off <= n; off++) {
            conv_block b = {.type = CONV_BLOCK_TOOL_RESULT,
                            .text = (const char *)text + off,
                            .text_len = n - off};
            conv_message m = {.role = CONV_ROLE_TOOL, .blocks = &b, .n_blocks = 1};
            buf_reset(&got);
            canonical_message(&got, &m);
            buf_reset(&want);
            buf_puts(&want, "tR");
            ref_normalize(&want, text + off, n - off);
            buf_puts(&want, "\x1f\x1e");
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
        }
    }
    buf_free(&got);
    buf_free(&want);
}

/* out[0] = XXH3-128(16 zero bytes ‖ key ‖ 'S' ‖ normalized system without billing lines ‖ US). */
/* The streamed reply hash equals canonical_extend_reply for the same reply, whatever pieces the
 * text arrives in (whitespace runs split across pieces, pieces of nothing but whitespace). */
static void test_streamed_reply_matches_whole(void **state) {
    (void)state;
    uint32_t seed = 99;
    unsigned char text[600];
    conv_hash prev = {{7, 1, 2}};
    for (int round = 0; round < 3000; round++) {
        size_t n = random_text(text, next_rand(&seed) % sizeof text, &seed);
        bool with_call = round % 3 == 0;
        conv_response whole;
        conv_response_init(&whole);
        canonical_reply *streamed = canonical_reply_new(prev);
        for (size_t at = 0; at < n;) {
            size_t k = 1 + next_rand(&seed) % 24;
            if (k > n - at) k = n - at;
            conv_event ev = {.type = CONV_EV_TEXT_DELTA, .text = (const char *)text + at, .len = k};
            conv_response_add(&whole, &ev);
            canonical_reply_text(streamed, ev.text, ev.len);
            at += k;
        }
        if (with_call) {
            conv_event ev = {
                .type = CONV_EV_TOOL_CALL_START, .index = 0, .id = "call_1", .name = "read"};
            conv_response_add(&whole, &ev);
            ev = (conv_event){
                .type = CONV_EV_TOOL_CALL_ARGS, .index = 0, .text = "{\"b\":1,\"a\":2}"};
            ev.len = strlen(ev.text);
            conv_response_add(&whole, &ev);
        }
        conv_hash want = canonical_extend_reply(prev, &whole);
        conv_hash got = canonical_reply_finish(streamed, &whole);
        if (!hash_eq(&want, &got)) fail_msg("round %d: %zu bytes of text differ", round, n);
        conv_response_free(&whole);
    }
    canonical_reply_free(canonical_reply_new(prev)); /* freed without finishing (a retry) */
}

static void test_system_hash_matches_definition(void **state) {
    (void)state;
    static unsigned char text[4096];
    uint32_t seed = 99;
    uint8_t key[32];
    key_of(key, 0x5a);
    for (int round = 0; round < 500; round++) {
        size_t n = random_text(text, next_rand(&seed) % sizeof text, &seed);
        conv_request r;
        conv_request_init(&r, CONV_PROTO_ANTHROPIC);
        r.system = (const char *)text;
        r.system_len = n;
        conv_hash got;
        canonical_prefix_hashes(key, &r, &got);
        conv_request_free(&r);

        buf kept = BUF_INIT, want = BUF_INIT;
        for (size_t i = 0; i < n;) {
            size_t e = i, p;
            while (e < n && text[e] != '\n')
                e++;
            for (p = i; p < e && isspace(text[p]); p++) {
            }
            if (!(e - p >= 27 && memcmp(text + p, "x-anthropic-billing-header:", 27) == 0)) {
                buf_append(&kept, text + i, e - i);
                buf_putc(&kept, '\n');
            }
            i = e + 1;
        }
        buf_append(&want, (const uint8_t[16]){0}, 16);
        buf_append(&want, key, 32);
        buf_putc(&want, 'S');
        ref_normalize(&want, (const unsigned char *)(kept.data ? kept.data : ""), kept.len);
        buf_putc(&want, '\x1f');
        XXH128_hash_t h = XXH3_128bits(want.data, want.len);
        conv_hash expect;
        XXH128_canonicalFromHash((XXH128_canonical_t *)expect.b, h);
        assert_memory_equal(got.b, expect.b, sizeof got.b);
        buf_free(&kept);
        buf_free(&want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_and_anthropic_hash_alike),
        cmocka_unit_test(test_streamed_reply_matches_whole),
        cmocka_unit_test(test_same_key_same_hash_with_key),
        cmocka_unit_test(test_cache_control_ignored),
        cmocka_unit_test(test_thinking_and_signature_ignored),
        cmocka_unit_test(test_tool_ids_ignored),
        cmocka_unit_test(test_billing_header_ignored),
        cmocka_unit_test(test_whitespace_ignored),
        cmocka_unit_test(test_tool_argument_key_order_ignored),
        cmocka_unit_test(test_key_digest_scopes_hashes),
        cmocka_unit_test(test_changed_message_changes_all_later),
        cmocka_unit_test(test_extend_reply_matches_next_request),
        cmocka_unit_test(test_extend_reply_with_tool_call),
        cmocka_unit_test(test_canonical_json),
        cmocka_unit_test(test_text_normalization_matches_definition),
        cmocka_unit_test(test_system_hash_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
