/* Flash attention for head_dim 64 on bf16 tensor cores with register-resident scores
 * (the FlashAttention-2 design on mma.sync m16n8k16): each warp owns 16 rows; scores,
 * the online softmax and the output accumulator never leave registers, and the softmax'd
 * score tile is repacked in registers as the A operand of the P.V product (mma_bf16.cuh).
 * q, k, v (and dO) are converted to bf16 once per call and streamed through shared memory
 * in double-buffered tiles (cp.async); statistics, accumulators and every gradient are fp32.
 *
 * Visibility of key j to query i (packed sequences, causal, sliding window):
 *   lo(i) <= j <= i,  lo(i) = max(start of i's sequence, i - window)   (window < 0: global)
 * lo is non-decreasing in i, so a block of rows needs keys [lo(first row), last row]:
 * cost proportional to the window, not to T.
 *
 * Backward is deterministic (no float atomics): D = rowsum(dO * O) first, then one kernel
 * per key tile accumulates dK and dV over the queries that see it, and one per query tile
 * accumulates dQ over its keys (recomputing the scores; FlashAttention-2 instead adds dQ
 * with atomics). */
#include <cuda_bf16.h>
#include <limits.h>

#include "backend/cuda/attention_rows.cuh"
#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mma_bf16.cuh"

#define HD 64
#define LDS 72 /* bf16 row stride in shared memory: 144 bytes puts ldmatrix rows on distinct banks */
#define LOG2E HN_ATT_LOG2E
#define LN2 HN_ATT_LN2

typedef __nv_bfloat16 bf16;

/* rows [r0, r0 + ROWS) of one head (src already offset to the head; row stride ld) ->
 * dst[ROWS][LDS], asynchronously (cp.async; the caller commits and waits); rows >= T are
 * zero. 8 values (16 bytes) per copy. */
template <int ROWS, int NT>
__device__ __forceinline__ void stage(bf16 *dst, const bf16 *__restrict__ src, int ld, int r0,
                                      int T) {
    for (int e = threadIdx.x; e < ROWS * 8; e += NT) {
        int r = e >> 3, c = (e & 7) * 8;
        bool valid = r0 + r < T;
        hn_cp_async16(dst + r * LDS + c, src + (size_t)(valid ? r0 + r : 0) * ld + c, valid);
    }
}

/* fp32 rows (stride ld) of n tensors -> bf16 [T][D] each; y picks the tensor */
__global__ void k_mma_to_bf16(bf16 *dst, const float *a, const float *b, const float *c, int ld,
                              int T, int D) {
    const float *src = blockIdx.y == 0 ? a : blockIdx.y == 1 ? b : c;
    bf16 *out = dst + (size_t)blockIdx.y * T * D;
    size_t chunks = (size_t)T * (D / 8);
    HN_GRID_STRIDE(i, chunks) {
        size_t t = i / (D / 8), col = 8 * (i % (D / 8));
        const float4 *p = (const float4 *)(src + t * ld + col);
        float4 x = p[0], y = p[1];
        *(uint4 *)(out + t * D + col) = make_uint4(hn_pack_bf16(x.x, x.y), hn_pack_bf16(x.z, x.w),
                                                   hn_pack_bf16(y.x, y.y), hn_pack_bf16(y.z, y.w));
    }
}

/* s[m][n-tile][4] (MT x 16 rows x 64 keys) = A(MT x 16 x 64) . B^T where B's 64 rows are
 * stored [n][k]. Each B fragment loaded from shared memory feeds MT products: more rows
 * per warp, less shared-memory traffic per product. */
template <int MT>
__device__ __forceinline__ void scores_mt(float s[MT][8][4], const uint32_t a[MT][4][4],
                                          const bf16 *B) {
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
        for (int np = 0; np < 4; np++) {
            uint32_t b[4];
            hn_load_b_nk(b, B, LDS, np * 16, ks * 16);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if (ks == 0) { /* the first k-step writes: no clearing pass */
                    hn_mma16816_first(s[mt][2 * np], a[mt][ks], b[0], b[1]);
                    hn_mma16816_first(s[mt][2 * np + 1], a[mt][ks], b[2], b[3]);
                } else {
                    hn_mma16816(s[mt][2 * np], a[mt][ks], b[0], b[1]);
                    hn_mma16816(s[mt][2 * np + 1], a[mt][ks], b[2], b[3]);
                }
            }
        }
}

