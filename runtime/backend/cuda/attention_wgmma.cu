/* Flash attention for head_dim 64 on Hopper's warpgroup products (wgmma, sm_90a): the
 * FlashAttention-3 arithmetic without its warp specialisation. A block is one warpgroup
 * holding 64 query rows; key and value tiles of 64 rows stream through shared memory in
 * the 128-byte swizzle (wgmma.cuh), double-buffered with cp.async by all threads. Per
 * tile the warpgroup computes S = Q K^T from shared memory (Q and K both K-major), runs the
 * online softmax on the accumulators (each warp's 16 rows, as in attention_mma.cu), and
 * adds P V with P straight from registers (V MN-major). Visibility (packed sequences,
 * causal, window) and the log-sum-exp are attention_mma.cu's; see there. */
#include <cuda_bf16.h>
#include <limits.h>

#include "backend/cuda/attention_rows.cuh"
#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/wgmma.cuh"

#define HD 64
/* One warpgroup a block, several blocks an SM: on the H200 this ran the forward 4-5%
 * and the backward 33-40% faster than two warpgroups a block (which hold half as many
 * warpgroups an SM in the backward's registers), and 64-key tiles beat 128-key ones
 * (twice the blocks an SM): bench/NOTES.md, session 7. */
#define BM 64  /* rows a block owns (queries; keys in the dK/dV kernel) */
#define NT 128 /* threads: one warpgroup */
#define BN 64  /* rows of a streamed tile */
#define LOG2E HN_ATT_LOG2E
#define LN2 HN_ATT_LN2

typedef __nv_bfloat16 bf16;


__device__ __forceinline__ void scores(float (&s)[BN / 2], uint64_t q, uint64_t k) {
    hn_wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        uint64_t qd = q + (uint64_t)(ks * 32 >> 4), kd = k + (uint64_t)(ks * 32 >> 4);
        hn_wgmma_m64n64_ss<0>(s, qd, kd, ks > 0);
    }
    hn_wgmma_commit();
    hn_wgmma_wait<0>();
    hn_wgmma_pin_all(s);
}

/* alignment slack, Q, 2 x (K, V) */
static const size_t FWD_SMEM = 1024 + (size_t)BM * 128 + 4 * (size_t)BN * 128;

