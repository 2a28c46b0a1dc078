/* cuda Mixture-of-Experts ops (ops_moe.h): routing and the row movers between the token
 * order and the expert-sorted order. The cpu twins are backend/cpu/moe_route.c and
 * moe_dispatch.c; the kernels follow the same rules and summation orders.
 *
 * Routing: one thread per token computes the softmax (in double), the top-k (ties to
 * the lower index) and the weights. The capacity and the expert-sorted order are two
 * stable ranks of the (token, choice) pairs by expert: first in (choice, token) order
 * (a pair is kept when fewer than `capacity` pairs of its expert come before it), then
 * the kept pairs in (token, choice) order (the row within the expert). Each rank is a
 * deterministic three-pass count: per chunk of 256 pairs the count per expert, an
 * exclusive scan over the chunks per expert, then each pair's rank = its chunk's base +
 * the same-expert pairs before it in its chunk. No atomics anywhere: every output is
 * written by one thread in a fixed order. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define TPB 256
#define CHUNK 256 /* pairs per rank block; must equal the block size of the rank kernels */

/* ---- per token: softmax, top-k, weights ---- */
__global__ void k_moe_route_rows(float *p, float *lse, double *lse_d, int32_t *top, float *w,
                             const float *logits, int T, int E, int k, int renormalize) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T) return;
    const float *l = logits + (size_t)t * E;
    float *pt = p + (size_t)t * E;
    double m = l[0];
    for (int e = 1; e < E; e++)
        if (l[e] > m) m = l[e];
    double s = 0;
    for (int e = 0; e < E; e++) s += exp((double)l[e] - m);
    double ls = m + log(s);
    for (int e = 0; e < E; e++) pt[e] = (float)exp((double)l[e] - ls);
    lse[t] = (float)ls;
    lse_d[t] = ls;
    unsigned taken[HN_MOE_MAX_EXPERTS / 32];
    for (int i = 0; i < HN_MOE_MAX_EXPERTS / 32; i++) taken[i] = 0;
    int32_t *tt = top + (size_t)t * k;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!((taken[e >> 5] >> (e & 31)) & 1u) && (best < 0 || l[e] > l[best])) best = e;
        tt[j] = best;
        taken[best >> 5] |= 1u << (best & 31);
    }
    double sk = 0;
    for (int j = 0; j < k; j++) sk += pt[tt[j]];
    float *wt = w + (size_t)t * k;
    for (int j = 0; j < k; j++) wt[j] = renormalize ? (float)(pt[tt[j]] / sk) : pt[tt[j]];
}

/* sums[e] = sum_t exp(l[t,e] - lse[t]) (block e < E), sums[E] = sum_t lse[t]^2 (block
 * E): a fixed-shape tree, so the same every run */
__global__ void k_moe_route_sums(double *sums, const float *logits, const double *lse_d, int T,
                             int E) {
    __shared__ double part[TPB];
    int e = blockIdx.x;
    double acc = 0;
    for (int t = threadIdx.x; t < T; t += TPB) {
        double ls = lse_d[t];
        acc += e < E ? exp((double)logits[(size_t)t * E + e] - ls) : ls * ls;
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int h = TPB / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) sums[e] = part[0];
}

/* The expert of pair q of the walk, or -1 when it takes no part. mode 0 walks all
 * pairs in (choice, token) order; mode 1 the kept pairs (slot >= 0) in (token, choice)
 * order. *i is the pair's index t * k + j. */
__device__ __forceinline__ int pair_key(int mode, long q, int T, int k, const int32_t *top,
                                        const int32_t *slot, long *i) {
    if (q >= (long)T * k) return -1;
    long ii = mode == 0 ? (q % T) * k + q / T : q;
    *i = ii;
    if (mode == 1 && slot[ii] < 0) return -1;
    return top[ii];
}

/* cnt[c, e] = pairs of expert e in chunk c */
__global__ void k_moe_rank_count(int32_t *cnt, const int32_t *top, const int32_t *slot, int T,
                             int k, int E, int mode) {
    __shared__ int keys[CHUNK];
    long i = 0, q = (long)blockIdx.x * CHUNK + threadIdx.x;
    keys[threadIdx.x] = pair_key(mode, q, T, k, top, slot, &i);
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += CHUNK) {
        int n = 0;
        for (int r = 0; r < CHUNK; r++) n += keys[r] == e;
        cnt[(size_t)blockIdx.x * E + e] = n;
    }
}

/* In place: cnt[c, e] becomes the pairs of expert e in chunks before c. Then mode 0
 * writes routed[e] and dropped, mode 1 the offsets off[e]. One block. */
