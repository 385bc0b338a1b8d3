/* heap_trim: trims only when malloc holds more free bytes than asked, and then gives them back. */
#include "util/heap_trim.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define N_CHUNKS 4096

static void test_trims_after_a_burst_only(void **state) {
    (void)state;
#ifdef UNDER_ASAN
    skip(); /* ASan's allocator replaces malloc: there is no glibc heap to trim */
#else
    assert_false(heap_trim(SIZE_MAX)); /* nothing is ever over that */
    /* A burst: many chunks, then one allocated after them keeps the heap's top in use, as a
     * session-cache entry does after a burst of streams (large, so that no free chunk left
     * over from earlier can serve it: it must come from the top). */
    static void *volatile chunks[N_CHUNKS]; /* volatile: the compiler may not drop the pairs */
    for (size_t i = 0; i < N_CHUNKS; i++)
        chunks[i] = malloc(1024);
    void *volatile top = malloc(100000);
    for (size_t i = 0; i < N_CHUNKS; i++)
        free(chunks[i]);
    assert_true(heap_trim(1u << 20));
    free(top);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trims_after_a_burst_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
