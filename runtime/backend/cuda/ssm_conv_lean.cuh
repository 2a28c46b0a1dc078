/* The conv1d + SiLU kernels of HNET_CUDA_CONV=lean (the default; hn_cuda_config.conv): the window
 * kernels' tiles, strips and dw partial sums (ssm_conv_win.cuh, included before this) with
 * fewer instructions an element. The window kernels move the floor's bytes (x once, plus
 * K-1 halo rows a 32-row strip) and still run at 2-2.8x it: their PTX spends ~24
 * instructions an output element forward and ~55 backward (three a tap for the
 * sequence-start mask, an IEEE reciprocal in the sigmoid), and a strip's loads, compute
 * and stores follow one another at two blocks an SM. Here:
 *  - a batch whose rows all have K-1 predecessors in their sequence (all but the batches
 *    at a sequence start; warp-uniform, a warp's lanes share their rows) takes unmasked
 *    taps, decided from one position: positions rise by one inside a sequence, so rows
 *    lo..hi are all past K-2 in one sequence iff pos[hi] >= K-1 + hi - lo;
 *  - the sigmoid is __expf and __fdividef (~1e-6 relative to expf and 1/x);
 *  - the next batch's loads are issued before the current batch is computed and stored.
 *    The host takes these kernels only where out (dx) overlaps neither x nor dout, so
 *    the order of a later row's load and an earlier row's store does not matter.
 * The includer provides what ssm_conv_win.cuh needs and __expf, __fdividef. */
#ifndef HN_CUDA_SSM_CONV_LEAN_CUH
#define HN_CUDA_SSM_CONV_LEAN_CUH

#define CONV_U_LEAN_FWD 8 /* rows a batch, forward: 8 loads in flight a thread */
/* backward: x and dout of U rows in flight; two windows of K-1+U rows in registers */
#define CONV_U_LEAN_BWD(K) ((K) <= 4 ? 2 : 4)

__device__ __forceinline__ float conv_sigmoid_lean(float a) { return __fdividef(1.0f, 1.0f + __expf(-a)); }

/* rows lo..hi (lo <= hi) all at position >= K-1 of one sequence, from p_hi = pos[hi]
 * (loaded with the batch's rows, so that no batch waits on it) */
template <int K> __device__ __forceinline__ bool conv_rows_clean(int p_hi, int lo, int hi) {
    return p_hi >= K - 1 + hi - lo;
}

/* U rows t.. of a view into regs (zeros past r_end) */
template <int U, int V>
__device__ __forceinline__ void conv_load_rows(float (&regs)[U][V], view v, int t, int r_end, int c) {
#pragma unroll
    for (int u = 0; u < U; u++) {
#pragma unroll
        for (int k = 0; k < V; k++) regs[u][k] = 0.0f;
        if (t + u < r_end) loadn<V>(v, t + u, c, regs[u]);
    }
}

/* bias + the taps of the window slots u..u+K-1 (slot j: row t - (K-1) + j) for column v of
 * the thread's V; MASK leaves out the taps before the row's sequence start (k < K-1-p) */
template <int K, int S, int V, bool MASK>
__device__ __forceinline__ float conv_pre_lean(const float (&wc)[K][V], const float (&b)[V],
                                               const float (&win)[S][V], int v, int u, int p) {
    float a = b[v];
#pragma unroll
    for (int k = 0; k < K; k++) {
        if (MASK) a += k >= K - 1 - p ? wc[k][v] * win[u + k][v] : 0.0f;
        else a = fmaf(wc[k][v], win[u + k][v], a);
    }
    return a;
}

/* one batch of the forward: rows t..t+U-1 below r1 (MASK: positions read per row) */
template <int K, int V, int U, bool MASK>
__device__ __forceinline__ void conv_fwd_batch(view out, const float (&wc)[K][V], const float (&b)[V],
                                               const float (&win)[K - 1 + U][V], const int32_t *pos,
                                               int t, int r1, int c) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (t + u >= r1) break;
        int p = MASK ? pos[t + u] : K - 1;
        float o[V];
