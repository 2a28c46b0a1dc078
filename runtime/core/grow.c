#include "core/grow.h"

void *hn_grow_buf_get(hn_grow_buf *b, void *(*alloc)(size_t), void (*release)(void *),
                      size_t bytes) {
    if (b->p && bytes <= b->bytes) return b->p;
    size_t grown = b->bytes + b->bytes / 2;
    if (grown < bytes) grown = bytes;
    if (b->p) release(b->p);
    b->p = alloc(grown ? grown : 1);
    b->bytes = b->p ? grown : 0;
    return b->p;
}
