/* Element access to typed views (backend/tensor.h) for the cpu's typed ops: a bf16 view
 * is read by widening exactly and written by rounding once. */
#ifndef HN_CPU_VIEW_H
#define HN_CPU_VIEW_H

#include "backend/tensor.h"

static inline float hn_view_get(hn_tensor t, int r, int c) {
    size_t i = (size_t)r * t.ld + c;
    return t.dtype == HN_BF16 ? hn_bf16_to_f32(((const uint16_t *)t.data)[i])
                              : ((const float *)t.data)[i];
}

static inline void hn_view_put(hn_tensor t, int r, int c, float v) {
    size_t i = (size_t)r * t.ld + c;
    if (t.dtype == HN_BF16) ((uint16_t *)t.data)[i] = hn_bf16_from_f32(v);
    else ((float *)t.data)[i] = v;
}

/* every element of t set to 0 (an output an op writes rather than adds to) */
static inline void hn_cpu_view_zero(hn_tensor t) {
    for (int r = 0; r < t.rows; r++)
        for (int c = 0; c < t.cols; c++) hn_view_put(t, r, c, 0.0f);
}

/* a packed float32 copy of t (widened when bf16; free it); NULL when out of memory */
float *hn_cpu_widen(hn_tensor t);
/* dst = src (add = 0) or dst += src, src packed [dst.rows, dst.cols] */
void hn_cpu_store(hn_tensor dst, const float *src, int add);
/* a gradient: accumulated into a float32 view, written over a bf16 one (ops_ssm.h) */
static inline void hn_cpu_store_grad(hn_tensor dst, const float *src) {
    hn_cpu_store(dst, src, dst.dtype == HN_F32);
}

#endif
