/* cuda causal sliding-window attention over packed sequences, fp32, flash style: no
 * T x T matrix, an online softmax over blocks of 32 keys.
 *
 * Forward: one warp per (query row, head). Each lane scores one key of the block (the
 * query row sits in shared memory), the warp updates the running max and sum, then the
 * 32 probabilities are broadcast lane to lane while each lane accumulates its own
 * output dims (coalesced value reads). lse = max + log(sum) is saved.
 * Backward (the flash-attention identity dS = P (dP - D), D_t = dout_t . out_t):
 *   dq: one warp per (query, head) walks its keys;
 *   dk, dv: one warp per (key, head) walks the queries that see it.
 * No atomics, so results are deterministic. head_dim <= 256. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_cudnn.cuh"
#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/instance.cuh"

#define WARPS 8
#define MAXV 8 /* head_dim / 32 */

__device__ __forceinline__ float dot_sh(const float *sh, const float *g, int hd) {
    float s = 0;
    for (int d = 0; d < hd; d++) s += sh[d] * g[d];
    return s;
}

__global__ void k_att_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                          int ld, const int32_t *pos, int T, int heads, int hd, int window,
                          float scale) {
    extern __shared__ float sh[];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * WARPS + warp;
    if (item >= (long)T * heads) return;
    int t = (int)(item / heads), h = (int)(item % heads);
    float *qs = sh + warp * hd;
    for (int d = lane; d < hd; d += 32) qs[d] = q[(size_t)t * ld + (size_t)h * hd + d];
    __syncwarp();
    int s0 = t - pos[t], j0 = window < 0 ? s0 : max(s0, t - window);
    float m = -INFINITY, l = 0, acc[MAXV];
#pragma unroll
    for (int i = 0; i < MAXV; i++) acc[i] = 0;
    for (int jb = j0; jb <= t; jb += 32) {
        int j = jb + lane;
        float s = -INFINITY;
        if (j <= t) s = scale * dot_sh(qs, k + (size_t)j * ld + (size_t)h * hd, hd);
        float mn = fmaxf(m, hn_warp_max(s));
        float p = j <= t ? expf(s - mn) : 0.0f, corr = expf(m - mn);
        l = l * corr + hn_warp_sum(p);
#pragma unroll
        for (int i = 0; i < MAXV; i++) acc[i] *= corr;
        int nb = min(32, t - jb + 1);
        for (int jj = 0; jj < nb; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            const float *vr = v + (size_t)(jb + jj) * ld + (size_t)h * hd;
#pragma unroll
            for (int i = 0; i < MAXV; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] += pj * vr[d];
            }
        }
        m = mn;
    }
    float inv = 1.0f / l;
    float *o = out + (size_t)t * heads * hd + (size_t)h * hd;
#pragma unroll
    for (int i = 0; i < MAXV; i++) {
        int d = lane + 32 * i;
        if (d < hd) o[d] = acc[i] * inv;
    }
    if (lane == 0) lse[(size_t)t * heads + h] = m + logf(l);
}

/* Which kernels: HN_CUDA_ATTENTION_AUTO picks for head_dim 64 the warpgroup kernels on
 * compute capability 9.0 and the mma.sync ones elsewhere (attention_mma.cu decides; the
 * WMMA ones where the operands are not 16-byte aligned), the fp32 tiled kernels for 16
 * and 32, the warp-per-row kernels otherwise; WMMA the first tensor-core kernels; FP32
 * never uses tensor cores; WARP always the simplest kernels. The instance's
 * configuration says which (hn_cuda_config.attention). */
static int attention_mode(void) { return hn_cuda_attention_mode_now(); }
/* the modes served by the head_dim-64 bf16 kernels (attention_mma.cu picks mma.sync or
 * the warpgroup ones) */
