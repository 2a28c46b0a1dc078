/* The chunked SSD (ops_ssm.h) on bf16 tensor cores for headdim 64 and d_state 64: the
 * chunked algorithm of ssd_chunked.cu recast in the flash-attention mould of
 * attention_mma.cu. Each chunk is cut into tiles of 64 rows; a block of four warps owns
 * one 64-row tile, each warp 16 rows, and every product is mma.sync m16n8k16 on tiles
 * staged in shared memory (fp32 or bf16 inputs rounded to bf16 on the way in, fp32 accumulators,
 * nothing quadratic in the chunk written to global memory):
 *
 *   prep      dt = softplus(dt_raw + bias), cs = running sum of dt A within the chunk
 *   state     per (chunk, head): Z = U^T diag(w) V        (forward: x, B; backward: dy, C)
 *   scan      the state carried over chunks (ssd_chunked.cu's k_ssdc_scan)
 *   out       per (tile, head): y_i = D x_i + e^cs_i C_i S0^T
 *                                    + sum_{j <= i} (C_i . B_j) e^(cs_i - cs_j) dt_j x_j
 *   bwd_key   per (tile j, group), heads in turn: u_j, dx_j, d dt_j (direct), dB_j
 *   bwd_query per (tile i, group), heads in turn: dC_i
 *   post      per (chunk, head): d cs -> reverse running sum -> d dt_raw, dA_log, dt_bias
 *
 * The gradient of the decays needs no Q x Q matrix: the derivative of the loss by cs_i
 * is C_i . dC_i - B_i . dB_i (this head's shares), plus, for the chunk's last row, the
 * state-passing terms e^cs_last <dS_end, S0> + sum_j B_j . dB_j(state term). dB and dC
 * are summed over the heads of a group in registers, so the per-head shares are read
 * off as differences of the running dot products (fp32; the sums are short).
 * dt_raw, y and d dt_raw are typed views (float32 or bf16, cuda_view.cuh): the mamba2
 * layer keeps dt_raw and y in bf16 and its in-projection reads d dt_raw in bf16.
 * Deterministic: no atomics; every sum has a fixed order. */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"
#include "backend/cuda/mma_bf16.cuh"

typedef __nv_bfloat16 bf16;

#define D64 64              /* headdim = d_state */
#define LDS 72              /* bf16 row stride of a staged tile (conflict-free ldmatrix) */
#define TR HN_SSD_TILE_ROWS /* rows per tile */
#define NT 128              /* four warps of 16 rows */
#define TILE (TR * LDS)
#define FULL 0xffffffffu
/* The decays of the tile kernels are 2^(log2e cs_i - log2e cs_j): cs is scaled by log2e
 * where it is loaded, and the exponential is one MUFU.EX2 (hn_ex2) per score */
#define LOG2E 1.4426950408889634f

/* x, B and C come in float32, or in bf16 where the mamba2 layer keeps its conv output in
 * bf16 (the default; HNET_CUDA_XBC=fp32: float32); dy, the states and their gradients
 * are float32. misalign: nonzero where four consecutive elements of every row cannot be one 16-byte (float32)
 * or 8-byte (bf16) load; ld4_each: the four one at a time. */
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
template <class S> __device__ __forceinline__ float4 ld4_each(const S *p) {
    return make_float4(to_f(p[0]), to_f(p[1]), to_f(p[2]), to_f(p[3]));
}

template <class S> __device__ __forceinline__ uintptr_t misalign(const S *p, size_t ld) {
    return ((uintptr_t)p | (ld * sizeof(S))) & (4 * sizeof(S) - 1);
}

/* rows [0, rows) of a 64-column fp32 block (row stride ld) -> bf16 dst[TR][LDS], row r
 * times scale[r] when scale != NULL; rows past `rows` are zero. 16-byte loads where the
 * block is aligned for them (the layers' buffers are), single floats otherwise. Each
 * thread's eight loads are all issued before the first conversion, so eight are in flight
 * instead of one (the tile kernels stalled mostly on these loads: ncu, session 6). */
__device__ __forceinline__ void stage(bf16 *dst, const float *__restrict__ src, size_t ld, int rows,
                                      const float *scale) {
    bool vec = (((uintptr_t)src | (ld * sizeof(float))) & 15) == 0;
    if (vec) {
        constexpr int N = TR * 16 / NT;
        float4 v[N];
#pragma unroll
        for (int k = 0; k < N; k++) {
            int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
            v[k] = r < rows ? __ldg((const float4 *)(src + r * ld + c)) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
#pragma unroll
        for (int k = 0; k < N; k++) {
            int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
            float sc = scale && r < rows ? scale[r] : 1.0f;
            *(uint2 *)(dst + r * LDS + c) = make_uint2(hn_pack_bf16(v[k].x * sc, v[k].y * sc),
                                                       hn_pack_bf16(v[k].z * sc, v[k].w * sc));
        }
        return;
    }
    for (int e = threadIdx.x; e < TR * 16; e += NT) {
        int r = e >> 4, c = (e & 15) * 4;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < rows) {
            const float *p = src + r * ld + c;
            v = vec ? *(const float4 *)p : make_float4(p[0], p[1], p[2], p[3]);
            if (scale) {
                float s = scale[r];
                v.x *= s, v.y *= s, v.z *= s, v.w *= s;
            }
        }
        *(uint2 *)(dst + r * LDS + c) = make_uint2(hn_pack_bf16(v.x, v.y), hn_pack_bf16(v.z, v.w));
    }
}

