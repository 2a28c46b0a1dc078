/* cuda gated RMSNorm of Mamba-2 (ops_ssm.h, norm_before_gate = False) on float32 or bf16
 * views (cuda_view.cuh): the v1 ops pass float32 arrays as views. Per row and group,
 *   g = x silu(z),  out = g r w,  r = 1 / sqrt(mean(g^2) + eps),
 * reading x and z and writing out in one launch; backward in one pass, the strips' partial
 * sums of dw added by a second launch in a fixed order (deterministic, no atomics).
 * Where every view allows 16-byte loads and a group is at most VEC_MAX_GS = 4096 columns
 * (the models': 1536), a block per (row, group) holds eight columns a thread in registers (the vec
 * kernels: one read of each input, sums in float32); otherwise a warp per (row, group)
 * reads element by element, twice (the scalar kernels; their backward keeps a strip's dw
 * in shared memory, or, for groups too wide for it or HNET_CUDA_NORM=split, takes a
 * separate pass for dw). HNET_CUDA_NORM=rows (cfg.gated_norm_rows) takes the row-register
 * kernels of ssm_norm_rows.cu where the group fits them (slower on the H200 at 1024 and
 * 1536 wide: 2.1-2.4x their floor against these kernels' 1.3-1.5x; bench/NOTES.md). */
#include <stdlib.h>
#include <string.h>

#include <initializer_list>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"
#include "backend/cuda/norm_rows.cuh"

#define NORM_STRIP 256    /* rows per partial sum of dw (separate pass) */
#define FUSED_MAX_GS 8192 /* widest group whose dw sums fit in shared memory */

__global__ void k_grms_fwd(view out, float *rstd, view x, view z, const float *w, int T, int Dm,
                           int gs, float eps) {
    int ng = Dm / gs;
    long item = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= (long)T * ng) return;
    int t = (int)(item / ng), c0 = (int)(item % ng) * gs;
    double ss = 0;
    for (int c = c0 + lane; c < c0 + gs; c += 32) {
        float zv = vget(z, t, c), v = vget(x, t, c) * zv * hn_sigmoidf(zv);
        ss += (double)v * v;
    }
    ss = hn_warp_sum_d(ss);
    float r = (float)(1.0 / sqrt(ss / gs + (double)eps));
    if (lane == 0) rstd[item] = r;
    for (int c = c0 + lane; c < c0 + gs; c += 32) {
        float zv = vget(z, t, c), v = vget(x, t, c) * zv * hn_sigmoidf(zv);
        vput(out, t, c, v * (r * w[c]));
    }
}

__global__ void k_grms_bwd(view dx, view dz, view dout, view x, view z, const float *w,
                           const float *rstd, int T, int Dm, int gs) {
    int ng = Dm / gs;
    long item = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= (long)T * ng) return;
    int t = (int)(item / ng), c0 = (int)(item % ng) * gs;
    double r = rstd[item], hg = 0;
    for (int c = c0 + lane; c < c0 + gs; c += 32) {
        float zv = vget(z, t, c);
        hg += (double)vget(dout, t, c) * w[c] * ((double)vget(x, t, c) * zv * hn_sigmoidf(zv));
    }
    hg = hn_warp_sum_d(hg);
    double k = r * r * r * hg / gs;
    for (int c = c0 + lane; c < c0 + gs; c += 32) {
        float zv = vget(z, t, c), xv = vget(x, t, c), sg = hn_sigmoidf(zv), silu = zv * sg;
        double gv = (double)xv * silu;
        float dg = (float)(r * vget(dout, t, c) * w[c] - k * gv);
        vgrad(dx, t, c, dg * silu);
        vgrad(dz, t, c, dg * xv * sg * (1.0f + zv * (1.0f - sg)));
    }
}

/* ---- the vec kernels: blockDim.x = gs / 8 rounded up to a warp; thread i owns columns
 * c0 + 8i .. c0 + 8i + 7 of every row its block visits */
#define VEC_MAX_GS 4096 /* 512 threads: room for 128 registers (at 1024 the backward spilled) */

/* the block's sum of v, the same value in every thread, in a fixed order; `red` may be
 * reused by the next call (the first barrier waits for this call's readers) */
