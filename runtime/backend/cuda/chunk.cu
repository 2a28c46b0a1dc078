/* cuda dynamic-chunking ops (ops_chunk.h): routing, downsampling, the
 * dechunk EMA and the confidence-weighted upsampling with its STE, width changes.
 * Sequence starts are read off seqs->pos_dev (position 0). Rows of different chunks
 * never overlap, so only the upsampling backward (several outer rows feed one inner
 * row) and the EMA's dP need atomics. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define TPB 256

/* ---- cosine routing: one warp per row ---- */
__global__ void k_cos_fwd(float *p, const float *q, const float *k, int ld, const int32_t *pos,
                          int T, int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    if (pos[t] == 0) {
        if (lane == 0) p[t] = 1.0f;
        return;
    }
    float v = hn_cos_routing_p(q + (size_t)t * ld, k + (size_t)(t - 1) * ld, D, lane);
    if (lane == 0) p[t] = v;
}

__global__ void k_cos_bwd(float *dq, float *dk, const float *dp, const float *q, const float *k,
                          int ld, const int32_t *pos, int T, int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T || pos[t] == 0) return;
    const float *qt = q + (size_t)t * ld, *kt = k + (size_t)(t - 1) * ld;
    hn_cos_grad c;
    if (!hn_cos_routing_grad(qt, kt, D, lane, dp[t], &c)) return;
    double g = c.g, inv = c.inv, cq = c.cq, ck = c.ck;
    /* dk of row t-1 is also written by row t-1's own dq pass, but dq and dk are
     * different buffers (or different columns of one row), so no two threads collide */
    float *dqt = dq + (size_t)t * ld, *dkt = dk + (size_t)(t - 1) * ld;
    for (int d = lane; d < D; d += 32) {
        dqt[d] += (float)(g * (kt[d] * inv - cq * qt[d]));
        dkt[d] += (float)(g * (qt[d] * inv - ck * kt[d]));
    }
}

static void cos_fwd(float *p, const float *q, const float *k, int ld, const hn_seqs *seqs, int D) {
    int T = seqs->total;
    if (T <= 0) return;
    k_cos_fwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(p, q, k, ld, seqs->pos_dev, T, D);
    HN_LAUNCHED("cosine_routing_forward");
}
static void cos_bwd(float *dq, float *dk, const float *dp, const float *q, const float *k, int ld,
                    const hn_seqs *seqs, int D) {
    int T = seqs->total;
    if (T <= 0) return;
    k_cos_bwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(dq, dk, dp, q, k, ld, seqs->pos_dev, T, D);
    HN_LAUNCHED("cosine_routing_backward");
}

/* ---- downsampling ---- */
__global__ void k_gather(float *out, const float *x, const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) out[i] = x[(size_t)idx[i / D] * D + i % D];
}
__global__ void k_gather_back(float *dx, const float *dout, const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) dx[(size_t)idx[i / D] * D + i % D] += dout[i];
}
void hn_cuda_gather_rows(float *out, const float *x, const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_gather<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, x, idx, K, D);
    HN_LAUNCHED("gather_rows");
}
static void gather_rows_backward(float *dx, const float *dout, const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_gather_back<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, dout, idx, K, D);
    HN_LAUNCHED("gather_rows_backward");
}