static int bf16_family(void) {
    int m = attention_mode();
    return m == HN_CUDA_ATTENTION_AUTO || m == HN_CUDA_ATTENTION_MMA ||
           m == HN_CUDA_ATTENTION_WGMMA || m == HN_CUDA_ATTENTION_WGMMA_ATOMIC ||
           m == HN_CUDA_ATTENTION_CUDNN;
}
static int use_mma(int head_dim, int ld, const float *q, const float *k, const float *v) {
    return bf16_family() && hn_mma_supported(head_dim, ld, q, k, v);
}
static int use_tc(int head_dim) {
    int mode = attention_mode();
    return (mode == HN_CUDA_ATTENTION_AUTO || mode == HN_CUDA_ATTENTION_WMMA) &&
           hn_tc_supported(head_dim);
}
static int use_tiled(int head_dim, int ld) {
    return attention_mode() != HN_CUDA_ATTENTION_WARP && hn_fa_supported(head_dim, ld);
}

void hn_cuda_attention_forward(float *out, float *lse, const float *q, const float *k,
                               const float *v, int ld, const hn_seqs *seqs, int heads,
                               int head_dim, int window, float scale) {
    int T = seqs->total;
    if (T <= 0) return;
    if (head_dim > 32 * MAXV) {
        hn_cuda_note(cudaErrorInvalidValue, "attention: head_dim > 256");
        return;
    }
    if (use_mma(head_dim, ld, q, k, v)) {
        hn_mma_forward(out, lse, q, k, v, ld, seqs, heads, window, scale);
        return;
    }
    if (use_tc(head_dim)) {
        hn_tc_forward(out, lse, q, k, v, ld, seqs, heads, window, scale);
        return;
    }
    if (use_tiled(head_dim, ld)) {
        hn_fa_forward(out, lse, q, k, v, ld, seqs, heads, head_dim, window, scale);
        return;
    }
    long items = (long)T * heads;
    k_att_fwd<<<(unsigned)((items + WARPS - 1) / WARPS), WARPS * 32,
                WARPS * head_dim * sizeof(float), HN_STREAM>>>(out, lse, q, k, v, ld, seqs->pos_dev, T, heads,
                                                    head_dim, window, scale);
    HN_LAUNCHED("attention_forward");
}

/* dq, and D_t = dout_t . out_t for the dk/dv pass */
__global__ void k_att_dq(float *dq, float *Dbuf, const float *dout, const float *q,
                         const float *k, const float *v, int ld, const float *out,
                         const float *lse, const int32_t *pos, int T, int heads, int hd,
                         int window, float scale) {
    extern __shared__ float sh[];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * WARPS + warp;
    if (item >= (long)T * heads) return;
    int t = (int)(item / heads), h = (int)(item % heads), W = heads * hd;
    float *qs = sh + warp * 2 * hd, *gs = qs + hd;
    float Dp = 0;
    for (int d = lane; d < hd; d += 32) {
        qs[d] = q[(size_t)t * ld + (size_t)h * hd + d];
        float g = dout[(size_t)t * W + (size_t)h * hd + d];
        gs[d] = g;
        Dp += g * out[(size_t)t * W + (size_t)h * hd + d];
    }
    Dp = hn_warp_sum(Dp);
    if (lane == 0) Dbuf[(size_t)t * heads + h] = Dp;
    __syncwarp();
    float L = lse[(size_t)t * heads + h], acc[MAXV];
#pragma unroll
    for (int i = 0; i < MAXV; i++) acc[i] = 0;
    int s0 = t - pos[t], j0 = window < 0 ? s0 : max(s0, t - window);
    for (int jb = j0; jb <= t; jb += 32) {
        int j = jb + lane;
        float ds = 0;
        if (j <= t) {
            size_t off = (size_t)j * ld + (size_t)h * hd;
            float p = expf(scale * dot_sh(qs, k + off, hd) - L);
            ds = scale * p * (dot_sh(gs, v + off, hd) - Dp);
        }
        int nb = min(32, t - jb + 1);
        for (int jj = 0; jj < nb; jj++) {
            float dj = __shfl_sync(0xffffffffu, ds, jj);
            const float *kr = k + (size_t)(jb + jj) * ld + (size_t)h * hd;
#pragma unroll
            for (int i = 0; i < MAXV; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] += dj * kr[d];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < MAXV; i++) {
        int d = lane + 32 * i;
        if (d < hd) dq[(size_t)t * ld + (size_t)h * hd + d] += acc[i];
    }
}

__global__ void k_att_dkv(float *dk, float *dv, const float *Dbuf, const float *dout,
                          const float *q, const float *k, const float *v, int ld,
                          const float *lse, const int32_t *offsets, int n_seqs, int T, int heads,
                          int hd, int window, float scale) {
    extern __shared__ float sh[];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * WARPS + warp;
    if (item >= (long)T * heads) return;
    int j = (int)(item / heads), h = (int)(item % heads), W = heads * hd;
    /* the sequence holding row j: the last offset at or before j */
    int lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= j) lo = mid;
        else hi = mid - 1;
    }
    int last = offsets[lo + 1] - 1;
    if (window >= 0 && j + window < last) last = j + window;
    float *ks = sh + warp * 2 * hd, *vs = ks + hd;
    for (int d = lane; d < hd; d += 32) {
        ks[d] = k[(size_t)j * ld + (size_t)h * hd + d];
        vs[d] = v[(size_t)j * ld + (size_t)h * hd + d];
    }
    __syncwarp();
    float ak[MAXV], av[MAXV];
