/* Tiled flash attention on CUDA cores (fp32), for head_dim 16, 32 or 64: a block of 128
 * threads owns 64 query rows of one head (forward, dq) or 64 key rows (dk, dv); two
 * threads share a row, each holding that row's q (or k, v) in registers and half of its
 * output dims. Key (or query) rows stream through shared memory 32 at a time, with an
 * online softmax in the forward pass; the T x T score matrix never exists. Rows of one
 * block may belong to different packed sequences: visibility is decided per (query,
 * key) pair from the sequence starts (row - pos[row]) and the window. No atomics. */
#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"

#define BR 64  /* rows per block */
#define BT 32  /* streamed rows per tile */
#define NT 128 /* threads */

__device__ __forceinline__ int row_start(const int32_t *pos, int t) { return t - pos[t]; }

__device__ __forceinline__ bool visible(int i, int si, int j, int sj, int window) {
    return j <= i && si == sj && (window < 0 || i - j <= window);
}

template <int HD>
__device__ __forceinline__ float dot_row(const float *a, const float *b) {
    float s = 0;
#pragma unroll
    for (int d = 0; d < HD; d += 4) {
        float4 v = *(const float4 *)(b + d);
        s += a[d] * v.x + a[d + 1] * v.y + a[d + 2] * v.z + a[d + 3] * v.w;
    }
    return s;
}

/* Loads rows [r0, r0 + BT) of a [T, *] matrix with row stride ld (column offset applied
 * by the caller) into sh[BT][HD + 4]; rows past T read as zeros. */
template <int HD>
__device__ __forceinline__ void load_tile(float *sh, const float *src, int ld, int r0, int T) {
    for (int e = threadIdx.x; e < BT * HD / 4; e += NT) {
        int r = e / (HD / 4), c = 4 * (e % (HD / 4));
        float4 v = make_float4(0, 0, 0, 0);
        if (r0 + r < T) {
            const float *p = src + (size_t)(r0 + r) * ld + c;
            v = make_float4(p[0], p[1], p[2], p[3]);
        }
        *(float4 *)(sh + r * (HD + 4) + c) = v;
    }
}

