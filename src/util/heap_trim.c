#include "util/heap_trim.h"
#include <stdlib.h> /* defines __GLIBC__ on glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

void heap_trim_configure(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

bool heap_trim(size_t min_free) {
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks <= min_free) return false;
    malloc_trim(0);
    return true;
#else
    (void)min_free;
    return false;
#endif
}
