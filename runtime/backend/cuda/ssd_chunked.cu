/* The chunked SSD scan on the GPU: the cpu backend's algorithm (ssm_scan.c) in three
 * phases, so that chunks run in parallel and only a short scan is sequential:
 *   1. per (chunk, head) block: what needs no carried state — the chunk's own
 *      contribution to the state (forward) or to the state gradient (backward);
 *   2. one thread per (sequence, head, state entry): walk the sequence's chunks and
 *      carry the state forward (writing chunk_states) or its gradient backward;
 *   3. per (chunk, head) block: the outputs (forward) or all the gradients (backward)
 *      given the carried value.
 * Inside a chunk of q <= Q rows the work is a few small matrix products (64 x 64 tiles:
 * fp32 on CUDA cores in the fp32 / tf32 matmul modes, bf16 operands on tensor cores with
 * fp32 accumulation in the bf16 mode) and elementwise passes, instead of the
 * row-at-a-time recurrence of ssm.cu whose every row is a chain of dependent shuffles:
 *
 *   forward   y  = D x + (L o C B^T o dt_j) X + diag(e^cs) C S0^T,
 *             S' = e^cs_last S0 + X^T diag(e^(cs_last - cs_j) dt_j) B
 *   backward  the same products transposed.
 *
 * Deterministic: dB and dC (shared by the heads of a group) are summed per head into a
 * partial buffer and then over heads in a fixed order; the per-head scalars (dt_bias,
 * A_log, D) likewise over blocks; block and warp sums use fixed trees. */
#include <cuda_bf16.h>
#include <mma.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

using namespace nvcuda;

#define NT 256 /* threads per block */
#define GT 64  /* block_gemm tile */
#define GK 16  /* block_gemm k step */

/* C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C (beta == 0: C is not read), row-major
 * with leading dimensions; A stored [m,k] or, when ta, [k,m]; B stored [k,n] or, when
 * tb, [n,k]. Called by all NT threads of the block; ends synchronised. */
__device__ __noinline__ void block_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    __shared__ float As[GK][GT + 4], Bs[GK][GT + 4];
    int tid = threadIdx.x, tr = tid / 16, tc = tid % 16;
    for (int i0 = 0; i0 < m; i0 += GT)
        for (int j0 = 0; j0 < n; j0 += GT) {
            float acc[4][4];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
            for (int k0 = 0; k0 < k; k0 += GK) {
                for (int e = tid; e < GT * GK; e += NT) {
                    /* consecutive threads read consecutive addresses of the stored layout */
                    int i = ta ? e % GT : e / GK, kk = ta ? e / GT : e % GK;
                    int gi = i0 + i, gk = k0 + kk;
                    As[kk][i] = gi < m && gk < k
                                    ? (ta ? A[(size_t)gk * lda + gi] : A[(size_t)gi * lda + gk])
                                    : 0.0f;
                }
                for (int e = tid; e < GT * GK; e += NT) {
                    int j = tb ? e / GK : e % GT, kk = tb ? e % GK : e / GT;
                    int gj = j0 + j, gk = k0 + kk;
                    Bs[kk][j] = gk < k && gj < n
                                    ? (tb ? B[(size_t)gj * ldb + gk] : B[(size_t)gk * ldb + gj])
                                    : 0.0f;
                }
                __syncthreads();
#pragma unroll
                for (int kk = 0; kk < GK; kk++) {
                    float a[4], b[4];
#pragma unroll
                    for (int r = 0; r < 4; r++) a[r] = As[kk][tr * 4 + r];
#pragma unroll
                    for (int c = 0; c < 4; c++) b[c] = Bs[kk][tc * 4 + c];
#pragma unroll
                    for (int r = 0; r < 4; r++)
#pragma unroll
                        for (int c = 0; c < 4; c++) acc[r][c] += a[r] * b[c];
                }
                __syncthreads();
            }
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    int gi = i0 + tr * 4 + r, gj = j0 + tc * 4 + c;
                    if (gi < m && gj < n) {
                        float *cp = C + (size_t)gi * ldc + gj;
                        *cp = alpha * acc[r][c] + (beta != 0.0f ? beta * *cp : 0.0f);
                    }
                }
        }
    __syncthreads();
}