/* acc[m][n-tile][4] (MT x 16 x 64) += P(MT x 16 x 64, C fragments) . B, B stored [k][n] */
template <int MT>
__device__ __forceinline__ void accumulate_mt(float acc[MT][8][4], const float p[MT][8][4],
                                              const bf16 *B) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            a[mt][0] = hn_pack_bf16(p[mt][2 * kk][0], p[mt][2 * kk][1]);
            a[mt][1] = hn_pack_bf16(p[mt][2 * kk][2], p[mt][2 * kk][3]);
            a[mt][2] = hn_pack_bf16(p[mt][2 * kk + 1][0], p[mt][2 * kk + 1][1]);
            a[mt][3] = hn_pack_bf16(p[mt][2 * kk + 1][2], p[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < 4; dp++) {
            uint32_t b[4];
            hn_load_b_kn(b, B, LDS, dp * 16, kk * 16);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                hn_mma16816(acc[mt][2 * dp], a[mt], b[0], b[1]);
                hn_mma16816(acc[mt][2 * dp + 1], a[mt], b[2], b[3]);
            }
        }
    }
}

/* one m-tile (16 rows) per warp: the backward's shape */
__device__ __forceinline__ void scores(float s[8][4], const uint32_t a[4][4], const bf16 *B) {
    scores_mt<1>((float(*)[8][4])s, (const uint32_t(*)[4][4])a, B);
}
__device__ __forceinline__ void accumulate(float acc[8][4], const float p[8][4], const bf16 *B) {
    accumulate_mt<1>((float(*)[8][4])acc, (const float(*)[8][4])p, B);
}

__device__ __forceinline__ void load_a_rows(uint32_t a[4][4], const __nv_bfloat16 *tile, int row0) {
#pragma unroll
    for (int ks = 0; ks < 4; ks++) hn_load_a(a[ks], tile, LDS, row0, ks * 16);
}

/* ------------------------------------------------------------------ forward */
#define FWD_M 128 /* query rows per block */
#define FWD_N 64  /* keys per streamed tile */
#define TILE (FWD_N * LDS) /* bf16 elements of one staged key tile */
static const size_t FWD_SMEM = (FWD_M * LDS + 4 * TILE) * sizeof(bf16);

/* MT m-tiles (16 rows each) per warp, FWD_M / (16 MT) warps per block */
__device__ __forceinline__ float2 load2(const float *p) { return *(const float2 *)p; }
__device__ __forceinline__ float2 load2(const bf16 *p) {
    return __bfloat1622float2(*(const __nv_bfloat162 *)p);
}

