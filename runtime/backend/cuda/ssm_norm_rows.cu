/* cuda gated RMSNorm of Mamba-2, the row-register kernels (HNET_CUDA_NORM=rows; layout in
 * norm_rows.cuh; the default kernels, the formulas and the op entry points are in
 * ssm_norm.cu, the cpu twin cpu/ssm_norm.c). A team per (row, group): x and z read once
 * in the forward; x, z and dout once in the backward, which sums the strip's dw in the
 * same pass. grid.y = the groups, so a thread owns the same columns in every row. */
#include "backend/cuda/norm_rows.cuh"

/* sg = sigmoid(z), g = x silu(z) for a thread's chunks (the cpu's (x z) sigmoid(z)) */
template <int V, int NC>
__device__ __forceinline__ void rows_gate(float g[NC][V], float sg[NC][V], const float x[NC][V],
                                          const float z[NC][V]) {
#pragma unroll
    for (int k = 0; k < NC; k++)
#pragma unroll
        for (int j = 0; j < V; j++) {
            sg[k][j] = hn_sigmoidf(z[k][j]);
            g[k][j] = x[k][j] * z[k][j] * sg[k][j];
        }
}

template <int V, int W, int NC>
__global__ void __launch_bounds__(ROWS_THREADS, 2)
    k_grms_fwd_rows(view out, float *rstd, view x, view z, const float *w, int T, int gs, float eps) {
    __shared__ float red[ROWS_WARPS];
    constexpr int TEAMS = ROWS_WARPS / W;
    int ng = gridDim.y, c0 = blockIdx.y * gs;
    float wv[NC][V];
    rows_weights<V, W, NC>(w + c0, gs, wv);
    int team = rows_team<W>(), stride = TEAMS * gridDim.x, steps = (T + stride - 1) / stride;
    for (int i = 0; i < steps; i++) { /* the same count in every team: rows_team_sum syncs */
        int t = (i * gridDim.x + blockIdx.x) * TEAMS + team;
        bool on = t < T;
        float xv[NC][V], zv[NC][V], g[NC][V], sg[NC][V], ss = 0.0f;
        rows_load<V, W, NC>(x, t, c0, gs, on, xv);
        rows_load<V, W, NC>(z, t, c0, gs, on, zv);
        rows_gate<V, NC>(g, sg, xv, zv);
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) ss += g[k][j] * g[k][j];
        ss = rows_team_sum<W>(ss, red);
        float r = 1.0f / sqrtf(ss / gs + eps);
        if (on && rows_tid<W>() == 0) rstd[(size_t)t * ng + blockIdx.y] = r;
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) g[k][j] *= r * wv[k][j];
        rows_store<V, W, NC>(out, t, c0, gs, on, g);
    }
}

/* a block per (strip of per_team * TEAMS rows, group): with h = dout w,
 * dg = r h - g r^3 (sum h g) / gs; dx += dg silu(z), dz += dg x silu'(z) (gradn's rule);
 * the strip's dw = sum dout g r to part[block][group's columns] */