/* The same product on the tensor cores: operands rounded to bf16 in shared memory, fp32
 * accumulation (the bf16 matmul mode's arithmetic). 64 x 64 output tiles, k steps of
 * 32; warp w owns the 16 x 32 strip at rows 16 (w / 2), columns 32 (w % 2). */
#define TK 32
#define NW (NT / 32) /* warps per block */
__device__ __noinline__ void block_gemm_tc(int ta, int tb, int m, int n, int k, float alpha,
                                           const float *A, int lda, const float *B, int ldb,
                                           float beta, float *C, int ldc) {
    __shared__ __align__(32) __nv_bfloat16 As[GT][TK + 8];
    __shared__ __align__(32) __nv_bfloat16 Bs[TK][GT + 8];
    __shared__ __align__(32) float Cs[GT][GT + 4];
    int tid = threadIdx.x, warp = tid / 32, fr = (warp >> 1) * 16, fc = (warp & 1) * 32;
    for (int i0 = 0; i0 < m; i0 += GT)
        for (int j0 = 0; j0 < n; j0 += GT) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> c0, c1;
            wmma::fill_fragment(c0, 0.0f);
            wmma::fill_fragment(c1, 0.0f);
            for (int k0 = 0; k0 < k; k0 += TK) {
                for (int e = tid; e < GT * TK; e += NT) {
                    int i = ta ? e % GT : e / TK, kk = ta ? e / GT : e % TK;
                    int gi = i0 + i, gk = k0 + kk;
                    As[i][kk] = __float2bfloat16(
                        gi < m && gk < k ? (ta ? A[(size_t)gk * lda + gi] : A[(size_t)gi * lda + gk])
                                         : 0.0f);
                }
                for (int e = tid; e < GT * TK; e += NT) {
                    int j = tb ? e / TK : e % GT, kk = tb ? e % TK : e / GT;
                    int gj = j0 + j, gk = k0 + kk;
                    Bs[kk][j] = __float2bfloat16(
                        gk < k && gj < n ? (tb ? B[(size_t)gj * ldb + gk] : B[(size_t)gk * ldb + gj])
                                         : 0.0f);
                }
                __syncthreads();
#pragma unroll
                for (int kk = 0; kk < TK; kk += 16) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b0, b1;
                    wmma::load_matrix_sync(a, &As[fr][kk], TK + 8);
                    wmma::load_matrix_sync(b0, &Bs[kk][fc], GT + 8);
                    wmma::load_matrix_sync(b1, &Bs[kk][fc + 16], GT + 8);
                    wmma::mma_sync(c0, a, b0, c0);
                    wmma::mma_sync(c1, a, b1, c1);
                }
                __syncthreads();
            }
            wmma::store_matrix_sync(&Cs[fr][fc], c0, GT + 4, wmma::mem_row_major);
            wmma::store_matrix_sync(&Cs[fr][fc + 16], c1, GT + 4, wmma::mem_row_major);
            __syncthreads();
            for (int e = tid; e < GT * GT; e += NT) {
                int gi = i0 + e / GT, gj = j0 + e % GT;
                if (gi < m && gj < n) {
                    float *cp = C + (size_t)gi * ldc + gj;
                    *cp = alpha * Cs[e / GT][e % GT] + (beta != 0.0f ? beta * *cp : 0.0f);
                }
            }
            __syncthreads();
        }
}

