/* Which keys a query sees, and the row stores, shared by the head_dim-64 attention
 * kernels on mma.sync (attention_mma.cu) and on warpgroup products (attention_wgmma.cu).
 *
 * Visibility of key j to query i (packed sequences, causal, sliding window):
 *   lo(i) <= j <= i,  lo(i) = max(start of i's sequence, i - window)   (window < 0: global)
 * lo is non-decreasing in i, so a block of rows needs keys [lo(first row), last row]. */
#ifndef HN_ATTENTION_ROWS_CUH
#define HN_ATTENTION_ROWS_CUH

#include <cuda_bf16.h>
#include <limits.h>
#include <stdint.h>

#include "backend/cuda/mma_bf16.cuh"

#define HN_ATT_LOG2E 1.4426950408889634f
#define HN_ATT_LN2 0.6931471805599453f

/* the first key row i sees; rows past the end see nothing */
__device__ __forceinline__ int hn_att_lo(const int32_t *pos, int i, int T, int window) {
    if (i >= T) return INT_MAX;
    int lo = i - pos[i];
    return window >= 0 ? max(lo, i - window) : lo;
}

/* the last query that can see key `last_key`: the end of its sequence (offsets[0..n]),
 * at most `window` past it */
__device__ __forceinline__ int hn_att_last_query(const int32_t *offsets, int n_seqs, int last_key,
                                                 int window) {
    int a = 0, b = n_seqs - 1;
    while (a < b) {
        int mid = (a + b + 1) / 2;
        if (offsets[mid] <= last_key) a = mid;
        else b = mid - 1;
    }
    int q = offsets[a + 1] - 1;
    return window >= 0 ? min(q, last_key + window) : q;
}

/* One step of the online softmax for a thread's two rows (g and g + 8 of a warp's 16):
 * mx holds the tile's maxima over the thread's scores (reduced over its quad here), m and
 * l the running maxima and sums. use: the new maximum in exponent units (0 for a row that
 * has seen no key yet); corr: the factor the old sum (done here) and accumulators take. */
__device__ __forceinline__ void hn_att_online_max(float mx[2], float m[2], float l[2],
                                                  float scale_log2, float use[2], float corr[2]) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        float mn = fmaxf(m[r], mx[r]);
        use[r] = mn == -INFINITY ? 0.0f : mn * scale_log2;
        corr[r] = hn_ex2(m[r] * scale_log2 - use[r]);
        m[r] = mn;
        l[r] *= corr[r];
    }
}

/* thread t of a tile's rows: query ib + t's first visible key, log-sum-exp (in log2
 * units) and D = rowsum(dO * O), as the dK/dV kernels read them per query tile */
__device__ __forceinline__ void hn_att_query_row(int *lo, float *ls, float *ds, int ib,
                                                 const int32_t *pos, const float *lse,
                                                 const float *D, int T, int heads, int h,
                                                 int window) {
    int t = threadIdx.x, i = ib + t;
    lo[t] = hn_att_lo(pos, i, T, window);
    ls[t] = i < T ? lse[(size_t)i * heads + h] * HN_ATT_LOG2E : 0.0f;
    ds[t] = i < T ? D[(size_t)i * heads + h] : 0.0f;
}

__device__ __forceinline__ void hn_att_store2(float *p, float a, float b) { *(float2 *)p = make_float2(a, b); }
/* a gradient pair: added to what p holds (accumulate), or written over it (the caller
 * asked for =, so nothing had to zero it first) */
__device__ __forceinline__ void hn_att_grad2(float *p, float a, float b, int accumulate) {
    if (accumulate) {
        float2 x = *(const float2 *)p;
        a += x.x;
        b += x.y;
    }
    hn_att_store2(p, a, b);
}
__device__ __forceinline__ void hn_att_store2(__nv_bfloat16 *p, float a, float b) {
    *(__nv_bfloat162 *)p = __floats2bfloat162_rn(a, b);
}

#endif
