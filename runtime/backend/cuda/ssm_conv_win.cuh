/* The sliding-window conv1d + SiLU kernels of ssm_conv.cu (K <= CONV_MAXK_FAST), in a
 * header of their own so that tests/emu/conv_window_emu.cc can run the same source on
 * the host (every thread of a block a host thread) against a direct convolution where
 * there is no GPU. The includer provides view, loadn / storen / gradn (cuda_view.cuh),
 * hn_sigmoidf (cuda_common.cuh), min and __syncthreads. */
#ifndef HN_CUDA_SSM_CONV_WIN_CUH
#define HN_CUDA_SSM_CONV_WIN_CUH

/* a backward's dw and dbias partial sums, zero before its strip */
template <int K, int V>
__device__ __forceinline__ void zero_partials(float (&dw)[K][V], float (&db)[V]) {
#pragma unroll
    for (int v = 0; v < V; v++) {
        db[v] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) dw[k][v] = 0.0f;
    }
}

/* channels c..c+V-1: their K taps (w is [C][K]) and bias, into registers */
template <int K, int V>
__device__ __forceinline__ void load_taps(float (&wc)[K][V], float (&b)[V], const float *w,
                                          const float *bias, int c) {
#pragma unroll
    for (int v = 0; v < V; v++) {
        b[v] = bias[c + v];
#pragma unroll
        for (int k = 0; k < K; k++) wc[k][v] = w[(size_t)(c + v) * K + k];
    }
}

/* ---- the same convolution as sliding windows over tiles: a block of CONV_CG x CONV_RS
 * threads covers CONV_CG * V channels x CONV_RS * CONV_ROWS rows; each thread walks its
 * strip of CONV_ROWS rows for V consecutive channels keeping the last K inputs (and,
 * backward, gradients) in registers, so every element is read once from memory and a
 * warp reads one row's 32 * V consecutive channels. The strip is walked U rows at a
 * time: the U rows' loads are issued together before any store (the views may alias,
 * so the compiler cannot move a later row's load above an earlier row's store; one row
 * at a time left one load in flight per thread, and the kernels at 2.8x their floor).
 * A row r of x feeds output t (t - K < r <= t) only within t's sequence: with p = pos[t],
 * window slot k (row t - (K-1) + k) counts when k >= K-1-p. V = 4 where the channel
 * count and the views allow 8/16-byte accesses, else 1. Widths up to CONV_MAXK_FAST;
 * wider ones take ssm_conv.cu's general kernels. */
#define CONV_ROWS 32
#define CONV_CG 32 /* threads across channels: one warp */
#define CONV_RS 8  /* strips a block: CONV_RS * CONV_ROWS = 256 rows */
#define CONV_TILE_ROWS (CONV_RS * CONV_ROWS)
#define CONV_MAXK_FAST 8
#define CONV_U_FWD 8 /* rows a batch, forward */
#define CONV_U_BWD 4 /* backward (two windows and a position ring: registers) */

