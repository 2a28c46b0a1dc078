/* Flash attention on bf16 tensor cores (WMMA 16x16x16, fp32 accumulation) for
 * head_dim 64: q, k, v and dout are rounded to bf16 as tiles are staged in shared
 * memory; softmax statistics, the output accumulator and every gradient stay fp32.
 * A block of 4 warps owns 64 rows (queries for forward and dq, keys for dk/dv), 16 per
 * warp; the other side streams through in tiles of 64 rows. Visibility (causal, same
 * packed sequence, window) is decided per (query, key) pair, as in the fp32 kernels. */
#include <cuda_bf16.h>
#include <mma.h>

#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"

using namespace nvcuda;

#define HD 64
#define R 64    /* rows per block and per streamed tile */
#define LDB 72  /* bf16 row stride in shared memory (16-byte multiple, skews banks) */
#define LDF 68  /* fp32 row stride */
#define NTH 128

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> frag_bt;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_b;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_c;

__device__ __forceinline__ bool vis(int i, int si, int j, int sj, int window) {
    return j <= i && si == sj && (window < 0 || i - j <= window);
}

/* rows [r0, r0 + R) of src (row stride ld, fp32) -> dst bf16 [R][LDB]; rows >= T are 0 */
__device__ void stage(__nv_bfloat16 *dst, const float *src, int ld, int r0, int T) {
    for (int e = threadIdx.x; e < R * HD / 4; e += NTH) {
        int r = e / (HD / 4), c = 4 * (e % (HD / 4));
        float4 v = make_float4(0, 0, 0, 0);
        if (r0 + r < T) {
            const float *p = src + (size_t)(r0 + r) * ld + c;
            v = make_float4(p[0], p[1], p[2], p[3]);
        }
        __nv_bfloat16 *d = dst + r * LDB + c;
        d[0] = __float2bfloat16(v.x);
        d[1] = __float2bfloat16(v.y);
        d[2] = __float2bfloat16(v.z);
        d[3] = __float2bfloat16(v.w);
    }
}

/* out[16 x 64] (fp32, LDF) = A[16 x 64] . B^T where B is [64 x 64] row-major (so B^T's
 * columns are B's rows) */
__device__ __forceinline__ void mm_abt(float *out, const __nv_bfloat16 *A, const __nv_bfloat16 *B) {
    for (int nb = 0; nb < 4; nb++) {
        frag_c c;
        wmma::fill_fragment(c, 0.0f);
        for (int kk = 0; kk < 4; kk++) {
            frag_a a;
            frag_bt b;
            wmma::load_matrix_sync(a, A + kk * 16, LDB);
            wmma::load_matrix_sync(b, B + nb * 16 * LDB + kk * 16, LDB);
            wmma::mma_sync(c, a, b, c);
        }
        wmma::store_matrix_sync(out + nb * 16, c, LDF, wmma::mem_row_major);
    }
}

/* acc[nb] += A[16 x 64] . B[64 x 64] (B row-major) */
__device__ __forceinline__ void mm_ab_acc(frag_c *acc, const __nv_bfloat16 *A, const __nv_bfloat16 *B) {
    for (int nb = 0; nb < 4; nb++)
        for (int kk = 0; kk < 4; kk++) {
            frag_a a;
            frag_b b;
            wmma::load_matrix_sync(a, A + kk * 16, LDB);
            wmma::load_matrix_sync(b, B + kk * 16 * LDB + nb * 16, LDB);
            wmma::mma_sync(acc[nb], a, b, acc[nb]);
        }
}

#define SMB (R * LDB)  /* bf16 elements of one staged tile */
#define SMF (R * LDF)  /* floats of one fp32 tile */

