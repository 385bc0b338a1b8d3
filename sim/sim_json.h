/* Strict JSON parsing for the simulator (json-c). */
#ifndef LGW_SIM_JSON_H
#define LGW_SIM_JSON_H
#include <json-c/json.h>
#include <stddef.h>

#define SIM_JSON_MAX_DEPTH 64

/* Parses exactly one JSON object, array or string (a bare top-level number has no end json-c
 * can see without a NUL, and is never valid input here); trailing whitespace allowed.
 * Returns a new reference, or NULL with a message in err. */
json_object *sim_json_parse(const char *s, size_t len, char *err, size_t cap);
/* Parses the JSON value that starts at s and reports how many bytes it spans (*used);
 * trailing bytes are left alone. Returns NULL on a malformed or incomplete value. */
json_object *sim_json_parse_prefix(const char *s, size_t len, size_t *used);
/* obj[key] if it is a string, else NULL. */
const char *sim_json_get_str(json_object *obj, const char *key);
#endif
