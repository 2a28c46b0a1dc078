/* cpu backend memory: host memory, zero-filled and 64-byte aligned (one cache line,
 * enough for any SIMD width OpenBLAS uses). Transfers are plain copies. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"

#define HN_CPU_ALIGN 64

void *hn_cpu_alloc(size_t bytes) {
    /* round up so a zero-byte request still yields a distinct, freeable block */
    size_t n = (bytes + HN_CPU_ALIGN - 1) / HN_CPU_ALIGN * HN_CPU_ALIGN;
    if (n == 0) n = HN_CPU_ALIGN;
    if (n < bytes) return NULL; /* overflow */
    void *p = NULL;
    if (posix_memalign(&p, HN_CPU_ALIGN, n) != 0) return NULL;
    memset(p, 0, n);
    return p;
}

void hn_cpu_free(void *p) { free(p); }

void hn_cpu_upload(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}

void hn_cpu_download(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}

void hn_cpu_copy(void *dst, const void *src, size_t bytes) {
    /* memmove: callers may copy within one buffer */
    if (bytes && dst != src) memmove(dst, src, bytes);
}

void hn_cpu_zero(void *p, size_t bytes) {
    if (bytes) memset(p, 0, bytes);
}

/* cpu ops complete before they return */
void hn_cpu_sync(void) {}