/* the product in the precision of the matmul mode: fp32 CUDA cores or bf16 tensor cores */
__device__ __forceinline__ void gemm(int tc, int ta, int tb, int m, int n, int k, float alpha,
                                     const float *A, int lda, const float *B, int ldb, float beta,
                                     float *C, int ldc) {
    if (tc) block_gemm_tc(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else block_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Sum of v over the block in a fixed order (red: NT floats of shared memory). */
__device__ float block_sum(float v, float *red) {
    int tid = threadIdx.x;
    red[tid] = v;
    __syncthreads();
    for (int o = NT / 2; o > 0; o >>= 1) {
        if (tid < o) red[tid] += red[tid + o];
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

/* dt = softplus(raw + bias) and cs = running sum of dt A over the chunk's q rows */
__device__ void chunk_decays(float *dt, float *cs, const float *dt_raw, int ld_dt, int h,
                             float bias, float A, int q) {
    for (int i = threadIdx.x; i < q; i += NT) dt[i] = hn_softplusf(dt_raw[(size_t)i * ld_dt + h] + bias);
    __syncthreads();
    if (threadIdx.x == 0) {
        float acc = 0;
        for (int i = 0; i < q; i++) {
            acc += dt[i] * A;
            cs[i] = acc;
        }
    }
    __syncthreads();
}

/* ---- the chunk table and the work split ----
 * Chunks are independent apart from the state carried between them, so the work runs
 * in three phases: per (chunk, head) what needs no carried state; a short scan per
 * (sequence, head, state entry) over the sequence's chunks; per (chunk, head) the rest.
 * Blocks stride over chunks (grid.x of them per head), so scratch is per block. */
typedef struct chunk_plan {
    hn_ssd_plan p;
    int grid_x; /* blocks per head */
} chunk_plan;

static int make_plan(chunk_plan *pl, const hn_seqs *seqs, const hn_ssm_dims *d) {
    if (hn_cuda_ssd_plan(&pl->p, seqs, d->chunk)) return -1;
    int n = pl->p.n_chunks, want = (512 + d->heads - 1) / d->heads; /* ~512 blocks in all */
    pl->grid_x = n < want ? (n ? n : 1) : want;
    return 0;
}

/* forward, phase 1: the chunk's own state contribution Z = X^T diag(e^(cs_last - cs_j)
 * dt_j) B and its decay e^cs_last, into z [n, H, P, N] and el [n, H] */
__global__ void __launch_bounds__(NT) k_ssdc_local(float *z, float *el, const float *x, const float *B,
                                                    int ld, const float *dt_raw, int ld_dt,
                                                    const float *dt_bias, const float *A_log,
                                                    const int32_t *tab, int nch, int H, int P, int N,
                                                    int G, int Q, float *ws, size_t per_block, int tc) {
    extern __shared__ float sh[];
    float *dt = sh, *cs = sh + Q;
    int h = blockIdx.y, g = h / (H / G), tid = threadIdx.x, V = P > N ? P : N;
    size_t PN = (size_t)P * N;
    float *tile = ws + ((size_t)blockIdx.x * H + h) * per_block;
    float A = -expf(A_log[h]), bias = dt_bias[h];
    for (int ci = blockIdx.x; ci < nch; ci += gridDim.x) {
        int c0 = tab[2 * ci], q = tab[2 * ci + 1];
        chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, h, bias, A, q);
        const float *Bc = B + (size_t)c0 * ld + g * N, *xh = x + (size_t)c0 * ld + h * P;
        float last = cs[q - 1];
        for (int e = tid; e < q * N; e += NT) {
            int j = e / N, n = e % N;
            tile[(size_t)j * V + n] = expf(last - cs[j]) * dt[j] * Bc[(size_t)j * ld + n];
        }
        if (tid == 0) el[(size_t)ci * H + h] = expf(last);
        __syncthreads();
        gemm(tc, 1, 0, P, N, q, 1.0f, xh, ld, tile, V, 0.0f, z + ((size_t)ci * H + h) * PN, N);
    }
}

/* backward, phase 1: the chunk's own term of the state gradient, sum_i e^cs_i dy_i C_i^T
 * ([P, N]), into z, and the decay into el */
__global__ void __launch_bounds__(NT) k_ssdc_dlocal(float *z, float *el, const float *dy,
                                                     const float *C, int ld, const float *dt_raw,
                                                     int ld_dt, const float *dt_bias,
                                                     const float *A_log, const int32_t *tab, int nch,
                                                     int H, int P, int N, int G, int Q, float *ws,
                                                     size_t per_block, int tc) {
    extern __shared__ float sh[];
    float *dt = sh, *cs = sh + Q;
    int h = blockIdx.y, g = h / (H / G), tid = threadIdx.x, V = P > N ? P : N, HP = H * P;
    size_t PN = (size_t)P * N;
    float *t2 = ws + ((size_t)blockIdx.x * H + h) * per_block;
    float A = -expf(A_log[h]), bias = dt_bias[h];
    for (int ci = blockIdx.x; ci < nch; ci += gridDim.x) {
        int c0 = tab[2 * ci], q = tab[2 * ci + 1];
        chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, h, bias, A, q);
        const float *Cc = C + (size_t)c0 * ld + g * N, *dyh = dy + (size_t)c0 * HP + h * P;
        for (int e = tid; e < q * P; e += NT) {
            int i = e / P, p = e % P;
            t2[(size_t)i * V + p] = expf(cs[i]) * dyh[(size_t)i * HP + p];
        }
        if (tid == 0) el[(size_t)ci * H + h] = expf(cs[q - 1]);
        __syncthreads();
        gemm(tc, 1, 0, P, N, q, 1.0f, t2, V, Cc, ld, 0.0f, z + ((size_t)ci * H + h) * PN, N);
    }
}

/* phase 2: one thread per (sequence, head, state entry) walks the sequence's chunks.
 * Forward (reverse = 0): out[c] = S entering chunk c, S <- el_c S + z_c; the state
 * after the last chunk goes to final (may be NULL). Backward (reverse = 1): out[c] = the
 * gradient of the state leaving chunk c, dS <- el_c dS + z_c, walking back. */
__global__ void k_ssdc_scan(float *out, float *final_state, size_t final_stride, const float *z,
                            const float *el, const int32_t *cb, int n_seqs, int H, size_t PN,
                            int reverse) {
    size_t items = (size_t)n_seqs * H * PN;
    HN_GRID_STRIDE(it, items) {
        int s = (int)(it / ((size_t)H * PN)), h = (int)(it / PN % H);
        size_t e = it % PN;
        int c1 = cb[s], c2 = cb[s + 1];
        float v = 0.0f;
        for (int k = 0; k < c2 - c1; k++) {
            int c = reverse ? c2 - 1 - k : c1 + k;
            size_t at = ((size_t)c * H + h) * PN + e;
            out[at] = v;
            v = el[(size_t)c * H + h] * v + z[at];
        }
        if (final_state) final_state[(size_t)s * final_stride + (size_t)h * PN + e] = v;
    }
}

void hn_cuda_ssdc_scan(float *out, float *final_state, size_t final_stride, const float *z,
                       const float *el, const int32_t *cb, int n_seqs, int H, size_t PN,
                       int reverse) {
    size_t items = (size_t)n_seqs * H * PN;
    k_ssdc_scan<<<hn_blocks(items, 256), 256, 0, HN_STREAM>>>(out, final_state, final_stride, z, el, cb, n_seqs,
                                                H, PN, reverse);
}

static size_t fwd_block_floats(const hn_ssm_dims *d) {
    size_t Q = d->chunk, V = d->headdim > d->d_state ? d->headdim : d->d_state;
    return Q * Q + Q * V;
}

/* forward, phase 3: y = D x + (L o C B^T o dt_j) X + diag(e^cs) C S0^T */
__global__ void __launch_bounds__(NT) k_ssdc_fwd(float *y, const float *chunk_states, const float *x,
                                                  const float *B, const float *C, int ld,
                                                  const float *dt_raw, int ld_dt, const float *dt_bias,
                                                  const float *A_log, const float *Dv, const int32_t *tab,
                                                  int nch, int H, int P, int N, int G, int Q, float *ws,
                                                  size_t per_block, int tc) {
    extern __shared__ float sh[];
    float *dt = sh, *cs = sh + Q;
    int h = blockIdx.y, g = h / (H / G), tid = threadIdx.x;
    int V = P > N ? P : N, HP = H * P;
    size_t PN = (size_t)P * N;
    float *M = ws + ((size_t)blockIdx.x * H + h) * per_block, *tile = M + (size_t)Q * Q;
    float A = -expf(A_log[h]), bias = dt_bias[h], Dh = Dv[h];
    for (int ci = blockIdx.x; ci < nch; ci += gridDim.x) {
        int c0 = tab[2 * ci], q = tab[2 * ci + 1];
        const float *S0 = chunk_states + ((size_t)ci * H + h) * PN;
        chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, h, bias, A, q);
        const float *Bc = B + (size_t)c0 * ld + g * N, *Cc = C + (size_t)c0 * ld + g * N;
        const float *xh = x + (size_t)c0 * ld + h * P;
        float *yh = y + (size_t)c0 * HP + h * P;
        gemm(tc, 0, 1, q, q, N, 1.0f, Cc, ld, Bc, ld, 0.0f, M, Q); /* C_i . B_j */
        for (int e = tid; e < q * q; e += NT) {
            int i = e / q, j = e % q;
            float *m = M + (size_t)i * Q + j;
            *m = j <= i ? *m * expf(cs[i] - cs[j]) * dt[j] : 0.0f;
        }
        for (int e = tid; e < q * P; e += NT) {
            int i = e / P, p = e % P;
            yh[(size_t)i * HP + p] = Dh * xh[(size_t)i * ld + p];
        }
        for (int e = tid; e < q * N; e += NT) {
            int i = e / N, n = e % N;
            tile[(size_t)i * V + n] = expf(cs[i]) * Cc[(size_t)i * ld + n];
        }
        __syncthreads();
        gemm(tc, 0, 0, q, P, q, 1.0f, M, Q, xh, ld, 1.0f, yh, HP);
        gemm(tc, 0, 1, q, P, N, 1.0f, tile, V, S0, N, 1.0f, yh, HP);
    }
}

void hn_cuda_ssdc_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                          const float *x, const float *B, const float *C, int ld,
                          const float *dt_raw, int ld_dt, const float *dt_bias,
                          const float *A_log, const float *D, const hn_seqs *seqs,
                          const hn_ssm_dims *d) {
    if (seqs->n <= 0 || seqs->total <= 0) return;
    chunk_plan pl;
    if (make_plan(&pl, seqs, d)) return;
    int H = d->heads, P = d->headdim, N = d->d_state, G = d->ngroups, Q = d->chunk;
    size_t PN = (size_t)P * N, per = fwd_block_floats(d), nz = (size_t)pl.p.n_chunks * H * PN;
    float *ws = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC, (size_t)pl.grid_x * H * per * sizeof(float));
    float *z = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC_STATE, (nz + (size_t)pl.p.n_chunks * H) * sizeof(float));
    if (!ws || !z) return;
    float *el = z + nz;
    int tc = hn_cuda_get_matmul_mode() == HN_CUDA_MATMUL_BF16;
    dim3 grid(pl.grid_x, H);
    size_t smem = 2 * (size_t)Q * sizeof(float);
    k_ssdc_local<<<grid, NT, smem, HN_STREAM>>>(z, el, x, B, ld, dt_raw, ld_dt, dt_bias, A_log, pl.p.tab, pl.p.n_chunks,
                                     H, P, N, G, Q, ws, per, tc);
    hn_cuda_ssdc_scan(chunk_states, final_state, final_stride, z, el, pl.p.cb, seqs->n, H, PN, 0);
    k_ssdc_fwd<<<grid, NT, smem, HN_STREAM>>>(y, chunk_states, x, B, C, ld, dt_raw, ld_dt, dt_bias, A_log, D,
                                   pl.p.tab, pl.p.n_chunks, H, P, N, G, Q, ws, per, tc);
    HN_LAUNCHED("ssd_forward chunked");
}

