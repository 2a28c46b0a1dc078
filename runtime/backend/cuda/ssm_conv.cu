/* cuda depthwise causal convolution + SiLU of Mamba-2 (ops_ssm.h conv1d_forward /
 * conv1d_backward and their typed forms) on float32 or bf16 views (cuda_view.cuh): the
 * v1 ops pass float32 arrays as views. Gradients w.r.t. the input follow vgrad (added
 * into float32, written over bf16). */
#include <initializer_list>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

#define TPB 256

/* ---- causal depthwise convolution + SiLU ---- */
__device__ __forceinline__ float conv_pre(view x, const float *wc, float b, int t, int t0, int c,
                                          int K) {
    float acc = b;
    for (int k = 0; k < K; k++) {
        int r = t - (K - 1) + k;
        if (r >= t0) acc += wc[k] * vget(x, r, c);
    }
    return acc;
}

__global__ void k_conv_fwd(view out, view x, const float *w, const float *bias, const int32_t *pos,
                           int T, int C, int K) {
    size_t n = (size_t)T * C;
    HN_GRID_STRIDE(i, n) {
        int t = (int)(i / C), c = (int)(i % C);
        float p = conv_pre(x, w + (size_t)c * K, bias[c], t, t - pos[t], c, K);
        vput(out, t, c, p * hn_sigmoidf(p));
    }
}

/* g = dout * silu'(pre) */
__global__ void k_conv_g(float *g, view dout, view x, const float *w, const float *bias,
                         const int32_t *pos, int T, int C, int K) {
    size_t n = (size_t)T * C;
    HN_GRID_STRIDE(i, n) {
        int t = (int)(i / C), c = (int)(i % C);
        float p = conv_pre(x, w + (size_t)c * K, bias[c], t, t - pos[t], c, K);
        float sg = hn_sigmoidf(p);
        g[i] = vget(dout, t, c) * sg * (1.0f + p * (1.0f - sg));
    }
}

/* dx[r, c] += sum_k g[r + K-1-k, c] w[c, k] over rows of r's sequence (vgrad) */
__global__ void k_conv_dx(view dx, const float *g, const float *w,
                          const int32_t *pos, int T, int C, int K) {
    size_t n = (size_t)T * C;
    HN_GRID_STRIDE(i, n) {
        int r = (int)(i / C), c = (int)(i % C), start = r - pos[r];
        float acc = 0;
        for (int k = 0; k < K; k++) {
            int t = r + (K - 1) - k;
            if (t < T && t - pos[t] == start) acc += g[(size_t)t * C + c] * w[(size_t)c * K + k];
        }
        vgrad(dx, r, c, acc);
    }
}

#define CONV_STRIP 256
#define MAXK 16
__global__ void k_conv_dw(float *dw, float *dbias, const float *g, view x, const int32_t *pos, int T,
                          int C, int K) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * CONV_STRIP, r1 = min(T, r0 + CONV_STRIP);
    float acc[MAXK], ab = 0;
    for (int k = 0; k < K; k++) acc[k] = 0;
    for (int t = r0; t < r1; t++) {
        float gv = g[(size_t)t * C + c];
        int t0 = t - pos[t];
        ab += gv;
        for (int k = 0; k < K; k++) {
            int r = t - (K - 1) + k;
            if (r >= t0) acc[k] += gv * vget(x, r, c);
        }
    }
    if (r1 <= r0) return;
    atomicAdd(dbias + c, ab);
    for (int k = 0; k < K; k++) atomicAdd(dw + (size_t)c * K + k, acc[k]);
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
 * wider ones take the kernels above. */
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
#pragma unroll
    for (int v = 0; v < V; v++) {
        b[v] = bias[c + v];
#pragma unroll
        for (int k = 0; k < K; k++) wc[k][v] = w[(size_t)(c + v) * K + k];
    }
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
#pragma unroll
    for (int v = 0; v < V; v++) {
        db[v] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) dw[k][v] = 0.0f;
    }
    if (c < C && r0 < T) {
        float wc[K][V], b[V];
        float xw[W][V], gw[W][V]; /* slot j: row t - (K-1) + j */
        int pw[W];                /* that row's position in its sequence */
#pragma unroll
        for (int v = 0; v < V; v++) {
            b[v] = bias[c + v];
#pragma unroll
            for (int k = 0; k < K; k++) wc[k][v] = w[(size_t)(c + v) * K + k];
        }
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
    /* the block's strips summed in strip order: item i = local channel * (K+1) + k */
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

/* four channels a thread where the channel count and every view allow it */
static bool conv_by4(int C, std::initializer_list<view> views) {
    if (C % 4) return false;
    for (view v : views)
        if (!view4_ok(v)) return false;
    return true;
}
/* blocks: CONV_CG channel groups x the row tiles */
static dim3 conv_grid(int C, bool by4, int T) {
    int groups = by4 ? C / 4 : C;
    return dim3((groups + CONV_CG - 1) / CONV_CG, (T + CONV_TILE_ROWS - 1) / CONV_TILE_ROWS);
}
template <int K>
static void conv_fwd_k(view out, view x, const float *w, const float *bias, const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {out, x});
    (by4 ? k_conv_fwd_win<K, 4> : k_conv_fwd_win<K, 1>)<<<conv_grid(C, by4, s->total), dim3(CONV_CG, CONV_RS), 0,
                                                          HN_STREAM>>>(out, x, w, bias, s->pos_dev, s->total, C);
}
template <int K>
static void conv_bwd_k(view dx, float *part, view dout, view x, const float *w, const float *bias,
                       const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {dx, dout, x});
    (by4 ? k_conv_bwd_win<K, 4> : k_conv_bwd_win<K, 1>)<<<conv_grid(C, by4, s->total), dim3(CONV_CG, CONV_RS), 0,
                                                          HN_STREAM>>>(dx, part, dout, x, w, bias, s->pos_dev,
                                                                       s->total, C);
}
#define CONV_SWITCH(K, CALL)                        \
    switch (K) {                                    \
    case 1: CALL(1); break;                         \
    case 2: CALL(2); break;                         \
    case 3: CALL(3); break;                         \
    case 4: CALL(4); break;                         \
    case 5: CALL(5); break;                         \
    case 6: CALL(6); break;                         \
    case 7: CALL(7); break;                         \
    default: CALL(8); break;                        \
    }