template <typename TO>
__global__ void __launch_bounds__(NT, 4)
    k_wgmma_fwd(TO *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int ld,
                const int32_t *pos, int T, int heads, int window, float scale_log2) {
    constexpr int NJ = BN / 8; /* 8-column groups of a score tile */
    extern __shared__ unsigned char smem_raw[];
    unsigned char *sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    bf16 *Qs = (bf16 *)sm;
    bf16 *KV = (bf16 *)(sm + BM * 128); /* [buffer][K, V] tiles of BN rows */
    constexpr int TILE = BN * 64;       /* bf16 elements of one tile */
    int h = blockIdx.y, r0 = (gridDim.x - 1 - blockIdx.x) * BM;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, wg0 = r0, w0 = wg0 + warp * 16; /* wg0: the warpgroup's first row */
    int row[2] = {w0 + g, w0 + g + 8};
    int lo[2] = {hn_att_lo(pos, row[0], T, window), hn_att_lo(pos, row[1], T, window)};
    /* the warpgroup's rows see keys [g_lo, g_last] (products are per warpgroup); a warp's
     * tile needs no mask inside [w_lo_max, w0] */
    int g_last = min(wg0 + 63, T - 1), g_lo = hn_att_lo(pos, min(wg0, T - 1), T, window);
    bool g_live = wg0 < T;
    int w_lo_max = hn_att_lo(pos, min(w0 + 15, T - 1), T, window);
    bool w_full_rows = w0 + 15 < T;
    const bf16 *kh = k + (size_t)h * HD, *vh = v + (size_t)h * HD;
    int last = min(r0 + BM, T) - 1, first = hn_att_lo(pos, r0, T, window);
    hn_stage_sw128<BM, NT>(Qs, q + (size_t)h * HD, ld, r0, T);
    hn_stage_sw128<BN, NT>(KV, kh, ld, first, T);
    hn_stage_sw128<BN, NT>(KV + TILE, vh, ld, first, T);
    hn_cp_async_commit();
    uint64_t qdesc = hn_wgmma_desc(Qs, 0);
    float o[32], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 32; i++) o[i] = 0.0f;
    int buf = 0;
    for (int kb = first; kb <= last; kb += BN, buf ^= 1) {
        if (kb + BN <= last) { /* the next tile streams in while this one is used */
            bf16 *nx = KV + (buf ^ 1) * 2 * TILE;
            hn_stage_sw128<BN, NT>(nx, kh, ld, kb + BN, T);
            hn_stage_sw128<BN, NT>(nx + TILE, vh, ld, kb + BN, T);
        }
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        hn_wgmma_smem_fence();
        __syncthreads();
        const bf16 *Ks = KV + buf * 2 * TILE, *Vs = Ks + TILE;
        if (g_live && kb <= g_last && kb + BN - 1 >= g_lo) { /* warpgroup-uniform */
            float s[BN / 2];
            scores(s, qdesc, hn_wgmma_desc(Ks, 0));
            bool full = w_full_rows && kb >= w_lo_max && kb + BN - 1 <= w0;
            float mx[2] = {-INFINITY, -INFINITY};
            if (full) {
#pragma unroll
                for (int i = 0; i < BN / 2; i++) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
            } else {
#pragma unroll
                for (int i = 0; i < BN / 2; i++) {
                    int r = (i >> 1) & 1, j = kb + (i >> 2) * 8 + 2 * c + (i & 1);
                    if (j < lo[r] || j > row[r]) s[i] = -INFINITY;
                    mx[r] = fmaxf(mx[r], s[i]);
                }
            }
            float corr[2], use[2];
            hn_att_online_max(mx, m, l, scale_log2, use, corr);
            uint32_t a[NJ / 2][4]; /* P as the A operand, one 16-key step each */
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                float p0 = hn_ex2(fmaf(s[4 * j], scale_log2, -use[0]));
                float p1 = hn_ex2(fmaf(s[4 * j + 1], scale_log2, -use[0]));
                float p2 = hn_ex2(fmaf(s[4 * j + 2], scale_log2, -use[1]));
                float p3 = hn_ex2(fmaf(s[4 * j + 3], scale_log2, -use[1]));
                l[0] += p0 + p1;
                l[1] += p2 + p3;
                a[j >> 1][(j & 1) * 2] = hn_pack_bf16(p0, p1);
                a[j >> 1][(j & 1) * 2 + 1] = hn_pack_bf16(p2, p3);
            }
#pragma unroll
            for (int i = 0; i < 32; i++) o[i] *= corr[(i >> 1) & 1];
            /* the rescaled accumulators and P written before the fence, not moved past it */
            hn_wgmma_pin_all(o);
#pragma unroll
            for (int kk = 0; kk < NJ / 2; kk++)
#pragma unroll
                for (int e = 0; e < 4; e++) hn_wgmma_pin(a[kk][e]);
            hn_wgmma_fence();
            uint64_t vdesc = hn_wgmma_desc(Vs, 0);
#pragma unroll
            for (int kk = 0; kk < NJ / 2; kk++)
                hn_wgmma_m64n64_rs<1>(o, a[kk], vdesc + (uint64_t)(kk * 16 * 128 >> 4), 1);
            hn_wgmma_commit();
            hn_wgmma_wait<0>();
            hn_wgmma_pin_all(o);
#pragma unroll
            for (int kk = 0; kk < NJ / 2; kk++)
#pragma unroll
                for (int e = 0; e < 4; e++) hn_wgmma_pin(a[kk][e]);
        }
        __syncthreads(); /* this buffer is refilled two tiles on */
    }
    if (w0 >= T) return;
    int W = heads * HD;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lr = l[r];
        lr += __shfl_xor_sync(0xffffffffu, lr, 1);
        lr += __shfl_xor_sync(0xffffffffu, lr, 2);
        int t = row[r];
        if (t >= T) continue;
        float inv = 1.0f / lr;
        TO *dst = out + (size_t)t * W + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int j = 0; j < 8; j++) hn_att_store2(dst + j * 8, o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
        if (c == 0) lse[(size_t)t * heads + h] = (m[r] * scale_log2 + log2f(lr)) * LN2;
    }
}