#pragma unroll
    for (int i = 0; i < MAXV; i++) ak[i] = av[i] = 0;
    for (int ib = j; ib <= last; ib += 32) {
        int i = ib + lane;
        float p = 0, ds = 0;
        if (i <= last) {
            p = expf(scale * dot_sh(ks, q + (size_t)i * ld + (size_t)h * hd, hd) -
                     lse[(size_t)i * heads + h]);
            float dp = dot_sh(vs, dout + (size_t)i * W + (size_t)h * hd, hd);
            ds = scale * p * (dp - Dbuf[(size_t)i * heads + h]);
        }
        int nb = min(32, last - ib + 1);
        for (int ii = 0; ii < nb; ii++) {
            float pi = __shfl_sync(0xffffffffu, p, ii), di = __shfl_sync(0xffffffffu, ds, ii);
            const float *gr = dout + (size_t)(ib + ii) * W + (size_t)h * hd;
            const float *qr = q + (size_t)(ib + ii) * ld + (size_t)h * hd;
#pragma unroll
            for (int x = 0; x < MAXV; x++) {
                int d = lane + 32 * x;
                if (d < hd) {
                    av[x] += pi * gr[d];
                    ak[x] += di * qr[d];
                }
            }
        }
    }
#pragma unroll
    for (int x = 0; x < MAXV; x++) {
        int d = lane + 32 * x;
        if (d < hd) {
            dk[(size_t)j * ld + (size_t)h * hd + d] += ak[x];
            dv[(size_t)j * ld + (size_t)h * hd + d] += av[x];
        }
    }
}

void hn_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, int ld,
                                const float *out, const float *lse, const hn_seqs *seqs,
                                int heads, int head_dim, int window, float scale) {
    int T = seqs->total;
    if (T <= 0) return;
    if (head_dim > 32 * MAXV) {
        hn_cuda_note(cudaErrorInvalidValue, "attention: head_dim > 256");
        return;
    }
    long items = (long)T * heads;
    float *Dbuf = (float *)hn_cuda_scratch(HN_SCRATCH_ATT, (size_t)items * sizeof(float));
    if (use_mma(head_dim, ld, q, k, v) && hn_mma_supported(head_dim, ld, dq, dk, dv) &&
        hn_mma_supported(head_dim, heads * head_dim, dout, out, dout)) {
        hn_mma_backward(dq, dk, dv, dout, q, k, v, ld, out, lse, seqs, heads, window, scale, Dbuf);
        return;
    }
    if (use_tc(head_dim)) {
        hn_tc_backward(dq, dk, dv, dout, q, k, v, ld, out, lse, seqs, heads, window, scale, Dbuf);
        return;
    }
    if (use_tiled(head_dim, ld)) {
        hn_fa_backward(dq, dk, dv, dout, q, k, v, ld, out, lse, seqs, heads, head_dim, window,
                       scale, Dbuf);
        return;
    }
    unsigned blocks = (unsigned)((items + WARPS - 1) / WARPS);
    size_t shm = WARPS * 2 * head_dim * sizeof(float);
    k_att_dq<<<blocks, WARPS * 32, shm, HN_STREAM>>>(dq, Dbuf, dout, q, k, v, ld, out, lse, seqs->pos_dev, T,
                                           heads, head_dim, window, scale);
    HN_LAUNCHED("attention_backward dq");
    k_att_dkv<<<blocks, WARPS * 32, shm, HN_STREAM>>>(dk, dv, Dbuf, dout, q, k, v, ld, lse, seqs->offsets_dev,
                                            seqs->n, T, heads, head_dim, window, scale);
    HN_LAUNCHED("attention_backward dkv");
}

