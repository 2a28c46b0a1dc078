/* Typed views (backend/tensor.h) inside cuda kernels: a pointer, its dtype as a flag and
 * a row stride. The dtype is uniform across a launch, so the per-element branch on it
 * costs nothing measurable in the memory-bound kernels that use these. */
#ifndef HN_CUDA_VIEW_CUH
#define HN_CUDA_VIEW_CUH

#include <cuda_bf16.h>

extern "C" {
#include "backend/tensor.h"
}

struct view {
    void *p;
    int bf16, ld;
};

static inline view view_of(hn_tensor t) { return view{t.data, t.dtype == HN_BF16, t.ld}; }
/* a float32 array with row stride ld as a view (the v1 ops' arguments) */
static inline view view_f32(const float *p, int ld) { return view{(void *)p, 0, ld}; }

__device__ __forceinline__ float vget(view v, size_t r, int c) {
    size_t i = r * v.ld + c;
    return v.bf16 ? __bfloat162float(((const __nv_bfloat16 *)v.p)[i]) : ((const float *)v.p)[i];
}
__device__ __forceinline__ void vput(view v, size_t r, int c, float x) {
    size_t i = r * v.ld + c;
    if (v.bf16) ((__nv_bfloat16 *)v.p)[i] = __float2bfloat16(x);
    else ((float *)v.p)[i] = x;
}
/* a gradient (ops_ssm.h): added into a float32 view, written over a bf16 one */
__device__ __forceinline__ void vgrad(view v, size_t r, int c, float x) {
    size_t i = r * v.ld + c;
    if (v.bf16) ((__nv_bfloat16 *)v.p)[i] = __float2bfloat16(x);
    else ((float *)v.p)[i] += x;
}

#endif