/* two tiles staged together (all sixteen loads of a thread in flight at once) */
__device__ __forceinline__ void stage2(bf16 *da, const float *__restrict__ sa, size_t lda, int ra,
                                       bf16 *db, const float *__restrict__ sb, size_t ldb, int rb,
                                       const float *scale_b = NULL) {
    constexpr int N = TR * 16 / NT;
    bool vec = (((uintptr_t)sa | (lda * sizeof(float)) | (uintptr_t)sb | (ldb * sizeof(float))) & 15) == 0;
    if (!vec) {
        stage(da, sa, lda, ra, NULL);
        stage(db, sb, ldb, rb, scale_b);
        return;
    }
    float4 va[N], vb[N];
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int k = 0; k < N; k++) {
        int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
        va[k] = r < ra ? __ldg((const float4 *)(sa + r * lda + c)) : zero;
        vb[k] = r < rb ? __ldg((const float4 *)(sb + r * ldb + c)) : zero;
    }
#pragma unroll
    for (int k = 0; k < N; k++) {
        int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
        *(uint2 *)(da + r * LDS + c) = make_uint2(hn_pack_bf16(va[k].x, va[k].y), hn_pack_bf16(va[k].z, va[k].w));
        float sc = scale_b && r < rb ? scale_b[r] : 1.0f;
        *(uint2 *)(db + r * LDS + c) =
            make_uint2(hn_pack_bf16(vb[k].x * sc, vb[k].y * sc), hn_pack_bf16(vb[k].z * sc, vb[k].w * sc));
    }
}

/* The same for a bf16 source (or a bf16 and a float32 one together), written for
 * either; the float32 functions above are kept as they were, so that the default path
 * compiles to the same code. A bf16 source's four elements stay packed (8 bytes) from
 * the load to the store unless scaled. */
__device__ __forceinline__ float4 ld_raw(const float *p) { return __ldg((const float4 *)p); }
__device__ __forceinline__ uint2 ld_raw(const bf16 *p) { return __ldg((const uint2 *)p); }
__device__ __forceinline__ uint2 pack4(float4 v, float sc) {
    return make_uint2(hn_pack_bf16(v.x * sc, v.y * sc), hn_pack_bf16(v.z * sc, v.w * sc));
}
__device__ __forceinline__ uint2 pack4(uint2 u, float sc) {
    if (sc == 1.0f) return u; /* what rounding the widened values again gives */
    float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&u.x), b = __bfloat1622float2(*(const __nv_bfloat162 *)&u.y);
    return pack4(make_float4(a.x, a.y, b.x, b.y), sc);
}

template <class S>
__device__ __forceinline__ void stage(bf16 *dst, const S *__restrict__ src, size_t ld, int rows,
                                      const float *scale) {
    if (misalign(src, ld) == 0) {
        constexpr int N = TR * 16 / NT;
        decltype(ld_raw(src)) v[N];
#pragma unroll
        for (int k = 0; k < N; k++) {
            int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
            v[k] = {};
            if (r < rows) v[k] = ld_raw(src + r * ld + c);
        }
#pragma unroll
        for (int k = 0; k < N; k++) {
            int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
            *(uint2 *)(dst + r * LDS + c) = pack4(v[k], scale && r < rows ? scale[r] : 1.0f);
        }
        return;
    }
    for (int e = threadIdx.x; e < TR * 16; e += NT) {
        int r = e >> 4, c = (e & 15) * 4;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < rows) v = ld4_each(src + r * ld + c);
        *(uint2 *)(dst + r * LDS + c) = pack4(v, scale && r < rows ? scale[r] : 1.0f);
    }
}

template <class SA, class SB>
__device__ __forceinline__ void stage2(bf16 *da, const SA *__restrict__ sa, size_t lda, int ra,
                                       bf16 *db, const SB *__restrict__ sb, size_t ldb, int rb,
                                       const float *scale_b = NULL) {
    constexpr int N = TR * 16 / NT;
    if ((misalign(sa, lda) | misalign(sb, ldb)) != 0) {
        stage(da, sa, lda, ra, NULL);
        stage(db, sb, ldb, rb, scale_b);
        return;
    }
    decltype(ld_raw(sa)) va[N];
    decltype(ld_raw(sb)) vb[N];
#pragma unroll
    for (int k = 0; k < N; k++) {
        int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
        va[k] = {};
        vb[k] = {};
        if (r < ra) va[k] = ld_raw(sa + r * lda + c);
        if (r < rb) vb[k] = ld_raw(sb + r * ldb + c);
    }
#pragma unroll
    for (int k = 0; k < N; k++) {
        int e = threadIdx.x + k * NT, r = e >> 4, c = (e & 15) * 4;
        *(uint2 *)(da + r * LDS + c) = pack4(va[k], 1.0f);
        *(uint2 *)(db + r * LDS + c) = pack4(vb[k], scale_b && r < rb ? scale_b[r] : 1.0f);
    }
}

/* acc = A . B for this warp's 16 rows (m0) of A, 64 columns, k = 64. A is stored [m][k]
 * or, when A_KM, [k][m]; B is stored [n][k] (B_NK) or [k][n]. */
template <bool A_KM, bool B_NK>
__device__ __forceinline__ void mma64(float acc[8][4], const bf16 *A, int m0, const bf16 *B) {
    int lane = threadIdx.x & 31, i = lane >> 3;
#pragma unroll
    for (int n = 0; n < 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < 4; ks++) {
        uint32_t a[4];
        if (A_KM) hn_ldsm_x4_t(a, A + (ks * 16 + (lane & 7) + (i >> 1) * 8) * LDS + m0 + (i & 1) * 8);
        else hn_load_a(a, A, LDS, m0, ks * 16);
#pragma unroll
        for (int np = 0; np < 4; np++) {
            uint32_t b[4];
            if (B_NK) hn_load_b_nk(b, B, LDS, np * 16, ks * 16);
            else hn_load_b_kn(b, B, LDS, np * 16, ks * 16);
            hn_mma16816(acc[2 * np], a, b[0], b[1]);
            hn_mma16816(acc[2 * np + 1], a, b[2], b[3]);
        }
    }
}

