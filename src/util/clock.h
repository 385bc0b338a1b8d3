/* Time sources. Monotonic for durations, wall clock for timestamps. A test can install a fake. */
#ifndef LGW_UTIL_CLOCK_H
#define LGW_UTIL_CLOCK_H
#include <stdint.h>

uint64_t clock_mono_ns(void);
int64_t clock_wall_ms(void);
/* Tests: replace the wall clock (NULL restores the real one). */
void clock_set_fake_wall_ms(int64_t (*fn)(void));
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-24T23:09:33.123Z (out >= 32 bytes). */
void clock_format_rfc3339(int64_t wall_ms, char *out, unsigned cap);
#endif