__global__ void k_moe_rank_scan(int32_t *cnt, int32_t *counts, int nch, int E, int mode,
                            int capacity) {
    __shared__ int tot[HN_MOE_MAX_EXPERTS];
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int run = 0;
        for (int c = 0; c < nch; c++) {
            size_t at = (size_t)c * E + e;
            int v = cnt[at];
            cnt[at] = run;
            run += v;
        }
        tot[e] = run;
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    if (mode == 0) {
        int dropped = 0;
        for (int e = 0; e < E; e++) {
            counts[E + 1 + e] = tot[e];
            if (tot[e] > capacity) dropped += tot[e] - capacity;
        }
        counts[2 * E + 1] = dropped;
    } else {
        counts[0] = 0;
        for (int e = 0; e < E; e++) counts[e + 1] = counts[e] + tot[e];
    }
}

/* Each pair's rank among the pairs of its expert. mode 0: slot = 0 (kept) or -1
 * (dropped); mode 1: slot = the expert-sorted row, with row_tok and row_w. */
__global__ void k_moe_rank_assign(int32_t *slot, int32_t *row_tok, float *row_w, const int32_t *cnt,
                              const int32_t *counts, const int32_t *top, const float *w, int T,
                              int k, int E, int mode, int capacity) {
    __shared__ int keys[CHUNK];
    long i = 0, q = (long)blockIdx.x * CHUNK + threadIdx.x;
    int key = pair_key(mode, q, T, k, top, slot, &i);
    keys[threadIdx.x] = key;
    __syncthreads();
    if (key < 0) return;
    int rank = cnt[(size_t)blockIdx.x * E + key];
    for (int r = 0; r < (int)threadIdx.x; r++) rank += keys[r] == key;
    if (mode == 0) {
        slot[i] = rank < capacity ? 0 : -1;
    } else {
        int row = counts[key] + rank;
        slot[i] = row;
        row_tok[row] = (int32_t)(i / k);
        row_w[row] = w[i];
    }
}

static void route(float *p, float *lse, int32_t *top, float *w, int32_t *slot, int32_t *row_tok,
                  float *row_w, int32_t *counts, double *sums, const float *logits, int T, int E,
                  int k, int renormalize, int capacity) {
    if (T <= 0) {
        HN_CK(cudaMemsetAsync(counts, 0, (size_t)HN_MOE_COUNTS(E) * sizeof(int32_t), HN_STREAM));
        HN_CK(cudaMemsetAsync(sums, 0, (size_t)HN_MOE_SUMS(E) * sizeof(double), HN_STREAM));
        return;
    }
    long N = (long)T * k;
    int nch = (int)((N + CHUNK - 1) / CHUNK);
    size_t lse_bytes = ((size_t)T * sizeof(double) + 255) / 256 * 256;
    char *ws = (char *)hn_cuda_scratch(HN_SCRATCH_MOE,
                                       lse_bytes + (size_t)nch * E * sizeof(int32_t));
    if (!ws) return; /* noted by hn_cuda_scratch */
    double *lse_d = (double *)ws;
    int32_t *cnt = (int32_t *)(ws + lse_bytes);
    k_moe_route_rows<<<(T + 127) / 128, 128, 0, HN_STREAM>>>(p, lse, lse_d, top, w, logits, T, E, k, renormalize);
    HN_LAUNCHED("moe_route");
    k_moe_route_sums<<<E + 1, TPB, 0, HN_STREAM>>>(sums, logits, lse_d, T, E);
    HN_LAUNCHED("moe_route");
    for (int mode = 0; mode < 2; mode++) {
        k_moe_rank_count<<<nch, CHUNK, 0, HN_STREAM>>>(cnt, top, slot, T, k, E, mode);
        HN_LAUNCHED("moe_route");
        k_moe_rank_scan<<<1, TPB, 0, HN_STREAM>>>(cnt, counts, nch, E, mode, capacity);
        HN_LAUNCHED("moe_route");
        k_moe_rank_assign<<<nch, CHUNK, 0, HN_STREAM>>>(slot, row_tok, row_w, cnt, counts, top, w, T, k, E, mode,
                                      capacity);
        HN_LAUNCHED("moe_route");
    }
}

/* ---- routing backward: one thread per token (the cpu's loop body) ---- */
__global__ void k_moe_route_bwd(float *dlogits, const float *dw, const float *p, const float *lse,
                            const int32_t *top, const float *w, const int32_t *counts, int T,
                            int E, int k, int renormalize, double balance_weight,
                            double z_weight) {
    __shared__ double db[HN_MOE_MAX_EXPERTS];
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        double f = (double)counts[E + 1 + e] / ((double)T * k);
        db[e] = balance_weight * E * f / T;
    }
    __syncthreads();
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T) return;
    double dp[HN_MOE_MAX_EXPERTS];
    const float *pt = p + (size_t)t * E, *wt = w + (size_t)t * k, *g = dw + (size_t)t * k;
    const int32_t *tt = top + (size_t)t * k;
    for (int e = 0; e < E; e++) dp[e] = db[e];
    if (renormalize) {
        double s = 0, gw = 0;
        for (int j = 0; j < k; j++) {
            s += pt[tt[j]];
            gw += (double)g[j] * wt[j];
        }
        for (int j = 0; j < k; j++) dp[tt[j]] += ((double)g[j] - gw) / s;
    } else {
        for (int j = 0; j < k; j++) dp[tt[j]] += g[j];
    }
    double pdp = 0;
    for (int e = 0; e < E; e++) pdp += pt[e] * dp[e];
    double zg = z_weight * 2.0 * lse[t] / T;
    float *dl = dlogits + (size_t)t * E;
    for (int e = 0; e < E; e++) dl[e] += (float)(pt[e] * (dp[e] - pdp) + zg * pt[e]);
}