/* acc += P . B where P (16 x 64) is in C-fragment registers and B is stored [k][n] */
__device__ __forceinline__ void mma64_regs(float acc[8][4], const float p[8][4], const bf16 *B) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[4] = {hn_pack_bf16(p[2 * kk][0], p[2 * kk][1]), hn_pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                         hn_pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                         hn_pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int np = 0; np < 4; np++) {
            uint32_t b[4];
            hn_load_b_kn(b, B, LDS, np * 16, kk * 16);
            hn_mma16816(acc[2 * np], a, b[0], b[1]);
            hn_mma16816(acc[2 * np + 1], a, b[2], b[3]);
        }
    }
}

/* the dot product of each of this thread's two rows (h = 0: row g, 1: row g + 8 of the
 * warp's 16) of acc with the same rows of a staged tile, summed over the quad so that
 * all four lanes of a row hold it */
__device__ __forceinline__ void row_dots(float out[2], const float acc[8][4], const bf16 *tile, int m0) {
    int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const bf16 *row = tile + (m0 + g + 8 * h) * LDS + 2 * c;
        float s = 0.0f;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            float2 v = __bfloat1622float2(*(const __nv_bfloat162 *)(row + n * 8));
            s += acc[n][2 * h] * v.x + acc[n][2 * h + 1] * v.y;
        }
        s += __shfl_xor_sync(FULL, s, 1);
        s += __shfl_xor_sync(FULL, s, 2);
        out[h] = s;
    }
}

/* dst[r][0..64) += this warp's rows of acc (C fragments), rows r < rows of the tile;
 * written (=) instead where add_to is 0 */
__device__ __forceinline__ void add_rows(float *dst, int ld, const float acc[8][4], int rows, int add_to) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, c = lane & 3;
#pragma unroll
    for (int e2 = 0; e2 < 2; e2++) {
        int r = warp * 16 + (lane >> 2) + 8 * e2;
        if (r >= rows) continue;
        float *d = dst + (size_t)r * ld + 2 * c;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            d[n * 8] = acc[n][2 * e2] + (add_to ? d[n * 8] : 0.0f);
            d[n * 8 + 1] = acc[n][2 * e2 + 1] + (add_to ? d[n * 8 + 1] : 0.0f);
        }
    }
}
/* the same into bf16 (the default dxbc; HNET_CUDA_XBC=fp32 keeps it float32): always
 * written (a bf16 gradient view is written over, ops_ssm.h), one element a store (any
 * row stride) */
__device__ __forceinline__ void add_rows(bf16 *dst, int ld, const float acc[8][4], int rows, int add_to) {
    (void)add_to;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, c = lane & 3;
#pragma unroll
    for (int e2 = 0; e2 < 2; e2++) {
        int r = warp * 16 + (lane >> 2) + 8 * e2;
        if (r >= rows) continue;
        bf16 *d = dst + (size_t)r * ld + 2 * c;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            d[n * 8] = __float2bfloat16(acc[n][2 * e2]);
            d[n * 8 + 1] = __float2bfloat16(acc[n][2 * e2 + 1]);
        }
    }
}

/* rows of a tile record (cuda_ops.cuh, hn_ssd_plan.tiles) */
struct tile_rec {
    int t0, rows, chunk, k, nk;
};
__device__ __forceinline__ tile_rec tile_at(const int32_t *tiles, int i) {
    int4 v = ((const int4 *)tiles)[i];
    return tile_rec{v.x, v.y, v.z, v.w & 0xffff, v.w >> 16};
}

/* ---------------------------------------------------------------- prep */
/* one warp per (chunk, head): dt and the running sum of dt A, head-major [H][T] */
__global__ void __launch_bounds__(32) k_ssd_prep(float *dtv, float *csv, view dt_raw,
                                                 const float *dt_bias, const float *A_log,
                                                 const int32_t *tab, int T) {
    int ci = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    int c0 = tab[2 * ci], q = tab[2 * ci + 1];
    float A = -expf(A_log[h]), bias = dt_bias[h], carry = 0.0f;
    size_t base = (size_t)h * T + c0;
    for (int r0 = 0; r0 < q; r0 += 32) {
        int r = r0 + lane;
        float dt = r < q ? hn_softplusf(vget(dt_raw, c0 + r, h) + bias) : 0.0f;
        float v = dt * A;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            float n = __shfl_up_sync(FULL, v, o);
            if (lane >= o) v += n;
        }
        v += carry;
        if (r < q) {
            dtv[base + r] = dt;
            csv[base + r] = v;
        }
        carry = __shfl_sync(FULL, v, 31);
    }
}

/* ---------------------------------------------------------------- state */
/* per (chunk, head): z[c, h] ([p][n]) = U^T diag(w) V over the chunk's rows and el[c, h] =
 * e^cs_last. Forward: U = x, V = B, w_j = e^(cs_last - cs_j) dt_j (the chunk's own share
 * of the state it passes on). Backward: U = dy, V = C, w_i = e^cs_i (its share of the
 * gradient of the state entering it). */
template <class UT, class VT>
__global__ void __launch_bounds__(NT) k_ssd_state(float *z, float *el, const UT *U, int ld_u,
                                                  const VT *V, int ld_v, const float *dtv,
                                                  const float *csv, const int32_t *tab, int T, int H,
                                                  int HG, int backward) {
    __shared__ __align__(16) bf16 Us[TILE], Vs[TILE];
    __shared__ float w[TR];
    int ci = blockIdx.x, h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int c0 = tab[2 * ci], q = tab[2 * ci + 1];
    const float *cs = csv + (size_t)h * T + c0, *dt = dtv + (size_t)h * T + c0;
    float last = cs[q - 1];
    const UT *Uh = U + (size_t)c0 * ld_u + h * D64;
    const VT *Vg = V + (size_t)c0 * ld_v + (h / HG) * D64;
    float acc[8][4] = {};
    for (int r0 = 0; r0 < q; r0 += TR) {
        int rows = min(TR, q - r0);
        for (int r = threadIdx.x; r < TR; r += NT)
            w[r] = r < rows ? (backward ? expf(cs[r0 + r]) : expf(last - cs[r0 + r]) * dt[r0 + r]) : 0.0f;
        __syncthreads();
        stage2(Us, Uh + (size_t)r0 * ld_u, ld_u, rows, Vs, Vg + (size_t)r0 * ld_v, ld_v, rows, w);
        __syncthreads();
        float part[8][4];
        mma64<true, false>(part, Us, warp * 16, Vs);
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[n][e] += part[n][e];
        __syncthreads();
    }
    float *zo = z + ((size_t)ci * H + h) * D64 * D64;
    int p = warp * 16 + (lane >> 2), col = 2 * (lane & 3);
#pragma unroll
    for (int n = 0; n < 8; n++) {
        *(float2 *)(zo + p * D64 + n * 8 + col) = make_float2(acc[n][0], acc[n][1]);
        *(float2 *)(zo + (p + 8) * D64 + n * 8 + col) = make_float2(acc[n][2], acc[n][3]);
    }
    if (threadIdx.x == 0) el[(size_t)ci * H + h] = expf(last);
}

