/* A grow-only buffer whose contents need not survive growth: the one shape behind the
 * backend workspace, the cuda scratch slots and kept activations (core/stash.h). */
#ifndef HN_GROW_H
#define HN_GROW_H

#include <stddef.h>

typedef struct hn_grow_buf {
    void *p;
    size_t bytes;
} hn_grow_buf;

/* b->p with room for at least `bytes`, reallocated (the old one freed first, so the peak
 * stays one buffer) to max(bytes, 1.5x) when short; NULL when out of memory. */
void *hn_grow_buf_get(hn_grow_buf *b, void *(*alloc)(size_t), void (*release)(void *),
                      size_t bytes);

#endif
