/* Scripted behaviour for one chat turn: the `@sim key=value ...` vocabulary (see directives.c for
 * the syntax). The same keys, as a JSON object, script accounts (--config, /_sim/accounts) and the
 * config's "defaults". Effective directive of a turn = defaults, overlaid by the message's
 * directive, overlaid by the account script. */
#ifndef LGW_SIM_DIRECTIVES_H
#define LGW_SIM_DIRECTIVES_H
#include "errors.h"
#include "util/buf.h"
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_MAX_TOOLS 8

/* X(name, min, max): integer keys and their accepted range. */
#define SIM_DIRECTIVE_INTS(X)                                                                      \
    X(chunks, 1, 100000)                                                                           \
    X(chunk_size, 1, 64 << 20)                                                                     \
    X(delay_ms, 0, 600000)                                                                         \
    X(first_byte_delay_ms, 0, 600000)                                                              \
    X(arg_chunk, 1, 64 << 20)                                                                      \
    X(stall_ms, 0, 600000)                                                                         \
    X(long_line, 1, 64 << 20)                                                                      \
    X(retry_after, 0, 86400)
#define SIM_DIRECTIVE_STRS(X) X(reply) X(reasoning) X(after_tool)
#define SIM_DIRECTIVE_FLAGS(X)                                                                     \
    X(usage) X(error_after_finish) X(truncate) X(no_done) X(keepalive) X(space) X(interleave)

/* Indexes: SIM_DI_<int key>, SIM_DS_<string key>, SIM_DF_<flag key>. */
#define SIM_X_ENUM_INT(n, lo, hi) SIM_DI_##n,
#define SIM_X_ENUM_STR(n)         SIM_DS_##n,
#define SIM_X_ENUM_FLAG(n)        SIM_DF_##n,
enum { SIM_DIRECTIVE_INTS(SIM_X_ENUM_INT) SIM_DI_COUNT };
enum { SIM_DIRECTIVE_STRS(SIM_X_ENUM_STR) SIM_DS_COUNT };
enum { SIM_DIRECTIVE_FLAGS(SIM_X_ENUM_FLAG) SIM_DF_COUNT };
#undef SIM_X_ENUM_INT
#undef SIM_X_ENUM_STR
#undef SIM_X_ENUM_FLAG

typedef struct sim_directive {
    int64_t ints[SIM_DI_COUNT]; /* -1: unset */
    char *strs[SIM_DS_COUNT];   /* NULL: unset */
    int8_t flags[SIM_DF_COUNT]; /* -1: unset */
    int8_t done_envelope;       /* done=envelope|bare; -1: unset */
    const char *finish;         /* "stop" | "length" | "tool_calls"; NULL: unset */
    const sim_error_def *error; /* NULL: unset */
    char *tool_name[SIM_MAX_TOOLS];
    char *tool_args[SIM_MAX_TOOLS]; /* raw argument text as given */
} sim_directive;

void sim_directive_init(sim_directive *d);
/* Frees the strings and returns to the unset state. */
void sim_directive_clear(sim_directive *d);
/* Copies every key set in src over dst (a tool list replaces the whole list). */
void sim_directive_overlay(sim_directive *dst, const sim_directive *src);
bool sim_directive_is_empty(const sim_directive *d);
bool sim_directive_has_tools(const sim_directive *d);

int64_t sim_directive_int(const sim_directive *d, int idx, int64_t dflt);
bool sim_directive_flag(const sim_directive *d, int idx, bool dflt);

/* Scans `text` for `@sim` lines, merging them into d. The text without those lines goes to
 * `rest` (may be NULL). Returns the number of directive lines, or -1 with a message in err. */
int sim_directive_parse_text(sim_directive *d, const char *text, size_t len, buf *rest, char *err,
                             size_t cap);
/* Reads the JSON form; keys listed in `skip` (NULL-terminated) belong to the caller.
 * Returns 0, or -1 with a message in err. */
int sim_directive_from_json(sim_directive *d, json_object *obj, const char *const *skip, char *err,
                            size_t cap);
/* Appends the set keys as a JSON object (for the request log). */
void sim_directive_render(const sim_directive *d, buf *b);
#endif