/* log2e cs and dt of a key tile's rows into shared memory (zero past `rows`) */
__device__ __forceinline__ void load_decays(float *csj, float *dtj, const float *cs, const float *dt,
                                            int rows) {
    for (int r = threadIdx.x; r < TR; r += NT) {
        csj[r] = r < rows ? cs[r] * LOG2E : 0.0f;
        dtj[r] = r < rows ? dt[r] : 0.0f;
    }
}

/* s[row i][col j] *= e^(cs_i - cs_j) dt_j where query row i (this thread's rows) sees key
 * column j of the staged tile (all of them when the key tile lies before the query
 * tile), else 0. csi and csj are log2e-scaled. A warp whose rows all see the whole
 * (earlier, full) key tile skips the visibility test. */
__device__ __forceinline__ void query_decay(float s[8][4], const float csi[2], const float *csj,
                                            const float *dtj, int jrows, int irows, bool earlier) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, c = lane & 3;
    bool all = earlier && jrows == TR && warp * 16 + 16 <= irows;
#pragma unroll
    for (int n = 0; n < 8; n++) {
        int j0 = n * 8 + 2 * c;
        float2 cj = *(const float2 *)(csj + j0), dj = *(const float2 *)(dtj + j0);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float d = hn_ex2(csi[e >> 1] - ((e & 1) ? cj.y : cj.x)) * ((e & 1) ? dj.y : dj.x);
            if (!all) {
                int j = j0 + (e & 1), r = warp * 16 + (lane >> 2) + 8 * (e >> 1);
                if (!(j < jrows && r < irows && (earlier || j <= r))) d = 0.0f;
            }
            s[n][e] *= d;
        }
    }
}

/* ---------------------------------------------------------------- forward output */
/* y is written in float32, or in bf16 to y16 when that is not NULL */
template <class XT>
__global__ void __launch_bounds__(NT) k_ssd_out(float *y, bf16 *y16, const float *states, const XT *x,
                                                const XT *Bm, const XT *Cm, int ld,
                                                const float *dtv, const float *csv, const float *Dv,
                                                const int32_t *tiles, int T, int H, int HG) {
    __shared__ __align__(16) bf16 Cs[TILE], Ss[TILE], Bs[TILE], Xs[TILE];
    __shared__ __align__(8) float csj[TR], dtj[TR];
    tile_rec t = tile_at(tiles, blockIdx.x);
    int h = blockIdx.y, grp = h / HG, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, c0 = t.t0 - t.k * TR;
    const float *cs = csv + (size_t)h * T, *dt = dtv + (size_t)h * T;
    int r_of[2] = {warp * 16 + g, warp * 16 + g + 8};
    float csi[2];
#pragma unroll
    for (int e = 0; e < 2; e++) csi[e] = r_of[e] < t.rows ? cs[t.t0 + r_of[e]] * LOG2E : 0.0f;
    stage2(Cs, Cm + (size_t)t.t0 * ld + grp * D64, ld, t.rows, Ss,
                  states + ((size_t)t.chunk * H + h) * D64 * D64, D64, D64);
    __syncthreads();
    float acc[8][4];
    mma64<false, true>(acc, Cs, warp * 16, Ss); /* C_i . S0^T */
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[n][e] *= r_of[e >> 1] < t.rows ? hn_ex2(csi[e >> 1]) : 0.0f;
    for (int jt = 0; jt <= t.k; jt++) {
        int j0 = c0 + jt * TR, jrows = jt < t.k ? TR : t.rows;
        __syncthreads();
        load_decays(csj, dtj, cs + j0, dt + j0, jrows);
        stage2(Bs, Bm + (size_t)j0 * ld + grp * D64, ld, jrows, Xs, x + (size_t)j0 * ld + h * D64, ld,
                      jrows);
        __syncthreads();
        float s[8][4];
        mma64<false, true>(s, Cs, warp * 16, Bs); /* C_i . B_j */
        query_decay(s, csi, csj, dtj, jrows, t.rows, jt < t.k);
        mma64_regs(acc, s, Xs);
    }
    float Dh = Dv[h];
    int HP = H * D64;
#pragma unroll
    for (int e2 = 0; e2 < 2; e2++) {
        int r = r_of[e2];
        if (r >= t.rows) continue;
        const XT *xr = x + (size_t)(t.t0 + r) * ld + h * D64;
        size_t y0 = (size_t)(t.t0 + r) * HP + h * D64;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            int p = n * 8 + 2 * c;
            float v0 = acc[n][2 * e2] + Dh * to_f(xr[p]), v1 = acc[n][2 * e2 + 1] + Dh * to_f(xr[p + 1]);
            if (y16) {
                *(__nv_bfloat162 *)(y16 + y0 + p) = __floats2bfloat162_rn(v0, v1);
            } else {
                y[y0 + p] = v0;
                y[y0 + p + 1] = v1;
            }
        }
    }
}

