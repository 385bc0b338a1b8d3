/* Gives the heap's free pages back to the kernel after a burst.
 *
 * glibc returns memory on free() only from the top of the heap. When thousands of streams end,
 * their chunks are freed under a few chunks allocated later (session-cache entries, stats
 * series), so the top never frees and RSS stays at the burst's peak: measured 65 MB after 2,000
 * streams ended with 1.5 MB of heap in use; malloc_trim brought it to 15 MB. */
#ifndef LGW_UTIL_HEAP_TRIM_H
#define LGW_UTIL_HEAP_TRIM_H
#include <stdbool.h>
#include <stddef.h>

/* Once, before the first allocation that matters: free() never gives memory back by itself and
 * allocations below 4 MB always come from the heap. glibc's defaults trim the heap top and
 * move the mmap threshold as requests come and go, so a 60 KB request cost brk calls and ~5
 * fresh zeroed pages per request on the latency path; heap_trim does the giving back instead,
 * from a timer. A no-op outside glibc. */
void heap_trim_configure(void);

/* Trims when malloc holds more than `min_free` free bytes; returns whether it trimmed. Cheap when
 * there is little to trim (reads malloc's bin totals). A no-op outside glibc. */
bool heap_trim(size_t min_free);
#endif
