/* cpu RMSNorm on typed views (backend.h: hn_rmsnorm_params), the reference of the cuda
 * ops. The arithmetic is rmsnorm.c's, expression for expression, so on float32 views the
 * results are the v1 ops' bit for bit (a network on the typed ops trains as before);
 * a bf16 view is widened exactly when read and rounded once when written. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_view.h"

#define HN_COL_BLOCK 256

static int fits(hn_tensor t, int rows, int cols) {
    return t.data && t.rows == rows && t.cols == cols && t.ld >= cols;
}
static int optional_fits(hn_tensor t, int rows, int cols) { return !t.data || fits(t, rows, cols); }

static int forward_fits(const hn_rmsnorm_params *p, int fused) {
    int T = p->x.rows, D = p->x.cols;
    return D > 0 && p->w && p->rstd && fits(p->x, T, D) && fits(p->y, T, D) &&
           optional_fits(p->y2, T, D) &&
           (!fused || (p->x.dtype == HN_F32 && fits(p->branch, T, D)));
}

/* y (and y2) = x r w per row; fused: x += branch first */
static void forward_rows(const hn_rmsnorm_params *p, int fused) {
    int T = p->x.rows, D = p->x.cols;
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int d = 0; d < D; d++) {
            float v = hn_view_get(p->x, t, d);
            if (fused) {
                v += hn_view_get(p->branch, t, d);
                hn_view_put(p->x, t, d, v);
            }
            ss += (double)v * (double)v;
        }
        float r = (float)(1.0 / sqrt(ss / D + (double)p->eps));
        p->rstd[t] = r;
        for (int d = 0; d < D; d++) {
            float v = hn_view_get(p->x, t, d) * r * p->w[d];
            hn_view_put(p->y, t, d, v);
            if (p->y2.data) hn_view_put(p->y2, t, d, v);
        }
    }
}

int hn_cpu_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    if (!forward_fits(p, 0)) return -1;
    forward_rows(p, 0);
    return 0;
}

int hn_cpu_add_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    if (!forward_fits(p, 1)) return -1;
    forward_rows(p, 1);
    return 0;
}

int hn_cpu_rmsnorm_backward_t(const hn_backend *be, const hn_rmsnorm_params *p) {
    (void)be;
    int T = p->x.rows, D = p->x.cols;
    if (D <= 0 || !p->w || !p->rstd || !p->dw || !fits(p->x, T, D) || !fits(p->dy, T, D) ||
        !fits(p->dx, T, D) || p->dx.dtype != HN_F32 || !optional_fits(p->dx2, T, D))
        return -1;
    for (int t = 0; t < T; t++) {
        double r = p->rstd[t], gx = 0;
        for (int d = 0; d < D; d++)
            gx += (double)hn_view_get(p->dy, t, d) * p->w[d] * hn_view_get(p->x, t, d);
        double c = r * r * r * gx / D;
        float *dxr = (float *)p->dx.data + (size_t)t * p->dx.ld;
        for (int d = 0; d < D; d++) {
            float g = hn_view_get(p->dy, t, d), x = hn_view_get(p->x, t, d);
            dxr[d] += (float)(r * g * p->w[d] - c * x);
            if (p->dx2.data) hn_view_put(p->dx2, t, d, dxr[d]);
        }
    }
    /* dw: column sums over rows, a block of columns at a time (as rmsnorm.c) */
    double acc[HN_COL_BLOCK];
    for (int c0 = 0; c0 < D; c0 += HN_COL_BLOCK) {
        int n = D - c0 < HN_COL_BLOCK ? D - c0 : HN_COL_BLOCK;
        for (int c = 0; c < n; c++) acc[c] = 0;
        for (int t = 0; t < T; t++) {
            double r = p->rstd[t];
            for (int c = 0; c < n; c++)
                acc[c] += (double)hn_view_get(p->dy, t, c0 + c) * hn_view_get(p->x, t, c0 + c) * r;
        }
        for (int c = 0; c < n; c++) p->dw[c0 + c] += (float)acc[c];
    }
    return 0;
}
