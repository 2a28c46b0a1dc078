/* The dechunk EMA as a chunked scan (cfg.ema_scan, the default; HNET_CUDA_EMA=segments or
 * column for the others): each input element read once and each output written once,
 * where the segmented kernels (chunk.cu) read their inputs twice and walk the first pass
 * at load latency.
 *
 * A block owns one sequence and 32 columns (a lane a column) and walks the sequence in
 * tiles of SCAN_WARPS x L rows, warp w holding rows w L .. w L + L - 1 of a tile in
 * registers. Per tile:
 *   1. each thread runs its L rows from a zero carry: its rows' map h -> A h + B;
 *   2. the maps meet in shared memory (one barrier a tile): the carry into warp w is
 *      the tile's carry through the maps of the warps before it (after it, backward);
 *   3. the same L rows again from that carry, from registers, written.
 * The next tile's loads are issued before step 1, so up to two tiles of loads are in
 * flight while a tile's recurrence waits (a tile is 32 KB an SM forward, L = 16 rows of z;
 * 64 KB backward, L = 8 rows of dzbar, z, zbar and dz).
 *
 * The sums change order only where maps meet (A h + B at a warp's first row), as in the
 * segmented kernels. dP's row sums: a transposing butterfly over the warp's lanes (9
 * shuffles for 8 rows, not 40), one partial a row and column strip in scratch, summed
 * over the strips in order by a second launch (deterministic, no atomics). */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define SCAN_WARPS 16
#define SCAN_FWD_L 16 /* rows a thread a tile */
#define SCAN_BWD_L 8

__device__ __forceinline__ float scan_clamp(float p) { /* hn_ema_clamp */
    return fminf(fmaxf(p, HN_EMA_P_MIN), 1.0f - HN_EMA_P_MIN);
}
/* the decay a of row k: 0 past the sequence's end, so those rows leave h as it is */
__device__ __forceinline__ float scan_a(float p, int k, int k1) { return k < k1 ? scan_clamp(p) : 0.0f; }

/* ---- forward ---- */

/* L rows from r: z and the raw P (clamped when used, so that no instruction waits on
 * these loads before the current tile is done); zero past k1 and outside the columns */
template <int L>
__device__ __forceinline__ void fwd_load(float (&zv)[L], float (&pv)[L], const float *__restrict__ z,
                                         const float *__restrict__ P, int r, int k1, int d,
                                         bool col, int D) {
#pragma unroll
    for (int i = 0; i < L; i++) {
        zv[i] = 0.0f;
        pv[i] = 0.0f;
        if (r + i < k1) {
            pv[i] = P[r + i];
            if (col) zv[i] = z[(size_t)(r + i) * D + d];
        }
    }
}

/* what a block's threads share: its sequence's rows [k0, k1), the thread's column */
struct scan_at {
    int k0, k1, d, w, lane, D;
    bool col;
};
__device__ __forceinline__ scan_at scan_at_of(const int32_t *__restrict__ offsets, int D) {
    scan_at s;
    s.lane = threadIdx.x & 31, s.w = threadIdx.x >> 5, s.d = blockIdx.y * 32 + s.lane;
    s.k0 = offsets[blockIdx.x], s.k1 = offsets[blockIdx.x + 1], s.D = D, s.col = s.d < D;
    return s;
}

/* The maps in shared memory by tile parity, so that one barrier a tile suffices: a
 * buffer is written again two tiles on, after every thread has passed the barrier
 * between. carry[par]: the carry into tile par's first (forward) or last (backward) row,
 * left by the warp that ends the tile before it. */
struct scan_smem {
    float2 map[2][SCAN_WARPS][32];
    float carry[2][32];
};

/* One tile from t0 in registers cur; issues the next tile's loads into nxt first. Called
 * with the two buffers swapped in turn (a copy between them would wait on the loads). */
template <int L>
__device__ __forceinline__ void fwd_tile(float (&zv)[L], float (&pv)[L], float (&zn)[L],
                                         float (&pn)[L], scan_smem &sm, int par, int t0,
                                         const scan_at &s, float *__restrict__ zbar,
                                         const float *__restrict__ z,
                                         const float *__restrict__ P) {
    constexpr int TILE = SCAN_WARPS * L;
    if (t0 + TILE < s.k1) fwd_load<L>(zn, pn, z, P, t0 + TILE + s.w * L, s.k1, s.d, s.col, s.D);
    int r = t0 + s.w * L;
    float A = 1.0f, B = 0.0f;
#pragma unroll
    for (int i = 0; i < L; i++) {
        float a = scan_a(pv[i], r + i, s.k1);
        B = a * zv[i] + (1.0f - a) * B;
        A *= 1.0f - a;
    }
    sm.map[par][s.w][s.lane] = make_float2(A, B);
    __syncthreads();
    float h = sm.carry[par][s.lane];
#pragma unroll
    for (int j = 0; j < SCAN_WARPS - 1; j++)
        if (j < s.w) {
            float2 m = sm.map[par][j][s.lane];
            h = m.x * h + m.y;
        }
#pragma unroll
    for (int i = 0; i < L; i++) {
        float a = scan_a(pv[i], r + i, s.k1);
        h = a * zv[i] + (1.0f - a) * h;
        if (r + i < s.k1 && s.col) zbar[(size_t)(r + i) * s.D + s.d] = h;
    }
    if (s.w == SCAN_WARPS - 1) sm.carry[par ^ 1][s.lane] = h;
}