/* ---------------------------------------------------------------- backward, key side */
/* s[row j][col i] *= e^(cs_i - cs_j) w_j where key row j (this thread's rows) sees query
 * column i of the staged tile (all of them when the tile lies past the key tile), else 0.
 * Unscaled cs and expf here: this kernel is at its register limit, and the log2e-scaled
 * form of query_decay made the compiler spill (32 -> 208 bytes). */
__device__ __forceinline__ void key_decay(float s[8][4], const float *csi, const float csj[2],
                                          const float w[2], int irows, int jrows, bool later) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, c = lane & 3;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int i = n * 8 + 2 * c + (e & 1), r = warp * 16 + (lane >> 2) + 8 * (e >> 1);
            bool vis = i < irows && r < jrows && (later || i >= r);
            s[n][e] *= vis ? expf(csi[i] - csj[e >> 1]) * w[e >> 1] : 0.0f;
        }
}

/* Per key tile j and group, the group's heads in turn:
 *   u_j   = sum_{i >= j} (C_i . B_j) e^(cs_i - cs_j) dy_i + e^(cs_last - cs_j) dS B_j
 *   dx_j += D dy_j + dt_j u_j,    d dt_j (direct) = x_j . u_j
 *   dB_j += sum_{i >= j} (dy_i . x_j) e^(cs_i - cs_j) dt_j C_i + e^(cs_last - cs_j) dt_j dS^T x_j
 * where dS is the gradient of the state leaving the chunk. Per head and row it also
 * leaves the decay gradient's key-side share -B_j . dB_j (dcs) and the state term's
 * share B_j . dB_j(state) (sst, summed onto the chunk's last row by k_ssd_post), and
 * per (tile, head) sum dy . x (dDp). ADD: float32 dx, dB added to, else written. */
template <int MINB, class XT, class DT, bool ADD>
__global__ void __launch_bounds__(NT, MINB) k_ssd_bwd_key(DT *dx, DT *dB, int ldd, float *ddt_dir,
                                                    float *dcs, float *sst, float *dDp,
                                                    const float *dy, const XT *x, const XT *Bm,
                                                    const XT *Cm, int ld, const float *dtv,
                                                    const float *csv, const float *Dv,
                                                    const float *dstates, const int32_t *tab,
                                                    const int32_t *tiles, int T, int H, int HG) {
    constexpr int add_to = ADD;
    __shared__ __align__(16) bf16 Bs[TILE], Xs[TILE], Ss[TILE], Cs[TILE], Ys[TILE];
    __shared__ float csi_s[TR], red[NT / 32];
    tile_rec t = tile_at(tiles, blockIdx.x);
    int grp = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, c0 = t.t0 - t.k * TR, q = tab[2 * t.chunk + 1], HP = H * D64;
    int r_of[2] = {warp * 16 + g, warp * 16 + g + 8};
    stage(Bs, Bm + (size_t)t.t0 * ld + grp * D64, ld, t.rows, NULL);
    float dBacc[8][4] = {};
    for (int hh = 0; hh < HG; hh++) {
        int h = grp * HG + hh;
        const float *cs = csv + (size_t)h * T, *dt = dtv + (size_t)h * T;
        float last = cs[c0 + q - 1], csj[2], dtj[2], wl[2], dt1[2] = {1.0f, 1.0f};
#pragma unroll
        for (int e = 0; e < 2; e++) {
            bool ok = r_of[e] < t.rows;
            csj[e] = ok ? cs[t.t0 + r_of[e]] : 0.0f;
            dtj[e] = ok ? dt[t.t0 + r_of[e]] : 0.0f;
            wl[e] = ok ? expf(last - csj[e]) : 0.0f;
        }
        __syncthreads();
        stage2(Xs, x + (size_t)t.t0 * ld + h * D64, ld, t.rows, Ss,
                      dstates + ((size_t)t.chunk * H + h) * D64 * D64, D64, D64);
        __syncthreads();
        float dot0[2], dot1[2], dot2[2];
        row_dots(dot0, dBacc, Bs, warp * 16);
        /* the state-passing terms */
        float u[8][4], s[8][4];
        mma64<false, true>(u, Bs, warp * 16, Ss); /* B_j . dS^T */
        mma64<false, false>(s, Xs, warp * 16, Ss); /* x_j . dS */
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                u[n][e] *= wl[e >> 1];
                dBacc[n][e] += s[n][e] * wl[e >> 1] * dtj[e >> 1];
            }
        row_dots(dot1, dBacc, Bs, warp * 16);
        /* the chunk's later rows */
        for (int it = t.k; it < t.nk; it++) {
            int i0 = c0 + it * TR, irows = min(TR, q - it * TR);
            __syncthreads();
            for (int r = threadIdx.x; r < TR; r += NT) csi_s[r] = r < irows ? cs[i0 + r] : 0.0f;
            stage2(Cs, Cm + (size_t)i0 * ld + grp * D64, ld, irows, Ys, dy + (size_t)i0 * HP + h * D64,
                          HP, irows);
            __syncthreads();
            /* both products are weighted by e^(cs_i - cs_j) where row j sees column i
             * (else 0); recomputed for each rather than held (registers are the limit) */
            mma64<false, true>(s, Bs, warp * 16, Cs); /* B_j . C_i */
            key_decay(s, csi_s, csj, dt1, irows, t.rows, it > t.k);
            mma64_regs(u, s, Ys);
            mma64<false, true>(s, Xs, warp * 16, Ys); /* x_j . dy_i */
            key_decay(s, csi_s, csj, dtj, irows, t.rows, it > t.k);
            mma64_regs(dBacc, s, Cs);
        }
        row_dots(dot2, dBacc, Bs, warp * 16);
        /* this head's outputs for the tile's rows */
        float Dh = Dv[h], dd = 0.0f;
#pragma unroll
        for (int e2 = 0; e2 < 2; e2++) {
            int r = r_of[e2];
            bool ok = r < t.rows;
            float xu = 0.0f;
            if (ok) {
                size_t row = (size_t)(t.t0 + r);
                const XT *xr = x + row * ld + h * D64;
                const float *yr = dy + row * HP + h * D64;
                DT *dxr = dx + row * ldd + h * D64;
#pragma unroll
                for (int n = 0; n < 8; n++) {
                    int p = n * 8 + 2 * c;
                    float x0 = to_f(xr[p]), x1 = to_f(xr[p + 1]), g0 = yr[p], g1 = yr[p + 1];
                    if constexpr (sizeof(DT) == sizeof(float)) {
                        dxr[p] = Dh * g0 + dtj[e2] * u[n][2 * e2] + (add_to ? dxr[p] : 0.0f);
                        dxr[p + 1] = Dh * g1 + dtj[e2] * u[n][2 * e2 + 1] + (add_to ? dxr[p + 1] : 0.0f);
                    } else { /* bf16: written */
                        dxr[p] = __float2bfloat16(Dh * g0 + dtj[e2] * u[n][2 * e2]);
                        dxr[p + 1] = __float2bfloat16(Dh * g1 + dtj[e2] * u[n][2 * e2 + 1]);
                    }
                    xu += x0 * u[n][2 * e2] + x1 * u[n][2 * e2 + 1];
                    dd += g0 * x0 + g1 * x1;
                }
            }
            xu += __shfl_xor_sync(FULL, xu, 1);
            xu += __shfl_xor_sync(FULL, xu, 2);
            if (ok && c == 0) {
                size_t at = (size_t)h * T + t.t0 + r;
                ddt_dir[at] = xu;
                dcs[at] = -(dot2[e2] - dot0[e2]);
                sst[at] = dot1[e2] - dot0[e2];
            }
        }
        dd = hn_warp_sum(dd);
        if (lane == 0) red[warp] = dd;
        __syncthreads();
        if (threadIdx.x == 0) {
            float sum = 0.0f;
            for (int w = 0; w < NT / 32; w++) sum += red[w];
            dDp[(size_t)blockIdx.x * H + h] = sum;
        }
    }
    add_rows(dB + (size_t)t.t0 * ldd + grp * D64, ldd, dBacc, t.rows, add_to);
}