__global__ void k_pool_mean(float *out, const float *x, const int32_t *first, const int32_t *idx,
                            int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) {
        int kk = (int)(i / D), d = (int)(i % D);
        float s = 0;
        for (int r = first[kk]; r <= idx[kk]; r++) s += x[(size_t)r * D + d];
        out[i] = s * (1.0f / (float)(idx[kk] - first[kk] + 1));
    }
}
__global__ void k_pool_mean_back(float *dx, const float *dout, const int32_t *first,
                                 const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) {
        int kk = (int)(i / D), d = (int)(i % D);
        float g = dout[i] * (1.0f / (float)(idx[kk] - first[kk] + 1));
        for (int r = first[kk]; r <= idx[kk]; r++) dx[(size_t)r * D + d] += g;
    }
}
__global__ void k_pool_max(float *out, int32_t *argmax, const float *x, const int32_t *first,
                           const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) {
        int kk = (int)(i / D), d = (int)(i % D), a = first[kk];
        float m = x[(size_t)a * D + d];
        for (int r = a + 1; r <= idx[kk]; r++) {
            float v = x[(size_t)r * D + d];
            if (v > m) {
                m = v;
                a = r;
            }
        }
        out[i] = m;
        argmax[i] = a;
    }
}
__global__ void k_pool_max_back(float *dx, const float *dout, const int32_t *argmax, int K, int D) {
    size_t n = (size_t)K * D;
    HN_GRID_STRIDE(i, n) dx[(size_t)argmax[i] * D + i % D] += dout[i];
}
static void pool_mean_forward(float *out, const float *x, const int32_t *first, const int32_t *idx,
                              int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_pool_mean<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, x, first, idx, K, D);
    HN_LAUNCHED("pool_mean_forward");
}
static void pool_mean_backward(float *dx, const float *dout, const int32_t *first,
                               const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_pool_mean_back<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, dout, first, idx, K, D);
    HN_LAUNCHED("pool_mean_backward");
}
static void pool_max_forward(float *out, int32_t *argmax, const float *x, const int32_t *first,
                             const int32_t *idx, int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_pool_max<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, argmax, x, first, idx, K, D);
    HN_LAUNCHED("pool_max_forward");
}
static void pool_max_backward(float *dx, const float *dout, const int32_t *argmax, int K, int D) {
    size_t n = (size_t)K * D;
    if (!n) return;
    k_pool_max_back<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, dout, argmax, K, D);
    HN_LAUNCHED("pool_max_backward");
}

/* ---- smoothing EMA: one thread per (sequence, column), walking its rows; P clamped as
 * hn_ema_clamp (ops_chunk.h) ---- */
__device__ __forceinline__ float ema_clamp(float p) {
    return fminf(fmaxf(p, HN_EMA_P_MIN), 1.0f - HN_EMA_P_MIN);
}
__global__ void k_ema_fwd(float *zbar, const float *z, const float *P, const int32_t *offsets,
                          int n, int D) {
    size_t items = (size_t)n * D;
    HN_GRID_STRIDE(i, items) {
        int s = (int)(i / D), d = (int)(i % D);
        float prev = 0;
        for (int k = offsets[s]; k < offsets[s + 1]; k++) {
            float a = ema_clamp(P[k]);
            prev = a * z[(size_t)k * D + d] + (1.0f - a) * prev;
            zbar[(size_t)k * D + d] = prev;
        }
    }
}
__global__ void k_ema_bwd(float *dz, float *dP, const float *dzbar, const float *z,
                          const float *zbar, const float *P, const int32_t *offsets, int n, int D) {
    size_t items = (size_t)n * D;
    HN_GRID_STRIDE(i, items) {
        int s = (int)(i / D), d = (int)(i % D), k0 = offsets[s];
        float carry = 0;
        for (int k = offsets[s + 1] - 1; k >= k0; k--) {
            size_t r = (size_t)k * D + d;
            float a = ema_clamp(P[k]), g = dzbar[r] + carry;
            float prev = k > k0 ? zbar[r - D] : 0.0f;
            dz[r] += a * g;
            if (a == P[k]) atomicAdd(dP + k, g * (z[r] - prev)); /* clamped: no gradient */
            carry = (1.0f - a) * g;
        }
    }
}

/* ---- the same in segments (HNET_CUDA_EMA=segments; the default is ema_scan.cu's chunked
 * scan, which reads each input once, HNET_CUDA_EMA=column the kernels above): those
 * walk a whole sequence on one thread a column, ~1,400 dependent rows at H1's inner shape
 * with 4,096 threads in all (48x their floor on the H200), and their backward adds dP by
 * D atomics a row into one address (44x). Here a block owns one sequence and 32 columns;
 * each of its EMA_SEGS warps owns a segment of the rows. Pass 1: each segment's result
 * from a zero carry and the product of its decays (1 - a); the carry into each segment
 * then follows from those in shared memory; pass 2: the recurrence again from that carry,
 * writing. A warp sums its 32 columns' share of dP before one atomic a row. ---- */