__device__ __forceinline__ float block_sum(float v, float *red) {
    v = hn_warp_sum(v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s += red[i];
    return s;
}

/* g = x silu(z) for eight columns; sg keeps sigmoid(z) for the backward */
__device__ __forceinline__ void gate8(float g[8], float sg[8], const float x[8], const float z[8]) {
#pragma unroll
    for (int k = 0; k < 8; k++) {
        sg[k] = hn_sigmoidf(z[k]);
        g[k] = x[k] * z[k] * sg[k];
    }
}

/* grid (row blocks, groups), rows grid-strided */
__global__ void __launch_bounds__(512) k_grms_fwd_vec(view out, float *rstd, view x, view z,
                                                        const float *w, int T, int gs, float eps) {
    __shared__ float red[32];
    int ng = gridDim.y, grp = blockIdx.y, j = 8 * threadIdx.x, c = grp * gs + j;
    bool on = j < gs;
    float wv[8];
#pragma unroll
    for (int k = 0; k < 8; k++) wv[k] = on ? w[c + k] : 0.0f;
    for (int t = blockIdx.x; t < T; t += gridDim.x) {
        float g[8] = {}, sg[8], ss = 0.0f;
        if (on) {
            float xv[8], zv[8];
            load8(x, t, c, xv);
            load8(z, t, c, zv);
            gate8(g, sg, xv, zv);
#pragma unroll
            for (int k = 0; k < 8; k++) ss += g[k] * g[k];
        }
        ss = block_sum(ss, red);
        float r = 1.0f / sqrtf(ss / gs + eps);
        if (threadIdx.x == 0) rstd[(size_t)t * ng + grp] = r;
        if (on) {
#pragma unroll
            for (int k = 0; k < 8; k++) g[k] *= r * wv[k];
            store8(out, t, c, g);
        }
    }
}

/* grid (strips of `rows` rows, groups): dx, dz row by row; the strip's dw partial sums
 * stay in each thread's registers (it owns the same columns in every row) */
__global__ void __launch_bounds__(512) k_grms_bwd_vec(view dx, view dz, float *part, view dout,
                                                        view x, view z, const float *w,
                                                        const float *rstd, int T, int gs, int rows) {
    __shared__ float red[32];
    int ng = gridDim.y, grp = blockIdx.y, j = 8 * threadIdx.x, c = grp * gs + j;
    int r0 = blockIdx.x * rows, r1 = min(T, r0 + rows);
    bool on = j < gs;
    float wv[8], dw[8] = {};
#pragma unroll
    for (int k = 0; k < 8; k++) wv[k] = on ? w[c + k] : 0.0f;
    for (int t = r0; t < r1; t++) {
        float xv[8] = {}, zv[8] = {}, go[8] = {}, g[8] = {}, sg[8] = {}, hg = 0.0f;
        if (on) {
            load8(x, t, c, xv);
            load8(z, t, c, zv);
            load8(dout, t, c, go);
            gate8(g, sg, xv, zv);
#pragma unroll
            for (int k = 0; k < 8; k++) hg += go[k] * wv[k] * g[k];
        }
        hg = block_sum(hg, red);
        float r = rstd[(size_t)t * ng + grp], kk = r * r * r * hg / gs;
        if (on) {
            float gx[8], gz[8];
#pragma unroll
            for (int k = 0; k < 8; k++) {
                float dg = r * go[k] * wv[k] - kk * g[k], silu = zv[k] * sg[k];
                gx[k] = dg * silu;
                gz[k] = dg * xv[k] * sg[k] * (1.0f + zv[k] * (1.0f - sg[k]));
                dw[k] += go[k] * g[k] * r;
            }
            gradn<8>(dx, t, c, gx);
            gradn<8>(dz, t, c, gz);
        }
    }
    if (on)
#pragma unroll
        for (int k = 0; k < 8; k++) part[(size_t)blockIdx.x * ng * gs + c + k] = dw[k];
}

static bool vec_fits(int gs, std::initializer_list<view> views) {
    if (gs % 8 || gs > VEC_MAX_GS) return false;
    for (view v : views)
        if (!view8_ok(v)) return false;
    return true;
}
static unsigned vec_threads(int gs) { return (unsigned)((gs / 8 + 31) / 32 * 32); }

/* A block per (strip of `rows` rows, group); thread i owns columns c0 + i + k * 256.
 * Per row: hg = sum_group dout w g (a block sum), then dx, dz and dw's partial sums. */
__global__ void __launch_bounds__(256) k_grms_bwd_fused(view dx, view dz, float *part, view dout,
                                                        view x, view z, const float *w,
                                                        const float *rstd, int T, int Dm, int gs,
                                                        int rows) {
    extern __shared__ float dw_s[]; /* [gs] */
    __shared__ double red[8];
    int ng = Dm / gs, grp = blockIdx.y, c0 = grp * gs, tid = threadIdx.x;
    int r0 = blockIdx.x * rows, r1 = min(T, r0 + rows);
    for (int j = tid; j < gs; j += 256) dw_s[j] = 0.0f;
    for (int t = r0; t < r1; t++) {
        double hg = 0;
        for (int j = tid; j < gs; j += 256) {
            int c = c0 + j;
            float zv = vget(z, t, c);
            hg += (double)vget(dout, t, c) * w[c] * ((double)vget(x, t, c) * zv * hn_sigmoidf(zv));
        }
        hg = hn_warp_sum_d(hg);
        if ((tid & 31) == 0) red[tid >> 5] = hg;
        __syncthreads();
        hg = 0;
#pragma unroll
        for (int i = 0; i < 8; i++) hg += red[i];
        __syncthreads(); /* red is written again by the next row */
        double r = rstd[(size_t)t * ng + grp], k = r * r * r * hg / gs;
        for (int j = tid; j < gs; j += 256) {
            int c = c0 + j;
            float zv = vget(z, t, c), xv = vget(x, t, c), go = vget(dout, t, c);
            float sg = hn_sigmoidf(zv), silu = zv * sg;
            double gv = (double)xv * silu;
            float dg = (float)(r * go * w[c] - k * gv);
            vgrad(dx, t, c, dg * silu);
            vgrad(dz, t, c, dg * xv * sg * (1.0f + zv * (1.0f - sg)));
            dw_s[j] += (float)(go * gv * r);
        }
    }
    for (int j = tid; j < gs; j += 256) part[(size_t)blockIdx.x * Dm + c0 + j] = dw_s[j];
}

/* part[strip][c] = sum over the strip's rows of dout g r */
__global__ void k_grms_dw_part(float *part, view dout, view x, view z, const float *rstd, int T,
                               int Dm, int gs) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= Dm) return;
    int ng = Dm / gs, r0 = blockIdx.y * NORM_STRIP, r1 = min(T, r0 + NORM_STRIP);
    double acc = 0;
    for (int t = r0; t < r1; t++) {
        float zv = vget(z, t, c);
        acc += (double)vget(dout, t, c) * vget(x, t, c) * zv * hn_sigmoidf(zv) *
               rstd[(size_t)t * ng + c / gs];
    }
    part[(size_t)blockIdx.y * Dm + c] = (float)acc;
}