/* ---------------------------------------------------------------- backward, query side */
/* Per query tile i and group, the group's heads in turn:
 *   dC_i += e^cs_i S0^T dy_i + sum_{j <= i} (dy_i . x_j) e^(cs_i - cs_j) dt_j B_j
 * and the decay gradient's query-side share C_i . dC_i (added onto dcs). ADD: as the key
 * side's. */
template <int MINB, class XT, class DT, bool ADD>
__global__ void __launch_bounds__(NT, MINB) k_ssd_bwd_query(DT *dC, int ldd, float *dcs, const float *dy,
                                                      const XT *x, const XT *Bm, const XT *Cm,
                                                      int ld, const float *dtv, const float *csv,
                                                      const float *states, const int32_t *tiles, int T,
                                                      int H, int HG) {
    constexpr int add_to = ADD;
    __shared__ __align__(16) bf16 Cs[TILE], Ys[TILE], Ss[TILE], Xs[TILE], Bs[TILE];
    __shared__ __align__(8) float csj[TR], dtj[TR];
    tile_rec t = tile_at(tiles, blockIdx.x);
    int grp = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, c0 = t.t0 - t.k * TR, HP = H * D64;
    int r_of[2] = {warp * 16 + g, warp * 16 + g + 8};
    stage(Cs, Cm + (size_t)t.t0 * ld + grp * D64, ld, t.rows, NULL);
    float dCacc[8][4] = {};
    for (int hh = 0; hh < HG; hh++) {
        int h = grp * HG + hh;
        const float *cs = csv + (size_t)h * T, *dt = dtv + (size_t)h * T;
        float csi[2];
#pragma unroll
        for (int e = 0; e < 2; e++) csi[e] = r_of[e] < t.rows ? cs[t.t0 + r_of[e]] * LOG2E : 0.0f;
        __syncthreads();
        stage2(Ys, dy + (size_t)t.t0 * HP + h * D64, HP, t.rows, Ss,
                      states + ((size_t)t.chunk * H + h) * D64 * D64, D64, D64);
        __syncthreads();
        float dot0[2], dot1[2], s[8][4];
        row_dots(dot0, dCacc, Cs, warp * 16);
        mma64<false, false>(s, Ys, warp * 16, Ss); /* dy_i . S0 */
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                dCacc[n][e] += r_of[e >> 1] < t.rows ? s[n][e] * hn_ex2(csi[e >> 1]) : 0.0f;
        for (int jt = 0; jt <= t.k; jt++) {
            int j0 = c0 + jt * TR, jrows = jt < t.k ? TR : t.rows;
            __syncthreads();
            load_decays(csj, dtj, cs + j0, dt + j0, jrows);
            stage2(Xs, x + (size_t)j0 * ld + h * D64, ld, jrows, Bs, Bm + (size_t)j0 * ld + grp * D64,
                          ld, jrows);
            __syncthreads();
            mma64<false, true>(s, Ys, warp * 16, Xs); /* dy_i . x_j */
            query_decay(s, csi, csj, dtj, jrows, t.rows, jt < t.k);
            mma64_regs(dCacc, s, Bs);
        }
        row_dots(dot1, dCacc, Cs, warp * 16);
#pragma unroll
        for (int e2 = 0; e2 < 2; e2++)
            if (r_of[e2] < t.rows && c == 0) dcs[(size_t)h * T + t.t0 + r_of[e2]] += dot1[e2] - dot0[e2];
    }
    add_rows(dC + (size_t)t.t0 * ldd + grp * D64, ldd, dCacc, t.rows, add_to);
}

/* ---------------------------------------------------------------- backward, decays */
/* one warp per (chunk, head): d cs_i (both sides, plus the state-passing terms on the
 * last row) -> its reverse running sum d a_k (a = dt A) -> d dt_k = direct + d a_k A ->
 * d dt_raw through the softplus; per-(chunk, head) partial sums of d dt_bias and dA_log
 * into scal[c, h, 0..1]. */
