/* cuda elementwise ops, reductions, embedding, RMSNorm, SwiGLU, rotary embedding,
 * cross-entropy and AdamW: the cpu twins' formulas, one thread per element or one warp
 * per row. Column sums (bias, norm weights) split the rows into strips whose partial
 * sums meet by atomicAdd. */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define TPB 256

__global__ void k_fill(float *x, float v, size_t n) { HN_GRID_STRIDE(i, n) x[i] = v; }
__global__ void k_add(float *y, const float *x, size_t n) { HN_GRID_STRIDE(i, n) y[i] += x[i]; }
__global__ void k_scale(float *x, float s, size_t n) { HN_GRID_STRIDE(i, n) x[i] *= s; }

void hn_cuda_fill(float *x, float value, size_t n) {
    if (!n) return;
    k_fill<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(x, value, n);
    hn_cuda_shadow_touch(x, n * sizeof(float));
    HN_LAUNCHED("fill");
}
void hn_cuda_add(float *y, const float *x, size_t n) {
    if (!n) return;
    k_add<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(y, x, n);
    hn_cuda_shadow_touch(y, n * sizeof(float));
    HN_LAUNCHED("add");
}
void hn_cuda_scale(float *x, float s, size_t n) {
    if (!n) return;
    k_scale<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(x, s, n);
    hn_cuda_shadow_touch(x, n * sizeof(float));
    HN_LAUNCHED("scale");
}

__global__ void k_sum_squares(double *out, const float *x, size_t n) {
    __shared__ double part[TPB / 32];
    double s = 0;
    HN_GRID_STRIDE(i, n) s += (double)x[i] * (double)x[i];
    s = hn_warp_sum_d(s);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (int w = 0; w < TPB / 32; w++) t += part[w];
        atomicAdd(out, t);
    }
}

double hn_cuda_sum_squares(const float *x, size_t n) {
    if (!n) return 0;
    double *acc = (double *)hn_cuda_scratch(HN_SCRATCH_REDUCE, sizeof(double));
    HN_CK(cudaMemsetAsync(acc, 0, sizeof(double), HN_STREAM));
    unsigned blocks = hn_blocks(n, TPB);
    if (blocks > 1024) blocks = 1024;
    k_sum_squares<<<blocks, TPB, 0, HN_STREAM>>>(acc, x, n);
    HN_LAUNCHED("sum_squares");
    double h = 0;
    HN_CK(cudaMemcpyAsync(&h, acc, sizeof h, cudaMemcpyDeviceToHost, HN_STREAM));
    HN_CK(cudaStreamSynchronize(HN_STREAM)); /* the readback waits for this stream only */
    return h;
}

/* The clip of one update from the sum of squares in c: the host's arithmetic (IEEE sqrt
 * and division in double, rounded to float as the host rounds), on one thread. */
__global__ void k_grad_clip_finish(hn_grad_clip *c, double max_norm) {
    double norm = sqrt(c->sum_squares);
    c->norm = norm;
    c->scale = hn_grad_clip_scale(norm, max_norm);
    c->skip = !isfinite(norm);
}

/* sum_squares's reduction into c->sum_squares, then the clip, without a readback */
void hn_cuda_grad_clip(hn_grad_clip *c, const float *g, size_t n, double max_norm) {
    HN_CK(cudaMemsetAsync(&c->sum_squares, 0, sizeof(double), HN_STREAM));
    if (n) {
        unsigned blocks = hn_blocks(n, TPB);
        if (blocks > 1024) blocks = 1024;
        k_sum_squares<<<blocks, TPB, 0, HN_STREAM>>>(&c->sum_squares, g, n);
        HN_LAUNCHED("grad_clip.sum_squares");
    }
    k_grad_clip_finish<<<1, 1, 0, HN_STREAM>>>(c, max_norm);
    HN_LAUNCHED("grad_clip");
}

__global__ void k_add_bias(float *y, const float *b, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    HN_GRID_STRIDE(i, n) y[i] += b[i % cols];
}
void hn_cuda_add_bias(float *y, const float *b, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    if (!n) return;
    k_add_bias<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(y, b, rows, cols);
    HN_LAUNCHED("add_bias");
}

#define STRIP 256
__global__ void k_colsum(float *out, const float *a, int lda, const float *b, int ldb,
                         const float *rs, int rows, int cols, float s) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    int r0 = blockIdx.y * STRIP, r1 = min(rows, r0 + STRIP);
    double acc = 0;
    for (int r = r0; r < r1; r++) {
        double v = a[(size_t)r * lda + c];
        if (b) v *= b[(size_t)r * ldb + c];
        if (rs) v *= rs[r];
        acc += v;
    }
    if (r1 > r0) atomicAdd(out + c, (float)(s * acc));
}