__global__ void __launch_bounds__(32 * SCAN_WARPS, 1)
    k_ema_fwd_scan(float *__restrict__ zbar, const float *__restrict__ z,
                   const float *__restrict__ P, const int32_t *__restrict__ offsets, int D) {
    constexpr int L = SCAN_FWD_L, TILE = SCAN_WARPS * L;
    __shared__ scan_smem sm;
    scan_at s = scan_at_of(offsets, D);
    if (s.w == SCAN_WARPS - 1) sm.carry[0][s.lane] = 0.0f;
    float z0[L], p0[L], z1[L], p1[L];
    fwd_load<L>(z0, p0, z, P, s.k0 + s.w * L, s.k1, s.d, s.col, D);
    for (int t0 = s.k0; t0 < s.k1; t0 += 2 * TILE) {
        fwd_tile<L>(z0, p0, z1, p1, sm, 0, t0, s, zbar, z, P);
        if (t0 + TILE >= s.k1) break;
        fwd_tile<L>(z1, p1, z0, p0, sm, 1, t0 + TILE, s, zbar, z, P);
    }
}

/* ---- backward ---- */

template <int L>
struct bwd_rows { /* a thread's rows of one tile */
    float g[L], p[L], z[L], zp[L], dz[L]; /* dzbar, raw P, z, zbar of the row before, dz */
};

template <int L>
__device__ __forceinline__ void bwd_load(bwd_rows<L> &t, const float *__restrict__ dzbar,
                                         const float *__restrict__ z,
                                         const float *__restrict__ zbar,
                                         const float *__restrict__ dz,
                                         const float *__restrict__ P, int r, int k0, int k1,
                                         int d, bool col, int D) {
#pragma unroll
    for (int i = 0; i < L; i++) {
        int k = r + i;
        size_t e = (size_t)k * D + d;
        t.g[i] = t.p[i] = t.z[i] = t.zp[i] = t.dz[i] = 0.0f;
        if (k < k1) {
            t.p[i] = P[k];
            if (col) {
                t.g[i] = dzbar[e];
                t.z[i] = z[e];
                t.dz[i] = dz[e];
                if (k > k0) t.zp[i] = zbar[e - D];
            }
        }
    }
}

/* v[i] summed over the warp's lanes, halving the rows at each exchange: lane l ends with
 * the sum of row l / (32 / L) (L a power of two up to 32) */