__global__ void __launch_bounds__(32) k_ssd_post(view ddt_raw, float *scal,
                                                 const float *ddt_dir, const float *dcs,
                                                 const float *sst, const float *dtv, const float *csv,
                                                 view dt_raw, const float *dt_bias,
                                                 const float *A_log, const float *states,
                                                 const float *dstates, const int32_t *tab, int T, int H) {
    int ci = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    int c0 = tab[2 * ci], q = tab[2 * ci + 1];
    size_t base = (size_t)h * T + c0, PN = (size_t)D64 * D64;
    const float *S0 = states + ((size_t)ci * H + h) * PN, *dS = dstates + ((size_t)ci * H + h) * PN;
    float dot = 0.0f, ssum = 0.0f;
    for (size_t e = lane; e < PN; e += 32) dot += dS[e] * S0[e];
    for (int r = lane; r < q; r += 32) ssum += sst[base + r];
    dot = hn_warp_sum(dot);
    ssum = hn_warp_sum(ssum);
    float A = -expf(A_log[h]), bias = dt_bias[h];
    float extra = expf(csv[base + q - 1]) * dot + ssum, carry = 0.0f, acc_A = 0.0f, acc_b = 0.0f;
    for (int r0 = (q - 1) / 32 * 32; r0 >= 0; r0 -= 32) {
        int r = r0 + lane;
        float v = r < q ? dcs[base + r] + (r == q - 1 ? extra : 0.0f) : 0.0f;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) { /* suffix sums within the 32 rows */
            float n = __shfl_down_sync(FULL, v, o);
            if (lane + o < 32) v += n;
        }
        v += carry;
        if (r < q) {
            float ddt = ddt_dir[base + r] + v * A;
            acc_A += v * dtv[base + r];
            float gr = ddt * hn_sigmoidf(vget(dt_raw, c0 + r, h) + bias);
            vgrad(ddt_raw, c0 + r, h, gr);
            acc_b += gr;
        }
        carry = __shfl_sync(FULL, v, 0);
    }
    acc_A = hn_warp_sum(acc_A);
    acc_b = hn_warp_sum(acc_b);
    if (lane == 0) {
        scal[((size_t)ci * H + h) * 2] = acc_b;
        scal[((size_t)ci * H + h) * 2 + 1] = acc_A * A;
    }
}

/* per head, in a fixed order: d dt_bias and dA_log over chunks, dD over tiles */
__global__ void k_ssd_scalars(float *ddt_bias, float *dA_log, float *dD, const float *scal,
                              int n_chunks, const float *dDp, int n_tiles, int H) {
    int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h >= H) return;
    float b = 0.0f, a = 0.0f, d = 0.0f;
    for (int c = 0; c < n_chunks; c++) {
        b += scal[((size_t)c * H + h) * 2];
        a += scal[((size_t)c * H + h) * 2 + 1];
    }
    for (int i = 0; i < n_tiles; i++) d += dDp[(size_t)i * H + h];
    ddt_bias[h] += b;
    dA_log[h] += a;
    dD[h] += d;
}

/* ---------------------------------------------------------------- host side */
int hn_cuda_ssd_mma_supports(const hn_ssm_dims *d) {
    return d->headdim == D64 && d->d_state == D64 && d->ngroups > 0 && d->heads % d->ngroups == 0;
}

/* per-call scratch: dt, cs [H][T] (forward and backward), then for the backward the
 * direct d dt, dcs, the state-term shares [H][T], dD partials [tiles][H] and the
 * (chunk, head) scalars [chunks][H][2] */
static float *scratch(const hn_ssd_plan *pl, int T, int H, int backward) {
    size_t HT = (size_t)H * T, n = 2 * HT;
    if (backward) n += 3 * HT + (size_t)pl->n_tiles * H + (size_t)pl->n_chunks * H * 2;
    return (float *)hn_cuda_scratch(HN_SCRATCH_SSD_MMA, n * sizeof(float));
}

template <class XT>
static void mma_forward(hn_tensor y, float *chunk_states, float *final_state, size_t final_stride,
                        const XT *x, const XT *B, const XT *C, int ld, hn_tensor dt_raw,
                        const float *dt_bias, const float *A_log, const float *D, const hn_seqs *seqs,
                        const hn_ssm_dims *d) {
    int T = seqs->total, H = d->heads, HG = d->heads / d->ngroups;
    if (seqs->n <= 0 || T <= 0) return;
    hn_ssd_plan pl;
    if (hn_cuda_ssd_plan(&pl, seqs, d->chunk)) return;
    size_t PN = (size_t)D64 * D64, nz = (size_t)pl.n_chunks * H * PN;
    float *ws = scratch(&pl, T, H, 0);
    float *z = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC_STATE, (nz + (size_t)pl.n_chunks * H) * sizeof(float));
    if (!ws || !z) return;
    float *dtv = ws, *csv = ws + (size_t)H * T, *el = z + nz;
    dim3 per_chunk(pl.n_chunks, H), per_tile(pl.n_tiles, H);
    k_ssd_prep<<<per_chunk, 32, 0, HN_STREAM>>>(dtv, csv, view_of(dt_raw), dt_bias, A_log, pl.tab, T);
    k_ssd_state<<<per_chunk, NT, 0, HN_STREAM>>>(z, el, x, ld, B, ld, dtv, csv, pl.tab, T, H, HG, 0);
    hn_cuda_ssdc_scan(chunk_states, final_state, final_stride, z, el, pl.cb, seqs->n, H, PN, 0);
    int y16 = y.dtype == HN_BF16;
    k_ssd_out<<<per_tile, NT, 0, HN_STREAM>>>(y16 ? NULL : (float *)y.data, y16 ? (bf16 *)y.data : NULL,
                                chunk_states, x, B, C, ld, dtv, csv, D, pl.tiles, T, H, HG);
    HN_LAUNCHED("ssd_forward mma");
}

