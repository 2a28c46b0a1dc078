#include "core/stash.h"

#include <stdint.h>
#include <string.h>

static int reserve(hn_stash *s, size_t bytes) {
    return hn_grow_buf_get(&s->buf, s->be->alloc, s->be->free, bytes) ? 0 : -1;
}

float *hn_stash_begin(hn_stash *s, const hn_backend *be, int slot, size_t n) {
    if (s->be && s->be != be) hn_stash_free(s);
    s->be = be;
    s->n = n;
    s->bf16 = be->stash_bf16 && be->stash_bf16();
    s->work = NULL;
    if (reserve(s, n * (s->bf16 ? sizeof(uint16_t) : sizeof(float)))) return NULL;
    if (!s->bf16) return s->buf.p;
    s->work = be->workspace(slot, (n ? n : 1) * sizeof(float));
    return s->work;
}

void hn_stash_end(hn_stash *s) {
    if (s->bf16 && s->work) s->be->pack_bf16(s->buf.p, s->work, s->n);
    s->work = NULL;
}

const float *hn_stash_get(hn_stash *s, int slot) {
    if (!s->buf.p) return NULL;
    if (!s->bf16) return s->buf.p;
    float *out = s->be->workspace(slot, (s->n ? s->n : 1) * sizeof(float));
    if (out) s->be->unpack_bf16(out, s->buf.p, s->n);
    return out;
}

hn_tensor hn_stash_tensor_begin(hn_stash *s, const hn_backend *be, int rows, int cols) {
    if (s->be && s->be != be) hn_stash_free(s);
    s->be = be;
    s->rows = rows;
    s->cols = cols;
    s->n = (size_t)rows * cols;
    s->bf16 = be->activation_dtype(be) == HN_BF16;
    s->work = NULL;
    hn_tensor t = hn_stash_tensor(s);
    if (reserve(s, (s->n ? s->n : 1) * hn_dtype_size(t.dtype))) t.data = NULL;
    else t.data = s->buf.p;
    return t;
}

hn_tensor hn_stash_tensor(const hn_stash *s) {
    return hn_tensor_of(s->buf.p, s->bf16 ? HN_BF16 : HN_F32, s->rows, s->cols);
}

void hn_stash_free(hn_stash *s) {
    if (s->buf.p && s->be) s->be->free(s->buf.p);
    memset(s, 0, sizeof *s);
}