/* dw[c] += the strips' partial sums: a block per 32 columns, its WARPS warps taking every
 * WARPS-th strip (coalesced rows, WARPS loads in flight per column), their sums added in
 * warp order */
template <int WARPS>
__global__ void __launch_bounds__(WARPS * 32) k_grms_dw_sum(float *dw, const float *part,
                                                            int strips, int Dm) {
    __shared__ float s[WARPS][33];
    int i = threadIdx.x & 31, j = threadIdx.x >> 5, c = blockIdx.x * 32 + i;
    float acc = 0.0f;
    if (c < Dm)
        for (int b = j; b < strips; b += WARPS) acc += part[(size_t)b * Dm + c];
    s[j][i] = acc;
    __syncthreads();
    if (j == 0 && c < Dm) {
        float t = 0.0f;
        for (int k = 0; k < WARPS; k++) t += s[k][i];
        dw[c] += t;
    }
}

void hn_cuda_norm_dw_sum(float *dw, const float *part, int strips, int D) {
    k_grms_dw_sum<8><<<(D + 31) / 32, 256, 0, HN_STREAM>>>(dw, part, strips, D);
}

/* the rows kernels' few partial rows (one a block of one wave) over few columns (a block
 * per 32): 32 warps a block, so that a column's sum is 32 loads deep, not 8 x as deep */
void hn_cuda_norm_dw_sum_wide(float *dw, const float *part, int strips, int D) {
    k_grms_dw_sum<32><<<(D + 31) / 32, 1024, 0, HN_STREAM>>>(dw, part, strips, D);
}

/* rows per block of the fused backward: about 2048 blocks over all groups (two waves of
 * eight 256-thread blocks an SM on an H200), 8 to 128 rows. HNET_CUDA_NORM=split takes
 * the separate dw pass instead (for comparison). */
static int fused_rows(int T, int gs, int ng) {
    int split = hn_cuda_cur()->cfg.norm_split;
    if (split || gs > FUSED_MAX_GS) return 0;
    long r = (long)T * ng / 2048;
    return r < 8 ? 8 : r > 128 ? 128 : (int)r;
}

static void grms_forward(view out, float *rstd, view x, view z, const float *w, int T, int Dm,
                         int gs, float eps) {
    long items = (long)T * (Dm / gs);
    if (items <= 0) return;
    if (hn_cuda_cur()->cfg.gated_norm_rows && hn_cuda_grms_rows_forward(out, rstd, x, z, w, T, Dm, gs, eps)) {
        HN_LAUNCHED("gated_rmsnorm_forward (rows)");
        return;
    }
    if (vec_fits(gs, {out, x, z})) {
        dim3 grid((unsigned)(T < 4096 ? T : 4096), Dm / gs);
        k_grms_fwd_vec<<<grid, vec_threads(gs), 0, HN_STREAM>>>(out, rstd, x, z, w, T, gs, eps);
    } else {
        k_grms_fwd<<<(unsigned)((items + 7) / 8), 256, 0, HN_STREAM>>>(out, rstd, x, z, w, T, Dm, gs, eps);
    }
    HN_LAUNCHED("gated_rmsnorm_forward");
}