__global__ void __launch_bounds__(NTH) k_tc_fwd(float *out, float *lse, const float *q,
                                                const float *k, const float *v, int ld,
                                                const int32_t *pos, int T, int heads, int window,
                                                float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *Ks = Qs + SMB, *Vs = Ks + SMB, *Pb = Vs + SMB;
    float *Sf = (float *)(Pb + SMB);
    int *Ss = (int *)(Sf + SMF);
    int h = blockIdx.y, r0 = blockIdx.x * R, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int lr = 16 * warp + (lane >> 1), half = lane & 1, r = r0 + lr, rr = min(r, T - 1);
    int sr = rr - pos[rr];
    stage(Qs, q + (size_t)h * HD, ld, r0, T);
    float acc[32], m = -INFINITY, l = 0;
#pragma unroll
    for (int d = 0; d < 32; d++) acc[d] = 0;
    int last = min(r0 + R, T) - 1, first = r0 - pos[r0];
    if (window >= 0) first = max(first, r0 - window);
    for (int kb = first; kb <= last; kb += R) {
        __syncthreads(); /* the previous tile is consumed */
        stage(Ks, k + (size_t)h * HD, ld, kb, T);
        stage(Vs, v + (size_t)h * HD, ld, kb, T);
        if (threadIdx.x < R) {
            int tt = kb + (int)threadIdx.x;
            Ss[threadIdx.x] = tt < T ? tt - pos[tt] : -1;
        }
        __syncthreads();
        float *Sw = Sf + 16 * warp * LDF;
        mm_abt(Sw, Qs + 16 * warp * LDB, Ks);
        __syncwarp();
        float *srow = Sf + lr * LDF + half * 32, mx = -INFINITY;
        for (int j = 0; j < 32; j++) {
            int key = kb + half * 32 + j;
            float s = (r < T && key < T && vis(r, sr, key, Ss[half * 32 + j], window)) ? scale * srow[j] : -INFINITY;
            srow[j] = s;
            mx = fmaxf(mx, s);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float mn = fmaxf(m, mx), corr = mn == -INFINITY ? 1.0f : expf(m - mn), ps = 0;
        __nv_bfloat16 *prow = Pb + lr * LDB + half * 32;
        for (int j = 0; j < 32; j++) {
            float p = mn == -INFINITY ? 0.0f : expf(srow[j] - mn);
            __nv_bfloat16 pb = __float2bfloat16(p);
            prow[j] = pb;
            ps += __bfloat162float(pb); /* normalise by what the product will see */
        }
        ps += __shfl_xor_sync(0xffffffffu, ps, 1);
        l = l * corr + ps;
        m = mn;
#pragma unroll
        for (int d = 0; d < 32; d++) acc[d] *= corr;
        __syncwarp();
        /* the warp's P (16 x 64 keys) . V (64 keys x 64 dims) -> Sw */
        for (int nb = 0; nb < 4; nb++) {
            frag_c c;
            wmma::fill_fragment(c, 0.0f);
            for (int kk = 0; kk < 4; kk++) {
                frag_a a;
                frag_b b;
                wmma::load_matrix_sync(a, Pb + 16 * warp * LDB + kk * 16, LDB);
                wmma::load_matrix_sync(b, Vs + kk * 16 * LDB + nb * 16, LDB);
                wmma::mma_sync(c, a, b, c);
            }
            wmma::store_matrix_sync(Sw + nb * 16, c, LDF, wmma::mem_row_major);
        }
        __syncwarp();
        const float *orow = Sf + lr * LDF + half * 32;
#pragma unroll
        for (int d = 0; d < 32; d++) acc[d] += orow[d];
    }
    if (r >= T) return;
    float inv = 1.0f / l, *o = out + (size_t)r * heads * HD + (size_t)h * HD + half * 32;
#pragma unroll
    for (int d = 0; d < 32; d++) o[d] = acc[d] * inv;
    if (half == 0) lse[(size_t)r * heads + h] = m + logf(l);
}

__global__ void __launch_bounds__(NTH) k_tc_dq(float *dq, float *Dbuf, const float *dout,
                                               const float *q, const float *k, const float *v,
                                               int ld, const float *out, const float *lse,
                                               const int32_t *pos, int T, int heads, int window,
                                               float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *Gs = Qs + SMB, *Ks = Gs + SMB, *Vs = Ks + SMB;
    __nv_bfloat16 *Pb = Vs + SMB;
    float *Sf = (float *)(Pb + SMB), *dPf = Sf + SMF;
    int *Ss = (int *)(dPf + SMF);
    int h = blockIdx.y, r0 = blockIdx.x * R, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int lr = 16 * warp + (lane >> 1), half = lane & 1, r = r0 + lr, rr = min(r, T - 1);
    int sr = rr - pos[rr], W = heads * HD;
    stage(Qs, q + (size_t)h * HD, ld, r0, T);
    stage(Gs, dout + (size_t)h * HD, W, r0, T);
    float Dp = 0;
    for (int d = half * 32; d < half * 32 + 32; d++)
        Dp += dout[(size_t)rr * W + (size_t)h * HD + d] * out[(size_t)rr * W + (size_t)h * HD + d];
    Dp += __shfl_xor_sync(0xffffffffu, Dp, 1);
    if (r < T && half == 0) Dbuf[(size_t)r * heads + h] = Dp;
    float L = lse[(size_t)rr * heads + h];
    frag_c acc[4];
    for (int nb = 0; nb < 4; nb++) wmma::fill_fragment(acc[nb], 0.0f);
    int last = min(r0 + R, T) - 1, first = r0 - pos[r0];
    if (window >= 0) first = max(first, r0 - window);
    for (int kb = first; kb <= last; kb += R) {
        __syncthreads();
        stage(Ks, k + (size_t)h * HD, ld, kb, T);
        stage(Vs, v + (size_t)h * HD, ld, kb, T);
        if (threadIdx.x < R) {
            int tt = kb + (int)threadIdx.x;
            Ss[threadIdx.x] = tt < T ? tt - pos[tt] : -1;
        }
        __syncthreads();
        mm_abt(Sf + 16 * warp * LDF, Qs + 16 * warp * LDB, Ks);
        mm_abt(dPf + 16 * warp * LDF, Gs + 16 * warp * LDB, Vs);
        __syncwarp();
        const float *srow = Sf + lr * LDF + half * 32, *dprow = dPf + lr * LDF + half * 32;
        __nv_bfloat16 *prow = Pb + lr * LDB + half * 32;
        for (int j = 0; j < 32; j++) {
            int key = kb + half * 32 + j;
            float ds = 0;
            if (r < T && key < T && vis(r, sr, key, Ss[half * 32 + j], window)) {
                float p = expf(scale * srow[j] - L);
                ds = scale * p * (dprow[j] - Dp);
            }
            prow[j] = __float2bfloat16(ds);
        }
        __syncwarp();
        mm_ab_acc(acc, Pb + 16 * warp * LDB, Ks);
    }
    __syncwarp();
    float *Ow = Sf + 16 * warp * LDF;
    for (int nb = 0; nb < 4; nb++) wmma::store_matrix_sync(Ow + nb * 16, acc[nb], LDF, wmma::mem_row_major);
    __syncwarp();
    if (r >= T) return;
    const float *orow = Sf + lr * LDF + half * 32;
    float *o = dq + (size_t)r * ld + (size_t)h * HD + half * 32;
    for (int d = 0; d < 32; d++) o[d] += orow[d];
}

__global__ void __launch_bounds__(NTH) k_tc_dkv(float *dk, float *dv, const float *Dbuf,
                                                const float *dout, const float *q, const float *k,
                                                const float *v, int ld, const float *lse,
                                                const int32_t *pos, const int32_t *offsets,
                                                int n_seqs, int T, int heads, int window,
                                                float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *Ks = (__nv_bfloat16 *)smem, *Vs = Ks + SMB, *Qs = Vs + SMB, *Gs = Qs + SMB;
    __nv_bfloat16 *Pb = Gs + SMB, *Db = Pb + SMB;
    float *Sf = (float *)(Db + SMB), *dPf = Sf + SMF, *Ls = dPf + SMF, *DDs = Ls + R;
    int *Ss = (int *)(DDs + R);
    int h = blockIdx.y, c0 = blockIdx.x * R, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int lc = 16 * warp + (lane >> 1), half = lane & 1, c = c0 + lc, cc = min(c, T - 1);
    int sc = cc - pos[cc], W = heads * HD;
    stage(Ks, k + (size_t)h * HD, ld, c0, T);
    stage(Vs, v + (size_t)h * HD, ld, c0, T);
    frag_c ak[4], av[4];
    for (int nb = 0; nb < 4; nb++) {
        wmma::fill_fragment(ak[nb], 0.0f);
        wmma::fill_fragment(av[nb], 0.0f);
    }
    int lastc = min(c0 + R, T) - 1, lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= lastc) lo = mid;
        else hi = mid - 1;
    }
    int qlast = offsets[lo + 1] - 1;
    if (window >= 0) qlast = min(qlast, lastc + window);
    for (int ib = c0; ib <= qlast; ib += R) {
        __syncthreads();
        stage(Qs, q + (size_t)h * HD, ld, ib, T);
        stage(Gs, dout + (size_t)h * HD, W, ib, T);
        if (threadIdx.x < R) {
            int i = ib + threadIdx.x;
            Ss[threadIdx.x] = i < T ? i - pos[i] : -1;
            Ls[threadIdx.x] = i < T ? lse[(size_t)i * heads + h] : 0.0f;
            DDs[threadIdx.x] = i < T ? Dbuf[(size_t)i * heads + h] : 0.0f;
        }
        __syncthreads();
        mm_abt(Sf + 16 * warp * LDF, Ks + 16 * warp * LDB, Qs);  /* S^T: keys x queries */
        mm_abt(dPf + 16 * warp * LDF, Vs + 16 * warp * LDB, Gs); /* dP^T */
        __syncwarp();
        const float *srow = Sf + lc * LDF + half * 32, *dprow = dPf + lc * LDF + half * 32;
        __nv_bfloat16 *prow = Pb + lc * LDB + half * 32, *drow = Db + lc * LDB + half * 32;
        for (int j = 0; j < 32; j++) {
            int i = half * 32 + j, qi = ib + i;
            float p = 0, ds = 0;
            if (c < T && qi < T && vis(qi, Ss[i], c, sc, window)) {
                p = expf(scale * srow[j] - Ls[i]);
                ds = scale * p * (dprow[j] - DDs[i]);
            }
            prow[j] = __float2bfloat16(p);
            drow[j] = __float2bfloat16(ds);
        }
        __syncwarp();
        mm_ab_acc(av, Pb + 16 * warp * LDB, Gs); /* dV += P^T dO */
        mm_ab_acc(ak, Db + 16 * warp * LDB, Qs); /* dK += dS^T Q */
    }
    __syncwarp();
    float *Ow = Sf + 16 * warp * LDF, *Ow2 = dPf + 16 * warp * LDF;
    for (int nb = 0; nb < 4; nb++) {
        wmma::store_matrix_sync(Ow + nb * 16, ak[nb], LDF, wmma::mem_row_major);
        wmma::store_matrix_sync(Ow2 + nb * 16, av[nb], LDF, wmma::mem_row_major);
    }
    __syncwarp();
    if (c >= T) return;
    const float *krow = Sf + lc * LDF + half * 32, *vrow = dPf + lc * LDF + half * 32;
    size_t off = (size_t)c * ld + (size_t)h * HD + half * 32;
    for (int d = 0; d < 32; d++) {
        dk[off + d] += krow[d];
        dv[off + d] += vrow[d];
    }
}

