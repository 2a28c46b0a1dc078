/* cuda RMSNorm on typed views, the row-register kernels (HNET_CUDA_NORM=rows; layout in
 * norm_rows.cuh; the default kernels and the op entry points are rmsnorm_typed.cu, the
 * cpu twin cpu/rmsnorm_typed.c). Forward (and the fused residual add): x read once, y
 * (and y2) written from registers. Backward: dy and x read once, dx read and written,
 * dx2 written, dw summed in the same pass (no second read of dy and x, no atomics). */
#include "backend/cuda/norm_rows.cuh"

/* rows grid-strided over the blocks, a team a row; fused: x += branch, written back */
template <int V, int W, int NC>
__global__ void __launch_bounds__(ROWS_THREADS, 2)
    k_rms_fwd_rows(view y, view y2, float *rstd, view x, view branch, const float *w, int T,
                   int D, float eps, int fused) {
    __shared__ float red[ROWS_WARPS];
    constexpr int TEAMS = ROWS_WARPS / W;
    float wv[NC][V];
    rows_weights<V, W, NC>(w, D, wv);
    int team = rows_team<W>(), stride = TEAMS * gridDim.x, steps = (T + stride - 1) / stride;
    for (int i = 0; i < steps; i++) { /* the same count in every team: rows_team_sum syncs */
        int t = (i * gridDim.x + blockIdx.x) * TEAMS + team;
        bool on = t < T;
        float v[NC][V], ss = 0.0f;
        rows_load<V, W, NC>(x, t, 0, D, on, v);
        if (fused) {
            float b[NC][V];
            rows_load<V, W, NC>(branch, t, 0, D, on, b);
#pragma unroll
            for (int k = 0; k < NC; k++)
#pragma unroll
                for (int j = 0; j < V; j++) v[k][j] += b[k][j];
            rows_store<V, W, NC>(x, t, 0, D, on, v);
        }
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) ss += v[k][j] * v[k][j];
        ss = rows_team_sum<W>(ss, red);
        float r = 1.0f / sqrtf(ss / D + eps);
        if (on && rows_tid<W>() == 0) rstd[t] = r;
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) v[k][j] = v[k][j] * r * wv[k][j];
        rows_store<V, W, NC>(y, t, 0, D, on, v);
        if (y2.p) rows_store<V, W, NC>(y2, t, 0, D, on, v);
    }
}

/* a block per strip of per_team * TEAMS rows: dx += r g w - x r^3 (sum g w x) / D (and
 * dx2 = the new dx) row by row; the strip's dw = sum g x r to part[block] */
template <int V, int W, int NC>
__global__ void __launch_bounds__(ROWS_THREADS, 2)
    k_rms_bwd_rows(view dx, view dx2, float *part, view dy, view x, const float *w,
                   const float *rstd, int T, int D, int per_team) {
    extern __shared__ float dw_s[]; /* [D] */
    __shared__ float red[ROWS_WARPS];
    constexpr int TEAMS = ROWS_WARPS / W;
    float dw[NC][V] = {};
    int team = rows_team<W>(), r0 = blockIdx.x * per_team * TEAMS;
    for (int i = 0; i < per_team; i++) {
        int t = r0 + i * TEAMS + team;
        bool on = t < T;
        float g[NC][V], v[NC][V], d[NC][V], gx = 0.0f, r = on ? rstd[t] : 0.0f;
        rows_load<V, W, NC>(dy, t, 0, D, on, g);
        rows_load<V, W, NC>(x, t, 0, D, on, v);
        rows_weights<V, W, NC>(w, D, d); /* w in d until dx is read (registers: see RMS_BWD_NC) */
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) {
                dw[k][j] += g[k][j] * v[k][j] * r;
                g[k][j] *= d[k][j]; /* g w: all the rest needs of w */
                gx += g[k][j] * v[k][j];
            }
        gx = rows_team_sum<W>(gx, red);
        rows_load<V, W, NC>(dx, t, 0, D, on, d);
        float cf = r * r * r * gx / D;
#pragma unroll
        for (int k = 0; k < NC; k++)
#pragma unroll
            for (int j = 0; j < V; j++) d[k][j] += r * g[k][j] - cf * v[k][j];
        rows_store<V, W, NC>(dx, t, 0, D, on, d);
        if (dx2.p) rows_store<V, W, NC>(dx2, t, 0, D, on, d);
    }
    rows_partials<V, W, NC>(part + (size_t)blockIdx.x * D, D, dw, dw_s);
}

/* the backward holds four arrays of chunks (dy, x, dw, and w then dx): at most 3 chunks a
 * thread, so that two blocks fit an SM without spills (ptxas: 128 registers) */
#define RMS_BWD_NC 3

static const view no_view = {NULL, 0, 0};
static view optional_view(hn_tensor t) { return t.data ? view_of(t) : no_view; }
static bool vec8(hn_tensor t) { return !t.data || vec8_ok(t); }

bool hn_cuda_rms_rows_forward(const hn_rmsnorm_params *p, int fused) {
    int T = p->x.rows, D = p->x.cols;
    bool by8 = vec8_ok(p->x) && vec8_ok(p->y) && vec8(p->y2) && (!fused || vec8_ok(p->branch));
    rows_shape s = rows_shape_of(D, by8, ROWS_MAX_NC);
    if (!s.v) return false;
    long teams = ROWS_WARPS / s.w, blocks = (T + teams - 1) / teams;
    view b = fused ? view_of(p->branch) : no_view;
    rows_dispatch<ROWS_MAX_NC>(s, [&](auto V, auto W, auto NC) {
        auto kernel = k_rms_fwd_rows<V, W, NC>;
        kernel<<<rows_grid(blocks, rows_wave(kernel, 0)), ROWS_THREADS, 0, HN_STREAM>>>(
            view_of(p->y), optional_view(p->y2), p->rstd, view_of(p->x), b, p->w, T, D, p->eps, fused);
    });
    return true;
}

bool hn_cuda_rms_rows_backward(const hn_rmsnorm_params *p) {
    int T = p->x.rows, D = p->x.cols;
    bool by8 = vec8_ok(p->x) && vec8_ok(p->dy) && vec8_ok(p->dx) && vec8(p->dx2);
    rows_shape s = rows_shape_of(D, by8, RMS_BWD_NC);
    if (!s.v) return false;
    rows_dispatch<RMS_BWD_NC>(s, [&](auto V, auto W, auto NC) {
        auto kernel = k_rms_bwd_rows<V, W, NC>;
        size_t smem = (size_t)D * sizeof(float);
        int per_team = rows_per_team(T, W, rows_wave(kernel, smem)), rows = per_team * (ROWS_WARPS / W);
        int strips = (T + rows - 1) / rows;
        float *part = (float *)hn_cuda_scratch(HN_SCRATCH_NORM, (size_t)strips * D * sizeof(float));
        if (!part) return; /* noted: the op fails */
        kernel<<<strips, ROWS_THREADS, smem, HN_STREAM>>>(view_of(p->dx), optional_view(p->dx2), part,
                                                          view_of(p->dy), view_of(p->x), p->w,
                                                          p->rstd, T, D, per_team);
        hn_cuda_norm_dw_sum_wide(p->dw, part, strips, D);
    });
    return true;
}
