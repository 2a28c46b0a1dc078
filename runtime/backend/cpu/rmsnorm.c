/* cpu RMSNorm: y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps), per row.
 *
 * Backward, with g = dy * w and r = rstd:
 *   dx = r * g - x * r^3 * (sum_j g_j x_j) / D
 *   dw += sum_t dy * x * r
 * Row sums are taken in double. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

#define HN_COL_BLOCK 256

void hn_cpu_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T, int D,
                            float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D;
        float *yr = y + (size_t)t * D;
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)xr[d] * (double)xr[d];
        float r = (float)(1.0 / sqrt(ss / D + (double)eps));
        rstd[t] = r;
        for (int d = 0; d < D; d++) yr[d] = xr[d] * r * w[d];
    }
}

void hn_cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, const float *rstd, int T, int D) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D, *gr = dy + (size_t)t * D;
        float *dxr = dx + (size_t)t * D;
        double r = rstd[t], gx = 0;
        for (int d = 0; d < D; d++) gx += (double)gr[d] * w[d] * xr[d];
        double c = r * r * r * gx / D;
        for (int d = 0; d < D; d++) dxr[d] += (float)(r * gr[d] * w[d] - c * xr[d]);
    }
    /* dw: column sums over rows, a block of columns at a time */
    double acc[HN_COL_BLOCK];
    for (int c0 = 0; c0 < D; c0 += HN_COL_BLOCK) {
        int n = D - c0 < HN_COL_BLOCK ? D - c0 : HN_COL_BLOCK;
        for (int c = 0; c < n; c++) acc[c] = 0;
        for (int t = 0; t < T; t++) {
            const float *xr = x + (size_t)t * D + c0, *gr = dy + (size_t)t * D + c0;
            double r = rstd[t];
            for (int c = 0; c < n; c++) acc[c] += (double)gr[c] * xr[c] * r;
        }
        for (int c = 0; c < n; c++) dw[c0 + c] += (float)acc[c];
    }
}