#define EMA_SEGS 16
#define EMA_BATCH 8 /* rows whose loads are issued together: the recurrence waits on none */

struct ema_span { /* this thread's column and rows */
    int d, k0, r0, r1, col;
};
__device__ __forceinline__ ema_span ema_span_of(const int32_t *offsets, int D) {
    int seg = threadIdx.x >> 5, s = blockIdx.x;
    ema_span e;
    e.d = blockIdx.y * 32 + (threadIdx.x & 31);
    e.col = e.d < D;
    e.k0 = offsets[s];
    int len = offsets[s + 1] - e.k0, per = (len + EMA_SEGS - 1) / EMA_SEGS;
    e.r0 = e.k0 + min(seg * per, len);
    e.r1 = e.k0 + min((seg + 1) * per, len);
    return e;
}

/* zbar through the span's rows from h (returned); c times each row's decay 1 - a; WRITE:
 * zbar stored */
template <bool WRITE>
__device__ __forceinline__ float ema_rows_fwd(float h, float &c, float *__restrict__ zbar,
                                              const float *__restrict__ z,
                                              const float *__restrict__ P, const ema_span &e, int D) {
    for (int k = e.r0; k < e.r1; k += EMA_BATCH) {
        int n = min(EMA_BATCH, e.r1 - k);
        float a[EMA_BATCH], zv[EMA_BATCH];
#pragma unroll
        for (int i = 0; i < EMA_BATCH; i++) {
            a[i] = i < n ? ema_clamp(P[k + i]) : 0.0f;
            zv[i] = i < n && e.col ? z[(size_t)(k + i) * D + e.d] : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < EMA_BATCH; i++)
            if (i < n) {
                h = a[i] * zv[i] + (1.0f - a[i]) * h;
                c *= 1.0f - a[i];
                if (WRITE && e.col) zbar[(size_t)(k + i) * D + e.d] = h;
            }
    }
    return h;
}

/* The backward through the span's rows, last first, from the carry the row above hands
 * down (returned: what the span hands the row below it); c times each row's decay. FINAL:
 * dz added to, dP summed over the warp's 32 columns and added once a row */