/* ---- typed entry points (backend.h attention_forward_t / attention_backward_t) ----
 * bf16 q, k, v of head_dim 64 go to the mma kernels as they are (no conversion, out and
 * dout float32 or bf16); anything else runs the float32 kernels above on float32 copies
 * in scratch (the fallback for other head widths and modes). */
static int typed_fits(const hn_attention_params *p, int backward) {
    int T = p->seqs->total, D = p->heads * p->head_dim;
    const hn_tensor *all[] = {&p->q, &p->k, &p->v, &p->out, &p->dout, &p->dq, &p->dk, &p->dv};
    for (int i = 0; i < (backward ? 8 : 4); i++)
        if (all[i]->rows != T || all[i]->cols != D) return 0;
    if (p->k.dtype != p->q.dtype || p->v.dtype != p->q.dtype || p->k.ld != p->q.ld ||
        p->v.ld != p->q.ld)
        return 0;
    if (!backward) return 1;
    hn_dtype g = p->dq.dtype;
    return (g == HN_F32 || (g == HN_BF16 && p->overwrite)) && p->dk.dtype == g &&
           p->dv.dtype == g && p->dk.ld == p->dq.ld && p->dv.ld == p->dq.ld;
}

static int typed_mma(const hn_attention_params *p) {
    return bf16_family() && p->q.dtype == HN_BF16 &&
           hn_mma_supported_bf16(p->head_dim, p->q.ld, p->q.data, p->k.data, p->v.data);
}

/* float32 [T, 3D] copies of q, k, v in scratch, at columns 0, D, 2D */
static float *qkv_f32(const hn_attention_params *p, size_t extra_floats) {
    int T = p->seqs->total, D = p->heads * p->head_dim;
    float *x = (float *)hn_cuda_scratch(HN_SCRATCH_TYPED,
                                        ((size_t)T * 3 * D + extra_floats) * sizeof(float));
    if (!x) return NULL;
    const hn_tensor *in[] = {&p->q, &p->k, &p->v};
    for (int i = 0; i < 3; i++) {
        hn_tensor dst = {x + (size_t)i * D, HN_F32, T, D, 3 * D};
        hn_cuda_view_copy(dst, *in[i], 0);
    }
    return x;
}

extern "C" int hn_cuda_attention_forward_t(const hn_backend *be, const hn_attention_params *p) {
    (void)be;
    if (!typed_fits(p, 0)) {
        hn_cuda_note(cudaErrorInvalidValue, "attention_forward_t: views do not fit");
        return -1;
    }
    int T = p->seqs->total, D = p->heads * p->head_dim;
    if (T <= 0) return 0;
    if (hn_cudnn_wanted(p, 0)) {
        int rc = hn_cudnn_attention_forward(p);
        if (rc <= 0) return rc; /* else the kernels below */
    }
    if (typed_mma(p) && p->out.ld == D) {
        hn_mma_forward_bf16(p->out.data, p->out.dtype == HN_BF16, p->lse, p->q.data, p->k.data,
                            p->v.data, p->q.ld, p->seqs, p->heads, p->window, p->scale);
        return 0;
    }
    float *x = qkv_f32(p, (size_t)T * D), *out = x ? x + (size_t)T * 3 * D : NULL;
    if (!x) return -1;
    hn_cuda_attention_forward(out, p->lse, x, x + D, x + 2 * D, 3 * D, p->seqs, p->heads,
                              p->head_dim, p->window, p->scale);
    hn_cuda_view_copy(p->out, hn_tensor_f32(out, T, D), 0);
    return 0;
}