/* ---- backward ---- */

static size_t bwd_block_floats(const hn_ssm_dims *d) {
    size_t Q = d->chunk, V = d->headdim > d->d_state ? d->headdim : d->d_state;
    return 4 * Q * Q + 3 * Q * V;
}

/* phase 3 of the backward, per (chunk, head), given the gradient dS of the state leaving
 * the chunk (dstate) and the state entering it (chunk_states). part: [H, T, 2N]
 * per-head dC (first N) and dB (last N), zeroed; scal: [grid.x, H, 3] per-block
 * d dt_bias, d A_log, d D. */
__global__ void __launch_bounds__(NT) k_ssdc_bwd(float *dx, int ldd, float *ddt_raw, int ld_ddt,
                                                  float *part, float *scal, const float *dy,
                                                  const float *x, const float *B, const float *C, int ld,
                                                  const float *dt_raw, int ld_dt, const float *dt_bias,
                                                  const float *A_log, const float *Dv,
                                                  const float *chunk_states, const float *dstate,
                                                  const int32_t *tab, int nch, int T, int H, int P, int N,
                                                  int G, int Q, float *ws, size_t per_block, int tc) {
    extern __shared__ float sh[];
    float *dt = sh, *cs = sh + Q, *ds = cs + Q, *ddt = ds + Q, *tmp = ddt + Q, *red = tmp + Q;
    int h = blockIdx.y, g = h / (H / G), tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    int V = P > N ? P : N, HP = H * P, N2 = 2 * N;
    size_t PN = (size_t)P * N, QQ = (size_t)Q * Q;
    float *Gm = ws + ((size_t)blockIdx.x * H + h) * per_block, *GL = Gm + QQ, *dM = GL + QQ;
    float *dGm = dM + QQ, *u = dGm + QQ, *t1 = u + (size_t)Q * V, *t2 = t1 + (size_t)Q * V;
    float A = -expf(A_log[h]), bias = dt_bias[h], Dh = Dv[h];
    float acc_bias = 0, acc_A = 0, acc_D = 0; /* thread 0's */
    for (int ci = blockIdx.x; ci < nch; ci += gridDim.x) {
        int c0 = tab[2 * ci], q = tab[2 * ci + 1];
        const float *S0 = chunk_states + ((size_t)ci * H + h) * PN;
        const float *dS = dstate + ((size_t)ci * H + h) * PN;
        chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, h, bias, A, q);
        const float *Bc = B + (size_t)c0 * ld + g * N, *Cc = C + (size_t)c0 * ld + g * N;
        const float *xh = x + (size_t)c0 * ld + h * P, *dyh = dy + (size_t)c0 * HP + h * P;
        float *dxh = dx + (size_t)c0 * ldd + h * P;
        float *pc = part + ((size_t)h * T + c0) * N2; /* dC of row i at pc[i * N2], dB at + N */
        float el = expf(cs[q - 1]);
        gemm(tc, 0, 1, q, q, N, 1.0f, Cc, ld, Bc, ld, 0.0f, Gm, Q);
        for (int i = tid; i < q; i += NT) ds[i] = ddt[i] = 0.0f;
        /* skip connection */
        float dd = 0;
        for (int e = tid; e < q * P; e += NT) {
            int i = e / P, p = e % P;
            float g1 = dyh[(size_t)i * HP + p];
            dd += g1 * xh[(size_t)i * ld + p];
            dxh[(size_t)i * ldd + p] += Dh * g1;
        }
        dd = block_sum(dd, red);
        if (tid == 0) acc_D += dd;
        /* intra-chunk: y_i += sum_j GL_ij dt_j x_j; u_j = dLoss / d(dt_j x_j) */
        for (int e = tid; e < q * q; e += NT) {
            int i = e / q, j = e % q;
            GL[(size_t)i * Q + j] = j <= i ? Gm[(size_t)i * Q + j] * expf(cs[i] - cs[j]) : 0.0f;
        }
        __syncthreads();
        gemm(tc, 1, 0, q, P, q, 1.0f, GL, Q, dyh, HP, 0.0f, u, V);
        gemm(tc, 0, 1, q, q, P, 1.0f, dyh, HP, xh, ld, 0.0f, dM, Q); /* dy_i . x_j */
        for (int e = tid; e < q * q; e += NT) {
            int i = e / q, j = e % q;
            size_t ij = (size_t)i * Q + j;
            if (j <= i) {
                float dm = dM[ij] * dt[j];
                dGm[ij] = dm * expf(cs[i] - cs[j]);
                dM[ij] = dm * GL[ij]; /* t_ij: adds to ds_i, subtracts from ds_j */
            } else {
                dGm[ij] = 0.0f;
                dM[ij] = 0.0f;
            }
        }
        __syncthreads();
        /* ds_i += sum_j t_ij - sum_j t_ji: columns a thread each (coalesced), rows a warp
         * each (lanes along the row); both in a fixed order */
        for (int i = tid; i < q; i += NT) {
            float col = 0;
            for (int j = 0; j < q; j++) col += dM[(size_t)j * Q + i];
            tmp[i] = col;
        }
        for (int i = warp; i < q; i += NW) {
            float row = 0;
            for (int j = lane; j < q; j += 32) row += dM[(size_t)i * Q + j];
            row = hn_warp_sum(row);
            if (lane == 0) ds[i] += row;
        }
        __syncthreads();
        for (int i = tid; i < q; i += NT) ds[i] -= tmp[i];
        __syncthreads();
        /* the incoming state's term exp(cs_i) S0 C_i */
        gemm(tc, 0, 0, q, N, P, 1.0f, dyh, HP, S0, N, 0.0f, t1, V); /* S0^T dy_i */
        for (int i = warp; i < q; i += NW) { /* a warp per row, lanes along it */
            float e = expf(cs[i]), dot = 0;
            for (int n = lane; n < N; n += 32) {
                float v = t1[(size_t)i * V + n];
                pc[(size_t)i * N2 + n] += e * v;
                dot += v * Cc[(size_t)i * ld + n];
            }
            dot = hn_warp_sum(dot);
            if (lane == 0) ds[i] += e * dot;
        }
        __syncthreads();
        /* state passing: S_end = el S0 + sum_j w_j dt_j x_j B_j^T */
        float t0 = 0;
        for (size_t e = tid; e < PN; e += NT) t0 += dS[e] * S0[e];
        t0 = block_sum(t0, red);
        if (tid == 0) ds[q - 1] += el * t0;
        gemm(tc, 0, 1, q, P, N, 1.0f, Bc, ld, dS, N, 0.0f, t1, V); /* dS B_j */
        gemm(tc, 0, 0, q, N, P, 1.0f, xh, ld, dS, N, 0.0f, t2, V); /* dS^T x_j */
        for (int j = warp; j < q; j += NW) {
            float w = expf(cs[q - 1] - cs[j]), dot = 0;
            for (int p = lane; p < P; p += 32) {
                float r = t1[(size_t)j * V + p];
                dot += xh[(size_t)j * ld + p] * r;
                u[(size_t)j * V + p] += w * r;
            }
            dot = hn_warp_sum(dot);
            if (lane == 0) tmp[j] = w * dt[j] * dot;
            for (int n = lane; n < N; n += 32) pc[(size_t)j * N2 + N + n] += w * dt[j] * t2[(size_t)j * V + n];
        }
        __syncthreads();
        for (int j = tid; j < q; j += NT) ds[j] -= tmp[j];
        __syncthreads();
        if (tid == 0) {
            float sum = 0;
            for (int j = 0; j < q; j++) sum += tmp[j];
            ds[q - 1] += sum;
        }
        /* u -> dx, ddt */
        for (int j = warp; j < q; j += NW) {
            float dot = 0;
            for (int p = lane; p < P; p += 32) {
                float uv = u[(size_t)j * V + p];
                dxh[(size_t)j * ldd + p] += dt[j] * uv;
                dot += xh[(size_t)j * ld + p] * uv;
            }
            dot = hn_warp_sum(dot);
            if (lane == 0) ddt[j] += dot;
        }
        __syncthreads();
        /* running sums -> a_i = dt_i A -> dt, A; softplus -> raw dt, bias */
        if (tid == 0) {
            float acc = 0;
            for (int i = q - 1; i >= 0; i--) {
                acc += ds[i];
                ddt[i] += acc * A;
                acc_A += acc * dt[i];
            }
        }
        __syncthreads();
        for (int i = tid; i < q; i += NT) {
            float gr = ddt[i] * hn_sigmoidf(dt_raw[(size_t)(c0 + i) * ld_dt + h] + bias);
            ddt_raw[(size_t)(c0 + i) * ld_ddt + h] += gr;
            tmp[i] = gr;
        }
        __syncthreads();
        if (tid == 0)
            for (int i = 0; i < q; i++) acc_bias += tmp[i];
        /* Gm_ij = C_i . B_j: dC += dGm B, dB += dGm^T C (this head's share) */
        gemm(tc, 0, 0, q, N, q, 1.0f, dGm, Q, Bc, ld, 1.0f, pc, N2);
        gemm(tc, 1, 0, q, N, q, 1.0f, dGm, Q, Cc, ld, 1.0f, pc + N, N2);
    }
    if (tid == 0) {
        float *sc = scal + ((size_t)blockIdx.x * H + h) * 3;
        sc[0] = acc_bias;
        sc[1] = acc_A * A;
        sc[2] = acc_D;
    }
}

