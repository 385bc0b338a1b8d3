/* Bump allocator: one owner frees everything at once (a request and all its strings). */
#ifndef LGW_UTIL_ARENA_H
#define LGW_UTIL_ARENA_H
#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;
    size_t chunk_size;
    size_t total; /* bytes handed out, for limits and tests */
} arena;

void arena_init(arena *a, size_t chunk_size);
void arena_free(arena *a);
/* Never returns NULL: aborts on out-of-memory (the process cannot continue safely). */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);
#endif
