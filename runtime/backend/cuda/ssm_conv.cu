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

/* ---- the same convolution as sliding windows: one thread per (V consecutive channels,
 * strip of CONV_ROWS rows) keeps the last K inputs (and, backward, the last K gradients)
 * in registers, so every element is read once and consecutive threads read consecutive
 * channels. V = 4 where the channel count and the views allow 8/16-byte accesses (a
 * warp then reads 256 or 512 contiguous bytes a row, not 64), else 1. Kernel widths up
 * to CONV_MAXK_FAST; wider ones take the kernels above. */
#define CONV_ROWS 64
#define CONV_MAXK_FAST 8
#define CONV_TPB 64

template <int K, int V>
__global__ void __launch_bounds__(CONV_TPB) k_conv_fwd_win(view out, view x, const float *w, const float *bias,
                                                           const int32_t *pos, int T, int C) {
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * V, r0 = blockIdx.y * CONV_ROWS;
    if (c >= C) return;
    int r1 = min(T, r0 + CONV_ROWS);
    float wc[K][V], win[K][V], b[V];
#pragma unroll
    for (int v = 0; v < V; v++) {
        b[v] = bias[c + v];
#pragma unroll
        for (int k = 0; k < K; k++) wc[k][v] = w[(size_t)(c + v) * K + k];
    }
#pragma unroll
    for (int k = 0; k < K - 1; k++) { /* rows r0 - K + 1 .. r0 - 1 */
        int r = r0 - (K - 1) + k;
        if (r >= 0) loadn<V>(x, r, c, win[k + 1]);
        else
#pragma unroll
            for (int v = 0; v < V; v++) win[k + 1][v] = 0.0f;
    }
    for (int t = r0; t < r1; t++) {
#pragma unroll
        for (int k = 0; k < K - 1; k++)
#pragma unroll
            for (int v = 0; v < V; v++) win[k][v] = win[k + 1][v];
        loadn<V>(x, t, c, win[K - 1]);
        int first = K - 1 - pos[t]; /* window slots before the sequence's start hold other rows */
        float o[V];
#pragma unroll
        for (int v = 0; v < V; v++) {
            float p = b[v];
#pragma unroll
            for (int k = 0; k < K; k++) p += k >= first ? wc[k][v] * win[k][v] : 0.0f;
            o[v] = p * hn_sigmoidf(p);
        }
        storen<V>(out, t, c, o);
    }
}

/* backward of one strip: g_t = dout_t silu'(pre_t) for t in [r0, r1 + K - 1) (the
 * K - 1 rows past the strip feed its dx), dx_r += sum_k g_(r + K-1-k) w_k within r's
 * sequence, and the strip's partial sums of dw and dbias into part [strips][C][K + 1] */
template <int K, int V>
__global__ void __launch_bounds__(CONV_TPB) k_conv_bwd_win(view dx, float *part, view dout, view x,
                                                           const float *w, const float *bias,
                                                           const int32_t *pos, int T, int C) {
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * V, r0 = blockIdx.y * CONV_ROWS;
    if (c >= C) return;
    int r1 = min(T, r0 + CONV_ROWS), r_end = min(T, r1 + K - 1);
    float wc[K][V], win[K][V], gring[K][V], dw[K][V], b[V], db[V];
    int sring[K]; /* the sequence start of each row of gradients in gring */
#pragma unroll
    for (int v = 0; v < V; v++) {
        b[v] = bias[c + v];
        db[v] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            wc[k][v] = w[(size_t)(c + v) * K + k];
            gring[k][v] = dw[k][v] = 0.0f;
        }
    }
#pragma unroll
    for (int k = 0; k < K; k++) sring[k] = -1;
