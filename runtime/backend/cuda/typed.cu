/* cuda typed ops (backend.h, "_t"): elementwise kernels that read and write float32 or
 * bf16 views. The dtype of each view is uniform across a launch, so the per-element
 * branch on it costs nothing measurable in these memory-bound kernels. */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

struct view {
    void *p;
    int bf16, ld;
};

static view view_of(hn_tensor t) { return view{t.data, t.dtype == HN_BF16, t.ld}; }

__device__ __forceinline__ float vget(view v, size_t r, int c) {
    size_t i = r * v.ld + c;
    return v.bf16 ? __bfloat162float(((const __nv_bfloat16 *)v.p)[i]) : ((const float *)v.p)[i];
}
__device__ __forceinline__ void vput(view v, size_t r, int c, float x) {
    size_t i = r * v.ld + c;
    if (v.bf16) ((__nv_bfloat16 *)v.p)[i] = __float2bfloat16(x);
    else ((float *)v.p)[i] = x;
}

extern "C" hn_dtype hn_cuda_activation_dtype(const hn_backend *be) {
    (void)be;
    return hn_cuda_stash_bf16() ? HN_BF16 : HN_F32;
}

__global__ void k_convert(view dst, view src, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    HN_GRID_STRIDE(i, n) vput(dst, i / cols, (int)(i % cols), vget(src, i / cols, (int)(i % cols)));
}

extern "C" int hn_cuda_convert(const hn_backend *be, hn_tensor dst, hn_tensor src) {
    (void)be;
    if (dst.rows != src.rows || dst.cols != src.cols) {
        hn_cuda_note(cudaErrorInvalidValue, "convert: shapes differ");
        return -1;
    }
    size_t n = (size_t)src.rows * src.cols;
    if (!n) return 0;
    k_convert<<<hn_blocks(n, 256), 256>>>(view_of(dst), view_of(src), src.rows, src.cols);
    HN_LAUNCHED("convert");
    return 0;
}

__global__ void k_swiglu_fwd_t(view h, view gu, int T, int H) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H;
        int j = (int)(i % H);
        float v = vget(gu, t, j), g = vget(gu, t, H + j);
        vput(h, t, j, v * g * hn_sigmoidf(g));
    }
}

__global__ void k_swiglu_bwd_t(view dgu, view dh, view gu, int T, int H, int accumulate) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H;
        int j = (int)(i % H);
        float v = vget(gu, t, j), g = vget(gu, t, H + j), d = vget(dh, t, j);
        float s = hn_sigmoidf(g), dv = d * g * s, dg = d * v * s * (1.0f + g * (1.0f - s));
        if (accumulate) {
            dv += vget(dgu, t, j);
            dg += vget(dgu, t, H + j);
        }
        vput(dgu, t, j, dv);
        vput(dgu, t, H + j, dg);
    }
}

extern "C" int hn_cuda_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->h.rows != T || p->h.cols != H) {
        hn_cuda_note(cudaErrorInvalidValue, "swiglu_forward_t: shapes do not fit");
        return -1;
    }
    size_t n = (size_t)T * H;
    if (!n) return 0;
    k_swiglu_fwd_t<<<hn_blocks(n, 256), 256>>>(view_of(p->h), view_of(p->gu), T, H);
    HN_LAUNCHED("swiglu_forward");
    return 0;
}

extern "C" int hn_cuda_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->dh.rows != T || p->dh.cols != H || p->dgu.rows != T ||
        p->dgu.cols != 2 * H || (p->accumulate && p->dgu.dtype != HN_F32)) {
        hn_cuda_note(cudaErrorInvalidValue, "swiglu_backward_t: shapes or dtypes do not fit");
        return -1;
    }
    size_t n = (size_t)T * H;
    if (!n) return 0;
    k_swiglu_bwd_t<<<hn_blocks(n, 256), 256>>>(view_of(p->dgu), view_of(p->dh), view_of(p->gu), T,
                                               H, p->accumulate);
    HN_LAUNCHED("swiglu_backward");
    return 0;
}
