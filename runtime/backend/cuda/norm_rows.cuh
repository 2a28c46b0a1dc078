/* The row-register layout of the "rows" norm kernels (HNET_CUDA_NORM=rows: rmsnorm_rows.cu,
 * ssm_norm_rows.cu). A team of W warps owns one row (or one group of a row) at a time;
 * each of its threads holds NC chunks of V consecutive columns in registers, chunk k at
 * column (k 32 W + i) V for thread i of the team, so a row is read once, every load of it
 * issued before its sum, and written from registers after. A 256-thread block runs
 * 8 / W teams on different rows. Sums are float32: a row's partial sums are over at
 * most NC V = 32 values a thread, then a warp tree and W warps in a fixed order.
 * The dw column sums stay in the registers of the threads that own the columns, summed
 * over a block's rows, then over its teams in team order in shared memory, one partial
 * row per block (one wave of blocks: a few hundred rows); hn_cuda_norm_dw_sum_wide adds
 * the blocks' rows in a fixed order (no atomics). */
#ifndef HN_NORM_ROWS_CUH
#define HN_NORM_ROWS_CUH

#include <type_traits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_view.cuh"
#include "backend/cuda/instance.cuh"

#define ROWS_THREADS 256
#define ROWS_WARPS (ROWS_THREADS / 32)

/* the team's thread index and the first column of chunk k */
template <int W> __device__ __forceinline__ int rows_tid() { return threadIdx.x & (32 * W - 1); }
template <int W> __device__ __forceinline__ int rows_team() { return threadIdx.x / (32 * W); }
template <int V, int W> __device__ __forceinline__ int rows_col(int k) {
    return (k * 32 * W + rows_tid<W>()) * V;
}

/* NC chunks of row t, columns c0 + rows_col(k) (< c0 + D); zeros where off or outside */
template <int V, int W, int NC>
__device__ __forceinline__ void rows_load(view v, size_t t, int c0, int D, bool on, float a[NC][V]) {
#pragma unroll
    for (int k = 0; k < NC; k++) {
        int c = rows_col<V, W>(k);
        if (on && c < D) {
            loadn<V>(v, t, c0 + c, a[k]);
        } else {
#pragma unroll
            for (int j = 0; j < V; j++) a[k][j] = 0.0f;
        }
    }
}
/* GRAD: a gradient (gradn: added into float32 unless the view is marked write, written
 * over bf16) */
template <int V, int W, int NC, bool GRAD = false>
__device__ __forceinline__ void rows_store(view v, size_t t, int c0, int D, bool on,
                                           const float a[NC][V]) {
#pragma unroll
    for (int k = 0; k < NC; k++) {
        int c = rows_col<V, W>(k);
        if (on && c < D) {
            if constexpr (GRAD) gradn<V>(v, t, c0 + c, a[k]);
            else storen<V>(v, t, c0 + c, a[k]);
        }
    }
}
/* the weights of the thread's columns (w need not be 16-byte aligned: once a kernel) */
template <int V, int W, int NC>
__device__ __forceinline__ void rows_weights(const float *w, int D, float a[NC][V]) {
#pragma unroll
    for (int k = 0; k < NC; k++) {
        int c = rows_col<V, W>(k);
#pragma unroll
        for (int j = 0; j < V; j++) a[k][j] = c < D ? w[c + j] : 0.0f;
    }
}

/* the team's sum of v, in every thread of it; every thread of the block calls it (W > 1
 * synchronises the block; `red` holds a float a warp) */
template <int W> __device__ __forceinline__ float rows_team_sum(float v, float *red) {
    v = hn_warp_sum(v);
    if constexpr (W > 1) {
        int warp = threadIdx.x >> 5, first = warp & ~(W - 1);
        __syncthreads(); /* the previous call's readers are done with red */
        if ((threadIdx.x & 31) == 0) red[warp] = v;
        __syncthreads();
        v = 0.0f;
#pragma unroll
        for (int i = 0; i < W; i++) v += red[first + i];
    }
    return v;
}

/* out[0, D) = the block's dw: the teams' register sums added in team order through s
 * (D floats of shared memory); every thread of the block calls it */