static const size_t SH_FWD = 4 * SMB * 2 + SMF * 4 + R * 4;
static const size_t SH_DQ = 5 * SMB * 2 + 2 * SMF * 4 + R * 4;
static const size_t SH_DKV = 6 * SMB * 2 + 2 * SMF * 4 + 3 * R * 4;

static void set_attrs(void) { /* per device: per instance */
    if (!hn_cuda_first_time((const void *)k_tc_fwd)) return;
    HN_CK(cudaFuncSetAttribute(k_tc_fwd, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SH_FWD));
    HN_CK(cudaFuncSetAttribute(k_tc_dq, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SH_DQ));
    HN_CK(cudaFuncSetAttribute(k_tc_dkv, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SH_DKV));
}

int hn_tc_supported(int head_dim) { return head_dim == HD; }

void hn_tc_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                   const hn_seqs *seqs, int heads, int window, float scale) {
    set_attrs();
    int T = seqs->total;
    dim3 grid((T + R - 1) / R, heads);
    k_tc_fwd<<<grid, NTH, SH_FWD, HN_STREAM>>>(out, lse, q, k, v, ld, seqs->pos_dev, T, heads, window, scale);
    HN_LAUNCHED("attention_forward tc");
}

void hn_tc_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                    const float *k, const float *v, int ld, const float *out, const float *lse,
                    const hn_seqs *seqs, int heads, int window, float scale, float *Dbuf) {
    set_attrs();
    int T = seqs->total;
    dim3 grid((T + R - 1) / R, heads);
    k_tc_dq<<<grid, NTH, SH_DQ, HN_STREAM>>>(dq, Dbuf, dout, q, k, v, ld, out, lse, seqs->pos_dev, T, heads,
                                  window, scale);
    HN_LAUNCHED("attention_backward dq tc");
    k_tc_dkv<<<grid, NTH, SH_DKV, HN_STREAM>>>(dk, dv, Dbuf, dout, q, k, v, ld, lse, seqs->pos_dev,
                                    seqs->offsets_dev, seqs->n, T, heads, window, scale);
    HN_LAUNCHED("attention_backward dkv tc");
}
