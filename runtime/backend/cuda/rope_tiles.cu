/* rope by row tiles (cfg.rope_tiles, the default; HNET_CUDA_ROPE=old runs typed.cu's
 * k_rope_t and rope_out.cu's kernels instead): rope_t in place and rope_to_t out of place
 * (every column of out written) by one kernel.
 *
 * A block takes a tile of rows. Each thread first issues the loads of its items (a
 * rotated pair: N columns of a head's first half and their partners half columns on; or,
 * out of place, N columns to copy), then computes angles, each (row, frequency) of the
 * tile once, into shared memory while those loads are in flight, and after one barrier
 * rotates and stores. The old in-place kernel walked a (row, frequency)'s heads on one
 * thread with every load behind the previous head's stores (out is x): a DRAM round trip
 * a head. The old out-of-place one took a row a block, its angles on half the threads
 * between two barriers, before any load of the row was issued. */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

#define ROPE_THREADS 256
#define ROPE_ITEMS 4     /* items a thread holds in flight */
#define ROPE_ANGLES 1024 /* angles a tile at most (8 KiB of cos and sin) */
#define ROPE_ANGLE_SLOTS (ROPE_ANGLES / ROPE_THREADS) /* angles a thread at most */

typedef __nv_bfloat16 bf16;

/* N consecutive elements, read or written in one access (two for eight floats); bf16
 * kept as the loaded words (a register per two), widened at their use */
template <typename T, int N> struct piece;
template <int N> struct alignas(4 * N < 16 ? 4 * N : 16) piece<float, N> {
    float v[N];
    __device__ __forceinline__ float at(int e) const { return v[e]; }
};
template <int N> struct alignas(2 * N < 16 ? 2 * N : 16) piece<bf16, N> {
    uint32_t w[N / 2];
    __device__ __forceinline__ float at(int e) const { /* a bf16 is a float's high half */
        return __uint_as_float(e & 1 ? w[e / 2] & 0xffff0000u : w[e / 2] << 16);
    }
};
template <> struct piece<bf16, 1> {
    uint16_t h;
    __device__ __forceinline__ float at(int) const { return __uint_as_float((uint32_t)h << 16); }
};

template <typename T, int N> __device__ __forceinline__ void put(T *dst, const float y[N]) {
    if constexpr (sizeof(T) == 4) {
        piece<float, N> p;
#pragma unroll
        for (int e = 0; e < N; e++) p.v[e] = y[e];
        *(piece<float, N> *)dst = p;
    } else if constexpr (N == 1) {
        *dst = __float2bfloat16_rn(y[0]);
    } else {
        piece<bf16, N> p;
#pragma unroll
        for (int e = 0; e < N; e += 2) {
            __nv_bfloat162 two = __floats2bfloat162_rn(y[e], y[e + 1]);
            p.w[e / 2] = *(uint32_t *)&two;
        }
        *(piece<bf16, N> *)dst = p;
    }
}

/* N consecutive floats of shared memory (16-byte reads where N is 8) */
template <int N> __device__ __forceinline__ void get_shared(const float *s, float y[N]) {
    if constexpr (N % 4 == 0) {
#pragma unroll
        for (int e = 0; e < N; e += 4) {
            float4 q = *(const float4 *)(s + e);
            y[e] = q.x, y[e + 1] = q.y, y[e + 2] = q.z, y[e + 3] = q.w;
        }
    } else {
#pragma unroll
        for (int e = 0; e < N; e++) y[e] = s[e];
    }
}

struct rope_tile_shape {
    int T, heads, head_dim, rot_dim, half;
    int pairs;     /* rotated pairs of N columns a head: half / N */
    int per_head;  /* items a head: the pairs, and out of place (head_dim - 2 half) / N copies */
    int row_items; /* heads * per_head, and out of place the columns after the heads / N */
    int rows;      /* rows a tile */
};

/* One tile of rows a block. COPY: out of place (columns rope leaves alone copied);
 * else out is x. An item's `ang` is the index of its first angle in the tile, -1 a copy,
 * -2 none. */