template <int V, int W, int NC>
__device__ __forceinline__ void rows_partials(float *out, int D, const float dw[NC][V], float *s) {
    constexpr int TEAMS = ROWS_WARPS / W;
    int team = rows_team<W>();
    for (int m = 0; m < TEAMS; m++) {
        if (team == m)
#pragma unroll
            for (int k = 0; k < NC; k++) {
                int c = rows_col<V, W>(k);
                if (c < D)
#pragma unroll
                    for (int j = 0; j < V; j++) s[c + j] = (m ? s[c + j] : 0.0f) + dw[k][j];
            }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[i] = s[i];
}

/* ---- host side: which instantiation holds a row of D columns */
struct rows_shape {
    int v, w, nc; /* 0: none (the caller takes the old kernels) */
};
#define ROWS_MAX_NC 4
#define ROWS_MAX_W 4
/* V = 8 where every view allows 16-byte access and D % 8 == 0, else 1; the fewest warps a
 * row (1, 2, 4) that keep at most nc_max chunks a thread */
static inline rows_shape rows_shape_of(int D, bool by8, int nc_max) {
    int v = by8 && D % 8 == 0 ? 8 : 1, units = (D + v - 1) / v;
    for (int w = 1; w <= ROWS_MAX_W; w *= 2) {
        int nc = (units + 32 * w - 1) / (32 * w);
        if (nc <= nc_max) return rows_shape{v, w, nc};
    }
    return rows_shape{0, 0, 0};
}

/* f(V, W, NC) with the three as std::integral_constant (template arguments in f); NC up
 * to MAX_NC only are instantiated */
template <int V, int W, int MAX_NC, typename F> static void rows_by_nc(int nc, F &&f) {
    using std::integral_constant;
    using v_ = integral_constant<int, V>;
    using w_ = integral_constant<int, W>;
    if (nc == 1) f(v_{}, w_{}, integral_constant<int, 1>{});
    if constexpr (MAX_NC >= 2) if (nc == 2) f(v_{}, w_{}, integral_constant<int, 2>{});
    if constexpr (MAX_NC >= 3) if (nc == 3) f(v_{}, w_{}, integral_constant<int, 3>{});
    if constexpr (MAX_NC >= 4) if (nc == 4) f(v_{}, w_{}, integral_constant<int, 4>{});
}
template <int V, int MAX_NC, typename F> static void rows_by_w(int w, int nc, F &&f) {
    if (w == 1) rows_by_nc<V, 1, MAX_NC>(nc, f);
    else if (w == 2) rows_by_nc<V, 2, MAX_NC>(nc, f);
    else rows_by_nc<V, 4, MAX_NC>(nc, f);
}
/* s from rows_shape_of(..., MAX_NC) */
template <int MAX_NC, typename F> static void rows_dispatch(rows_shape s, F &&f) {
    static_assert(MAX_NC >= 1 && MAX_NC <= ROWS_MAX_NC, "1 to 4 chunks a thread");
    if (s.v == 8) rows_by_w<8, MAX_NC>(s.w, s.nc, f);
    else rows_by_w<1, MAX_NC>(s.w, s.nc, f);
}

/* the blocks of `kernel` (ROWS_THREADS threads, smem bytes of dynamic shared memory) the
 * device holds at once: one wave, no tail */
template <typename K> static long rows_wave(K kernel, size_t smem) {
    int dev = hn_cuda_cur()->device, sms = 0, per_sm = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms <= 0)
        sms = 132;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, ROWS_THREADS, smem) !=
            cudaSuccess || per_sm <= 0)
        per_sm = 2; /* __launch_bounds__'s minimum */
    return (long)sms * per_sm;
}
/* rows a team takes in a backward block so that `wave` blocks cover `items` rows (x groups):
 * one wave, each block's dw one partial row; 1 to 512 */
static inline int rows_per_team(long items, int w, long wave) {
    long slots = wave * (ROWS_WARPS / w), r = (items + slots - 1) / slots;
    return r < 1 ? 1 : r > 512 ? 512 : (int)r;
}
/* forward blocks over `blocks_needed` (a team a row, grid-strided): at most one wave */
static inline unsigned rows_grid(long blocks_needed, long wave) {
    long g = blocks_needed < wave ? blocks_needed : wave;
    return (unsigned)(g < 1 ? 1 : g);
}

/* the entry points the ops take when cfg.norm_rows is set: false where the shape or the
 * views do not fit a rows kernel (the caller runs the old one) */
bool hn_cuda_rms_rows_forward(const hn_rmsnorm_params *p, int fused); /* rmsnorm_rows.cu */
bool hn_cuda_rms_rows_backward(const hn_rmsnorm_params *p);
bool hn_cuda_grms_rows_forward(view out, float *rstd, view x, view z, const float *w, int T,
                               int Dm, int gs, float eps); /* ssm_norm_rows.cu */
bool hn_cuda_grms_rows_backward(view dx, view dz, float *dw, view dout, view x, view z,
                                const float *w, const float *rstd, int T, int Dm, int gs);
/* dw[c] += sum over strips of part[strip][c], strips in a fixed order (ssm_norm.cu); _wide:
 * 32 warps a block of columns instead of 8 (the rows kernels' sums) */
void hn_cuda_norm_dw_sum(float *dw, const float *part, int strips, int D);
void hn_cuda_norm_dw_sum_wide(float *dw, const float *part, int strips, int D);

#endif