template <int V, int W, int NC>
__global__ void __launch_bounds__(ROWS_THREADS, 2)
    k_grms_bwd_rows(view dx, view dz, float *part, view dout, view x, view z, const float *w,
                    const float *rstd, int T, int gs, int per_team) {
    extern __shared__ float dw_s[]; /* [gs] */
    __shared__ float red[ROWS_WARPS];
    constexpr int TEAMS = ROWS_WARPS / W;
    int ng = gridDim.y, c0 = blockIdx.y * gs;
    float dw[NC][V] = {};
    int team = rows_team<W>(), r0 = blockIdx.x * per_team * TEAMS;
    for (int i = 0; i < per_team; i++) {
        int t = r0 + i * TEAMS + team;
        bool on = t < T;
        float xv[NC][V], zv[NC][V], h[NC][V], hg = 0.0f;
        float r = on ? rstd[(size_t)t * ng + blockIdx.y] : 0.0f;
        rows_load<V, W, NC>(x, t, c0, gs, on, xv);
        rows_load<V, W, NC>(z, t, c0, gs, on, zv);
        rows_load<V, W, NC>(dout, t, c0, gs, on, h);
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) {
                int c = rows_col<V, W>(k) + j; /* w from L1 as it is used: see GRMS_BWD_NC */
                float g = xv[k][j] * zv[k][j] * hn_sigmoidf(zv[k][j]);
                dw[k][j] += h[k][j] * g * r;
                h[k][j] *= c < gs ? __ldg(w + c0 + c) : 0.0f; /* h = dout w: all the rest needs */
                hg += h[k][j] * g;
            }
        hg = rows_team_sum<W>(hg, red);
        float kk = r * r * r * hg / gs;
        /* xv becomes the dx term and zv the dz term in place */
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) {
                float zj = zv[k][j], xj = xv[k][j], sg = hn_sigmoidf(zj), silu = zj * sg;
                float dg = r * h[k][j] - kk * (xj * zj * sg);
                xv[k][j] = dg * silu;
                zv[k][j] = dg * xj * sg * (1.0f + zj * (1.0f - sg));
            }
        rows_store<V, W, NC, true>(dx, t, c0, gs, on, xv);
        rows_store<V, W, NC, true>(dz, t, c0, gs, on, zv);
    }
    rows_partials<V, W, NC>(part + (size_t)blockIdx.x * ng * gs + c0, gs, dw, dw_s);
}

/* the backward holds four arrays of chunks across a row's sum (x, z, dout w, dw; w read
 * from L1 as used): at most 2 chunks a thread, so that two blocks fit an SM without spills
 * (ptxas: 128 registers; 3 chunks spilled 328 bytes). d_inner 1536 runs 4 warps a row
 * with a quarter of the threads idle in their second chunk. */
#define GRMS_BWD_NC 2

bool hn_cuda_grms_rows_forward(view out, float *rstd, view x, view z, const float *w, int T,
                               int Dm, int gs, float eps) {
    rows_shape s = rows_shape_of(gs, view8_ok(out) && view8_ok(x) && view8_ok(z), ROWS_MAX_NC);
    if (!s.v) return false;
    long teams = ROWS_WARPS / s.w, blocks = (T + teams - 1) / teams;
    int ng = Dm / gs;
    rows_dispatch<ROWS_MAX_NC>(s, [&](auto V, auto W, auto NC) {
        auto kernel = k_grms_fwd_rows<V, W, NC>;
        dim3 grid(rows_grid(blocks, rows_wave(kernel, 0) / ng), ng); /* one wave over all groups */
        kernel<<<grid, ROWS_THREADS, 0, HN_STREAM>>>(out, rstd, x, z, w, T, gs, eps);
    });
    return true;
}

bool hn_cuda_grms_rows_backward(view dx, view dz, float *dw, view dout, view x, view z,
                                const float *w, const float *rstd, int T, int Dm, int gs) {
    bool by8 = view8_ok(dx) && view8_ok(dz) && view8_ok(dout) && view8_ok(x) && view8_ok(z);
    rows_shape s = rows_shape_of(gs, by8, GRMS_BWD_NC);
    if (!s.v) return false;
    int ng = Dm / gs;
    rows_dispatch<GRMS_BWD_NC>(s, [&](auto V, auto W, auto NC) {
        auto kernel = k_grms_bwd_rows<V, W, NC>;
        size_t smem = (size_t)gs * sizeof(float);
        int per_team = rows_per_team((long)T * ng, W, rows_wave(kernel, smem));
        int rows = per_team * (ROWS_WARPS / W), strips = (T + rows - 1) / rows;
        float *part = (float *)hn_cuda_scratch(HN_SCRATCH_NORM, (size_t)strips * Dm * sizeof(float));
        if (!part) return; /* noted: the op fails */
        dim3 grid(strips, ng);
        kernel<<<grid, ROWS_THREADS, smem, HN_STREAM>>>(dx, dz, part, dout, x, z, w, rstd, T, gs, per_team);
        hn_cuda_norm_dw_sum_wide(dw, part, strips, Dm);
    });
    return true;
}
