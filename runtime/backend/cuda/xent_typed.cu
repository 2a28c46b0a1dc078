/* cuda LM-head loss with a typed dlogits (backend.h hn_xent_params; cpu twin: cpu/xent.c
 * hn_cpu_xent_fused_t): one warp per row, as basic.cu's xent kernels, the row's log-sum-
 * exp in double, dlogits written in its view's dtype so the head's products read it as
 * it is. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

__global__ void k_xent_fused_t(float *loss, view dlogits, view logits, const int32_t *target, int T,
                               int V, float scale) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    float m = -INFINITY;
    for (int i = lane; i < V; i += 32) m = fmaxf(m, vget(logits, t, i));
    m = hn_warp_max(m);
    double s = 0;
    for (int i = lane; i < V; i += 32) s += exp((double)vget(logits, t, i) - m);
    s = hn_warp_sum_d(s);
    double shift = (double)m + log(s);
    int tg = target[t];
    if (lane == 0) loss[t] = (float)(shift - (double)vget(logits, t, tg));
    for (int i = lane; i < V; i += 32) {
        double p = exp((double)vget(logits, t, i) - shift);
        if (i == tg) p -= 1.0;
        vput(dlogits, t, i, (float)(scale * p));
    }
}

extern "C" int hn_cuda_xent_fused_t(const hn_backend *be, const hn_xent_params *p) {
    (void)be;
    int T = p->logits.rows, V = p->logits.cols;
    if (V <= 0 || !p->loss || !p->target || p->dlogits.rows != T || p->dlogits.cols != V) {
        hn_cuda_note(cudaErrorInvalidValue, "xent_fused_t: views do not fit");
        return -1;
    }
    if (T == 0) return 0;
    k_xent_fused_t<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(p->loss, view_of(p->dlogits), view_of(p->logits),
                                         p->target, T, V, p->scale);
    HN_LAUNCHED("xent_fused (typed)");
    return 0;
}
