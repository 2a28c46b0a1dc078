/* cuda RMSNorm on typed views (backend.h: hn_rmsnorm_params; cpu twin:
 * cpu/rmsnorm_typed.c). One warp per row, as the v1 kernels of basic.cu; the fused op
 * adds the branch into the float32 residual and normalises the sum in the same pass, and
 * the outputs are written in the dtype of their views, so the next product reads its
 * operand as it is (no per-call rounding in matmul.cu). Where every view allows it a lane
 * moves eight consecutive elements at a time (cuda_view.cuh load8 / store8).
 * By default (cfg.norm_rows; HNET_CUDA_NORM=old turns it off) the row-register kernels of
 * rmsnorm_rows.cu run where the row fits them: 1.1x their floor against these kernels'
 * 1.3-1.5x at 512 and 768 wide (H200, bench/NOTES.md session 9). */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"
#include "backend/cuda/norm_rows.cuh"

#define RMS_STRIP 256 /* rows per block of the dw column sums */

static const view no_view = {NULL, 0, 0};

/* One row of the forward: ss over x (+ branch, written back into x when fused), then
 * y = x r w (and y2). STEP 8: lanes take eight columns at a time; 1: one. */
template <int STEP>
__global__ void k_rms_fwd_t(view y, view y2, float *rstd, view x, view branch, const float *w,
                            int T, int D, float eps, int fused) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    double ss = 0;
    for (int c = lane * STEP; c < D; c += 32 * STEP) {
        float v[8], b[8];
        if (STEP == 8) load8(x, t, c, v);
        else v[0] = vget(x, t, c);
        if (fused) {
            if (STEP == 8) load8(branch, t, c, b);
            else b[0] = vget(branch, t, c);
#pragma unroll
            for (int k = 0; k < STEP; k++) v[k] += b[k];
            if (STEP == 8) store8(x, t, c, v);
            else vput(x, t, c, v[0]);
        }
#pragma unroll
        for (int k = 0; k < STEP; k++) ss += (double)v[k] * v[k];
    }
    ss = hn_warp_sum_d(ss);
    float r = (float)(1.0 / sqrt(ss / D + (double)eps));
    if (lane == 0) rstd[t] = r;
    for (int c = lane * STEP; c < D; c += 32 * STEP) {
        float v[8];
        if (STEP == 8) load8(x, t, c, v); /* this lane's own values (written above) */
        else v[0] = vget(x, t, c);
#pragma unroll
        for (int k = 0; k < STEP; k++) v[k] = v[k] * r * w[c + k];
        if (STEP == 8) {
            store8(y, t, c, v);
            if (y2.p) store8(y2, t, c, v);
        } else {
            vput(y, t, c, v[0]);
            if (y2.p) vput(y2, t, c, v[0]);
        }
    }
}

/* One row of the backward: dx += r g w - x r^3 (sum g w x) / D, and dx2 = the new dx */
template <int STEP>
__global__ void k_rms_bwd_t(view dx, view dx2, view dy, view x, const float *w, const float *rstd,
                            int T, int D) {
    int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    double gx = 0, r = rstd[t];
    for (int c = lane * STEP; c < D; c += 32 * STEP) {
        float g[8], v[8];
        if (STEP == 8) load8(dy, t, c, g), load8(x, t, c, v);
        else g[0] = vget(dy, t, c), v[0] = vget(x, t, c);
#pragma unroll
        for (int k = 0; k < STEP; k++) gx += (double)g[k] * w[c + k] * v[k];
    }
    gx = hn_warp_sum_d(gx);
    double cf = r * r * r * gx / D;
    for (int c = lane * STEP; c < D; c += 32 * STEP) {
        float g[8], v[8], d[8];
        if (STEP == 8) load8(dy, t, c, g), load8(x, t, c, v), load8(dx, t, c, d);
        else g[0] = vget(dy, t, c), v[0] = vget(x, t, c), d[0] = vget(dx, t, c);
#pragma unroll
        for (int k = 0; k < STEP; k++) d[k] += (float)(r * g[k] * w[c + k] - cf * v[k]);
        if (STEP == 8) {
            store8(dx, t, c, d);
            if (dx2.p) store8(dx2, t, c, d);
        } else {
            vput(dx, t, c, d[0]);
            if (dx2.p) vput(dx2, t, c, d[0]);
        }
    }
}