template <int MT, typename TO>
__global__ void __launch_bounds__(FWD_M * 2 / MT, 2)
    k_mma_fwd(TO *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int ld,
              const int32_t *pos, int T, int heads, int window, float scale_log2) {
    constexpr int NT = FWD_M * 2 / MT, WR = 16 * MT; /* threads; rows per warp */
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *Qs = (bf16 *)smem_raw, *KV = Qs + FWD_M * LDS; /* KV: [buffer][K, V] tiles */
    /* the last (most loaded: causal) row blocks first, so the short ones fill the tail */
    int h = blockIdx.y, r0 = (gridDim.x - 1 - blockIdx.x) * FWD_M, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, w0 = r0 + warp * WR;
    int row[MT][2], lo[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            row[mt][r] = w0 + 16 * mt + g + 8 * r;
            lo[mt][r] = hn_att_lo(pos, row[mt][r], T, window);
        }
    /* the warp's rows see keys [w_lo, w_last]; every key of a tile inside
     * [w_lo_max, w0] is seen by all of them (no mask needed) */
    int w_last = min(w0 + WR - 1, T - 1), w_lo = hn_att_lo(pos, min(w0, T - 1), T, window);
    int w_lo_max = hn_att_lo(pos, w_last, T, window);
    bool w_full_rows = w0 + WR - 1 < T, w_live = w0 < T;
    const bf16 *kh = k + (size_t)h * HD, *vh = v + (size_t)h * HD;
    int last = min(r0 + FWD_M, T) - 1, first = hn_att_lo(pos, r0, T, window);
    stage<FWD_M, NT>(Qs, q + (size_t)h * HD, ld, r0, T);
    stage<FWD_N, NT>(KV, kh, ld, first, T);
    stage<FWD_N, NT>(KV + TILE, vh, ld, first, T);
    hn_cp_async_commit();
    hn_cp_async_wait<0>();
    __syncthreads();
    uint32_t qf[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) load_a_rows(qf[mt], Qs, warp * WR + 16 * mt);
    float o[MT][8][4], m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.0f;
#pragma unroll
        for (int n = 0; n < 8; n++) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
    }
    int buf = 0;
    for (int kb = first; kb <= last; kb += FWD_N, buf ^= 1) {
        if (kb + FWD_N <= last) { /* the next tile streams in while this one is used */
            bf16 *nx = KV + (buf ^ 1) * 2 * TILE;
            stage<FWD_N, NT>(nx, kh, ld, kb + FWD_N, T);
            stage<FWD_N, NT>(nx + TILE, vh, ld, kb + FWD_N, T);
        }
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        __syncthreads();
        const bf16 *Ks = KV + buf * 2 * TILE, *Vs = Ks + TILE;
        if (w_live && kb <= w_last && kb + FWD_N - 1 >= w_lo) { /* warp-uniform */
            float s[MT][8][4];
            scores_mt<MT>(s, qf, Ks);
            bool full = w_full_rows && kb >= w_lo_max && kb + FWD_N - 1 <= w0;
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                /* maxima in raw score units (scale > 0); the scale is folded into the
                 * exponent's FFMA below. Tiles wholly visible to the warp (most of them)
                 * skip the per-score visibility test. */
                float mx[2] = {-INFINITY, -INFINITY};
                if (full) {
#pragma unroll
                    for (int n = 0; n < 8; n++)
#pragma unroll
                        for (int e = 0; e < 4; e++) mx[e >> 1] = fmaxf(mx[e >> 1], s[mt][n][e]);
                } else {
#pragma unroll
                    for (int n = 0; n < 8; n++)
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            int j = kb + n * 8 + 2 * c + (e & 1), r = e >> 1;
                            if (j < lo[mt][r] || j > row[mt][r]) s[mt][n][e] = -INFINITY;
                            mx[r] = fmaxf(mx[r], s[mt][n][e]);
                        }
                }
                float corr[2], use[2];
                hn_att_online_max(mx, m[mt], l[mt], scale_log2, use, corr);
#pragma unroll
                for (int n = 0; n < 8; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        int r = e >> 1;
                        float p = hn_ex2(fmaf(s[mt][n][e], scale_log2, -use[r]));
                        s[mt][n][e] = p;
                        l[mt][r] += p;
                    }
                /* (skipping this rescale where a warp's maxima did not move measured no
                 * faster: bench/NOTES.md) */
#pragma unroll
                for (int n = 0; n < 8; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) o[mt][n][e] *= corr[e >> 1];
            }
            accumulate_mt<MT>(o, s, Vs);
        }
        __syncthreads(); /* this buffer is refilled two tiles on */
    }
    if (!w_live) return;
    int W = heads * HD;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float lr = l[mt][r];
            lr += __shfl_xor_sync(0xffffffffu, lr, 1);
            lr += __shfl_xor_sync(0xffffffffu, lr, 2);
            int t = row[mt][r];
            if (t >= T) continue;
            float inv = 1.0f / lr;
            TO *dst = out + (size_t)t * W + (size_t)h * HD + 2 * c;
#pragma unroll
            for (int n = 0; n < 8; n++)
                hn_att_store2(dst + n * 8, o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv);
            if (c == 0) lse[(size_t)t * heads + h] = (m[mt][r] * scale_log2 + log2f(lr)) * LN2;
        }
}

/* ------------------------------------------------------------------ backward */
#define BWD_M 64 /* rows (keys for dK/dV, queries for dQ) per block: 4 warps x 16 */
#define BWD_T 128

/* D[t, h] = dout[t, h, :] . out[t, h, :] (one warp per (t, h); 2 values a lane); rows
 * are [heads * HD] wide */
template <typename TG, typename TO>
__global__ void k_mma_rowdot(float *D, const TG *dout, const TO *out, int T, int heads) {
    long item = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (item >= (long)T * heads) return;
    int lane = threadIdx.x & 31;
    size_t off = (size_t)item * HD + 2 * lane; /* item = t * heads + h */
    float2 a = load2(dout + off), b = load2(out + off);
    float s = hn_warp_sum(a.x * b.x + a.y * b.y);
    if (lane == 0) D[item] = s;
}

