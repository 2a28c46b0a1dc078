/* cuda depthwise causal convolution + SiLU of Mamba-2 (ops_ssm.h conv1d_forward /
 * conv1d_backward and their typed forms) on float32 or bf16 views (cuda_view.cuh): the
 * v1 ops pass float32 arrays as views. Gradients w.r.t. the input follow vgrad (added
 * into float32, written over bf16). */
#include <initializer_list>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"
#include "backend/cuda/ssm_conv_win.cuh"  /* the window kernels */
#include "backend/cuda/ssm_conv_lean.cuh" /* their lean form (HNET_CUDA_CONV=lean) */

/* what ssm_conv_ring.cuh needs: its copies are waited for by the thread that issued them
 * and read by it alone, so the "memory" clobbers (no shared-memory access moved across a
 * copy or a wait) are its only ordering */
__device__ __forceinline__ void conv_cp_async(void *dst, const void *src, int bytes, bool valid) {
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    int n = valid ? bytes : 0; /* the rest of the slot zero-filled */
    if (bytes == 16)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n) : "memory");
    else if (bytes == 8)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(d), "l"(src), "r"(n) : "memory");
    else asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void conv_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void conv_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
/* 1 / (1 + 2^(-a log2 e)) in two MUFU instructions: __expf and __fdividef add ~3 each for
 * subnormals, which change nothing here (1 + e >= 1; a flushed sigmoid under 2^-126 leaves
 * g under 2^-119) */
__device__ __forceinline__ float conv_sigmoid_ftz(float a) {
    float e, r;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(a * -1.4426950408889634f));
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(1.0f + e));
    return r;
}
__device__ __forceinline__ unsigned char *conv_ring_smem() {
    extern __shared__ __align__(16) unsigned char conv_ring_dyn[];
    return conv_ring_dyn;
}
#include "backend/cuda/ssm_conv_ring.cuh" /* the backward through a shared-memory ring (lean2, lean3) */

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

/* the general kernels' dw, dbias partial sums of one (channel, strip of CONV_STRIP rows)
 * into part[strip][C][K + 1], summed by k_conv_dw_sum (no float atomics: the same bits
 * every run) */