extern "C" int hn_cuda_attention_grads_bf16(const hn_backend *be, const hn_attention_params *p) {
    (void)be;
    return typed_fits(p, 1) && p->seqs->total > 0 && hn_cudnn_backward_ready(p);
}

/* bf16 dq, dk, dv where cuDNN did not run: the float32 backward into scratch, rounded */
static int bf16_grads_through_f32(const hn_backend *be, const hn_attention_params *p) {
    int T = p->seqs->total, D = p->heads * p->head_dim;
    float *g = (float *)hn_cuda_scratch(HN_SCRATCH_ATT_GRADS, (size_t)T * 3 * D * sizeof(float));
    if (!g) return -1;
    hn_attention_params f = *p;
    hn_tensor gt = hn_tensor_f32(g, T, 3 * D);
    f.dq = hn_tensor_cols(gt, 0, D);
    f.dk = hn_tensor_cols(gt, D, D);
    f.dv = hn_tensor_cols(gt, 2 * D, D);
    f.overwrite = 1;
    if (hn_cuda_attention_backward_t(be, &f)) return -1;
    hn_cuda_view_copy(p->dq, f.dq, 0);
    hn_cuda_view_copy(p->dk, f.dk, 0);
    hn_cuda_view_copy(p->dv, f.dv, 0);
    return 0;
}

extern "C" int hn_cuda_attention_backward_t(const hn_backend *be, const hn_attention_params *p) {
    (void)be;
    if (!typed_fits(p, 1)) {
        hn_cuda_note(cudaErrorInvalidValue, "attention_backward_t: views do not fit");
        return -1;
    }
    int T = p->seqs->total, D = p->heads * p->head_dim;
    if (T <= 0) return 0;
    if (hn_cudnn_wanted(p, 1)) {
        int rc = hn_cudnn_attention_backward(p);
        if (rc <= 0) return rc; /* else the kernels below */
    }
    if (p->dq.dtype == HN_BF16) return bf16_grads_through_f32(be, p);
    size_t items = (size_t)T * p->heads;
    float *Dbuf = (float *)hn_cuda_scratch(HN_SCRATCH_ATT, items * sizeof(float));
    if (!Dbuf) return -1;
    if (typed_mma(p) && p->out.ld == D && p->dout.ld == D && p->dq.ld % 2 == 0) {
        hn_mma_backward_bf16((float *)p->dq.data, (float *)p->dk.data, (float *)p->dv.data,
                             p->dq.ld, p->dout.data, p->dout.dtype == HN_BF16, p->q.data,
                             p->k.data, p->v.data, p->q.ld, p->out.data,
                             p->out.dtype == HN_BF16, p->lse, p->seqs, p->heads, p->window,
                             p->scale, Dbuf, !p->overwrite);
        return 0;
    }
    /* float32 copies: q|k|v [T, 3D], then out, dout, and the gradients [T, 3D] */
    size_t td = (size_t)T * D;
    float *x = qkv_f32(p, 5 * td);
    if (!x) return -1;
    float *out = x + 3 * td, *dout = out + td, *g = dout + td;
    hn_cuda_view_copy(hn_tensor_f32(out, T, D), p->out, 0);
    hn_cuda_view_copy(hn_tensor_f32(dout, T, D), p->dout, 0);
    HN_CK(cudaMemsetAsync(g, 0, 3 * td * sizeof(float), HN_STREAM));
    hn_cuda_attention_backward(g, g + D, g + 2 * D, dout, x, x + D, x + 2 * D, 3 * D, out,
                               p->lse, p->seqs, p->heads, p->head_dim, p->window, p->scale);
    const hn_tensor *grad[] = {&p->dq, &p->dk, &p->dv};
    for (int i = 0; i < 3; i++) {
        hn_tensor src = {g + (size_t)i * D, HN_F32, T, D, 3 * D};
        hn_cuda_view_copy(*grad[i], src, !p->overwrite);
    }
    return 0;
}