#define BT (BWD_M * LDS) /* bf16 elements of one staged 64-row tile */

/* dK, dV of one tile of 64 keys: over the query tiles that see them, S^T = K Q^T and
 * dP^T = V dO^T, then dV += P^T dO and dK += dS^T Q. q, k, v, dout: bf16 [T][heads*HD]. */
__global__ void __launch_bounds__(BWD_T, 3) k_mma_dkv(float *dk, float *dv, int ld_grad, int ldq,
                                                   const float *D, const bf16 *dout,
                                                   const bf16 *q, const bf16 *k, const bf16 *v,
                                                   const float *lse, const int32_t *pos,
                                                   const int32_t *offsets, int n_seqs, int T,
                                                   int heads, int window, float scale,
                                                   float scale_log2, int add_to) {
    /* [buffer][Q, dO] tiles, then the block's own K and V rows: kept in shared memory
     * and re-read per tile rather than held as A fragments, which is what fits the
     * kernel in 168 registers, three blocks an SM (1.7x over 228 registers, two) */
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16(*QG)[2][BT] = (bf16(*)[2][BT])smem_raw;
    bf16 *Kown = (bf16 *)smem_raw + 4 * BT, *Vown = Kown + BT;
    __shared__ int Lo[2][BWD_M];
    __shared__ float Ls[2][BWD_M], Ds[2][BWD_M];
    int h = blockIdx.y, c0 = blockIdx.x * BWD_M, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, w0 = c0 + warp * 16, W = heads * HD;
    int key[2] = {w0 + g, w0 + g + 8};
    const bf16 *qh = q + (size_t)h * HD, *gh = dout + (size_t)h * HD;
    /* queries that can see this block's keys: up to the end of the last key's sequence,
     * at most `window` past the last key */
    int qlast = hn_att_last_query(offsets, n_seqs, min(c0 + BWD_M, T) - 1, window);
    /* K and V rows (as A operands) through buffer 1; the first query tile into buffer 0 */
    auto stage_queries = [&](int bi, int ib) {
        stage<BWD_M, BWD_T>(QG[bi][0], qh, ldq, ib, T);
        stage<BWD_M, BWD_T>(QG[bi][1], gh, W, ib, T);
        if (threadIdx.x < BWD_M)
            hn_att_query_row(Lo[bi], Ls[bi], Ds[bi], ib, pos, lse, D, T, heads, h, window);
    };
    stage<BWD_M, BWD_T>(Kown, k + (size_t)h * HD, ldq, c0, T);
    stage<BWD_M, BWD_T>(Vown, v + (size_t)h * HD, ldq, c0, T);
    stage_queries(0, c0);
    hn_cp_async_commit();
    hn_cp_async_wait<0>();
    __syncthreads();
    uint32_t kf[4][4], vf[4][4];
    __syncthreads();
    float dka[8][4], dva[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) dka[n][e] = dva[n][e] = 0.0f;
    int buf = 0;
    for (int ib = c0; ib <= qlast; ib += BWD_M, buf ^= 1) {
        if (ib + BWD_M <= qlast) stage_queries(buf ^ 1, ib + BWD_M);
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        __syncthreads();
        const bf16 *Qs = QG[buf][0], *Gs = QG[buf][1];
        const int *lo = Lo[buf];
        const float *ls = Ls[buf], *ds_ = Ds[buf];
        if (w0 < T && lo[0] <= w0 + 15) { /* some query of the tile sees these keys */
            float st[8][4], dpt[8][4];
            load_a_rows(kf, Kown, warp * 16);
            scores(st, kf, Qs); /* S^T: keys x queries */
            load_a_rows(vf, Vown, warp * 16);
            scores(dpt, vf, Gs); /* dP^T = V . dO^T */
            /* every query of the tile sees every key of the warp (lo is non-decreasing
             * and rows past T have lo = INT_MAX): no per-score visibility test */
            bool full = ib >= w0 + 15 && lo[BWD_M - 1] <= w0;
#pragma unroll
            for (int n = 0; n < 8; n++) {
                int ci = n * 8 + 2 * c;
                float2 L = *(const float2 *)(ls + ci), Dq = *(const float2 *)(ds_ + ci);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float p = hn_ex2(fmaf(st[n][e], scale_log2, -((e & 1) ? L.y : L.x)));
                    if (!full) {
                        int i = ib + ci + (e & 1), j = key[e >> 1];
                        if (lo[ci + (e & 1)] > j || j > i) p = 0.0f;
                    }
                    st[n][e] = p; /* dS without the softmax scale: applied to dK at the end */
                    dpt[n][e] = p * (dpt[n][e] - ((e & 1) ? Dq.y : Dq.x));
                }
            }
            accumulate(dva, st, Gs);  /* dV += P^T dO */
            accumulate(dka, dpt, Qs); /* dK += dS^T Q */
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (key[r] >= T) continue;
        size_t off = (size_t)key[r] * ld_grad + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            hn_att_grad2(dk + off + n * 8, scale * dka[n][2 * r], scale * dka[n][2 * r + 1], add_to);
            hn_att_grad2(dv + off + n * 8, dva[n][2 * r], dva[n][2 * r + 1], add_to);
        }
    }
}