/* ------------------------------------------------------------------ entry points */
/* 1 where this build's code for the device has the warpgroup products (an sm_90a build:
 * a plain sm_90 or compute_90 one compiles them to traps) */
__global__ void k_wgmma_probe(int *ok) {
#ifdef HN_WGMMA_OK
    *ok = 1;
#else
    *ok = 0;
#endif
}

#define HN_WGMMA_DEVICES 64
int hn_wgmma_available(void) {
    static signed char known[HN_WGMMA_DEVICES]; /* per device: 0 not yet asked, 1 yes, 2 no */
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= HN_WGMMA_DEVICES) return 0;
    if (!known[dev]) {
        int yes = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
            major == 9 && minor == 0) {
            /* once per device and process, before any step: a launch and a wait */
            int *flag = NULL;
            if (cudaMalloc(&flag, sizeof *flag) == cudaSuccess) {
                k_wgmma_probe<<<1, 1, 0, HN_STREAM>>>(flag);
                if (cudaMemcpyAsync(&yes, flag, sizeof yes, cudaMemcpyDeviceToHost, HN_STREAM) != cudaSuccess ||
                    cudaStreamSynchronize(HN_STREAM) != cudaSuccess)
                    yes = 0;
                cudaFree(flag);
            }
            cudaGetLastError(); /* a failed probe means no: nothing sticky */
        }
        known[dev] = yes ? 1 : 2;
    }
    return known[dev] == 1;
}

template <typename TO>
static void launch_fwd(TO *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int ldq,
                       const hn_seqs *seqs, int heads, int window, float scale) {
    if (hn_cuda_first_time((const void *)k_wgmma_fwd<TO>))
        HN_CK(cudaFuncSetAttribute(k_wgmma_fwd<TO>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)FWD_SMEM));
    int T = seqs->total;
    dim3 grid((T + BM - 1) / BM, heads);
    k_wgmma_fwd<TO><<<grid, NT, FWD_SMEM, HN_STREAM>>>(out, lse, q, k, v, ldq, seqs->pos_dev, T, heads,
                                                       window, scale * LOG2E);
    HN_LAUNCHED("attention_forward wgmma");
}

void hn_wgmma_forward_bf16(void *out, int out_bf16, float *lse, const void *q, const void *k,
                           const void *v, int ldq, const hn_seqs *seqs, int heads, int window,
                           float scale) {
    const bf16 *qb = (const bf16 *)q, *kb = (const bf16 *)k, *vb = (const bf16 *)v;
    if (out_bf16) launch_fwd((bf16 *)out, lse, qb, kb, vb, ldq, seqs, heads, window, scale);
    else launch_fwd((float *)out, lse, qb, kb, vb, ldq, seqs, heads, window, scale);
}

/* ------------------------------------------------------------------ backward
 * attention_mma.cu's deterministic split on warpgroup products: one kernel per 64 keys
 * (dK, dV over the 64-query tiles that see them), one per 64 queries (dQ over their
 * 64-key tiles). D = rowsum(dO * O) comes from attention_mma.cu. */

/* two 64 x 64 products into a[32] and b[32], one commit */
__device__ __forceinline__ void two_scores(float (&a)[32], uint64_t a1, uint64_t a2, float (&b)[32],
                                           uint64_t b1, uint64_t b2) {
    hn_wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++)
        hn_wgmma_m64n64_ss<0>(a, a1 + (uint64_t)(ks * 2), a2 + (uint64_t)(ks * 2), ks > 0);
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++)
        hn_wgmma_m64n64_ss<0>(b, b1 + (uint64_t)(ks * 2), b2 + (uint64_t)(ks * 2), ks > 0);
    hn_wgmma_commit();
    hn_wgmma_wait<0>();
    hn_wgmma_pin_all(a);
    hn_wgmma_pin_all(b);
}