void hn_cuda_colsum(float *out, const float *a, int lda, const float *b, int ldb,
                    const float *rs, int rows, int cols, float s) {
    if (rows <= 0 || cols <= 0) return;
    dim3 grid((cols + 127) / 128, (rows + STRIP - 1) / STRIP);
    k_colsum<<<grid, 128, 0, HN_STREAM>>>(out, a, lda, b, ldb, rs, rows, cols, s);
    HN_LAUNCHED("colsum");
}

void hn_cuda_bias_backward(float *db, const float *dy, int rows, int cols) {
    hn_cuda_colsum(db, dy, cols, NULL, 0, NULL, rows, cols, 1.0f);
}

/* ---- embedding ---- */
__global__ void k_embed_back(float *dtable, const float *dout, const int32_t *tok, int T, int D) {
    size_t n = (size_t)T * D;
    HN_GRID_STRIDE(i, n) atomicAdd(dtable + (size_t)tok[i / D] * D + i % D, dout[i]);
}
void hn_cuda_embedding_forward(float *out, const float *table, const int32_t *tok, int T, int D) {
    hn_cuda_gather_rows(out, table, tok, T, D); /* rows of the table, one per token */
}
void hn_cuda_embedding_backward(float *dtable, const float *dout, const int32_t *tok, int T,
                                int D) {
    size_t n = (size_t)T * D;
    if (!n) return;
    k_embed_back<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dtable, dout, tok, T, D);
    HN_LAUNCHED("embedding_backward");
}

/* ---- RMSNorm: one warp per row ---- */
__global__ void k_rms_fwd(float *y, float *rstd, const float *x, const float *w, int T, int D,
                          float eps) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    const float *xr = x + (size_t)t * D;
    double ss = 0;
    for (int d = lane; d < D; d += 32) ss += (double)xr[d] * xr[d];
    ss = hn_warp_sum_d(ss);
    float r = (float)(1.0 / sqrt(ss / D + (double)eps));
    if (lane == 0) rstd[t] = r;
    for (int d = lane; d < D; d += 32) y[(size_t)t * D + d] = xr[d] * r * w[d];
}
__global__ void k_rms_bwd(float *dx, const float *dy, const float *x, const float *w,
                          const float *rstd, int T, int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    const float *xr = x + (size_t)t * D, *gr = dy + (size_t)t * D;
    double gx = 0, r = rstd[t];
    for (int d = lane; d < D; d += 32) gx += (double)gr[d] * w[d] * xr[d];
    gx = hn_warp_sum_d(gx);
    double c = r * r * r * gx / D;
    for (int d = lane; d < D; d += 32) dx[(size_t)t * D + d] += (float)(r * gr[d] * w[d] - c * xr[d]);
}
void hn_cuda_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T, int D,
                             float eps) {
    if (T <= 0) return;
    k_rms_fwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(y, rstd, x, w, T, D, eps);
    HN_LAUNCHED("rmsnorm_forward");
}
void hn_cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                              const float *w, const float *rstd, int T, int D) {
    if (T <= 0) return;
    k_rms_bwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(dx, dy, x, w, rstd, T, D);
    HN_LAUNCHED("rmsnorm_backward");
    hn_cuda_colsum(dw, dy, D, x, D, rstd, T, D, 1.0f);
}

/* ---- SwiGLU ---- */
__global__ void k_swiglu_fwd(float *h, const float *gu, int T, int H) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H, c = i % H;
        float v = gu[t * 2 * H + c], g = gu[t * 2 * H + H + c];
        h[i] = v * g * hn_sigmoidf(g);
    }
}
__global__ void k_swiglu_bwd(float *dgu, const float *dh, const float *gu, int T, int H) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H, c = i % H;
        float v = gu[t * 2 * H + c], g = gu[t * 2 * H + H + c], s = hn_sigmoidf(g), d = dh[i];
        dgu[t * 2 * H + c] += d * g * s;
        dgu[t * 2 * H + H + c] += d * v * s * (1.0f + g * (1.0f - s));
    }
}
void hn_cuda_swiglu_forward(float *h, const float *gu, int T, int H) {
    size_t n = (size_t)T * H;
    if (!n) return;
    k_swiglu_fwd<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(h, gu, T, H);
    HN_LAUNCHED("swiglu_forward");
}
void hn_cuda_swiglu_backward(float *dgu, const float *dh, const float *gu, int T, int H) {
    size_t n = (size_t)T * H;
    if (!n) return;
    k_swiglu_bwd<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(dgu, dh, gu, T, H);
    HN_LAUNCHED("swiglu_backward");
}

/* ---- rotary embedding: one thread per (row, frequency), all heads; angles in double
 * as on the cpu ---- */
/* the v1 rope: the typed one on a float32 view (typed.cu) */
void hn_cuda_rope(float *x, int ld, int T, int heads, int head_dim, int rot_dim,
                  const int32_t *pos, float theta, int inverse) {
    hn_rope_params p = {{x, HN_F32, T, heads * head_dim, ld}, heads, head_dim, rot_dim, pos,
                        theta, inverse};
    hn_cuda_rope_t(NULL, &p);
}