template <bool FINAL>
__device__ __forceinline__ float ema_rows_bwd(float carry, float &c, float *__restrict__ dz,
                                              float *__restrict__ dP,
                                              const float *__restrict__ dzbar,
                                              const float *__restrict__ z,
                                              const float *__restrict__ zbar,
                                              const float *__restrict__ P, const ema_span &e,
                                              int D) {
    int lane = threadIdx.x & 31;
    for (int top = e.r1 - 1; top >= e.r0; top -= EMA_BATCH) {
        int n = min(EMA_BATCH, top - e.r0 + 1); /* rows top, top - 1, ... */
        float p[EMA_BATCH], gi[EMA_BATCH], zv[EMA_BATCH], zprev[EMA_BATCH], dzv[EMA_BATCH];
#pragma unroll
        for (int i = 0; i < EMA_BATCH; i++) {
            int k = top - i, on = i < n && e.col;
            size_t r = (size_t)k * D + e.d;
            p[i] = i < n ? P[k] : 0.0f;
            gi[i] = on ? dzbar[r] : 0.0f;
            if (FINAL) {
                zv[i] = on ? z[r] : 0.0f;
                zprev[i] = on && k > e.k0 ? zbar[r - D] : 0.0f;
                dzv[i] = on ? dz[r] : 0.0f;
            }
        }
#pragma unroll
        for (int i = 0; i < EMA_BATCH; i++)
            if (i < n) {
                float a = ema_clamp(p[i]), g = gi[i] + carry;
                if (FINAL) {
                    int k = top - i;
                    if (e.col) dz[(size_t)k * D + e.d] = dzv[i] + a * g;
                    float part = e.col ? g * (zv[i] - zprev[i]) : 0.0f;
                    for (int o = 16; o; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
                    if (lane == 0 && a == p[i]) atomicAdd(dP + k, part); /* clamped: none */
                }
                carry = (1.0f - a) * g;
                c *= 1.0f - a;
            }
    }
    return carry;
}

__global__ void __launch_bounds__(32 * EMA_SEGS)
    k_ema_fwd_seg(float *__restrict__ zbar, const float *__restrict__ z, const float *__restrict__ P,
                  const int32_t *__restrict__ offsets, int D) {
    __shared__ float tail[EMA_SEGS][32], decay[EMA_SEGS];
    int lane = threadIdx.x & 31, seg = threadIdx.x >> 5;
    ema_span e = ema_span_of(offsets, D);
    float c = 1;
    tail[seg][lane] = ema_rows_fwd<false>(0.0f, c, zbar, z, P, e, D);
    if (lane == 0) decay[seg] = c;
    __syncthreads();
    float h = 0; /* the carry into this segment: the segments before it, in order */
    for (int j = 0; j < seg; j++) h = decay[j] * h + tail[j][lane];
    ema_rows_fwd<true>(h, c, zbar, z, P, e, D);
}

__global__ void __launch_bounds__(32 * EMA_SEGS)
    k_ema_bwd_seg(float *__restrict__ dz, float *__restrict__ dP, const float *__restrict__ dzbar,
                  const float *__restrict__ z, const float *__restrict__ zbar,
                  const float *__restrict__ P, const int32_t *__restrict__ offsets, int D) {
    __shared__ float tail[EMA_SEGS][32], decay[EMA_SEGS];
    int lane = threadIdx.x & 31, seg = threadIdx.x >> 5;
    ema_span e = ema_span_of(offsets, D);
    float c = 1;
    tail[seg][lane] = ema_rows_bwd<false>(0.0f, c, dz, dP, dzbar, z, zbar, P, e, D);
    if (lane == 0) decay[seg] = c;
    __syncthreads();
    float carry = 0; /* the carry into this segment's last row: the segments after it */
    for (int j = EMA_SEGS - 1; j > seg; j--) carry = decay[j] * carry + tail[j][lane];
    ema_rows_bwd<true>(carry, c, dz, dP, dzbar, z, zbar, P, e, D);
}

static void ema_forward(float *zbar, const float *z, const float *P, const hn_seqs *seqs, int D) {
    size_t items = (size_t)seqs->n * D;
    if (!items) return;
    if (hn_cuda_cur()->cfg.ema == HN_CUDA_EMA_SCAN) {
        hn_cuda_ema_scan_forward(zbar, z, P, seqs, D);
    } else if (hn_cuda_cur()->cfg.ema == HN_CUDA_EMA_SEGMENTS) {
        dim3 grid((unsigned)seqs->n, (unsigned)((D + 31) / 32));
        k_ema_fwd_seg<<<grid, 32 * EMA_SEGS, 0, HN_STREAM>>>(zbar, z, P, seqs->offsets_dev, D);
    } else {
        k_ema_fwd<<<hn_blocks(items, 128), 128, 0, HN_STREAM>>>(zbar, z, P, seqs->offsets_dev, seqs->n, D);
    }
    HN_LAUNCHED("ema_forward");
}
static void ema_backward(float *dz, float *dP, const float *dzbar, const float *z,
                         const float *zbar, const float *P, const hn_seqs *seqs, int D) {
    size_t items = (size_t)seqs->n * D;
    if (!items) return;
    if (hn_cuda_cur()->cfg.ema == HN_CUDA_EMA_SCAN) {
        hn_cuda_ema_scan_backward(dz, dP, dzbar, z, zbar, P, seqs, D);
    } else if (hn_cuda_cur()->cfg.ema == HN_CUDA_EMA_SEGMENTS) {
        dim3 grid((unsigned)seqs->n, (unsigned)((D + 31) / 32));
        k_ema_bwd_seg<<<grid, 32 * EMA_SEGS, 0, HN_STREAM>>>(dz, dP, dzbar, z, zbar, P,
                                                             seqs->offsets_dev, D);
    } else {
        k_ema_bwd<<<hn_blocks(items, 128), 128, 0, HN_STREAM>>>(dz, dP, dzbar, z, zbar, P,
                                                  seqs->offsets_dev, seqs->n, D);
    }
    HN_LAUNCHED("ema_backward");
}

/* ---- upsampling with confidence ---- */
__device__ __forceinline__ float up_weight(const float *p, const int32_t *b, int ste, int t) {
    if (ste) return 1.0f;
    return b[t] ? p[t] : 1.0f - p[t];
}
__global__ void k_up_fwd(float *out, const float *zbar, const int32_t *chunk, const float *p,
                         const int32_t *b, int ste, int T, int D) {
    size_t n = (size_t)T * D;
    HN_GRID_STRIDE(i, n) {
        int t = (int)(i / D);
        out[i] = up_weight(p, b, ste, t) * zbar[(size_t)chunk[t] * D + i % D];
    }
}
/* one warp per outer row: dzbar by atomicAdd (rows of one chunk share it), dp by a
 * warp reduction */
__global__ void k_up_bwd(float *dzbar, float *dp, const float *dout, const float *zbar,
                         const int32_t *chunk, const float *p, const int32_t *b, int ste, int T,
                         int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    float w = up_weight(p, b, ste, t);
    const float *src = zbar + (size_t)chunk[t] * D, *g = dout + (size_t)t * D;
    float *dst = dzbar + (size_t)chunk[t] * D;
    double acc = 0;
    for (int d = lane; d < D; d += 32) {
        atomicAdd(dst + d, w * g[d]);
        acc += (double)g[d] * src[d];
    }
    acc = hn_warp_sum_d(acc);
    if (lane == 0) dp[t] += (float)(b[t] ? acc : -acc);
}
static void upsample_forward(float *out, const float *zbar, const int32_t *chunk, const float *p,
                             const int32_t *b, int ste, int T, int D) {
    size_t n = (size_t)T * D;
    if (!n) return;
    k_up_fwd<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, zbar, chunk, p, b, ste, T, D);
    HN_LAUNCHED("upsample_forward");
}
static void upsample_backward(float *dzbar, float *dp, const float *dout, const float *zbar,
                              const int32_t *chunk, const float *p, const int32_t *b, int ste,
                              int T, int D) {
    if (T <= 0) return;
    k_up_bwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(dzbar, dp, dout, zbar, chunk, p, b, ste, T, D);
    HN_LAUNCHED("upsample_backward");
}

