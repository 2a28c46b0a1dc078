/* Shared helpers of the cuda backend's kernels. All work of an op runs on its instance's
 * stream (HN_STREAM, instance.cuh): launches as <<<grid, block, smem, HN_STREAM>>>,
 * cudaMemsetAsync / cudaMemcpyAsync on it; a host readback waits for that stream only. */
#ifndef HN_CUDA_COMMON_CUH
#define HN_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "backend/backend.h"
#include "backend/ops_chunk.h"
#include "backend/ops_ssm.h"
}
#include "backend/cuda/cuda_backend.h"

/* Records the first failure (reported by hn_cuda_last_error). */
void hn_cuda_note(cudaError_t e, const char *what);
#define HN_CK(call) hn_cuda_note((call), #call)
/* Records a failure that is not a CUDA error (kept for hn_cuda_last_error, not printed). */
void hn_cuda_note_text(const char *what);
/* After each op: checks the launch and, when profiling is on, synchronises and books
 * the time since the previous checkpoint to `name` (a string literal). */
void hn_cuda_launched(const char *name);
#define HN_LAUNCHED(name) hn_cuda_launched(name)

/* Scratch device memory owned by the backend, one buffer per slot, grown
 * geometrically and never shrunk (no allocation per step once warm). */
enum { HN_SCRATCH_REDUCE = 0, HN_SCRATCH_CHUNKS, HN_SCRATCH_SSD, HN_SCRATCH_ATT,
       HN_SCRATCH_CONV, HN_SCRATCH_BF16A, HN_SCRATCH_BF16B, HN_SCRATCH_SSD_PART,
       HN_SCRATCH_MOE, HN_SCRATCH_SSDC, HN_SCRATCH_SSDC_PART,
       HN_SCRATCH_SSDC_STATE, HN_SCRATCH_TYPED, HN_SCRATCH_SSD_MMA, HN_SCRATCH_NORM, HN_SCRATCH_SSD_IO, HN_SCRATCH_PLAN,
       HN_SCRATCH_EMA, HN_SCRATCH_CUDNN, HN_SCRATCH_ATT_GRADS, HN_SCRATCH_N };
void *hn_cuda_scratch(int slot, size_t bytes);

static inline unsigned hn_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    if (b > 65535u * 32u) b = 65535u * 32u;
    return (unsigned)(b ? b : 1);
}

#define HN_GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float hn_sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }
__device__ __forceinline__ float hn_softplusf(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

__device__ __forceinline__ float hn_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double hn_warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float hn_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The three dot products of a row pair (q.q, k.k, q.k) by one warp, in double; every
 * lane gets them. */
__device__ __forceinline__ void hn_pair_dots(const float *q, const float *k, int D, int lane,
                                             double *qq, double *kk, double *qk) {
    double a = 0, b = 0, c = 0;
    for (int d = lane; d < D; d += 32) {
        a += (double)q[d] * q[d];
        b += (double)k[d] * k[d];
        c += (double)q[d] * k[d];
    }
    *qq = hn_warp_sum_d(a);
    *kk = hn_warp_sum_d(b);
    *qk = hn_warp_sum_d(c);
}

/* Cosine routing's p for one row pair, by one warp (every lane gets it):
 * (1 - cos(q, k)) / 2 clamped to [0, 1], the norms clamped at 1e-12 (torch's
 * F.normalize), as the cpu's chunk_routing.c. */
__device__ __forceinline__ float hn_cos_routing_p(const float *q, const float *k, int D, int lane) {
    double qq, kk, qk;
    hn_pair_dots(q, k, D, lane, &qq, &kk, &qk);
    double nq = fmax(sqrt(qq), 1e-12), nk = fmax(sqrt(kk), 1e-12);
    double v = 0.5 * (1.0 - qk / (nq * nk));
    return (float)(v < 0 ? 0 : v > 1 ? 1 : v);
}

/* The scalars of cosine routing's backward for one row pair (q row t, k row t - 1), by
 * one warp: dq = g (k inv - cq q), dk = g (q inv - ck k), with g = -dp / 2; 0 (no
 * gradient) where p was clamped, as the cpu's chunk_routing.c */
struct hn_cos_grad {
    double g, inv, cq, ck;
};
__device__ __forceinline__ int hn_cos_routing_grad(const float *q, const float *k, int D, int lane,
                                                   float dp, hn_cos_grad *o) {
    double qq, kk, qk;
    hn_pair_dots(q, k, D, lane, &qq, &kk, &qk);
    double nq = sqrt(qq), nk = sqrt(kk);
    int q_small = nq < 1e-12, k_small = nk < 1e-12;
    if (q_small) nq = 1e-12;
    if (k_small) nk = 1e-12;
    double cs = qk / (nq * nk), v = 0.5 * (1.0 - cs);
    if (v < 0 || v > 1) return 0;
    o->g = -0.5 * dp;
    o->inv = 1.0 / (nq * nk);
    o->cq = q_small ? 0 : cs / (nq * nq);
    o->ck = k_small ? 0 : cs / (nk * nk);
    return 1;
}

/* Rotary embedding's frequency f (of rot_dim / 2): theta^(-2f / rot_dim) in double, as
 * one exp2 (pow and double cos and sin were ~400 double-precision instructions an angle,
 * at a 64th of the float rate) */
__device__ __forceinline__ double hn_rope_inv_freq(int f, int rot_dim, float theta) {
    return exp2(-2.0 * f / (double)rot_dim * log2((double)theta));
}
/* its cos and sin at position pos: the angle in double, reduced to [-pi, pi] in double,
 * then float sincosf: within one float ulp of the cpu's double cos and sin rounded to float
 * (checked against them for positions to 1.2M, rot_dim 8 to 128); sin negated for the
 * inverse rotation (the backward) */
__device__ __forceinline__ void hn_rope_cos_sin(int pos, double inv_freq, int inverse, float *c,
                                                float *s) {
    double ang = (double)pos * inv_freq;
    double r = ang - 6.283185307179586 * rint(ang * 0.15915494309189535);
    float sf, cf;
    sincosf((float)r, &sf, &cf);
    *c = cf;
    *s = inverse ? -sf : sf;
}
__device__ __forceinline__ void hn_rope_angle(int pos, int f, int rot_dim, float theta, int inverse,
                                              float *c, float *s) {
    hn_rope_cos_sin(pos, hn_rope_inv_freq(f, rot_dim, theta), inverse, c, s);
}

/* out[c] += s * sum_r a[r*lda + c] (* b[r*ldb + c]) (* rs[r]), rows split in strips
 * whose partial sums meet by atomicAdd. */
void hn_cuda_colsum(float *out, const float *a, int lda, const float *b, int ldb,
                    const float *rs, int rows, int cols, float s);

/* the instance every op runs on (HN_STREAM, hn_cuda_cur) */
#include "backend/cuda/instance.cuh"

#endif