static void conv_forward(view out, view x, const float *w, const float *bias, const hn_seqs *seqs,
                         int C, int K) {
    size_t n = (size_t)seqs->total * C;
    if (!n) return;
    if (K <= CONV_MAXK_FAST) {
#define FWD(k) conv_fwd_k<k>(out, x, w, bias, seqs, C)
        CONV_SWITCH(K, FWD)
#undef FWD
    } else {
        k_conv_fwd<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(out, x, w, bias, seqs->pos_dev, seqs->total, C, K);
    }
    HN_LAUNCHED("conv1d_forward");
}

static void conv_backward(view dx, float *dw, float *dbias, view dout, view x, const float *w,
                          const float *bias, const hn_seqs *seqs, int C, int K) {
    int T = seqs->total;
    size_t n = (size_t)T * C;
    if (!n) return;
    if (K > MAXK) {
        hn_cuda_note(cudaErrorInvalidValue, "conv1d: kernel width > 16");
        return;
    }
    if (K <= CONV_MAXK_FAST) {
        int tiles = (T + CONV_TILE_ROWS - 1) / CONV_TILE_ROWS;
        float *part = (float *)hn_cuda_scratch(HN_SCRATCH_CONV, (size_t)tiles * C * (K + 1) * sizeof(float));
        if (!part) return;
#define BWD(k) conv_bwd_k<k>(dx, part, dout, x, w, bias, seqs, C)
        CONV_SWITCH(K, BWD)
#undef BWD
        int items = C * (K + 1);
        k_conv_dw_sum<<<(items + 31) / 32, dim3(32, CONV_SUM_LANES), 0, HN_STREAM>>>(dw, dbias, part, tiles, C, K);
        HN_LAUNCHED("conv1d_backward");
        return;
    }
    float *g = (float *)hn_cuda_scratch(HN_SCRATCH_CONV, n * sizeof(float));
    if (!g) return;
    k_conv_g<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(g, dout, x, w, bias, seqs->pos_dev, T, C, K);
    k_conv_dx<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, g, w, seqs->pos_dev, T, C, K);
    dim3 grid((C + 127) / 128, (T + CONV_STRIP - 1) / CONV_STRIP);
    k_conv_dw<<<grid, 128, 0, HN_STREAM>>>(dw, dbias, g, x, seqs->pos_dev, T, C, K);
    HN_LAUNCHED("conv1d_backward");
}

void hn_cuda_conv1d_forward(float *out, const float *x, int ld_x, const float *w, const float *bias,
                            const hn_seqs *seqs, int C, int K) {
    conv_forward(view_f32(out, C), view_f32(x, ld_x), w, bias, seqs, C, K);
}

void hn_cuda_conv1d_backward(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                             const float *x, int ld_x, const float *w, const float *bias,
                             const hn_seqs *seqs, int C, int K) {
    conv_backward(view_f32(dx, ld_dx), dw, dbias, view_f32(dout, C), view_f32(x, ld_x), w, bias,
                  seqs, C, K);
}

static int conv_fits(const hn_conv1d_params *p, int backward, const char *what) {
    int T = p->seqs->total, C = p->x.cols;
    int ok = p->x.rows == T && p->K >= 1;
    if (!backward) ok = ok && p->out.rows == T && p->out.cols == C;
    else ok = ok && p->K <= MAXK && p->dout.rows == T && p->dout.cols == C && p->dx.rows == T &&
              p->dx.cols == C;
    if (!ok) hn_cuda_note(cudaErrorInvalidValue, what);
    return ok;
}

extern "C" int hn_cuda_conv1d_forward_t(const hn_backend *be, const hn_conv1d_params *p) {
    (void)be;
    if (!conv_fits(p, 0, "conv1d_forward_t: shapes do not fit")) return -1;
    conv_forward(view_of(p->out), view_of(p->x), p->w, p->bias, p->seqs, p->x.cols, p->K);
    return 0;
}

extern "C" int hn_cuda_conv1d_backward_t(const hn_backend *be, const hn_conv1d_params *p) {
    (void)be;
    if (!conv_fits(p, 1, "conv1d_backward_t: shapes do not fit")) return -1;
    conv_backward(view_of(p->dx), p->dw, p->dbias, view_of(p->dout), view_of(p->x), p->w, p->bias,
                  p->seqs, p->x.cols, p->K);
    return 0;
}