#define CONV_STRIP 256
#define MAXK 16
__global__ void k_conv_dw(float *part, const float *g, view x, const int32_t *pos, int T, int C, int K) {
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
    float *pp = part + ((size_t)blockIdx.y * C + c) * (K + 1);
    for (int k = 0; k < K; k++) pp[k] = acc[k];
    pp[K] = ab;
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
/* the bytes a view's T rows of C columns span */
static void view_span(view v, int T, int C, uintptr_t *lo, uintptr_t *hi) {
    size_t es = v.bf16 ? 2 : 4;
    *lo = (uintptr_t)v.p;
    *hi = *lo + ((size_t)(T - 1) * v.ld + C) * es;
}
/* the lean kernels where the configuration asks for them (lean2, lean3: the lean forward;
 * lean4: k_conv_fwd_strip_bf16 for bf16 x and out by four channels, else the lean forward)
 * and `dst` overlaps none of `srcs` (they load later rows before storing earlier ones) */
static bool conv_lean(view dst, std::initializer_list<view> srcs, int T, int C) {
    int mode = hn_cuda_cur()->cfg.conv;
    if (mode != HN_CUDA_CONV_LEAN && mode != HN_CUDA_CONV_LEAN2 && mode != HN_CUDA_CONV_LEAN3 &&
        mode != HN_CUDA_CONV_LEAN4)
        return false;
    uintptr_t a0, a1, b0, b1;
    view_span(dst, T, C, &a0, &a1);
    for (view v : srcs) {
        view_span(v, T, C, &b0, &b1);
        if (a0 < b1 && b0 < a1) return false;
    }
    return true;
}
template <int K>
static void conv_fwd_k(view out, view x, const float *w, const float *bias, const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {out, x}), lean = conv_lean(out, {x}, s->total, C);
    /* lean4's forward for the layer's dtypes at widths to CONV_STRIP_MAXK (wider ones spill
     * at two blocks an SM); lean's otherwise */
    bool strip = lean && by4 && hn_cuda_cur()->cfg.conv == HN_CUDA_CONV_LEAN4 && x.bf16 && out.bf16 &&
                 K <= CONV_STRIP_MAXK;
    hn_cuda_cur()->last_conv_fwd = strip ? "lean4" : lean ? "lean" : "window";
    if constexpr (K <= CONV_STRIP_MAXK) {
        if (strip) {
            auto kern = k_conv_fwd_strip_bf16<K>;
            size_t bytes = conv_fwd_strip_bytes(K);
            if (hn_cuda_first_time((const void *)kern)) { /* and shared memory for 3 blocks an SM at K <= 4 */
                HN_CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
                HN_CK(cudaFuncSetAttribute(kern, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           (int)cudaSharedmemCarveoutMaxShared));
            }
            kern<<<conv_grid(C, true, s->total), dim3(CONV_CG, CONV_RS), bytes, HN_STREAM>>>(out, x, w, bias,
                                                                                          s->pos_dev, s->total, C);
            return;
        }
    }
    auto kern = lean ? (by4 ? k_conv_fwd_lean<K, 4> : k_conv_fwd_lean<K, 1>)
                     : (by4 ? k_conv_fwd_win<K, 4> : k_conv_fwd_win<K, 1>);
    kern<<<conv_grid(C, by4, s->total), dim3(CONV_CG, CONV_RS), 0, HN_STREAM>>>(out, x, w, bias, s->pos_dev,
                                                                                 s->total, C);
}
template <int K>
static void conv_bwd_k(view dx, float *part, view dout, view x, const float *w, const float *bias,
                       const hn_seqs *s, int C) {
    bool by4 = conv_by4(C, {dx, dout, x}), lean = conv_lean(dx, {dout, x}, s->total, C);
    dim3 grid = conv_grid(C, by4, s->total), block(CONV_CG, CONV_RS);
    int mode = hn_cuda_cur()->cfg.conv;
    bool lean3 = mode == HN_CUDA_CONV_LEAN3 || mode == HN_CUDA_CONV_LEAN4; /* lean4: lean3's backward */
    bool ring = lean && by4 && (mode == HN_CUDA_CONV_LEAN2 || lean3);
    bool ring_bf16 = ring && lean3 && x.bf16 && dx.bf16; /* else lean2's kernel */
    hn_cuda_cur()->last_conv_bwd = ring_bf16 ? "lean3" : ring ? "lean2" : lean ? "lean" : "window";
    if (ring) {
        auto kern = !ring_bf16   ? k_conv_bwd_ring<K>
                    : dout.bf16 ? k_conv_bwd_ring_bf16<K, 8>
                                : k_conv_bwd_ring_bf16<K, 16>;
        /* per device (per instance): the most the kernel asks for, over 48 KB with float32
         * rows or K > 4 */
        if (hn_cuda_first_time((const void *)kern))
            HN_CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)conv_ring_bytes(K, ring_bf16, ring_bf16 && dout.bf16)));
        kern<<<grid, block, conv_ring_bytes(K, x.bf16, dout.bf16), HN_STREAM>>>(dx, part, dout, x, w, bias,
                                                                                 s->pos_dev, s->total, C);
        return;
    }
    auto kern = lean ? (by4 ? k_conv_bwd_lean<K, 4> : k_conv_bwd_lean<K, 1>)
                     : (by4 ? k_conv_bwd_win<K, 4> : k_conv_bwd_win<K, 1>);
    kern<<<grid, block, 0, HN_STREAM>>>(dx, part, dout, x, w, bias, s->pos_dev, s->total, C);
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
        hn_cuda_cur()->last_conv_fwd = "general";
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
    hn_cuda_cur()->last_conv_bwd = "general";
    int strips = (T + CONV_STRIP - 1) / CONV_STRIP, items = C * (K + 1);
    float *g = (float *)hn_cuda_scratch(HN_SCRATCH_CONV, (n + (size_t)strips * items) * sizeof(float));
    if (!g) return;
    float *part = g + n;
    k_conv_g<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(g, dout, x, w, bias, seqs->pos_dev, T, C, K);
    k_conv_dx<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dx, g, w, seqs->pos_dev, T, C, K);
    k_conv_dw<<<dim3((C + 127) / 128, strips), 128, 0, HN_STREAM>>>(part, g, x, seqs->pos_dev, T, C, K);
    k_conv_dw_sum<<<(items + 31) / 32, dim3(32, CONV_SUM_LANES), 0, HN_STREAM>>>(dw, dbias, part, strips, C, K);
    HN_LAUNCHED("conv1d_backward");
}

extern "C" const char *hn_cuda_conv_last_backward(void) {
    const char *k = hn_cuda_cur() ? hn_cuda_cur()->last_conv_bwd : NULL;
    return k ? k : "";
}

extern "C" const char *hn_cuda_conv_last_forward(void) {
    const char *k = hn_cuda_cur() ? hn_cuda_cur()->last_conv_fwd : NULL;
    return k ? k : "";
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