#pragma unroll
        for (int v = 0; v < V; v++) {
            float a = conv_pre_lean<K, K - 1 + U, V, MASK>(wc, b, win, v, u, p);
            o[v] = a * conv_sigmoid_lean(a);
        }
        storen<V>(out, t + u, c, o);
    }
}

template <int K, int V>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 2 : 1)
    k_conv_fwd_lean(view out, view x, const float *w, const float *bias, const int32_t *pos, int T, int C) {
    constexpr int U = CONV_U_LEAN_FWD;
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    if (c >= C || r0 >= T) return;
    int r1 = min(T, r0 + CONV_ROWS);
    float wc[K][V], b[V], win[K - 1 + U][V], next[U][V]; /* win[j]: row t - (K-1) + j */
    load_taps<K, V>(wc, b, w, bias, c);
#pragma unroll
    for (int j = 0; j < K - 1; j++) {
        int r = r0 - (K - 1) + j;
#pragma unroll
        for (int v = 0; v < V; v++) win[j][v] = 0.0f;
        if (r >= 0) loadn<V>(x, r, c, win[j]);
    }
    conv_load_rows<U, V>(next, x, r0, r1, c);
    int p_next = pos[min(r0 + U, r1) - 1]; /* the position of a batch's last row */
    for (int t = r0; t < r1; t += U) {
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int v = 0; v < V; v++) win[K - 1 + u][v] = next[u][v];
        int p_hi = p_next;
        if (t + U < r1) { /* in flight meanwhile */
            conv_load_rows<U, V>(next, x, t + U, r1, c);
            p_next = pos[min(t + 2 * U, r1) - 1];
        }
        if (conv_rows_clean<K>(p_hi, t, min(t + U, r1) - 1))
            conv_fwd_batch<K, V, U, false>(out, wc, b, win, pos, t, r1, c);
        else
            conv_fwd_batch<K, V, U, true>(out, wc, b, win, pos, t, r1, c);
#pragma unroll
        for (int j = 0; j < K - 1; j++)
#pragma unroll
            for (int v = 0; v < V; v++) win[j][v] = win[j + U][v];
    }
}

/* One batch of the backward (rows t..t+U-1 of g, the dx rows U behind them), as
 * k_conv_bwd_win's loop body; MASK reads positions per row (rows past T count as inside:
 * their g is 0). */
template <int K, int V, int U, bool MASK>
__device__ __forceinline__ void conv_bwd_batch(view dx, const float (&wc)[K][V], const float (&b)[V],
                                               const float (&xw)[K - 1 + U][V], float (&gw)[K - 1 + U][V],
                                               const float (&go)[U][V], float (&dw)[K][V], float (&db)[V],
                                               const int32_t *pos, int t, int r0, int r1, int T, int c) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        int p = MASK && t + u < T ? pos[t + u] : K - 1;
        bool mine = t + u < r1;
#pragma unroll
        for (int v = 0; v < V; v++) {
            float a = conv_pre_lean<K, K - 1 + U, V, MASK>(wc, b, xw, v, u, p);
            float sg = conv_sigmoid_lean(a), g = go[u][v] * sg * (1.0f + a * (1.0f - sg));
            gw[K - 1 + u][v] = g; /* 0 past r_end: go is 0 there */
            if (mine) {
                db[v] += g;
#pragma unroll
                for (int k = 0; k < K; k++) {
                    if (MASK) dw[k][v] += k >= K - 1 - p ? g * xw[u + k][v] : 0.0f;
                    else dw[k][v] = fmaf(g, xw[u + k][v], dw[k][v]);
                }
            }
        }
    }