/* ---- cross-entropy: one warp per row ---- */
__device__ void row_lse(const float *z, int V, int lane, float *mx, double *ls) {
    float m = -INFINITY;
    for (int i = lane; i < V; i += 32) m = fmaxf(m, z[i]);
    m = hn_warp_max(m);
    double s = 0;
    for (int i = lane; i < V; i += 32) s += exp((double)z[i] - m);
    s = hn_warp_sum_d(s);
    *mx = m;
    *ls = log(s);
}
__global__ void k_xent_fwd(float *loss, const float *logits, const int32_t *target, int T, int V) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    const float *z = logits + (size_t)t * V;
    float m;
    double ls;
    row_lse(z, V, lane, &m, &ls);
    if (lane == 0) loss[t] = (float)((double)m + ls - (double)z[target[t]]);
}
/* one warp per row; accumulate: dlogits += ..., else dlogits = ...; loss may be NULL */
__global__ void k_xent_bwd(float *loss, float *dlogits, const float *logits,
                           const int32_t *target, int T, int V, float scale, int accumulate) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    const float *z = logits + (size_t)t * V;
    float m;
    double ls;
    row_lse(z, V, lane, &m, &ls);
    double shift = (double)m + ls;
    int tg = target[t];
    if (loss && lane == 0) loss[t] = (float)(shift - (double)z[tg]);
    for (int i = lane; i < V; i += 32) {
        double p = exp((double)z[i] - shift);
        if (i == tg) p -= 1.0;
        float *d = dlogits + (size_t)t * V + i;
        *d = (float)(scale * p) + (accumulate ? *d : 0.0f);
    }
}
void hn_cuda_xent_forward(float *loss, const float *logits, const int32_t *target, int T, int V) {
    if (T <= 0) return;
    k_xent_fwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(loss, logits, target, T, V);
    HN_LAUNCHED("xent_forward");
}
void hn_cuda_xent_backward(float *dlogits, const float *logits, const int32_t *target, int T,
                           int V, float scale) {
    if (T <= 0) return;
    k_xent_bwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(NULL, dlogits, logits, target, T, V, scale, 1);
    HN_LAUNCHED("xent_backward");
}
void hn_cuda_xent_fused(float *loss, float *dlogits, const float *logits, const int32_t *target,
                        int T, int V, float scale) {
    if (T <= 0) return;
    k_xent_bwd<<<(T + 7) / 8, 256, 0, HN_STREAM>>>(loss, dlogits, logits, target, T, V, scale, 0);
    HN_LAUNCHED("xent_fused");
}

/* ---- AdamW ---- */
/* p16 (may be NULL): the bf16 copy of p (shadow.cu), kept equal to round(p) */
/* clip (may be NULL): the device's clip of this update (grad_clip), which replaces
 * grad_scale, and whose skip leaves p, p16, m and v as they are */
__global__ void k_adamw(float *p, __nv_bfloat16 *p16, const float *g, float *m, float *v,
                        size_t n, float lr, float beta1, float beta2, float eps, float decay,
                        float bc1, float bc2, float grad_scale, const hn_grad_clip *clip) {
    if (clip) {
        if (clip->skip) return;
        grad_scale = clip->scale;
    }
    HN_GRID_STRIDE(i, n) {
        float gi = g[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float pi = p[i] - decay * p[i];
        pi -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
        p[i] = pi;
        if (p16) p16[i] = __float2bfloat16(pi);
    }
}
void hn_cuda_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float weight_decay, float bc1, float bc2,
                   float grad_scale) {
    if (!n) return;
    __nv_bfloat16 *p16 = (__nv_bfloat16 *)hn_cuda_shadow_update(p, n);
    k_adamw<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(p, p16, g, m, v, n, lr, beta1, beta2, eps,
                                         lr * weight_decay, bc1, bc2, grad_scale, NULL);
    HN_LAUNCHED("adamw");
}
void hn_cuda_adamw_clipped(float *p, const float *g, float *m, float *v, size_t n, float lr,
                           float beta1, float beta2, float eps, float weight_decay, float bc1,
                           float bc2, const hn_grad_clip *c) {
    if (!n) return;
    /* the copy is written by the kernel or, skipped, left equal to the unchanged p */
    __nv_bfloat16 *p16 = (__nv_bfloat16 *)hn_cuda_shadow_update(p, n);
    k_adamw<<<hn_blocks(n, TPB), TPB, 0, HN_STREAM>>>(p, p16, g, m, v, n, lr, beta1, beta2, eps,
                                         lr * weight_decay, bc1, bc2, 1.0f, c);
    HN_LAUNCHED("adamw_clipped");
}
