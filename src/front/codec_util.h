/* Helpers shared by the two front codecs (openai_codec, anthropic_codec): strict JSON input,
 * the request's tape (util/json_tape.h), decode errors, tape → arena copies, token estimates and
 * the model descriptor both models lists encode. Pure: no I/O besides debug logging. */
#ifndef LGW_FRONT_CODEC_UTIL_H
#define LGW_FRONT_CODEC_UTIL_H
#include "core/conv.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json_tape.h"
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_JSON_MAX_DEPTH 64

/* A request the client got wrong: the caller renders it in its protocol's envelope. */
typedef struct codec_error {
    int status;        /* HTTP status (400) */
    char message[512]; /* human-readable, already names the field for Anthropic */
    char param[128];   /* offending field, "messages[2].content" / "max_tokens"; "" = none */
} codec_error;

void codec_error_set(codec_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Field paths in errors ("messages[2].content[0].text"), truncated to fit. */
#define CODEC_PATH_CAP 128
void codec_path(char dst[CODEC_PATH_CAP], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a request body as exactly one JSON value: strict grammar, depth ≤ 64, no NaN/±Infinity
 * (json-c accepts those even in strict mode). UTF-8 is not validated (json-c's check costs ~40%
 * of the parse); util/json_write replaces invalid sequences with U+FFFD on every output. Returns a
 * new reference, or NULL with *why set to a static description. */
json_object *codec_parse_json(const char *body, size_t len, const char **why);

/* Reads text as one JSON value into the empty tape t (D35): json_tape_scan when it takes an
 * object, else codec_parse_json copied by json_tape_from_jsonc. Returns the root, or NULL with
 * *why set to json-c's description when the text is not valid JSON. The caller frees t. */
const jt_node *codec_read_json(const char *text, size_t len, json_tape *t, const char **why);

/* Starts decoding a request body: initialises `out` (its arena sized to the body — a decoded
 * request lives as long as its turn, and 10,000 streams may be open) and reads the body into the
 * empty tape `t`: json_tape_scan, else codec_parse_json and json_tape_from_jsonc. Returns the
 * root object, or NULL with `err` set in the wording of `proto`. Either way the caller ends with
 * codec_end_request. */
const jt_node *codec_begin_request(const char *body, size_t len, conv_protocol proto, json_tape *t,
                                   conv_request *out, codec_error *err);

/* Ends decoding: frees the tape. The decoded request holds copies only, never pointers into the
 * tape or the body. */
void codec_end_request(json_tape *t);

/* The next block of m (its array was sized by the caller), zeroed and typed. */
conv_block *codec_new_block(conv_message *m, conv_block_type t);
/* Appends a tool (r->tools was sized by the caller): name is a string; a description that is
 * not a string is ignored; the schema (any JSON, may be NULL) is kept as compact text. */
void codec_add_tool(conv_request *r, const jt_node *name, const jt_node *description,
                    const jt_node *schema);
/* Appends one system text to the joined system prompt ("\n\n" between parts). */
void codec_append_system(buf *sys, bool *has_sys, const char *s, size_t n);

/* Copies a string's bytes (NULs included) into the arena; *len gets the length. */
const char *codec_str(arena *a, const jt_node *s, size_t *len);
/* A value as compact text in the arena ("/" not escaped: the model reads it): jt_put_json. */
const char *codec_json_text(arena *a, const jt_node *v);
/* s is a string that reads as lit up to its first NUL: what strcmp saw of json-c's strings, so
 * "text\u0000x" still means "text" (only json-c's path yields a NUL: the scanner refuses it). */
bool codec_str_is(const jt_node *s, const char *lit);
/* A number as json_object_get_double read it (jt_number, but json-c kept an integer above
 * INT64_MAX, which the tape's v.i clamps, as an unsigned 64-bit value: its text still says so). */
double codec_number(const jt_node *n);
/* The precision for printing string s with "%.*s", at most cap bytes (printf stops at a NUL). */
static inline int codec_print_len(const jt_node *s, int cap) {
    return s->len < (uint32_t)cap ? (int)s->len : cap;
}
/* Sets tool_name on TOOL_RESULT blocks from the matching earlier TOOL_CALL (same tool_id):
 * some upstreams want the function name next to a result. Searches backwards, so the usual
 * case (the call is in the previous message) is O(1). */
void codec_link_tool_results(conv_request *r);
/* The last step of both decoders once every field is read: the joined system prompt (if any
 * part was given) goes into the arena, and tool results are linked to their calls. */
void codec_finish_request(conv_request *r, const buf *sys, bool has_sys);
/* Debug-logs an unknown item that was degraded or dropped (never an error). Its type is the
 * string `type` (up to a NUL), the JSON text of a `type` that is not a string, or `absent` when
 * `type` is NULL; that is client text: at most 48 of its [A-Za-z0-9_.-] characters reach the log
 * line. */
void codec_log_dropped(const char *where, const jt_node *type, const char *absent);
/* JSON type name for error messages ("a string", "an object", ...); NULL reads as null. */
const char *codec_json_type_desc(const jt_node *v);

/* Token estimate, in quarter tokens, of UTF-8 text: ASCII 1/4 token per byte, 2-byte
 * sequences 1/2, 3-byte (CJK, most other scripts) 1, 4-byte (emoji) 2. Summed in quarters
 * so streamed fragments add up exactly; tokens = (quarters + 3) / 4. */
int64_t codec_token_quarters(const char *s, size_t n);
int64_t codec_estimate_tokens(const char *s, size_t n);
/* Estimated prompt tokens of a whole request (the count_tokens method, see codec_util.c). */
int64_t codec_estimate_request_tokens(const conv_request *r);

/* One entry of a models list. */
typedef struct codec_model_info {
    const char *id;
    const char *display_name; /* Anthropic shape; NULL → id */
    int64_t created;          /* unix seconds */
    const char *owned_by;     /* OpenAI shape; NULL → "system" */
} codec_model_info;
#endif