#pragma unroll
    for (int u = 0; u < U; u++) { /* dx of row r = t + u - (K-1): g rows r .. r + K-1 */
        int r = t + u - (K - 1);
        if (r < r0 || r >= r1) continue;
        float acc[V];
#pragma unroll
        for (int v = 0; v < V; v++) acc[v] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            int j = K - 1 - k; /* row r + j, slot u + j */
            bool in = !MASK || r + j >= T || pos[r + j] >= j;
#pragma unroll
            for (int v = 0; v < V; v++) acc[v] = in ? fmaf(gw[u + j][v], wc[k][v], acc[v]) : acc[v];
        }
        gradn<V>(dx, r, c, acc);
    }
}

/* one batch at rows t.. (unmasked where no row it reads starts a sequence: p_hi is the
 * position of its last row), then the windows moved on by U rows */
template <int K, int V, int U>
__device__ __forceinline__ void conv_bwd_step(view dx, const float (&wc)[K][V], const float (&b)[V],
                                              float (&xw)[K - 1 + U][V], float (&gw)[K - 1 + U][V],
                                              const float (&go)[U][V], float (&dw)[K][V], float (&db)[V],
                                              const int32_t *pos, int p_hi, int t, int r0, int r1,
                                              int r_end, int T, int c) {
    /* rows whose positions the batch reads: g rows t.., dx rows from t - (K-2) */
    int lo = max(r0, t - (K - 2)), hi = min(t + U, r_end) - 1;
    if (hi < lo || conv_rows_clean<K>(p_hi, lo, hi))
        conv_bwd_batch<K, V, U, false>(dx, wc, b, xw, gw, go, dw, db, pos, t, r0, r1, T, c);
    else conv_bwd_batch<K, V, U, true>(dx, wc, b, xw, gw, go, dw, db, pos, t, r0, r1, T, c);
#pragma unroll
    for (int j = 0; j < K - 1; j++)
#pragma unroll
        for (int v = 0; v < V; v++) xw[j][v] = xw[j + U][v], gw[j][v] = gw[j + U][v];
}

/* k_conv_bwd_win's strip walk (same partial sums: k_conv_dw_sum adds them) with the
 * batches above and the next batch's x and dout loaded while one is computed */
template <int K, int V>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 2 : 1)
    k_conv_bwd_lean(view dx, float *part, view dout, view x, const float *w, const float *bias,
                    const int32_t *pos, int T, int C) {
    constexpr int U = CONV_U_LEAN_BWD(K), W = K - 1 + U;
    __shared__ float red[CONV_RS][CONV_CG * V * (K + 1)];
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    int r1 = min(T, r0 + CONV_ROWS), r_end = min(T, r1 + K - 1);
    float dw[K][V], db[V];
    zero_partials<K, V>(dw, db);
    if (c < C && r0 < T) {
        float wc[K][V], b[V];
        float xw[W][V], gw[W][V], go[U][V]; /* slot j: row t - (K-1) + j */
        float nx[U][V], nd[U][V];           /* the next batch's x and dout */
        load_taps<K, V>(wc, b, w, bias, c);
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            int r = r0 - (K - 1) + j;
#pragma unroll
            for (int v = 0; v < V; v++) xw[j][v] = gw[j][v] = 0.0f;
            if (r >= 0) loadn<V>(x, r, c, xw[j]);
        }
        conv_load_rows<U, V>(nx, x, r0, r_end, c);
        conv_load_rows<U, V>(nd, dout, r0, r_end, c);
        int p_next = pos[min(r0 + U, r_end) - 1]; /* the position of a batch's last row */
        for (int t = r0; t < r1 + K - 1; t += U) {
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int v = 0; v < V; v++) xw[K - 1 + u][v] = nx[u][v], go[u][v] = nd[u][v];
            int p_hi = p_next;
            if (t + U < r1 + K - 1) {
                conv_load_rows<U, V>(nx, x, t + U, r_end, c);
                conv_load_rows<U, V>(nd, dout, t + U, r_end, c);
                p_next = pos[min(t + 2 * U, r_end) - 1];
            }
            conv_bwd_step<K, V, U>(dx, wc, b, xw, gw, go, dw, db, pos, p_hi, t, r0, r1, r_end, T, c);
        }
    }
    conv_block_part<K, V>(red, part, dw, db, C);
}

#endif
