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
    int write; /* a float32 gradient the op writes (=) rather than adds to (vgrad, gradn) */
};

static inline view view_of(hn_tensor t) { return view{t.data, t.dtype == HN_BF16, t.ld, 0}; }
/* a gradient output: added to (vgrad's rule), or written where the op was asked to */
static inline view grad_view_of(hn_tensor t, int overwrite) {
    return view{t.data, t.dtype == HN_BF16, t.ld, overwrite};
}
/* a float32 array with row stride ld as a view (the v1 ops' arguments) */
static inline view view_f32(const float *p, int ld) { return view{(void *)p, 0, ld, 0}; }

__device__ __forceinline__ float vget(view v, size_t r, int c) {
    size_t i = r * v.ld + c;
    return v.bf16 ? __bfloat162float(((const __nv_bfloat16 *)v.p)[i]) : ((const float *)v.p)[i];
}
__device__ __forceinline__ void vput(view v, size_t r, int c, float x) {
    size_t i = r * v.ld + c;
    if (v.bf16) ((__nv_bfloat16 *)v.p)[i] = __float2bfloat16(x);
    else ((float *)v.p)[i] = x;
}
/* a gradient (ops_ssm.h): added into a float32 view, written over a bf16 one (and over a
 * float32 one marked write) */
__device__ __forceinline__ void vgrad(view v, size_t r, int c, float x) {
    size_t i = r * v.ld + c;
    if (v.bf16) ((__nv_bfloat16 *)v.p)[i] = __float2bfloat16(x);
    else if (v.write) ((float *)v.p)[i] = x;
    else ((float *)v.p)[i] += x;
}

/* Eight consecutive elements of row r from column c (c, ld and the base 16-byte
 * aligned: vec8_ok): one 16-byte load for bf16, two for float32. Elementwise kernels run on
 * these where the shapes allow (a row per block, no per-element index division: the
 * scalar versions ran at a third of the copy rate). */
__device__ __forceinline__ void load8(view v, size_t r, int c, float x[8]) {
    size_t i = r * v.ld + c;
    if (v.bf16) {
        uint4 u = *(const uint4 *)((const __nv_bfloat16 *)v.p + i);
        const __nv_bfloat162 *b = (const __nv_bfloat162 *)&u;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float2 f = __bfloat1622float2(b[k]);
            x[2 * k] = f.x;
            x[2 * k + 1] = f.y;
        }
    } else {
        const float4 *f = (const float4 *)((const float *)v.p + i);
        float4 a = f[0], b = f[1];
        x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
    }
}
__device__ __forceinline__ void store8(view v, size_t r, int c, const float x[8]) {
    size_t i = r * v.ld + c;
    if (v.bf16) {
        uint4 u;
        __nv_bfloat162 *b = (__nv_bfloat162 *)&u;
#pragma unroll
        for (int k = 0; k < 4; k++) b[k] = __floats2bfloat162_rn(x[2 * k], x[2 * k + 1]);
        *(uint4 *)((__nv_bfloat16 *)v.p + i) = u;
    } else {
        float4 *f = (float4 *)((float *)v.p + i);
        f[0] = make_float4(x[0], x[1], x[2], x[3]);
        f[1] = make_float4(x[4], x[5], x[6], x[7]);
    }
}
/* Four consecutive elements of row r from column c (8-byte bf16 or 16-byte float32 loads:
 * view4_ok) */
__device__ __forceinline__ void load4(view v, size_t r, int c, float x[4]) {
    size_t i = r * v.ld + c;
    if (v.bf16) {
        uint2 u = *(const uint2 *)((const __nv_bfloat16 *)v.p + i);
        float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&u.x), b = __bfloat1622float2(*(const __nv_bfloat162 *)&u.y);
        x[0] = a.x, x[1] = a.y, x[2] = b.x, x[3] = b.y;
    } else {
        float4 a = *(const float4 *)((const float *)v.p + i);
        x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w;
    }
}
__device__ __forceinline__ void store4(view v, size_t r, int c, const float x[4]) {
    size_t i = r * v.ld + c;
    if (v.bf16) {
        __nv_bfloat162 a = __floats2bfloat162_rn(x[0], x[1]), b = __floats2bfloat162_rn(x[2], x[3]);
        *(uint2 *)((__nv_bfloat16 *)v.p + i) = make_uint2(*(uint32_t *)&a, *(uint32_t *)&b);
    } else {
        *(float4 *)((float *)v.p + i) = make_float4(x[0], x[1], x[2], x[3]);
    }
}
/* N = 1, 4 or 8 consecutive elements: the kernels that take channel or column groups */
template <int N> __device__ __forceinline__ void loadn(view v, size_t r, int c, float x[N]) {
    if constexpr (N == 8) load8(v, r, c, x);
    else if constexpr (N == 4) load4(v, r, c, x);
    else x[0] = vget(v, r, c);
}
template <int N> __device__ __forceinline__ void storen(view v, size_t r, int c, const float x[N]) {
    if constexpr (N == 8) store8(v, r, c, x);
    else if constexpr (N == 4) store4(v, r, c, x);
    else vput(v, r, c, x[0]);
}
/* a gradient of N elements (vgrad's rule: added into float32, written over bf16) */
template <int N> __device__ __forceinline__ void gradn(view v, size_t r, int c, const float x[N]) {
    if constexpr (N == 1) {
        vgrad(v, r, c, x[0]);
    } else if (v.bf16 || v.write) {
        storen<N>(v, r, c, x);
    } else {
        float old[N];
        loadn<N>(v, r, c, old);
#pragma unroll
        for (int k = 0; k < N; k++) old[k] += x[k];
        storen<N>(v, r, c, old);
    }
}
static inline bool view4_ok(view v) { return v.ld % 4 == 0 && ((uintptr_t)v.p & (v.bf16 ? 7 : 15)) == 0; }
/* rotary embedding of frequency f in every head of row t: the pairs (f, f + half) of x
 * rotated by (c, s) into out (out may be x) */
__device__ __forceinline__ void hn_rope_rotate(view out, view x, size_t t, int f, int heads,
                                               int head_dim, int half, float c, float s) {
    for (int h = 0; h < heads; h++) {
        int ca = h * head_dim + f, cb = ca + half;
        float x0 = vget(x, t, ca), x1 = vget(x, t, cb);
        vput(out, t, ca, x0 * c - x1 * s);
        vput(out, t, cb, x0 * s + x1 * c);
    }
}
static inline bool vec8_ok(hn_tensor t) { return t.ld % 8 == 0 && ((uintptr_t)t.data & 15) == 0; }
static inline bool view8_ok(view v) { return v.ld % 8 == 0 && ((uintptr_t)v.p & 15) == 0; }
/* a block per row (grid-strided), a thread per 8 columns */
static inline unsigned row_blocks(int rows) { return (unsigned)(rows < 4096 ? rows : 4096); }
#define HN_ROWS_BY8(r, c8, rows, cols)                                  \
    for (int r = blockIdx.x; r < (rows); r += gridDim.x)                \
        for (int c8 = 8 * threadIdx.x; c8 < (cols); c8 += 8 * blockDim.x)

#endif