/* dQ of one tile of 64 queries: over its keys, S = Q K^T and dP = dO V^T again, then
 * dQ += dS K. */
__global__ void __launch_bounds__(BWD_T, 3) k_mma_dq(float *dq, int ld_grad, int ldq, const float *D,
                                                  const bf16 *dout, const bf16 *q,
                                                  const bf16 *k, const bf16 *v,
                                                  const float *lse, const int32_t *pos, int T,
                                                  int heads, int window, float scale,
                                                  float scale_log2, int add_to) {
    __shared__ __align__(16) bf16 KV[2][2][BT]; /* [buffer][K, V] */
    int h = blockIdx.y, r0 = (gridDim.x - 1 - blockIdx.x) * BWD_M, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, w0 = r0 + warp * 16, W = heads * HD;
    int row[2] = {w0 + g, w0 + g + 8};
    int lo[2] = {hn_att_lo(pos, row[0], T, window), hn_att_lo(pos, row[1], T, window)};
    float L[2], Dr[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        L[r] = row[r] < T ? lse[(size_t)row[r] * heads + h] * LOG2E : 0.0f;
        Dr[r] = row[r] < T ? D[(size_t)row[r] * heads + h] : 0.0f;
    }
    int w_last = min(w0 + 15, T - 1), w_lo = hn_att_lo(pos, min(w0, T - 1), T, window);
    int w_lo_max = hn_att_lo(pos, w_last, T, window);
    bool w_full = w0 + 15 < T;
    int last = min(r0 + BWD_M, T) - 1, first = hn_att_lo(pos, r0, T, window);
    const bf16 *kh = k + (size_t)h * HD, *vh = v + (size_t)h * HD;
    stage<BWD_M, BWD_T>(KV[1][0], q + (size_t)h * HD, ldq, r0, T);
    stage<BWD_M, BWD_T>(KV[1][1], dout + (size_t)h * HD, W, r0, T);
    stage<BWD_M, BWD_T>(KV[0][0], kh, ldq, first, T);
    stage<BWD_M, BWD_T>(KV[0][1], vh, ldq, first, T);
    hn_cp_async_commit();
    hn_cp_async_wait<0>();
    __syncthreads();
    uint32_t qf[4][4], gf[4][4];
    load_a_rows(qf, KV[1][0], warp * 16);
    load_a_rows(gf, KV[1][1], warp * 16);
    __syncthreads();
    float acc[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
    int buf = 0;
    for (int kb = first; kb <= last; kb += BWD_M, buf ^= 1) {
        if (kb + BWD_M <= last) {
            stage<BWD_M, BWD_T>(KV[buf ^ 1][0], kh, ldq, kb + BWD_M, T);
            stage<BWD_M, BWD_T>(KV[buf ^ 1][1], vh, ldq, kb + BWD_M, T);
        }
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        __syncthreads();
        const bf16 *Ks = KV[buf][0], *Vs = KV[buf][1];
        if (w0 < T && kb <= w_last && kb + BWD_M - 1 >= w_lo) {
            float s[8][4], dp[8][4];
            scores(s, qf, Ks);
            scores(dp, gf, Vs); /* dP = dO . V^T */
            bool full = w_full && kb >= w_lo_max && kb + BWD_M - 1 <= w0;
#pragma unroll
            for (int n = 0; n < 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int r = e >> 1;
                    float p = hn_ex2(fmaf(s[n][e], scale_log2, -L[r]));
                    if (!full) {
                        int j = kb + n * 8 + 2 * c + (e & 1);
                        if (lo[r] > j || j > row[r]) p = 0.0f;
                    }
                    s[n][e] = p * (dp[n][e] - Dr[r]); /* the softmax scale is applied at the end */
                }
            accumulate(acc, s, Ks); /* dQ += dS K */
        }
        __syncthreads();
    }
    if (w0 >= T) return;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (row[r] >= T) continue;
        float *dst = dq + (size_t)row[r] * ld_grad + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            hn_att_grad2(dst + n * 8, scale * acc[n][2 * r], scale * acc[n][2 * r + 1], add_to);
        }
    }
}