template <int HD>
__global__ void __launch_bounds__(NT) k_fa_fwd(float *out, float *lse, const float *q,
                                               const float *k, const float *v, int ld,
                                               const int32_t *pos, int T, int heads, int window,
                                               float scale) {
    __shared__ __align__(16) float Ks[BT * (HD + 4)];
    __shared__ __align__(16) float Vs[BT * (HD + 4)];
    __shared__ float Ps[BR * (BT + 1)];
    __shared__ int Ss[BT];
    int h = blockIdx.y, r0 = blockIdx.x * BR, lr = threadIdx.x >> 1, half = threadIdx.x & 1;
    int r = r0 + lr, rr = min(r, T - 1), sr = row_start(pos, rr);
    float qr[HD], acc[HD / 2];
#pragma unroll
    for (int d = 0; d < HD; d++) qr[d] = q[(size_t)rr * ld + (size_t)h * HD + d];
#pragma unroll
    for (int d = 0; d < HD / 2; d++) acc[d] = 0;
    float m = -INFINITY, l = 0;
    int last = min(r0 + BR, T) - 1, first = row_start(pos, r0);
    if (window >= 0) first = max(first, r0 - window);
    for (int kb = first; kb <= last; kb += BT) {
        load_tile<HD>(Ks, k + (size_t)h * HD, ld, kb, T);
        load_tile<HD>(Vs, v + (size_t)h * HD, ld, kb, T);
        if (threadIdx.x < BT) Ss[threadIdx.x] = kb + (int)threadIdx.x < T ? row_start(pos, kb + threadIdx.x) : -1;
        __syncthreads();
        float s[BT / 2], mx = -INFINITY;
#pragma unroll
        for (int jj = 0; jj < BT / 2; jj++) {
            int j = half * (BT / 2) + jj, key = kb + j;
            float sc = -INFINITY;
            if (r < T && key < T && visible(r, sr, key, Ss[j], window))
                sc = scale * dot_row<HD>(qr, Ks + j * (HD + 4));
            s[jj] = sc;
            mx = fmaxf(mx, sc);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float mn = fmaxf(m, mx), corr = mn == -INFINITY ? 1.0f : expf(m - mn), ps = 0;
#pragma unroll
        for (int jj = 0; jj < BT / 2; jj++) {
            float p = mn == -INFINITY ? 0.0f : expf(s[jj] - mn);
            Ps[lr * (BT + 1) + half * (BT / 2) + jj] = p;
            ps += p;
        }
        ps += __shfl_xor_sync(0xffffffffu, ps, 1);
        l = l * corr + ps;
        m = mn;
        __syncwarp();
#pragma unroll
        for (int d = 0; d < HD / 2; d++) acc[d] *= corr;
        for (int j = 0; j < BT; j++) {
            float p = Ps[lr * (BT + 1) + j];
            const float *vr = Vs + j * (HD + 4) + half * (HD / 2);
#pragma unroll
            for (int d = 0; d < HD / 2; d += 4) {
                float4 vv = *(const float4 *)(vr + d);
                acc[d] += p * vv.x;
                acc[d + 1] += p * vv.y;
                acc[d + 2] += p * vv.z;
                acc[d + 3] += p * vv.w;
            }
        }
        __syncthreads();
    }
    if (r >= T) return;
    float inv = 1.0f / l;
    float *o = out + (size_t)r * heads * HD + (size_t)h * HD + half * (HD / 2);
#pragma unroll
    for (int d = 0; d < HD / 2; d++) o[d] = acc[d] * inv;
    if (half == 0) lse[(size_t)r * heads + h] = m + logf(l);
}

/* dq (and D_r = dout_r . out_r, saved for the dk/dv pass) */
template <int HD>
__global__ void __launch_bounds__(NT) k_fa_dq(float *dq, float *Dbuf, const float *dout,
                                              const float *q, const float *k, const float *v,
                                              int ld, const float *out, const float *lse,
                                              const int32_t *pos, int T, int heads, int window,
                                              float scale) {
    __shared__ __align__(16) float Ks[BT * (HD + 4)];
    __shared__ __align__(16) float Vs[BT * (HD + 4)];
    __shared__ float Ps[BR * (BT + 1)];
    __shared__ int Ss[BT];
    int h = blockIdx.y, r0 = blockIdx.x * BR, lr = threadIdx.x >> 1, half = threadIdx.x & 1;
    int r = r0 + lr, rr = min(r, T - 1), sr = row_start(pos, rr), W = heads * HD;
    float qr[HD], gr[HD], acc[HD / 2], Dp = 0;
#pragma unroll
    for (int d = 0; d < HD; d++) {
        qr[d] = q[(size_t)rr * ld + (size_t)h * HD + d];
        gr[d] = dout[(size_t)rr * W + (size_t)h * HD + d];
        Dp += gr[d] * out[(size_t)rr * W + (size_t)h * HD + d];
    }
#pragma unroll
    for (int d = 0; d < HD / 2; d++) acc[d] = 0;
    if (r < T && half == 0) Dbuf[(size_t)r * heads + h] = Dp;
    float L = lse[(size_t)rr * heads + h];
    int last = min(r0 + BR, T) - 1, first = row_start(pos, r0);
    if (window >= 0) first = max(first, r0 - window);
    for (int kb = first; kb <= last; kb += BT) {
        load_tile<HD>(Ks, k + (size_t)h * HD, ld, kb, T);
        load_tile<HD>(Vs, v + (size_t)h * HD, ld, kb, T);
        if (threadIdx.x < BT) Ss[threadIdx.x] = kb + (int)threadIdx.x < T ? row_start(pos, kb + threadIdx.x) : -1;
        __syncthreads();
#pragma unroll
        for (int jj = 0; jj < BT / 2; jj++) {
            int j = half * (BT / 2) + jj, key = kb + j;
            float ds = 0;
            if (r < T && key < T && visible(r, sr, key, Ss[j], window)) {
                float p = expf(scale * dot_row<HD>(qr, Ks + j * (HD + 4)) - L);
                ds = scale * p * (dot_row<HD>(gr, Vs + j * (HD + 4)) - Dp);
            }
            Ps[lr * (BT + 1) + j] = ds;
        }
        __syncwarp();
        for (int j = 0; j < BT; j++) {
            float ds = Ps[lr * (BT + 1) + j];
            const float *kr = Ks + j * (HD + 4) + half * (HD / 2);
#pragma unroll
            for (int d = 0; d < HD / 2; d += 4) {
                float4 kk = *(const float4 *)(kr + d);
                acc[d] += ds * kk.x;
                acc[d + 1] += ds * kk.y;
                acc[d + 2] += ds * kk.z;
                acc[d + 3] += ds * kk.w;
            }
        }
        __syncthreads();
    }
    if (r >= T) return;
    float *o = dq + (size_t)r * ld + (size_t)h * HD + half * (HD / 2);
#pragma unroll
    for (int d = 0; d < HD / 2; d++) o[d] += acc[d];
}

template <int HD>
__global__ void __launch_bounds__(NT) k_fa_dkv(float *dk, float *dv, const float *Dbuf,
                                               const float *dout, const float *q, const float *k,
                                               const float *v, int ld, const float *lse,
                                               const int32_t *pos, const int32_t *offsets,
                                               int n_seqs, int T, int heads, int window,
                                               float scale) {
    __shared__ __align__(16) float Qs[BT * (HD + 4)];
    __shared__ __align__(16) float Gs[BT * (HD + 4)];
    __shared__ float Ps[BR * (BT + 1)];
    __shared__ float Ds[BR * (BT + 1)];
    __shared__ int Ss[BT];
    __shared__ float Ls[BT], DDs[BT];
    int h = blockIdx.y, c0 = blockIdx.x * BR, lc = threadIdx.x >> 1, half = threadIdx.x & 1;
    int c = c0 + lc, cc = min(c, T - 1), sc = row_start(pos, cc), W = heads * HD;
    float kr[HD], vr[HD], ak[HD / 2], av[HD / 2];
#pragma unroll
    for (int d = 0; d < HD; d++) {
        kr[d] = k[(size_t)cc * ld + (size_t)h * HD + d];
        vr[d] = v[(size_t)cc * ld + (size_t)h * HD + d];
    }
#pragma unroll
    for (int d = 0; d < HD / 2; d++) ak[d] = av[d] = 0;
    /* the last query any key of the block can reach: the end of the last key's
     * sequence, or the window */
    int lastc = min(c0 + BR, T) - 1, lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= lastc) lo = mid;
        else hi = mid - 1;
    }
    int qlast = offsets[lo + 1] - 1;
    if (window >= 0) qlast = min(qlast, lastc + window);
    for (int ib = c0; ib <= qlast; ib += BT) {
        load_tile<HD>(Qs, q + (size_t)h * HD, ld, ib, T);
        load_tile<HD>(Gs, dout + (size_t)h * HD, W, ib, T);
        if (threadIdx.x < BT) {
            int i = ib + threadIdx.x;
            Ss[threadIdx.x] = i < T ? row_start(pos, i) : -1;
            Ls[threadIdx.x] = i < T ? lse[(size_t)i * heads + h] : 0.0f;
            DDs[threadIdx.x] = i < T ? Dbuf[(size_t)i * heads + h] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int ii = 0; ii < BT / 2; ii++) {
            int i = half * (BT / 2) + ii, qi = ib + i;
            float p = 0, ds = 0;
            if (c < T && qi < T && visible(qi, Ss[i], c, sc, window)) {
                p = expf(scale * dot_row<HD>(kr, Qs + i * (HD + 4)) - Ls[i]);
                ds = scale * p * (dot_row<HD>(vr, Gs + i * (HD + 4)) - DDs[i]);
            }
            Ps[lc * (BT + 1) + i] = p;
            Ds[lc * (BT + 1) + i] = ds;
        }
        __syncwarp();
        for (int i = 0; i < BT; i++) {
            float p = Ps[lc * (BT + 1) + i], ds = Ds[lc * (BT + 1) + i];
            const float *gq = Gs + i * (HD + 4) + half * (HD / 2);
            const float *qq = Qs + i * (HD + 4) + half * (HD / 2);
#pragma unroll
            for (int d = 0; d < HD / 2; d += 4) {
                float4 g4 = *(const float4 *)(gq + d), q4 = *(const float4 *)(qq + d);
                av[d] += p * g4.x;
                av[d + 1] += p * g4.y;
                av[d + 2] += p * g4.z;
                av[d + 3] += p * g4.w;
                ak[d] += ds * q4.x;
                ak[d + 1] += ds * q4.y;
                ak[d + 2] += ds * q4.z;
                ak[d + 3] += ds * q4.w;
            }
        }
        __syncthreads();
    }
    if (c >= T) return;
    size_t off = (size_t)c * ld + (size_t)h * HD + half * (HD / 2);