/* dC, dB += the heads' partials (heads of a group in order); the scalars over blocks */
__global__ void k_ssdc_reduce(float *dB, float *dC, int ldd, const float *part, int T, int H,
                              int G, int N) {
    size_t N2 = 2 * (size_t)N, items = (size_t)T * G * N2;
    int HG = H / G;
    HN_GRID_STRIDE(i, items) {
        size_t e = i % N2, tg = i / N2;
        int t = (int)(tg / G), g = (int)(tg % G);
        float sum = 0;
        for (int hh = g * HG; hh < (g + 1) * HG; hh++) sum += part[((size_t)hh * T + t) * N2 + e];
        if (e < (size_t)N) dC[(size_t)t * ldd + g * N + e] += sum;
        else dB[(size_t)t * ldd + g * N + (e - N)] += sum;
    }
}
__global__ void k_ssdc_scalars(float *ddt_bias, float *dA_log, float *dD, const float *scal,
                               int n_blocks, int H) {
    int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h >= H) return;
    float b = 0, a = 0, d = 0;
    for (int s = 0; s < n_blocks; s++) {
        const float *sc = scal + ((size_t)s * H + h) * 3;
        b += sc[0];
        a += sc[1];
        d += sc[2];
    }
    ddt_bias[h] += b;
    dA_log[h] += a;
    dD[h] += d;
}