static void route_backward(float *dlogits, const float *dw, const float *p, const float *lse,
                           const int32_t *top, const float *w, const int32_t *counts, int T,
                           int E, int k, int renormalize, double balance_weight,
                           double z_weight) {
    if (T <= 0) return;
    k_moe_route_bwd<<<(T + 127) / 128, 128, 0, HN_STREAM>>>(dlogits, dw, p, lse, top, w, counts, T, E, k,
                                          renormalize, balance_weight, z_weight);
    HN_LAUNCHED("moe_route_backward");
}

/* ---- row movers; products and sums rounded as on the cpu (no fused multiply-add) ---- */
__global__ void k_moe_gather_bwd(float *dx, const float *dxs, const int32_t *slot, int T, int k,
                             int D) {
    size_t n = (size_t)T * D;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / D, d = i % D;
        float acc = dx[i];
        for (int j = 0; j < k; j++) {
            int32_t a = slot[t * k + j];
            if (a >= 0) acc = __fadd_rn(acc, dxs[(size_t)a * D + d]);
        }
        dx[i] = acc;
    }
}

__global__ void k_moe_combine(float *y, const float *ys, const float *w, const int32_t *slot, int T,
                          int k, int D) {
    size_t n = (size_t)T * D;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / D, d = i % D;
        float acc = 0.0f;
        for (int j = 0; j < k; j++) {
            int32_t a = slot[t * k + j];
            if (a >= 0) acc = __fadd_rn(acc, __fmul_rn(w[t * k + j], ys[(size_t)a * D + d]));
        }
        y[i] = acc;
    }
}

__global__ void k_moe_dys(float *dys, const float *dy, const int32_t *row_tok, const float *row_w,
                      int A, int D) {
    size_t n = (size_t)A * D;
    HN_GRID_STRIDE(i, n) {
        size_t a = i / D;
        dys[i] = __fadd_rn(dys[i], __fmul_rn(row_w[a], dy[(size_t)row_tok[a] * D + i % D]));
    }
}

/* one warp per pair: dw[i] += dy[t] . ys[slot[i]] in double */
__global__ void k_moe_dw(float *dw, const float *dy, const float *ys, const int32_t *slot, int T,
                     int k, int D) {
    long i = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (i >= (long)T * k) return;
    int32_t a = slot[i];
    if (a < 0) return;
    const float *g = dy + (size_t)(i / k) * D, *s = ys + (size_t)a * D;
    double acc = 0;
    for (int d = lane; d < D; d += 32) acc += (double)g[d] * s[d];
    acc = hn_warp_sum_d(acc);
    if (lane == 0) dw[i] += (float)acc;
}

static void gather_backward(float *dx, const float *dxs, const int32_t *slot, int T, int k,
                            int D) {
    size_t n = (size_t)T * D;
    if (!n) return;
    k_moe_gather_bwd<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, dxs, slot, T, k, D);
    HN_LAUNCHED("moe_gather_backward");
}

static void combine(float *y, const float *ys, const float *w, const int32_t *slot, int T, int k,
                    int D) {
    size_t n = (size_t)T * D;
    if (!n) return;
    k_moe_combine<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(y, ys, w, slot, T, k, D);
    HN_LAUNCHED("moe_combine");
}

static void combine_backward(float *dys, float *dw, const float *dy, const float *ys,
                             const int32_t *slot, const int32_t *row_tok, const float *row_w,
                             int T, int k, int A, int D) {
    size_t n = (size_t)A * D;
    if (n) {
        k_moe_dys<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dys, dy, row_tok, row_w, A, D);
        HN_LAUNCHED("moe_combine_backward");
    }
    long pairs = (long)T * k;
    if (pairs > 0 && D > 0) {
        k_moe_dw<<<(unsigned)((pairs + TPB / 32 - 1) / (TPB / 32)), TPB, 0, HN_STREAM>>>(dw, dy, ys, slot, T, k, D);
        HN_LAUNCHED("moe_combine_backward");
    }
}

static hn_ops_moe make_moe_ops(void) {
    hn_ops_moe o;
    o.route = route;
    o.route_backward = route_backward;
    o.gather_backward = gather_backward;
    o.combine = combine;
    o.combine_backward = combine_backward;
    return o;
}
const hn_ops_moe hn_cuda_ops_moe = make_moe_ops();