/* ---- width changes ---- */
__global__ void k_widen(float *out, const float *x, const float *pad, int T, int D1, int D2) {
    size_t n = (size_t)T * D2;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / D2;
        int d = (int)(i % D2);
        out[i] = d < D1 ? x[t * D1 + d] : pad[d - D1];
    }
}
__global__ void k_narrow_add(float *dst, int ldd, const float *src, int lds, int T, int D1) {
    size_t n = (size_t)T * D1;
    HN_GRID_STRIDE(i, n) dst[(i / D1) * ldd + i % D1] += src[(i / D1) * lds + i % D1];
}
__global__ void k_narrow(float *out, const float *x, int T, int D1, int D2) {
    size_t n = (size_t)T * D1;
    HN_GRID_STRIDE(i, n) out[i] = x[(i / D1) * D2 + i % D1];
}
static void widen_forward(float *out, const float *x, const float *pad, int T, int D1, int D2) {
    size_t n = (size_t)T * D2;
    if (!n) return;
    k_widen<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, x, pad, T, D1, D2);
    HN_LAUNCHED("widen_forward");
}
static void widen_backward(float *dx, float *dpad, const float *dout, int T, int D1, int D2) {
    size_t n = (size_t)T * D1;
    if (!n) return;
    k_narrow_add<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, D1, dout, D2, T, D1);
    HN_LAUNCHED("widen_backward");
    hn_cuda_colsum(dpad, dout + D1, D2, NULL, 0, NULL, T, D2 - D1, 1.0f);
}
static void narrow_forward(float *out, const float *x, int T, int D1, int D2) {
    size_t n = (size_t)T * D1;
    if (!n) return;
    k_narrow<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, x, T, D1, D2);
    HN_LAUNCHED("narrow_forward");
}
static void narrow_backward(float *dx, const float *dout, int T, int D1, int D2) {
    size_t n = (size_t)T * D1;
    if (!n) return;
    k_narrow_add<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, D2, dout, D1, T, D1);
    HN_LAUNCHED("narrow_backward");
}