template <int L>
__device__ __forceinline__ float warp_row_sums(float (&v)[L], int lane) {
#pragma unroll
    for (int n = L, o = 16; n > 1; n >>= 1, o >>= 1) {
        bool up = lane & o; /* keeps the upper half */
#pragma unroll
        for (int j = 0; j < n / 2; j++) {
            float send = up ? v[j] : v[j + n / 2], keep = up ? v[j + n / 2] : v[j];
            v[j] = keep + __shfl_xor_sync(0xffffffffu, send, o);
        }
    }
    float s = v[0];
#pragma unroll
    for (int o = 16 / L; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

/* One tile (index t, last first) in registers cur; issues tile t - 1's loads into nxt
 * first. dz added to; prow[k] = row k's dP over the block's 32 columns. */
template <int L>
__device__ __forceinline__ void bwd_tile(bwd_rows<L> &cur, bwd_rows<L> &nxt, scan_smem &sm,
                                         int par, int t, const scan_at &s,
                                         float *__restrict__ dz, float *__restrict__ prow,
                                         const float *__restrict__ dzbar,
                                         const float *__restrict__ z,
                                         const float *__restrict__ zbar,
                                         const float *__restrict__ P) {
    constexpr int TILE = SCAN_WARPS * L;
    int r = s.k0 + t * TILE + s.w * L;
    if (t > 0) bwd_load<L>(nxt, dzbar, z, zbar, dz, P, r - TILE, s.k0, s.k1, s.d, s.col, s.D);
    /* the carry handed to the row below: c g, g = dzbar + the carry from above */
    float A = 1.0f, B = 0.0f;
#pragma unroll
    for (int i = L - 1; i >= 0; i--) {
        float c = 1.0f - scan_a(cur.p[i], r + i, s.k1);
        B = c * (cur.g[i] + B);
        A *= c;
    }
    sm.map[par][s.w][s.lane] = make_float2(A, B);
    __syncthreads();
    float carry = sm.carry[par][s.lane];
#pragma unroll
    for (int j = SCAN_WARPS - 1; j > 0; j--)
        if (j > s.w) {
            float2 m = sm.map[par][j][s.lane];
            carry = m.x * carry + m.y;
        }
    float dp[L];
#pragma unroll
    for (int i = L - 1; i >= 0; i--) {
        int k = r + i;
        bool on = k < s.k1 && s.col;
        float a = scan_a(cur.p[i], k, s.k1), g = cur.g[i] + carry;
        if (on) dz[(size_t)k * s.D + s.d] = cur.dz[i] + a * g;
        dp[i] = on ? g * (cur.z[i] - cur.zp[i]) : 0.0f;
        carry = (1.0f - a) * g;
    }
    if (s.w == 0) sm.carry[par ^ 1][s.lane] = carry;
    float sum = warp_row_sums<L>(dp, s.lane);
    int k = r + s.lane / (32 / L);
    if (s.lane % (32 / L) == 0 && k < s.k1) prow[k] = sum;
}

/* dz added to; part[strip * K + k] = row k's dP over the strip's 32 columns */
__global__ void __launch_bounds__(32 * SCAN_WARPS, 1)
    k_ema_bwd_scan(float *__restrict__ dz, float *__restrict__ part,
                   const float *__restrict__ dzbar, const float *__restrict__ z,
                   const float *__restrict__ zbar, const float *__restrict__ P,
                   const int32_t *__restrict__ offsets, int D, int K) {
    constexpr int L = SCAN_BWD_L, TILE = SCAN_WARPS * L;
    __shared__ scan_smem sm;
    scan_at s = scan_at_of(offsets, D);
    if (s.k1 <= s.k0) return; /* the whole block */
    int nt = (s.k1 - s.k0 + TILE - 1) / TILE;
    float *prow = part + (size_t)blockIdx.y * K;
    if (s.w == 0) sm.carry[0][s.lane] = 0.0f;
    bwd_rows<L> b0, b1;
    bwd_load<L>(b0, dzbar, z, zbar, dz, P, s.k0 + (nt - 1) * TILE + s.w * L, s.k0, s.k1, s.d,
                s.col, D);
    for (int t = nt - 1; t >= 0; t -= 2) {
        bwd_tile<L>(b0, b1, sm, 0, t, s, dz, prow, dzbar, z, zbar, P);
        if (t == 0) break;
        bwd_tile<L>(b1, b0, sm, 1, t - 1, s, dz, prow, dzbar, z, zbar, P);
    }
}

/* dP[k] += row k's partials over the column strips, in strip order; none where P clamps */
__global__ void k_ema_dp_sum(float *__restrict__ dP, const float *__restrict__ part,
                             const float *__restrict__ P, int K, int strips) {
    HN_GRID_STRIDE(k, (size_t)K) {
        float s = 0.0f;
        for (int j = 0; j < strips; j++) s += part[(size_t)j * K + k];
        float p = P[k];
        if (scan_clamp(p) == p) dP[k] += s;
    }
}

void hn_cuda_ema_scan_forward(float *zbar, const float *z, const float *P, const hn_seqs *seqs,
                              int D) {
    if (seqs->n <= 0 || D <= 0) return;
    dim3 grid((unsigned)seqs->n, (unsigned)((D + 31) / 32));
    k_ema_fwd_scan<<<grid, 32 * SCAN_WARPS, 0, HN_STREAM>>>(zbar, z, P, seqs->offsets_dev, D);
}

void hn_cuda_ema_scan_backward(float *dz, float *dP, const float *dzbar, const float *z,
                               const float *zbar, const float *P, const hn_seqs *seqs, int D) {
    int K = seqs->total, strips = (D + 31) / 32;
    if (seqs->n <= 0 || D <= 0 || K <= 0) return;
    float *part = (float *)hn_cuda_scratch(HN_SCRATCH_EMA, (size_t)strips * K * sizeof(float));
    if (!part) return; /* noted: the op fails */
    dim3 grid((unsigned)seqs->n, (unsigned)strips);
    k_ema_bwd_scan<<<grid, 32 * SCAN_WARPS, 0, HN_STREAM>>>(dz, part, dzbar, z, zbar, P,
                                                            seqs->offsets_dev, D, K);
    k_ema_dp_sum<<<hn_blocks((size_t)K, 256), 256, 0, HN_STREAM>>>(dP, part, P, K, strips);
}