/* acc[32] += A(64 x 64, as four register steps) . B (64 x 64 tile, MN-major) */
__device__ __forceinline__ void add_product(float (&acc)[32], uint32_t (&a)[4][4], uint64_t b) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) hn_wgmma_m64n64_rs<1>(acc, a[kk], b + (uint64_t)(kk * 16 * 128 >> 4), 1);
}

__device__ __forceinline__ void pack_a(uint32_t (&a)[4][4], const float (&x)[32]) {
#pragma unroll
    for (int j = 0; j < 8; j++) {
        a[j >> 1][(j & 1) * 2] = hn_pack_bf16(x[4 * j], x[4 * j + 1]);
        a[j >> 1][(j & 1) * 2 + 1] = hn_pack_bf16(x[4 * j + 2], x[4 * j + 3]);
    }
}

__device__ __forceinline__ void pin_a(uint32_t (&a)[4][4]) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
#pragma unroll
        for (int e = 0; e < 4; e++) hn_wgmma_pin(a[kk][e]);
}

/* K, V (or Q, dO) of the block's rows, then 2 x 2 streamed tiles; the dK/dV kernel that
 * also adds dQ has one more tile, for dS^T */
static const size_t BWD_SMEM = 1024 + 2 * (size_t)BM * 128 + 4 * (size_t)BN * 128;
static const size_t BWD_DQ_SMEM = BWD_SMEM + (size_t)BM * 128;

/* dQ[rows of the query tile at ib] += scale * acc, by float atomics (the other blocks whose
 * keys the same queries see add to the same rows in no fixed order) */
__device__ __forceinline__ void add_dq_atomic(float *dq, const float (&acc)[32], int ib, int T,
                                              int ld_grad, int h, float scale) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int i = ib + warp * 16 + g + 8 * r;
        if (i >= T) continue;
        float *dst = dq + (size_t)i * ld_grad + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float a = scale * acc[4 * j + 2 * r], b = scale * acc[4 * j + 2 * r + 1];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            atomicAdd((float2 *)(dst + j * 8), make_float2(a, b));
#else
            atomicAdd(dst + j * 8, a);
            atomicAdd(dst + j * 8 + 1, b);
#endif
        }
    }
}

/* the thread's dS^T values (packed as the A operand: rows = the warpgroup's keys, columns =
 * the tile's queries) into a swizzled 64 x 64 tile, from which dS . K reads dS as an
 * MN-major A; a warp's 32 four-byte stores of one column group hit 32 banks */
__device__ __forceinline__ void store_a_sw128(bf16 *tile, const uint32_t (&a)[4][4]) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    unsigned char *base = (unsigned char *)tile;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int row = warp * 16 + g + 8 * r;
            *(uint32_t *)(base + row * HN_SW128_ROW + ((j ^ (row & 7)) << 4) + 4 * c) =
                a[j >> 1][(j & 1) * 2 + r];
        }
}

/* 166 registers: three blocks an SM. DQ: dQ is added here too (float atomics; the separate
 * dQ kernel, which computes S and dP a second time, is not run) */