/* ------------------------------------------------------------------ entry points */
/* the warpgroup kernels (attention_wgmma.cu) where the device runs them, unless the
 * configuration asks for these */
static bool use_wgmma(void) {
    int mode = hn_cuda_attention_mode_now();
    return (mode == HN_CUDA_ATTENTION_AUTO || mode == HN_CUDA_ATTENTION_WGMMA ||
            mode == HN_CUDA_ATTENTION_WGMMA_ATOMIC || mode == HN_CUDA_ATTENTION_CUDNN) &&
           hn_wgmma_available();
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

int hn_mma_supported(int head_dim, int ld, const void *q, const void *k, const void *v) {
    return head_dim == HD && ld % 4 == 0 && aligned16(q) && aligned16(k) && aligned16(v);
}

int hn_mma_supported_bf16(int head_dim, int ld, const void *q, const void *k, const void *v) {
    return head_dim == HD && ld % 8 == 0 && aligned16(q) && aligned16(k) && aligned16(v);
}

/* q, k, v as bf16 [3][T][D] in a scratch slot (the float32 entry points) */
static const bf16 *qkv_bf16(const float *q, const float *k, const float *v, int ld, int T, int D) {
    bf16 *x = (bf16 *)hn_cuda_scratch(HN_SCRATCH_BF16A, (size_t)3 * T * D * sizeof(bf16));
    if (!x) return NULL;
    dim3 grid(hn_blocks((size_t)T * D / 8, 256), 3);
    k_mma_to_bf16<<<grid, 256, 0, HN_STREAM>>>(x, q, k, v, ld, T, D);
    HN_LAUNCHED("attention bf16 operands");
    return x;
}

template <int MT, typename TO>
static void launch_fwd(TO *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int ldq,
                       const hn_seqs *seqs, int heads, int window, float scale) {
    if (hn_cuda_first_time((const void *)k_mma_fwd<MT, TO>)) /* per device: per instance */
        HN_CK(cudaFuncSetAttribute(k_mma_fwd<MT, TO>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)FWD_SMEM));
    int T = seqs->total;
    dim3 grid((T + FWD_M - 1) / FWD_M, heads);
    k_mma_fwd<MT, TO><<<grid, FWD_M * 2 / MT, FWD_SMEM, HN_STREAM>>>(out, lse, q, k, v, ldq, seqs->pos_dev, T,
                                                         heads, window, scale * LOG2E);
    HN_LAUNCHED("attention_forward mma");
}

/* one m-tile per warp: two (255 registers, 8 warps an SM) ran 3-5% slower on the H200
 * (bench/NOTES.md) */
void hn_mma_forward_bf16(void *out, int out_bf16, float *lse, const void *q, const void *k,
                         const void *v, int ldq, const hn_seqs *seqs, int heads, int window,
                         float scale) {
    if (use_wgmma()) {
        hn_wgmma_forward_bf16(out, out_bf16, lse, q, k, v, ldq, seqs, heads, window, scale);
        return;
    }
    const bf16 *qb = (const bf16 *)q, *kb = (const bf16 *)k, *vb = (const bf16 *)v;
    if (out_bf16) launch_fwd<1>((bf16 *)out, lse, qb, kb, vb, ldq, seqs, heads, window, scale);
    else launch_fwd<1>((float *)out, lse, qb, kb, vb, ldq, seqs, heads, window, scale);
}

