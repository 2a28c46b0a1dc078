#include "core/stash.h"

#include <stdint.h>
#include <string.h>

/* makes buf hold `bytes`; grows by 1.5x at least so slowly growing T settles */
static int reserve(hn_stash *s, size_t bytes) {
    if (bytes <= s->bytes && s->buf) return 0;
    size_t grown = s->bytes + s->bytes / 2;
    if (grown < bytes) grown = bytes;
    if (s->buf) s->be->free(s->buf);
    s->buf = s->be->alloc(grown ? grown : 1);
    s->bytes = s->buf ? grown : 0;
    return s->buf ? 0 : -1;
}

float *hn_stash_begin(hn_stash *s, const hn_backend *be, int slot, size_t n) {
    if (s->be && s->be != be) hn_stash_free(s);
    s->be = be;
    s->n = n;
    s->bf16 = be->stash_bf16 && be->stash_bf16();
    s->work = NULL;
    if (reserve(s, n * (s->bf16 ? sizeof(uint16_t) : sizeof(float)))) return NULL;
    if (!s->bf16) return s->buf;
    s->work = be->workspace(slot, (n ? n : 1) * sizeof(float));
    return s->work;
}

void hn_stash_end(hn_stash *s) {
    if (s->bf16 && s->work) s->be->pack_bf16(s->buf, s->work, s->n);
    s->work = NULL;
}

const float *hn_stash_get(hn_stash *s, int slot) {
    if (!s->buf) return NULL;
    if (!s->bf16) return s->buf;
    float *out = s->be->workspace(slot, (s->n ? s->n : 1) * sizeof(float));
    if (out) s->be->unpack_bf16(out, s->buf, s->n);
    return out;
}

size_t hn_stash_bytes(const hn_stash *s) { return s->buf ? s->bytes : 0; }

void hn_stash_free(hn_stash *s) {
    if (s->buf && s->be) s->be->free(s->buf);
    memset(s, 0, sizeof *s);
}