static void grms_backward(view dx, view dz, float *dw, view dout, view x, view z, const float *w,
                          const float *rstd, int T, int Dm, int gs) {
    long items = (long)T * (Dm / gs);
    if (items <= 0) return;
    if (hn_cuda_cur()->cfg.gated_norm_rows &&
        hn_cuda_grms_rows_backward(dx, dz, dw, dout, x, z, w, rstd, T, Dm, gs)) {
        HN_LAUNCHED("gated_rmsnorm_backward (rows)");
        return;
    }
    int fused = fused_rows(T, gs, Dm / gs), rows = fused ? fused : NORM_STRIP;
    bool vec = fused && vec_fits(gs, {dx, dz, dout, x, z});
    if (vec) rows = fused < 32 ? fused : 32; /* registers, not shared memory, hold dw: short strips */
    int strips = (T + rows - 1) / rows;
    float *part = (float *)hn_cuda_scratch(HN_SCRATCH_NORM, (size_t)strips * Dm * sizeof(float));
    if (!part) return;
    if (vec) {
        dim3 grid(strips, Dm / gs);
        k_grms_bwd_vec<<<grid, vec_threads(gs), 0, HN_STREAM>>>(dx, dz, part, dout, x, z, w, rstd, T, gs, rows);
    } else if (fused) {
        dim3 grid(strips, Dm / gs); /* gs floats of shared memory: 32 KB at most */
        k_grms_bwd_fused<<<grid, 256, (size_t)gs * sizeof(float), HN_STREAM>>>(dx, dz, part, dout, x, z, w, rstd,
                                                                    T, Dm, gs, rows);
    } else {
        k_grms_bwd<<<(unsigned)((items + 7) / 8), 256, 0, HN_STREAM>>>(dx, dz, dout, x, z, w, rstd, T, Dm, gs);
        dim3 grid((Dm + 127) / 128, strips);
        k_grms_dw_part<<<grid, 128, 0, HN_STREAM>>>(part, dout, x, z, rstd, T, Dm, gs);
    }
    hn_cuda_norm_dw_sum(dw, part, strips, Dm);
    HN_LAUNCHED("gated_rmsnorm_backward");
}

void hn_cuda_grms_forward(float *out, float *rstd, const float *x, const float *z, int ld_z,
                          const float *w, int T, int Dm, int gs, float eps) {
    grms_forward(view_f32(out, Dm), rstd, view_f32(x, Dm), view_f32(z, ld_z), w, T, Dm, gs, eps);
}

void hn_cuda_grms_backward(float *dx, float *dz, int ld_dz, float *dw, const float *dout,
                           const float *x, const float *z, int ld_z, const float *w,
                           const float *rstd, int T, int Dm, int gs) {
    grms_backward(view_f32(dx, Dm), view_f32(dz, ld_dz), dw, view_f32(dout, Dm), view_f32(x, Dm),
                  view_f32(z, ld_z), w, rstd, T, Dm, gs);
}

static int fits(hn_tensor t, int rows, int cols) { return t.rows == rows && t.cols == cols; }

static int norm_fits(const hn_gated_norm_params *p, int backward, const char *what) {
    int T = p->x.rows, Dm = p->x.cols;
    int ok = p->group_size > 0 && Dm % p->group_size == 0 && fits(p->z, T, Dm);
    if (!backward) ok = ok && fits(p->out, T, Dm);
    else ok = ok && fits(p->dout, T, Dm) && fits(p->dx, T, Dm) && fits(p->dz, T, Dm);
    if (!ok) hn_cuda_note(cudaErrorInvalidValue, what);
    return ok;
}

extern "C" int hn_cuda_gated_rmsnorm_forward_t(const hn_backend *be, const hn_gated_norm_params *p) {
    (void)be;
    if (!norm_fits(p, 0, "gated_rmsnorm_forward_t: shapes do not fit")) return -1;
    grms_forward(view_of(p->out), p->rstd, view_of(p->x), view_of(p->z), p->w, p->x.rows,
                 p->x.cols, p->group_size, p->eps);
    return 0;
}

extern "C" int hn_cuda_gated_rmsnorm_backward_t(const hn_backend *be, const hn_gated_norm_params *p) {
    (void)be;
    if (!norm_fits(p, 1, "gated_rmsnorm_backward_t: shapes do not fit")) return -1;
    grms_backward(grad_view_of(p->dx, p->overwrite), grad_view_of(p->dz, p->overwrite), p->dw,
                  view_of(p->dout), view_of(p->x),
                  view_of(p->z), p->w, p->rstd, p->x.rows, p->x.cols, p->group_size);
    return 0;
}
