/* cuda cosine routing backward on typed views (ops_chunk.h cosine_routing_backward_t; cpu
 * twin: cpu/chunk_routing.c): one warp per row t writes dq[t] and dk[t-1] (the pair of
 * row t), as chunk.cu's accumulating kernel computes them, but overwriting and in their
 * views' dtype; rows no pair reaches (a sequence's first dq row, its last dk row, and
 * clamped pairs) are written zero, so no buffer needs zeroing first. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

__global__ void k_cos_bwd_t(view dq, view dk, const float *dp, const float *q, const float *k,
                            int ld, const int32_t *pos, int T, int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    if (t == T - 1) /* the last row of dk is no pair's */
        for (int d = lane; d < D; d += 32) vput(dk, t, d, 0.0f);
    const float *qt = q + (size_t)t * ld, *kt = k + (size_t)(t > 0 ? t - 1 : 0) * ld;
    hn_cos_grad c = {0, 0, 0, 0};
    bool live = pos[t] != 0 && hn_cos_routing_grad(qt, kt, D, lane, dp[t], &c);
    double g = c.g, inv = c.inv, cq = c.cq, ck = c.ck;
    for (int d = lane; d < D; d += 32) {
        vput(dq, t, d, live ? (float)(g * (kt[d] * inv - cq * qt[d])) : 0.0f);
        if (t > 0) vput(dk, t - 1, d, live ? (float)(g * (qt[d] * inv - ck * kt[d])) : 0.0f);
    }
}

int hn_cuda_cosine_routing_backward_t(hn_tensor dq, hn_tensor dk, const float *dp, const float *q,
                                      const float *k, int ld, const hn_seqs *seqs, int D) {
    int T = seqs->total;
    if (dq.rows != T || dk.rows != T || dq.cols != D || dk.cols != D) {
        hn_cuda_note(cudaErrorInvalidValue, "cosine_routing_backward_t: views do not fit");
        return -1;
    }
    if (T <= 0) return 0;
    k_cos_bwd_t<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(view_of(dq), view_of(dk), dp, q, k, ld, seqs->pos_dev, T, D);
    HN_LAUNCHED("cosine_routing_backward (typed)");
    return 0;
}