#pragma unroll
    for (int k = 0; k < K - 1; k++) {
        int r = r0 - (K - 1) + k;
        if (r >= 0) loadn<V>(x, r, c, win[k + 1]);
        else
#pragma unroll
            for (int v = 0; v < V; v++) win[k + 1][v] = 0.0f;
    }
    for (int t = r0; t < r1 + K - 1; t++) {
        float gt[V];
        int st = -2;
#pragma unroll
        for (int k = 0; k < K - 1; k++)
#pragma unroll
            for (int v = 0; v < V; v++) win[k][v] = win[k + 1][v];
#pragma unroll
        for (int v = 0; v < V; v++) gt[v] = 0.0f;
        if (t < r_end) {
            float go[V];
            loadn<V>(x, t, c, win[K - 1]);
            loadn<V>(dout, t, c, go);
            int pt = pos[t], first = K - 1 - pt;
            st = t - pt;
#pragma unroll
            for (int v = 0; v < V; v++) {
                float p = b[v];
#pragma unroll
                for (int k = 0; k < K; k++) p += k >= first ? wc[k][v] * win[k][v] : 0.0f;
                float sg = hn_sigmoidf(p);
                gt[v] = go[v] * sg * (1.0f + p * (1.0f - sg));
                if (t < r1) {
                    db[v] += gt[v];
#pragma unroll
                    for (int k = 0; k < K; k++) dw[k][v] += k >= first ? gt[v] * win[k][v] : 0.0f;
                }
            }
        }
#pragma unroll
        for (int k = 0; k < K - 1; k++) {
            sring[k] = sring[k + 1];
#pragma unroll
            for (int v = 0; v < V; v++) gring[k][v] = gring[k + 1][v];
        }
        sring[K - 1] = st;
#pragma unroll
        for (int v = 0; v < V; v++) gring[K - 1][v] = gt[v];
        int r = t - (K - 1); /* its gradients g_r .. g_t are all in the ring now */
        if (r >= r0) {
            int sr = sring[0];
            float acc[V];
#pragma unroll
            for (int v = 0; v < V; v++) {
                acc[v] = 0.0f;
#pragma unroll
                for (int k = 0; k < K; k++) acc[v] += sring[K - 1 - k] == sr ? gring[K - 1 - k][v] * wc[k][v] : 0.0f;
            }
            gradn<V>(dx, r, c, acc);
        }
    }
#pragma unroll
    for (int v = 0; v < V; v++) {
        float *pp = part + ((size_t)blockIdx.y * C + c + v) * (K + 1);
#pragma unroll
        for (int k = 0; k < K; k++) pp[k] = dw[k][v];
        pp[K] = db[v];
    }
}

/* dw, dbias += the strips' partial sums, in strip order */
__global__ void k_conv_dw_sum(float *dw, float *dbias, const float *part, int strips, int C, int K) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= C * (K + 1)) return;
    int c = i / (K + 1), k = i % (K + 1);
    float s = 0.0f;
    for (int b = 0; b < strips; b++) s += part[((size_t)b * C + c) * (K + 1) + k];
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
template <int K>
static void conv_fwd_k(view out, view x, const float *w, const float *bias, const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {out, x});
    int threads = by4 ? C / 4 : C;
    dim3 grid((threads + CONV_TPB - 1) / CONV_TPB, (s->total + CONV_ROWS - 1) / CONV_ROWS);
    (by4 ? k_conv_fwd_win<K, 4> : k_conv_fwd_win<K, 1>)<<<grid, CONV_TPB, 0, HN_STREAM>>>(out, x, w, bias, s->pos_dev,
                                                                          s->total, C);
}
template <int K>
static void conv_bwd_k(view dx, float *part, view dout, view x, const float *w, const float *bias,
                       const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {dx, dout, x});
    int threads = by4 ? C / 4 : C;
    dim3 grid((threads + CONV_TPB - 1) / CONV_TPB, (s->total + CONV_ROWS - 1) / CONV_ROWS);
    (by4 ? k_conv_bwd_win<K, 4> : k_conv_bwd_win<K, 1>)<<<grid, CONV_TPB, 0, HN_STREAM>>>(dx, part, dout, x, w, bias,
                                                                          s->pos_dev, s->total, C);
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
        int strips = (T + CONV_ROWS - 1) / CONV_ROWS;
        float *part = (float *)hn_cuda_scratch(HN_SCRATCH_CONV, (size_t)strips * C * (K + 1) * sizeof(float));
        if (!part) return;
#define BWD(k) conv_bwd_k<k>(dx, part, dout, x, w, bias, seqs, C)
        CONV_SWITCH(K, BWD)
#undef BWD
        int items = C * (K + 1);
        k_conv_dw_sum<<<(items + 127) / 128, 128, 0, HN_STREAM>>>(dw, dbias, part, strips, C, K);
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