#pragma unroll
    for (int d = 0; d < HD / 2; d++) {
        dk[off + d] += ak[d];
        dv[off + d] += av[d];
    }
}

int hn_fa_supported(int head_dim, int ld) {
    return (head_dim == 16 || head_dim == 32 || head_dim == 64);
}

#define DISPATCH(HDV, call) \
    switch (HDV) {          \
    case 16: call(16); break; \
    case 32: call(32); break; \
    default: call(64); break; \
    }

void hn_fa_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                   const hn_seqs *seqs, int heads, int hd, int window, float scale) {
    int T = seqs->total;
    dim3 grid((T + BR - 1) / BR, heads);
#define FWD(H) k_fa_fwd<H><<<grid, NT, 0, HN_STREAM>>>(out, lse, q, k, v, ld, seqs->pos_dev, T, heads, window, scale)
    DISPATCH(hd, FWD)
#undef FWD
    HN_LAUNCHED("attention_forward");
}

void hn_fa_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                    const float *k, const float *v, int ld, const float *out, const float *lse,
                    const hn_seqs *seqs, int heads, int hd, int window, float scale, float *Dbuf) {
    int T = seqs->total;
    dim3 grid((T + BR - 1) / BR, heads);
#define DQ(H) k_fa_dq<H><<<grid, NT, 0, HN_STREAM>>>(dq, Dbuf, dout, q, k, v, ld, out, lse, seqs->pos_dev, T, heads, window, scale)
    DISPATCH(hd, DQ)
#undef DQ
    HN_LAUNCHED("attention_backward dq");
#define DKV(H) k_fa_dkv<H><<<grid, NT, 0, HN_STREAM>>>(dk, dv, Dbuf, dout, q, k, v, ld, lse, seqs->pos_dev, seqs->offsets_dev, seqs->n, T, heads, window, scale)
    DISPATCH(hd, DKV)
#undef DKV
    HN_LAUNCHED("attention_backward dkv");
}