template <bool DQ>
__global__ void __launch_bounds__(NT, 3)
    k_wgmma_dkv(float *dk, float *dv, float *dq, int ld_grad, int ldq, const float *D,
                const bf16 *dout, const bf16 *q, const bf16 *k, const bf16 *v, const float *lse,
                const int32_t *pos, const int32_t *offsets, int n_seqs, int T, int heads,
                int window, float scale, float scale_log2, int add_to) {
    constexpr int TILE = BN * 64;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    bf16 *Kown = (bf16 *)sm, *Vown = Kown + BM * 64;
    bf16 *QG = Vown + BM * 64; /* [buffer][Q, dO] tiles of BN rows */
    bf16 *dSt = QG + 4 * TILE; /* DQ: dS^T of the current query tile */
    __shared__ int Lo[2][BN];
    __shared__ float Ls[2][BN], Ds[2][BN];
    int h = blockIdx.y, c0 = blockIdx.x * BM;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, k0 = c0, w0 = k0 + warp * 16, W = heads * HD;
    int key[2] = {w0 + g, w0 + g + 8};
    const bf16 *qh = q + (size_t)h * HD, *gh = dout + (size_t)h * HD;
    /* queries that can see this block's keys: up to the end of the last key's sequence,
     * at most `window` past the last key */
    int qlast = hn_att_last_query(offsets, n_seqs, min(c0 + BM, T) - 1, window);
    auto stage_queries = [&](int bi, int ib) {
        hn_stage_sw128<BN, NT>(QG + bi * 2 * TILE, qh, ldq, ib, T);
        hn_stage_sw128<BN, NT>(QG + bi * 2 * TILE + TILE, gh, W, ib, T);
        if (threadIdx.x < BN)
            hn_att_query_row(Lo[bi], Ls[bi], Ds[bi], ib, pos, lse, D, T, heads, h, window);
    };
    hn_stage_sw128<BM, NT>(Kown, k + (size_t)h * HD, ldq, c0, T);
    hn_stage_sw128<BM, NT>(Vown, v + (size_t)h * HD, ldq, c0, T);
    stage_queries(0, c0);
    hn_cp_async_commit();
    uint64_t kdesc = hn_wgmma_desc(Kown, 0), vdesc = hn_wgmma_desc(Vown, 0);
    float dka[32], dva[32];
#pragma unroll
    for (int i = 0; i < 32; i++) dka[i] = dva[i] = 0.0f;
    int buf = 0;
    for (int ib = c0; ib <= qlast; ib += BN, buf ^= 1) {
        if (ib + BN <= qlast) stage_queries(buf ^ 1, ib + BN);
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        hn_wgmma_smem_fence();
        __syncthreads();
        const bf16 *Qs = QG + buf * 2 * TILE, *Gs = Qs + TILE;
        const int *lo = Lo[buf];
        const float *ls = Ls[buf], *ds_ = Ds[buf];
        /* some query of the tile sees some key of the warpgroup (warpgroup-uniform) */
        if (k0 < T && ib + BN - 1 >= k0 && lo[0] <= k0 + 63) {
            float st[32], dpt[32];
            uint64_t qd = hn_wgmma_desc(Qs, 0), gd = hn_wgmma_desc(Gs, 0);
            two_scores(st, kdesc, qd, dpt, vdesc, gd); /* S^T = K Q^T, dP^T = V dO^T */
            bool full = ib >= w0 + 15 && lo[BN - 1] <= w0;
#pragma unroll
            for (int i = 0; i < 32; i++) {
                int r = (i >> 1) & 1, ci = (i >> 2) * 8 + 2 * c + (i & 1);
                float p = hn_ex2(fmaf(st[i], scale_log2, -ls[ci]));
                if (!full && (lo[ci] > key[r] || key[r] > ib + ci)) p = 0.0f;
                st[i] = p;
                dpt[i] = p * (dpt[i] - ds_[ci]); /* dS^T without the softmax scale */
            }
            uint32_t pa[4][4], sa[4][4];
            pack_a(pa, st);
            pack_a(sa, dpt);
            if (DQ) {
                store_a_sw128(dSt, sa);
                hn_wgmma_smem_fence(); /* read by dS . K below, after the barrier */
            }
            pin_a(pa); /* written before the fence, not moved past it */
            pin_a(sa);
            hn_wgmma_fence();
            add_product(dva, pa, gd); /* dV += P^T dO */
            add_product(dka, sa, qd); /* dK += dS^T Q */
            hn_wgmma_commit();
            if (DQ) __syncthreads(); /* every warp's part of dS^T stored (products run on) */
            hn_wgmma_wait<0>();
            hn_wgmma_pin_all(dva);
            hn_wgmma_pin_all(dka);
            pin_a(pa);
            pin_a(sa);
            if (DQ) {
                /* dQ = dS K: dS^T's tile read as an MN-major A (rows of the tile are the
                 * reduction's keys), K's as an MN-major B; after the other products, so
                 * that P and dS^T's registers are free (three blocks an SM) */
                float dqa[32];
#pragma unroll
                for (int i = 0; i < 32; i++) dqa[i] = 0.0f;
                uint64_t sd = hn_wgmma_desc(dSt, 0);
                hn_wgmma_fence();
#pragma unroll
                for (int kk = 0; kk < 4; kk++)
                    hn_wgmma_m64n64_ss<1, 1>(dqa, sd + (uint64_t)(kk * 16 * 128 >> 4),
                                             kdesc + (uint64_t)(kk * 16 * 128 >> 4), 1);
                hn_wgmma_commit();
                hn_wgmma_wait<0>();
                hn_wgmma_pin_all(dqa);
                add_dq_atomic(dq, dqa, ib, T, ld_grad, h, scale);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (key[r] >= T) continue;
        size_t off = (size_t)key[r] * ld_grad + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            hn_att_grad2(dk + off + j * 8, scale * dka[4 * j + 2 * r], scale * dka[4 * j + 2 * r + 1],
                         add_to);
            hn_att_grad2(dv + off + j * 8, dva[4 * j + 2 * r], dva[4 * j + 2 * r + 1], add_to);
        }
    }
}

__global__ void __launch_bounds__(NT, 4) /* 128 registers, no spills: four blocks an SM */
    k_wgmma_dq(float *dq, int ld_grad, int ldq, const float *D, const bf16 *dout, const bf16 *q,
               const bf16 *k, const bf16 *v, const float *lse, const int32_t *pos, int T,
               int heads, int window, float scale, float scale_log2, int add_to) {
    constexpr int TILE = BN * 64;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    bf16 *Qown = (bf16 *)sm, *Gown = Qown + BM * 64;
    bf16 *KV = Gown + BM * 64; /* [buffer][K, V] tiles of BN rows */
    int h = blockIdx.y, r0 = (gridDim.x - 1 - blockIdx.x) * BM;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int g = lane >> 2, c = lane & 3, wq0 = r0, w0 = wq0 + warp * 16, W = heads * HD;
    int row[2] = {w0 + g, w0 + g + 8};
    int lo[2] = {hn_att_lo(pos, row[0], T, window), hn_att_lo(pos, row[1], T, window)};
    float L[2], Dr[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        L[r] = row[r] < T ? lse[(size_t)row[r] * heads + h] * LOG2E : 0.0f;
        Dr[r] = row[r] < T ? D[(size_t)row[r] * heads + h] : 0.0f;
    }
    int g_last = min(wq0 + 63, T - 1), g_lo = hn_att_lo(pos, min(wq0, T - 1), T, window);
    bool g_live = wq0 < T;
    int w_lo_max = hn_att_lo(pos, min(w0 + 15, T - 1), T, window);
    bool w_full_rows = w0 + 15 < T;
    int last = min(r0 + BM, T) - 1, first = hn_att_lo(pos, r0, T, window);
    const bf16 *kh = k + (size_t)h * HD, *vh = v + (size_t)h * HD;
    hn_stage_sw128<BM, NT>(Qown, q + (size_t)h * HD, ldq, r0, T);
    hn_stage_sw128<BM, NT>(Gown, dout + (size_t)h * HD, W, r0, T);
    hn_stage_sw128<BN, NT>(KV, kh, ldq, first, T);
    hn_stage_sw128<BN, NT>(KV + TILE, vh, ldq, first, T);
    hn_cp_async_commit();
    uint64_t qdesc = hn_wgmma_desc(Qown, 0), gdesc = hn_wgmma_desc(Gown, 0);
    float acc[32];
#pragma unroll
    for (int i = 0; i < 32; i++) acc[i] = 0.0f;
    int buf = 0;
    for (int kb = first; kb <= last; kb += BN, buf ^= 1) {
        if (kb + BN <= last) {
            hn_stage_sw128<BN, NT>(KV + (buf ^ 1) * 2 * TILE, kh, ldq, kb + BN, T);
            hn_stage_sw128<BN, NT>(KV + (buf ^ 1) * 2 * TILE + TILE, vh, ldq, kb + BN, T);
        }
        hn_cp_async_commit();
        hn_cp_async_wait<1>();
        hn_wgmma_smem_fence();
        __syncthreads();
        const bf16 *Ks = KV + buf * 2 * TILE, *Vs = Ks + TILE;
        if (g_live && kb <= g_last && kb + BN - 1 >= g_lo) {
            float s[32], dp[32];
            uint64_t kd = hn_wgmma_desc(Ks, 0);
            two_scores(s, qdesc, kd, dp, gdesc, hn_wgmma_desc(Vs, 0)); /* S = Q K^T, dP = dO V^T */
            bool full = w_full_rows && kb >= w_lo_max && kb + BN - 1 <= w0;
#pragma unroll
            for (int i = 0; i < 32; i++) {
                int r = (i >> 1) & 1, j = kb + (i >> 2) * 8 + 2 * c + (i & 1);
                float p = hn_ex2(fmaf(s[i], scale_log2, -L[r]));
                if (!full && (lo[r] > j || j > row[r])) p = 0.0f;
                s[i] = p * (dp[i] - Dr[r]); /* the softmax scale is applied at the end */
            }
            uint32_t sa[4][4];
            pack_a(sa, s);
            pin_a(sa); /* written before the fence, not moved past it */
            hn_wgmma_fence();
            add_product(acc, sa, kd); /* dQ += dS K */
            hn_wgmma_commit();
            hn_wgmma_wait<0>();
            hn_wgmma_pin_all(acc);
            pin_a(sa);
        }
        __syncthreads();
    }
    if (w0 >= T) return;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (row[r] >= T) continue;
        float *dst = dq + (size_t)row[r] * ld_grad + (size_t)h * HD + 2 * c;
#pragma unroll
        for (int j = 0; j < 8; j++)
            hn_att_grad2(dst + j * 8, scale * acc[4 * j + 2 * r], scale * acc[4 * j + 2 * r + 1], add_to);
    }
}