void hn_cuda_ssd_mma_forward(hn_tensor y, float *chunk_states, float *final_state, size_t final_stride,
                             const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                             hn_tensor dt_raw, const float *dt_bias,
                             const float *A_log, const float *D, const hn_seqs *seqs,
                             const hn_ssm_dims *d) {
    if (xbc_bf16)
        mma_forward(y, chunk_states, final_state, final_stride, (const bf16 *)x, (const bf16 *)B,
                    (const bf16 *)C, ld, dt_raw, dt_bias, A_log, D, seqs, d);
    else
        mma_forward(y, chunk_states, final_state, final_stride, (const float *)x, (const float *)B,
                    (const float *)C, ld, dt_raw, dt_bias, A_log, D, seqs, d);
}

template <class XT, class DT>
static void mma_backward(DT *dx, DT *dB, DT *dC, int ldd, hn_tensor ddt_raw, float *ddt_bias,
                         float *dA_log, float *dD, const float *dy, const XT *x, const XT *B,
                         const XT *C, int ld, hn_tensor dt_raw, const float *dt_bias,
                         const float *A_log, const float *D, const float *chunk_states,
                         const hn_seqs *seqs, const hn_ssm_dims *d, int add_to) {
    int T = seqs->total, H = d->heads, G = d->ngroups, HG = H / G, HP = H * D64;
    if (seqs->n <= 0 || T <= 0) return;
    hn_ssd_plan pl;
    if (hn_cuda_ssd_plan(&pl, seqs, d->chunk)) return;
    size_t PN = (size_t)D64 * D64, nz = (size_t)pl.n_chunks * H * PN, HT = (size_t)H * T;
    float *ws = scratch(&pl, T, H, 1);
    float *z = (float *)hn_cuda_scratch(HN_SCRATCH_SSDC_STATE, (2 * nz + (size_t)pl.n_chunks * H) * sizeof(float));
    if (!ws || !z) return;
    float *dtv = ws, *csv = dtv + HT, *ddt_dir = csv + HT, *dcs = ddt_dir + HT, *sst = dcs + HT;
    float *dDp = sst + HT, *scal = dDp + (size_t)pl.n_tiles * H;
    float *dstates = z + nz, *el = dstates + nz;
    dim3 per_chunk(pl.n_chunks, H);
    k_ssd_prep<<<per_chunk, 32, 0, HN_STREAM>>>(dtv, csv, view_of(dt_raw), dt_bias, A_log, pl.tab, T);
    k_ssd_state<<<per_chunk, NT, 0, HN_STREAM>>>(z, el, dy, HP, C, ld, dtv, csv, pl.tab, T, H, HG, 1);
    hn_cuda_ssdc_scan(dstates, NULL, 0, z, el, pl.cb, seqs->n, H, PN, 1);
    /* built for four blocks an SM (128 registers; measured on the M1 shape: 4.74 ms
     * against 4.94 at three and 5.56 at two) */
    dim3 grid(pl.n_tiles, G);
    /* add_to a template argument: the written (=) form compiles without the add's reads */
    auto key = add_to ? k_ssd_bwd_key<4, XT, DT, true> : k_ssd_bwd_key<4, XT, DT, false>;
    auto query = add_to ? k_ssd_bwd_query<4, XT, DT, true> : k_ssd_bwd_query<4, XT, DT, false>;
    key<<<grid, NT, 0, HN_STREAM>>>(dx, dB, ldd, ddt_dir, dcs, sst, dDp, dy, x, B, C, ld, dtv, csv, D, dstates,
                                    pl.tab, pl.tiles, T, H, HG);
    query<<<grid, NT, 0, HN_STREAM>>>(dC, ldd, dcs, dy, x, B, C, ld, dtv, csv, chunk_states, pl.tiles, T, H, HG);
    k_ssd_post<<<per_chunk, 32, 0, HN_STREAM>>>(view_of(ddt_raw), scal, ddt_dir, dcs, sst, dtv, csv, view_of(dt_raw),
                                  dt_bias, A_log, chunk_states, dstates, pl.tab, T, H);
    k_ssd_scalars<<<(H + 127) / 128, 128, 0, HN_STREAM>>>(ddt_bias, dA_log, dD, scal, pl.n_chunks, dDp, pl.n_tiles, H);
    HN_LAUNCHED("ssd_backward mma");
}

void hn_cuda_ssd_mma_backward(void *dx, void *dB, void *dC, int ldd, int dxbc_bf16, hn_tensor ddt_raw,
                              float *ddt_bias, float *dA_log, float *dD, const float *dy,
                              const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                              hn_tensor dt_raw, const float *dt_bias,
                              const float *A_log, const float *D, const float *chunk_states,
                              const hn_seqs *seqs, const hn_ssm_dims *d, int add_to) {
    if (xbc_bf16 && dxbc_bf16)
        mma_backward((bf16 *)dx, (bf16 *)dB, (bf16 *)dC, ldd, ddt_raw, ddt_bias, dA_log, dD, dy,
                     (const bf16 *)x, (const bf16 *)B, (const bf16 *)C, ld, dt_raw, dt_bias, A_log, D,
                     chunk_states, seqs, d, 0);
    else if (xbc_bf16)
        mma_backward((float *)dx, (float *)dB, (float *)dC, ldd, ddt_raw, ddt_bias, dA_log, dD, dy,
                     (const bf16 *)x, (const bf16 *)B, (const bf16 *)C, ld, dt_raw, dt_bias, A_log, D,
                     chunk_states, seqs, d, add_to);
    else if (!dxbc_bf16)
        mma_backward((float *)dx, (float *)dB, (float *)dC, ldd, ddt_raw, ddt_bias, dA_log, dD, dy,
                     (const float *)x, (const float *)B, (const float *)C, ld, dt_raw, dt_bias, A_log,
                     D, chunk_states, seqs, d, add_to);
    else
        hn_cuda_note(cudaErrorInvalidValue, "ssd_backward mma: bf16 dx, dB, dC need bf16 x, B, C");
}