/* ---- linear routing ---- */
__global__ void k_sig_fwd(float *p, const float *logit, const int32_t *pos, int T) {
    HN_GRID_STRIDE(t, (size_t)T) p[t] = pos[t] == 0 ? 1.0f : (float)(1.0 / (1.0 + exp(-(double)logit[t])));
}
__global__ void k_sig_bwd(float *dlogit, const float *dp, const float *p, const int32_t *pos, int T) {
    HN_GRID_STRIDE(t, (size_t)T) if (pos[t] != 0) dlogit[t] += dp[t] * p[t] * (1.0f - p[t]);
}
static void sig_fwd(float *p, const float *logit, const hn_seqs *seqs) {
    if (seqs->total <= 0) return;
    k_sig_fwd<<<hn_blocks(seqs->total, TPB), TPB, 0, HN_STREAM>>>(p, logit, seqs->pos_dev, seqs->total);
    HN_LAUNCHED("sigmoid_routing_forward");
}
static void sig_bwd(float *dlogit, const float *dp, const float *p, const hn_seqs *seqs) {
    if (seqs->total <= 0) return;
    k_sig_bwd<<<hn_blocks(seqs->total, TPB), TPB, 0, HN_STREAM>>>(dlogit, dp, p, seqs->pos_dev, seqs->total);
    HN_LAUNCHED("sigmoid_routing_backward");
}

__global__ void k_add_scalar(float *x, float s, size_t n) { HN_GRID_STRIDE(i, n) x[i] += s; }
static void add_scalar(float *x, float s, size_t n) {
    if (!n) return;
    k_add_scalar<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(x, s, n);
    HN_LAUNCHED("add_scalar");
}

static hn_ops_chunk make_chunk_ops(void) {
    hn_ops_chunk o;
    o.cosine_routing_forward = cos_fwd;
    o.cosine_routing_backward = cos_bwd;
    o.gather_rows = hn_cuda_gather_rows;
    o.gather_rows_backward = gather_rows_backward;
    o.pool_mean_forward = pool_mean_forward;
    o.pool_mean_backward = pool_mean_backward;
    o.pool_max_forward = pool_max_forward;
    o.pool_max_backward = pool_max_backward;
    o.ema_forward = ema_forward;
    o.ema_backward = ema_backward;
    o.upsample_forward = upsample_forward;
    o.upsample_backward = upsample_backward;
    o.widen_forward = widen_forward;
    o.widen_backward = widen_backward;
    o.narrow_forward = narrow_forward;
    o.narrow_backward = narrow_backward;
    o.sigmoid_routing_forward = sig_fwd;
    o.sigmoid_routing_backward = sig_bwd;
    o.add_scalar = add_scalar;
    o.cosine_routing_step = hn_cuda_cosine_routing_step; /* chunk_step.cu */
    o.sigmoid_routing_step = hn_cuda_sigmoid_routing_step;
    o.copy_rows_step = hn_cuda_copy_rows_step;
    o.ema_step = hn_cuda_ema_step;
    o.pool_step = hn_cuda_pool_step;
    o.cosine_routing_backward_t = hn_cuda_cosine_routing_backward_t; /* chunk_typed.cu */
    o.plan = hn_cuda_chunk_plan; /* chunk_plan.cu */
    return o;
}
const hn_ops_chunk hn_cuda_ops_chunk = make_chunk_ops();