void hn_wgmma_backward_tiles(float *dq, float *dk, float *dv, int ld_grad, const void *dout,
                             const void *q, const void *k, const void *v, int ldq, const float *lse,
                             const hn_seqs *seqs, int heads, int window, float scale, const float *D,
                             int dq_atomic, int add_to) {
    int T = seqs->total;
    const bf16 *g = (const bf16 *)dout, *qb = (const bf16 *)q, *kb = (const bf16 *)k, *vb = (const bf16 *)v;
    dim3 grid((T + BM - 1) / BM, heads);
    if (hn_cuda_first_time((const void *)k_wgmma_dkv<false>)) {
        HN_CK(cudaFuncSetAttribute(k_wgmma_dkv<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)BWD_SMEM));
        HN_CK(cudaFuncSetAttribute(k_wgmma_dkv<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)BWD_DQ_SMEM));
        HN_CK(cudaFuncSetAttribute(k_wgmma_dq, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)BWD_SMEM));
    }
    if (dq_atomic) {
        /* the atomics add to dq: = asks for it cleared first (its columns of each row) */
        if (!add_to)
            HN_CK(cudaMemset2DAsync(dq, (size_t)ld_grad * sizeof(float), 0, (size_t)heads * HD * sizeof(float),
                                    T, HN_STREAM));
        k_wgmma_dkv<true><<<grid, NT, BWD_DQ_SMEM, HN_STREAM>>>(
            dk, dv, dq, ld_grad, ldq, D, g, qb, kb, vb, lse, seqs->pos_dev, seqs->offsets_dev, seqs->n,
            T, heads, window, scale, scale * LOG2E, add_to);
        HN_LAUNCHED("attention_backward dkv+dq wgmma");
        return;
    }
    k_wgmma_dkv<false><<<grid, NT, BWD_SMEM, HN_STREAM>>>(dk, dv, NULL, ld_grad, ldq, D, g, qb, kb, vb,
                                                          lse, seqs->pos_dev, seqs->offsets_dev,
                                                          seqs->n, T, heads, window, scale,
                                                          scale * LOG2E, add_to);
    HN_LAUNCHED("attention_backward dkv wgmma");
    k_wgmma_dq<<<grid, NT, BWD_SMEM, HN_STREAM>>>(dq, ld_grad, ldq, D, g, qb, kb, vb, lse, seqs->pos_dev,
                                                  T, heads, window, scale, scale * LOG2E, add_to);
    HN_LAUNCHED("attention_backward dq wgmma");
}
