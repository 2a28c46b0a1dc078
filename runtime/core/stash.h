/* An activation a layer keeps from its forward to its backward, stored in bf16 when the
 * backend says so (hn_backend.stash_bf16) and in float32 otherwise: "bf16 activations,
 * fp32 arithmetic". The layer computes in float32 either way:
 *
 *   forward:   float *a = hn_stash_begin(&s, be, slot, n);   write n floats to a
 *              ... use a ...;  hn_stash_end(&s);            (packs when bf16)
 *   backward:  const float *a = hn_stash_get(&s, slot);     (unpacks when bf16)
 *
 * In float32 mode begin answers the stash's own memory and nothing is copied; in bf16
 * mode the float32 values live in the backend workspace slot `slot` (valid until that
 * slot is asked for again) and the stash holds 2 bytes per value. Storage grows
 * geometrically and is never allocated per step.
 *
 * Typed use, for producers and consumers that are typed ops (backend.h "_t"): the stash
 * is a tensor of the backend's activation dtype that the producer writes and consumers
 * read as it is, with nothing packed or unpacked:
 *
 *   forward:   hn_tensor a = hn_stash_tensor_begin(&s, be, rows, cols);  an op writes a
 *   backward:  hn_tensor a = hn_stash_tensor(&s); */
#ifndef HN_STASH_H
#define HN_STASH_H

#include <stddef.h>

#include "backend/backend.h"
#include "core/grow.h"

typedef struct hn_stash {
    const hn_backend *be;
    hn_grow_buf buf; /* the kept values: float or uint16_t (bf16) */
    size_t n;      /* values of the last forward */
    int rows, cols; /* its shape, for the typed use */
    int bf16;      /* the format of those values */
    float *work;   /* bf16 mode: the float32 values between begin and end */
} hn_stash;

/* Where the forward writes n float32 values; NULL when out of memory. */
float *hn_stash_begin(hn_stash *s, const hn_backend *be, int slot, size_t n);
/* The values written since begin are kept (packed to bf16 in bf16 mode). */
void hn_stash_end(hn_stash *s);
/* The kept values as float32 (unpacked into workspace `slot` in bf16 mode); NULL when
 * out of memory. */
const float *hn_stash_get(hn_stash *s, int slot);
void hn_stash_free(hn_stash *s);

/* Typed use: the tensor the forward writes (data NULL when out of memory). */
hn_tensor hn_stash_tensor_begin(hn_stash *s, const hn_backend *be, int rows, int cols);
/* The kept tensor of the last hn_stash_tensor_begin. */
hn_tensor hn_stash_tensor(const hn_stash *s);

#endif