template <int K, int V>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, 2) k_conv_fwd_win(view out, view x, const float *w,
                                                                   const float *bias, const int32_t *pos,
                                                                   int T, int C) {
    constexpr int U = CONV_U_FWD;
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    if (c >= C || r0 >= T) return;
    int r1 = min(T, r0 + CONV_ROWS);
    float wc[K][V], b[V], win[K - 1 + U][V]; /* win[j]: row t - (K-1) + j */
    load_taps<K, V>(wc, b, w, bias, c);
#pragma unroll
    for (int j = 0; j < K - 1; j++) {
        int r = r0 - (K - 1) + j;
#pragma unroll
        for (int v = 0; v < V; v++) win[j][v] = 0.0f;
        if (r >= 0) loadn<V>(x, r, c, win[j]);
    }
    for (int t = r0; t < r1; t += U) {
        int p[U];
#pragma unroll
        for (int u = 0; u < U; u++) { /* all U loads first */
            p[u] = 0;
#pragma unroll
            for (int v = 0; v < V; v++) win[K - 1 + u][v] = 0.0f;
            if (t + u < r1) {
                loadn<V>(x, t + u, c, win[K - 1 + u]);
                p[u] = pos[t + u];
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (t + u >= r1) break;
            float o[V];
#pragma unroll
            for (int v = 0; v < V; v++) {
                float a = b[v];
#pragma unroll
                for (int k = 0; k < K; k++) a += k >= K - 1 - p[u] ? wc[k][v] * win[u + k][v] : 0.0f;
                o[v] = a * hn_sigmoidf(a);
            }
            storen<V>(out, t + u, c, o);
        }
#pragma unroll
        for (int j = 0; j < K - 1; j++)
#pragma unroll
            for (int v = 0; v < V; v++) win[j][v] = win[j + U][v];
    }
}

/* A backward block's dw, dbias (each thread's sums over its strip) summed over the block's
 * CONV_RS strips in shared memory in strip order into part[blockIdx.y][C][K + 1] (item i
 * = local channel * (K+1) + k; summed over blocks by k_conv_dw_sum). */
template <int K, int V>
__device__ __forceinline__ void conv_block_part(float (*red)[CONV_CG * V * (K + 1)], float *part,
                                                const float (&dw)[K][V], const float (&db)[V], int C) {
    constexpr int ITEMS = CONV_CG * V * (K + 1);
#pragma unroll
    for (int v = 0; v < V; v++) {
        float *rv = red[threadIdx.y] + (threadIdx.x * V + v) * (K + 1);
#pragma unroll
        for (int k = 0; k < K; k++) rv[k] = dw[k][v];
        rv[K] = db[v];
    }
    __syncthreads();
    int c0 = blockIdx.x * CONV_CG * V;
    for (int i = threadIdx.y * CONV_CG + threadIdx.x; i < ITEMS; i += CONV_CG * CONV_RS) {
        if (c0 + i / (K + 1) >= C) break;
        float s = 0.0f;
#pragma unroll
        for (int q = 0; q < CONV_RS; q++) s += red[q][i];
        part[(size_t)blockIdx.y * C * (K + 1) + (size_t)c0 * (K + 1) + i] = s;
    }
}

/* Backward of a strip [r0, r1): g_t = dout_t silu'(pre_t) for t in [r0, r1 + K - 1) (the
 * K - 1 rows past the strip feed its dx; g is 0 past T), dx_r += sum_k g_(r + K-1-k) w_k
 * over the rows r + K-1-k of r's sequence (pos >= K-1-k there), and dw, dbias summed over
 * the strip in registers, then over the block's CONV_RS strips in shared memory in strip
 * order, into part[blockIdx.y][C][K + 1] (summed over blocks by k_conv_dw_sum: no atomics,
 * the same bits every run). */
template <int K, int V>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 2 : 1) k_conv_bwd_win(view dx, float *part, view dout, view x,
                                                                      const float *w, const float *bias,
                                                                      const int32_t *pos, int T, int C) {
    constexpr int U = CONV_U_BWD, W = K - 1 + U, ITEMS = CONV_CG * V * (K + 1);
    __shared__ float red[CONV_RS][ITEMS];
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    int r1 = min(T, r0 + CONV_ROWS), r_end = min(T, r1 + K - 1);
    float dw[K][V], db[V];
    zero_partials<K, V>(dw, db);
    if (c < C && r0 < T) {
        float wc[K][V], b[V];
        float xw[W][V], gw[W][V]; /* slot j: row t - (K-1) + j */
        int pw[W];                /* that row's position in its sequence */
        load_taps<K, V>(wc, b, w, bias, c);
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            int r = r0 - (K - 1) + j;
            pw[j] = 0; /* never read: dx rows start at r0 */
#pragma unroll
            for (int v = 0; v < V; v++) xw[j][v] = gw[j][v] = 0.0f;
            if (r >= 0) loadn<V>(x, r, c, xw[j]);
        }
        for (int t = r0; t < r1 + K - 1; t += U) {
            float go[U][V];
#pragma unroll
            for (int u = 0; u < U; u++) { /* all loads first */
                pw[K - 1 + u] = 0;
#pragma unroll
                for (int v = 0; v < V; v++) xw[K - 1 + u][v] = go[u][v] = 0.0f;
                if (t + u < r_end) {
                    loadn<V>(x, t + u, c, xw[K - 1 + u]);
                    loadn<V>(dout, t + u, c, go[u]);
                    pw[K - 1 + u] = pos[t + u];
                }
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                int first = K - 1 - pw[K - 1 + u];
                bool mine = t + u < r1;
#pragma unroll
                for (int v = 0; v < V; v++) {
                    float a = b[v];
#pragma unroll
                    for (int k = 0; k < K; k++) a += k >= first ? wc[k][v] * xw[u + k][v] : 0.0f;
                    float sg = hn_sigmoidf(a), g = go[u][v] * sg * (1.0f + a * (1.0f - sg));
                    gw[K - 1 + u][v] = g; /* 0 past r_end: go is 0 there */
                    if (mine) {
                        db[v] += g;
#pragma unroll
                        for (int k = 0; k < K; k++) dw[k][v] += k >= first ? g * xw[u + k][v] : 0.0f;
                    }
                }
            }
#pragma unroll
            for (int u = 0; u < U; u++) { /* dx of row r = t + u - (K-1): g rows r .. r + K-1 */
                int r = t + u - (K - 1);
                if (r < r0 || r >= r1) continue;
                float acc[V];
#pragma unroll
                for (int v = 0; v < V; v++) {
                    acc[v] = 0.0f;
#pragma unroll
                    for (int k = 0; k < K; k++) {
                        int j = K - 1 - k; /* row r + j, slot u + j */
                        acc[v] += pw[u + j] >= j ? gw[u + j][v] * wc[k][v] : 0.0f;
                    }
                }
                gradn<V>(dx, r, c, acc);
            }
#pragma unroll
            for (int j = 0; j < K - 1; j++) {
                pw[j] = pw[j + U];
#pragma unroll
                for (int v = 0; v < V; v++) xw[j][v] = xw[j + U][v], gw[j][v] = gw[j + U][v];
            }
        }
    }
    conv_block_part<K, V>(red, part, dw, db, C);
}

/* dw, dbias += the tiles' partial sums: a block of 32 items x CONV_SUM_LANES lanes, lane
 * q summing tiles q, q + LANES, ... in order, then the lanes in order (deterministic) */
#define CONV_SUM_LANES 8
__global__ void __launch_bounds__(32 * CONV_SUM_LANES) k_conv_dw_sum(float *dw, float *dbias, const float *part,
                                                                     int tiles, int C, int K) {
    __shared__ float lane_sum[CONV_SUM_LANES][32];
    int items = C * (K + 1), i = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (i < items)
        for (int b = threadIdx.y; b < tiles; b += CONV_SUM_LANES) s += part[(size_t)b * items + i];
    lane_sum[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y || i >= items) return;
    for (int q = 1; q < CONV_SUM_LANES; q++) s += lane_sum[q][threadIdx.x];
    int c = i / (K + 1), k = i % (K + 1);
    if (k < K) dw[(size_t)c * K + k] += s;
    else dbias[c] += s;
}

#endif