void hn_mma_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                    const hn_seqs *seqs, int heads, int window, float scale) {
    int T = seqs->total, D = heads * HD;
    const bf16 *x = qkv_bf16(q, k, v, ld, T, D);
    if (!x) return;
    size_t n = (size_t)T * D;
    hn_mma_forward_bf16(out, 0, lse, x, x + n, x + 2 * n, D, seqs, heads, window, scale);
}

void hn_mma_backward_bf16(float *dq, float *dk, float *dv, int ld_grad, const void *dout,
                          int dout_bf16, const void *q, const void *k, const void *v, int ldq,
                          const void *out, int out_bf16, const float *lse, const hn_seqs *seqs,
                          int heads, int window, float scale, float *D, int add_to) {
    int T = seqs->total, W = heads * HD;
    long items = (long)T * heads;
    unsigned rb = (unsigned)((items + 7) / 8);
    /* D from dO and O as they are; dO as bf16 for the tiles */
    if (dout_bf16 && out_bf16) k_mma_rowdot<<<rb, 256, 0, HN_STREAM>>>(D, (const bf16 *)dout, (const bf16 *)out, T, heads);
    else if (dout_bf16) k_mma_rowdot<<<rb, 256, 0, HN_STREAM>>>(D, (const bf16 *)dout, (const float *)out, T, heads);
    else if (out_bf16) k_mma_rowdot<<<rb, 256, 0, HN_STREAM>>>(D, (const float *)dout, (const bf16 *)out, T, heads);
    else k_mma_rowdot<<<rb, 256, 0, HN_STREAM>>>(D, (const float *)dout, (const float *)out, T, heads);
    HN_LAUNCHED("attention_backward rowdot mma");
    const bf16 *g = (const bf16 *)dout;
    if (!dout_bf16) {
        bf16 *gb = (bf16 *)hn_cuda_scratch(HN_SCRATCH_BF16B, (size_t)T * W * sizeof(bf16));
        if (!gb) return;
        const float *gf = (const float *)dout;
        k_mma_to_bf16<<<hn_blocks((size_t)T * W / 8, 256), 256, 0, HN_STREAM>>>(gb, gf, gf, gf, W, T, W);
        HN_LAUNCHED("attention bf16 operands");
        g = gb;
    }
    if (use_wgmma()) {
        hn_wgmma_backward_tiles(dq, dk, dv, ld_grad, g, q, k, v, ldq, lse, seqs, heads, window, scale, D,
                                hn_cuda_attention_mode_now() == HN_CUDA_ATTENTION_WGMMA_ATOMIC, add_to);
        return;
    }
    const bf16 *qb = (const bf16 *)q, *kb = (const bf16 *)k, *vb = (const bf16 *)v;
    dim3 grid((T + BWD_M - 1) / BWD_M, heads);
    static const size_t dkv_smem = 6 * BT * sizeof(bf16);
    if (hn_cuda_first_time((const void *)k_mma_dkv)) /* per device: per instance */
        HN_CK(cudaFuncSetAttribute(k_mma_dkv, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)dkv_smem));
    k_mma_dkv<<<grid, BWD_T, dkv_smem, HN_STREAM>>>(dk, dv, ld_grad, ldq, D, g, qb, kb, vb, lse, seqs->pos_dev,
                                         seqs->offsets_dev, seqs->n, T, heads, window, scale,
                                         scale * LOG2E, add_to);
    HN_LAUNCHED("attention_backward dkv mma");
    k_mma_dq<<<grid, BWD_T, 0, HN_STREAM>>>(dq, ld_grad, ldq, D, g, qb, kb, vb, lse, seqs->pos_dev, T, heads,
                              window, scale, scale * LOG2E, add_to);
    HN_LAUNCHED("attention_backward dq mma");
}

void hn_mma_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                     const float *k, const float *v, int ld, const float *out, const float *lse,
                     const hn_seqs *seqs, int heads, int window, float scale, float *D) {
    int T = seqs->total, W = heads * HD;
    const bf16 *x = qkv_bf16(q, k, v, ld, T, W);
    if (!x) return;
    size_t n = (size_t)T * W;
    hn_mma_backward_bf16(dq, dk, dv, ld, dout, 0, x, x + n, x + 2 * n, W, out, 0, lse, seqs, heads,
                         window, scale, D, 1);
}
