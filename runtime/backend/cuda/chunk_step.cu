/* cuda twins of the H-Net stage's generation steps (ops_chunk.h, "generation steps";
 * cpu: backend/cpu/chunk_step.c and chunk_routing.c): one row per sequence, sequences
 * at position < 0 (P < 0, count < 0) left alone. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define TPB 256

/* one warp per row, as the parallel forward's k_cos_fwd */
__global__ void k_cos_step(float *p, const float *q, const float *k, const int32_t *pos, int n,
                           int D) {
    int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (i >= n || pos[i] < 0) return;
    if (pos[i] == 0) {
        if (lane == 0) p[i] = 1.0f;
        return;
    }
    float v = hn_cos_routing_p(q + (size_t)i * D, k + (size_t)i * D, D, lane);
    if (lane == 0) p[i] = v;
}
void hn_cuda_cosine_routing_step(float *p, const float *q, const float *k, const int32_t *pos,
                                 int n, int D) {
    if (n <= 0) return;
    k_cos_step<<<(n + 7) / 8, 256, 0, HN_STREAM>>>(p, q, k, pos, n, D);
    HN_LAUNCHED("cosine_routing_step");
}

__global__ void k_sig_step(float *p, const float *logit, const int32_t *pos, int n) {
    HN_GRID_STRIDE(i, (size_t)n)
    if (pos[i] >= 0) p[i] = pos[i] == 0 ? 1.0f : (float)(1.0 / (1.0 + exp(-(double)logit[i])));
}
void hn_cuda_sigmoid_routing_step(float *p, const float *logit, const int32_t *pos, int n) {
    if (n <= 0) return;
    k_sig_step<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(p, logit, pos, n);
    HN_LAUNCHED("sigmoid_routing_step");
}

__global__ void k_copy_rows_step(float *dst, const float *src, const int32_t *pos, int n, int D) {
    size_t items = (size_t)n * D;
    HN_GRID_STRIDE(j, items) if (pos[j / D] >= 0) dst[j] = src[j];
}
void hn_cuda_copy_rows_step(float *dst, const float *src, const int32_t *pos, int n, int D) {
    size_t items = (size_t)n * D;
    if (!items) return;
    k_copy_rows_step<<<hn_blocks(items, TPB), TPB, 0, HN_STREAM>>>(dst, src, pos, n, D);
    HN_LAUNCHED("copy_rows_step");
}

__global__ void k_ema_step(float *zbar, const float *z, int ld_z, const float *P, int n, int D) {
    size_t items = (size_t)n * D;
    HN_GRID_STRIDE(j, items) {
        int i = (int)(j / D), d = (int)(j % D);
        float a = P[i];
        if (a < 0) continue;
        /* the cpu's expression, unfused, so both round alike */
        float az = __fmul_rn(a, z[(size_t)i * ld_z + d]), cz = __fmul_rn(1.0f - a, zbar[j]);
        zbar[j] = __fadd_rn(az, cz);
    }
}
void hn_cuda_ema_step(float *zbar, const float *z, int ld_z, const float *P, int n, int D) {
    size_t items = (size_t)n * D;
    if (!items) return;
    k_ema_step<<<hn_blocks(items, TPB), TPB, 0, HN_STREAM>>>(zbar, z, ld_z, P, n, D);
    HN_LAUNCHED("ema_step");
}

__global__ void k_pool_step(float *acc, float *out, const float *x, const int32_t *count,
                            const int32_t *b, int max, int n, int D) {
    size_t items = (size_t)n * D;
    HN_GRID_STRIDE(j, items) {
        int i = (int)(j / D), c = count[i];
        if (c < 0) continue;
        float xv = x[j], a = acc[j];
        a = c == 0 ? xv : max ? (xv > a ? xv : a) : a + xv;
        acc[j] = a;
        if (b[i]) out[j] = max ? a : a * (1.0f / (float)(c + 1));
    }
}
void hn_cuda_pool_step(float *acc, float *out, const float *x, const int32_t *count,
                       const int32_t *b, int max, int n, int D) {
    size_t items = (size_t)n * D;
    if (!items) return;
    k_pool_step<<<hn_blocks(items, TPB), TPB, 0, HN_STREAM>>>(acc, out, x, count, b, max, n, D);
    HN_LAUNCHED("pool_step");
}