template <typename TX, typename TO, int N, bool COPY>
__global__ void __launch_bounds__(ROPE_THREADS)
    k_rope_tiles(TO *out, int ldo, const TX *x, int ldx, rope_tile_shape s, const int32_t *pos,
                 float theta, int inverse) {
    extern __shared__ float cs[]; /* [rows * half] cos, then as many sin */
    int t0 = blockIdx.x * s.rows, n_rows = min(s.rows, s.T - t0);
    int items = n_rows * s.row_items, span = s.rows * s.half, n_ang = n_rows * s.half;
    /* the positions of this thread's angles, loaded first: their math waits on them */
    int at[ROPE_ANGLE_SLOTS];
#pragma unroll
    for (int j = 0; j < ROPE_ANGLE_SLOTS; j++) {
        int i = (int)threadIdx.x + j * ROPE_THREADS;
        if (i < n_ang) at[j] = pos[t0 + i / s.half];
    }
    for (int base = 0; base < items; base += ROPE_ITEMS * ROPE_THREADS) {
        piece<TX, N> a[ROPE_ITEMS], b[ROPE_ITEMS];
        int row[ROPE_ITEMS], col[ROPE_ITEMS], ang[ROPE_ITEMS];
#pragma unroll
        for (int k = 0; k < ROPE_ITEMS; k++) {
            int w = base + k * ROPE_THREADS + (int)threadIdx.x;
            ang[k] = -2;
            if (w >= items) continue;
            int r = w / s.row_items, q = w - r * s.row_items, h = q / s.per_head, e = q - h * s.per_head;
            row[k] = t0 + r;
            if (!COPY || (h < s.heads && e < s.pairs)) {
                col[k] = h * s.head_dim + e * N;
                ang[k] = r * s.half + e * N;
            } else if (h < s.heads) {
                col[k] = h * s.head_dim + 2 * s.half + (e - s.pairs) * N;
                ang[k] = -1;
            } else {
                col[k] = s.heads * s.head_dim + (q - s.heads * s.per_head) * N;
                ang[k] = -1;
            }
            const TX *src = x + (size_t)row[k] * ldx + col[k];
            a[k] = *(const piece<TX, N> *)src;
            if (ang[k] >= 0) b[k] = *(const piece<TX, N> *)(src + s.half);
        }
        if (base == 0) { /* the tile's angles, behind the first items' loads */
            int f_had = -1;
            double inv = 0; /* the frequency of f_had: f repeats where 256 % half == 0 */
#pragma unroll
            for (int j = 0; j < ROPE_ANGLE_SLOTS; j++) {
                int i = (int)threadIdx.x + j * ROPE_THREADS;
                if (i < n_ang) {
                    int f = i % s.half;
                    if (f != f_had) inv = hn_rope_inv_freq(f, s.rot_dim, theta), f_had = f;
                    hn_rope_cos_sin(at[j], inv, inverse, &cs[i], &cs[span + i]);
                }
            }
            __syncthreads();
        }
#pragma unroll
        for (int k = 0; k < ROPE_ITEMS; k++) {
            if (ang[k] >= 0) {
                TO *dst = out + (size_t)row[k] * ldo + col[k];
                float co[N], si[N], ya[N], yb[N];
                get_shared<N>(cs + ang[k], co);
                get_shared<N>(cs + span + ang[k], si);
#pragma unroll
                for (int e = 0; e < N; e++) {
                    float x0 = a[k].at(e), x1 = b[k].at(e);
                    ya[e] = x0 * co[e] - x1 * si[e];
                    yb[e] = x0 * si[e] + x1 * co[e];
                }
                put<TO, N>(dst, ya);
                put<TO, N>(dst + s.half, yb);
            } else if (COPY && ang[k] == -1) {
                float y[N];
#pragma unroll
                for (int e = 0; e < N; e++) y[e] = a[k].at(e);
                put<TO, N>(out + (size_t)row[k] * ldo + col[k], y);
            }
        }
    }
}

template <typename TX, typename TO, int N, bool COPY>
static void launch_as(const hn_rope_params *p, hn_tensor out, rope_tile_shape s) {
    unsigned blocks = (unsigned)((s.T + s.rows - 1) / s.rows);
    size_t smem = 2 * (size_t)s.rows * s.half * sizeof(float);
    k_rope_tiles<TX, TO, N, COPY><<<blocks, ROPE_THREADS, smem, HN_STREAM>>>(
        (TO *)out.data, out.ld, (const TX *)p->x.data, p->x.ld, s, p->pos, p->theta, p->inverse);
}

template <int N, bool COPY> static void launch_n(const hn_rope_params *p, hn_tensor out, rope_tile_shape s) {
    int xb = p->x.dtype == HN_BF16, ob = out.dtype == HN_BF16;
    if (xb && ob) launch_as<bf16, bf16, N, COPY>(p, out, s);
    else if (!xb && !ob) launch_as<float, float, N, COPY>(p, out, s);
    else if constexpr (COPY) { /* in place, out is x: one dtype */
        if (xb) launch_as<bf16, float, N, COPY>(p, out, s);
        else launch_as<float, bf16, N, COPY>(p, out, s);
    }
}

/* 0 when launched (or nothing to do), 1 when the tiles do not take the shape (the caller
 * runs the old kernels). copy: out of place into out (out.rows, out.cols those of x,
 * checked by the caller); else in place, out ignored. */
int hn_cuda_rope_tiles(const hn_rope_params *p, hn_tensor out, int copy) {
    int half = p->rot_dim / 2, T = p->x.rows;
    if (!copy) out = p->x;
    if (T == 0 || (!copy && half == 0)) return 0;
    if (half > ROPE_ANGLES) return 1;
    /* eight columns an access where every piece stays on one side of a rotation and the
     * views are 16-byte aligned rows; else one column */
    int N = half % 8 == 0 && p->head_dim % 8 == 0 && (!copy || p->x.cols % 8 == 0) &&
                    vec8_ok(p->x) && vec8_ok(out) ? 8 : 1;
    rope_tile_shape s = {T, p->heads, p->head_dim, p->rot_dim, half, half / N, 0, 0, 0};
    s.per_head = s.pairs + (copy ? (p->head_dim - 2 * half) / N : 0);
    s.row_items = p->heads * s.per_head + (copy ? (p->x.cols - p->heads * p->head_dim) / N : 0);
    if (s.row_items == 0) return 0;
    int rows = ROPE_ITEMS * ROPE_THREADS / s.row_items;
    if (half > 0 && rows > ROPE_ANGLES / half) rows = ROPE_ANGLES / half;
    s.rows = rows < 1 ? 1 : rows > T ? T : rows;
    if (N == 8) copy ? launch_n<8, true>(p, out, s) : launch_n<8, false>(p, out, s);
    else copy ? launch_n<1, true>(p, out, s) : launch_n<1, false>(p, out, s);
    HN_LAUNCHED(copy ? "rope (out of place)" : "rope"); /* the old kernels' names: one profile row */
    return 0;
}