/* dw[c] += sum over a strip of rows of dy x r (atomics across strips, as basic.cu's colsum) */
__global__ void k_rms_dw_t(float *dw, view dy, view x, const float *rstd, int T, int D) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= D) return;
    int r0 = blockIdx.y * RMS_STRIP, r1 = min(T, r0 + RMS_STRIP);
    double acc = 0;
    for (int t = r0; t < r1; t++) acc += (double)vget(dy, t, c) * vget(x, t, c) * rstd[t];
    if (r1 > r0) atomicAdd(dw + c, (float)acc);
}

static bool fits(hn_tensor t, int rows, int cols) {
    return t.data && t.rows == rows && t.cols == cols && t.ld >= cols;
}
static bool optional_fits(hn_tensor t, int rows, int cols) { return !t.data || fits(t, rows, cols); }
static bool vec8(hn_tensor t) { return !t.data || vec8_ok(t); }
static view optional_view(hn_tensor t) { return t.data ? view_of(t) : no_view; }

static int forward(const hn_rmsnorm_params *p, int fused, const char *name) {
    int T = p->x.rows, D = p->x.cols;
    bool ok = D > 0 && p->w && p->rstd && fits(p->x, T, D) && fits(p->y, T, D) &&
              optional_fits(p->y2, T, D) &&
              (!fused || (p->x.dtype == HN_F32 && fits(p->branch, T, D)));
    if (!ok) {
        hn_cuda_note(cudaErrorInvalidValue, fused ? "add_rmsnorm_forward_t: views do not fit"
                                                  : "rmsnorm_forward_t: views do not fit");
        return -1;
    }
    if (T == 0) return 0;
    if (hn_cuda_cur()->cfg.norm_rows && hn_cuda_rms_rows_forward(p, fused)) {
        HN_LAUNCHED(fused ? "add_rmsnorm_forward (rows)" : "rmsnorm_forward (typed, rows)");
        return 0;
    }
    view b = fused ? view_of(p->branch) : no_view;
    bool by8 = D % 8 == 0 && vec8_ok(p->x) && vec8_ok(p->y) && vec8(p->y2) &&
               (!fused || vec8_ok(p->branch));
    unsigned blocks = (unsigned)((T + 7) / 8);
    if (by8)
        k_rms_fwd_t<8><<<blocks, 256, 0, HN_STREAM>>>(view_of(p->y), optional_view(p->y2), p->rstd, view_of(p->x),
                                        b, p->w, T, D, p->eps, fused);
    else
        k_rms_fwd_t<1><<<blocks, 256, 0, HN_STREAM>>>(view_of(p->y), optional_view(p->y2), p->rstd, view_of(p->x),
                                        b, p->w, T, D, p->eps, fused);
    HN_LAUNCHED(name);
    return 0;
}

extern "C" int hn_cuda_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    return forward(p, 0, "rmsnorm_forward (typed)");
}

extern "C" int hn_cuda_add_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    return forward(p, 1, "add_rmsnorm_forward");
}

extern "C" int hn_cuda_rmsnorm_backward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    int T = p->x.rows, D = p->x.cols;
    if (D <= 0 || !p->w || !p->rstd || !p->dw || !fits(p->x, T, D) || !fits(p->dy, T, D) ||
        !fits(p->dx, T, D) || p->dx.dtype != HN_F32 || !optional_fits(p->dx2, T, D)) {
        hn_cuda_note(cudaErrorInvalidValue, "rmsnorm_backward_t: views do not fit");
        return -1;
    }
    if (T == 0) return 0;
    if (hn_cuda_cur()->cfg.norm_rows && hn_cuda_rms_rows_backward(p)) {
        HN_LAUNCHED("rmsnorm_backward (typed, rows)");
        return 0;
    }
    bool by8 = D % 8 == 0 && vec8_ok(p->x) && vec8_ok(p->dy) && vec8_ok(p->dx) && vec8(p->dx2);
    unsigned blocks = (unsigned)((T + 7) / 8);
    dim3 grid((D + 127) / 128, (T + RMS_STRIP - 1) / RMS_STRIP);
    k_rms_dw_t<<<grid, 128, 0, HN_STREAM>>>(p->dw, view_of(p->dy), view_of(p->x), p->rstd, T, D);
    if (by8)
        k_rms_bwd_t<8><<<blocks, 256, 0, HN_STREAM>>>(view_of(p->dx), optional_view(p->dx2), view_of(p->dy),
                                        view_of(p->x), p->w, p->rstd, T, D);
    else
        k_rms_bwd_t<1><<<blocks, 256, 0, HN_STREAM>>>(view_of(p->dx), optional_view(p->dx2), view_of(p->dy),
                                        view_of(p->x), p->w, p->rstd, T, D);
    HN_LAUNCHED("rmsnorm_backward (typed)");
    return 0;
}
