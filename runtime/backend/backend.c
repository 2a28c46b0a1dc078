#include "backend/backend.h"

#include <string.h>

#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

const hn_backend *hn_backend_get(const char *name) {
    if (!name || !strcmp(name, "cpu")) return hn_backend_cpu();
#ifdef HN_HAVE_CUDA
    /* NULL when this machine has no CUDA device */
    if (!strcmp(name, "cuda")) return hn_backend_cuda();
#endif
    return NULL; /* cuda without nvcc at build time */
}

const char *hn_backend_why_unavailable(const char *name) {
#ifdef HN_HAVE_CUDA
    if (name && !strcmp(name, "cuda")) return hn_cuda_last_error();
#endif
    (void)name;
    return "";
}

void *hn_ws_pool_get(hn_ws_pool *pool, void *(*alloc)(size_t), void (*release)(void *),
                     int slot, size_t bytes) {
    if (slot < 0 || slot >= HN_WS_SLOTS) return NULL;
    return hn_grow_buf_get(&pool->slot[slot], alloc, release, bytes);
}