void hn_cuda_ssdc_backward(float *dx, float *dB, float *dC, int ldd, float *ddt_raw, int ld_ddt,
                           float *ddt_bias, float *dA_log, float *dD, const float *dy,
                           const float *x, const float *B, const float *C, int ld,
                           const float *dt_raw, int ld_dt, const float *dt_bias,
                           const float *A_log, const float *D, const float *chunk_states,
                           const hn_seqs *seqs, const hn_ssm_dims *d) {
    int T = seqs->total, H = d->heads, P = d->headdim, N = d->d_state, G = d->ngroups, Q = d->chunk;
    if (seqs->n <= 0 || T <= 0) return;
    chunk_plan pl;
    if (make_plan(&pl, seqs, d)) return;
    size_t PN = (size_t)P * N, per = bwd_block_floats(d), nz = (size_t)pl.p.n_chunks * H * PN;
    size_t npart = (size_t)H * T * 2 * N, nscal = (size_t)pl.grid_x * H * 3;
    float *ws = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC, (size_t)pl.grid_x * H * per * sizeof(float));
    float *part = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC_PART, (npart + nscal) * sizeof(float));
    float *z = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC_STATE, (2 * nz + (size_t)pl.p.n_chunks * H) * sizeof(float));
    if (!ws || !part || !z) return;
    float *scal = part + npart, *dstate = z + nz, *el = dstate + nz;
    int tc = hn_cuda_get_matmul_mode() == HN_CUDA_MATMUL_BF16;
    HN_CK(cudaMemsetAsync(part, 0, npart * sizeof(float), HN_STREAM));
    dim3 grid(pl.grid_x, H);
    k_ssdc_dlocal<<<grid, NT, 2 * (size_t)Q * sizeof(float), HN_STREAM>>>(z, el, dy, C, ld, dt_raw, ld_dt,
                                                               dt_bias, A_log, pl.p.tab, pl.p.n_chunks, H, P,
                                                               N, G, Q, ws, per, tc);
    hn_cuda_ssdc_scan(dstate, NULL, 0, z, el, pl.p.cb, seqs->n, H, PN, 1);
    size_t smem = (5 * (size_t)Q + NT) * sizeof(float);
    k_ssdc_bwd<<<grid, NT, smem, HN_STREAM>>>(dx, ldd, ddt_raw, ld_ddt, part, scal, dy, x, B, C, ld, dt_raw,
                                   ld_dt, dt_bias, A_log, D, chunk_states, dstate, pl.p.tab, pl.p.n_chunks, T,
                                   H, P, N, G, Q, ws, per, tc);
    HN_LAUNCHED("ssd_backward chunked");
    size_t ritems = (size_t)T * G * 2 * N;
    k_ssdc_reduce<<<hn_blocks(ritems, 256), 256, 0, HN_STREAM>>>(dB, dC, ldd, part, T, H, G, N);
    k_ssdc_scalars<<<(H + 127) / 128, 128, 0, HN_STREAM>>>(ddt_bias, dA_log, dD, scal, pl.grid_x, H);
    HN_LAUNCHED("ssd_backward chunked reduce");
}
