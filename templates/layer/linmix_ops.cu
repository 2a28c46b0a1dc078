/* The cuda twins of the template's ops (linmix_ops.h), built by the Makefile when nvcc
 * is found. One thread per element; views may be float32 or bf16 and have padded rows
 * (ld). Launched on the legacy default stream: hnet's kernel registry orders that stream
 * with its backend instance's (events, no host wait); nothing here synchronises. */
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "linmix_ops.h"

static __device__ float load(hn_tensor t, int r, int c) {
    size_t i = (size_t)r * t.ld + c;
    if (t.dtype == HN_BF16) return __bfloat162float(((const __nv_bfloat16 *)t.data)[i]);
    return ((const float *)t.data)[i];
}

static __device__ void store(hn_tensor t, int r, int c, float v) {
    size_t i = (size_t)r * t.ld + c;
    if (t.dtype == HN_BF16) ((__nv_bfloat16 *)t.data)[i] = __float2bfloat16(v);
    else ((float *)t.data)[i] = v;
}

static __device__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

__global__ void silu_fwd_kernel(hn_tensor h, hn_tensor y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)h.rows * h.cols) return;
    int r = (int)(i / h.cols), c = (int)(i % h.cols);
    float v = load(h, r, c);
    store(y, r, c, v * sigmoid(v));
}

__global__ void silu_bwd_kernel(hn_tensor h, hn_tensor dy, hn_tensor dh) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)h.rows * h.cols) return;
    int r = (int)(i / h.cols), c = (int)(i % h.cols);
    float v = load(h, r, c), s = sigmoid(v);
    float *g = (float *)dh.data + (size_t)r * dh.ld + c;
    *g += load(dy, r, c) * s * (1.0f + v * (1.0f - s));
}

static int same_shape(const hn_tensor &a, const hn_tensor &b) {
    return a.rows == b.rows && a.cols == b.cols;
}

static unsigned blocks(const hn_tensor &t) {
    return (unsigned)(((size_t)t.rows * t.cols + 255) / 256);
}

extern "C" int linmix_silu_fwd_cuda(const hn_backend *be, const void *params) {
    const linmix_silu_fwd_params *p = (const linmix_silu_fwd_params *)params;
    if (!same_shape(p->h, p->y)) return -1;
    if (!blocks(p->h)) return 0;
    silu_fwd_kernel<<<blocks(p->h), 256>>>(p->h, p->y);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int linmix_silu_bwd_cuda(const hn_backend *be, const void *params) {
    const linmix_silu_bwd_params *p = (const linmix_silu_bwd_params *)params;
    if (!same_shape(p->h, p->dy) || !same_shape(p->h, p->dh) || p->dh.dtype != HN_F32) return -1;
    if (!blocks(p->h)) return 0;
    silu_bwd_kernel<<<blocks(p->h), 256>>>(p->h, p->dy, p->dh);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}
