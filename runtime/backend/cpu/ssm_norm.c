/* cpu gated RMSNorm of Mamba-2 (norm_before_gate = False), per group of columns:
 *   g = x * silu(z),  out = g * r * w,  r = 1 / sqrt(mean_group(g^2) + eps).
 * Backward, with h = dout * w:  dg = r h - g r^3 (sum_group h g) / group_size;
 *   dx += dg silu(z),  dz += dg x silu'(z),  dw += dout g r.
 * Row sums are taken in double. */
#include <math.h>

#include "backend/cpu/ssm_ops.h"

static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

void hn_cpu_gated_rmsnorm_forward(float *out, float *rstd, const float *x, const float *z,
                                  int ld_z, const float *w, int T, int Dm, int group_size,
                                  float eps) {
    int ng = Dm / group_size;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * Dm, *zr = z + (size_t)t * ld_z;
        float *o = out + (size_t)t * Dm;
        for (int g = 0; g < ng; g++) {
            int c0 = g * group_size;
            double ss = 0;
            for (int c = c0; c < c0 + group_size; c++) {
                float v = xr[c] * zr[c] * sigmoid(zr[c]);
                o[c] = v;
                ss += (double)v * v;
            }
            float r = (float)(1.0 / sqrt(ss / group_size + (double)eps));
            rstd[(size_t)t * ng + g] = r;
            for (int c = c0; c < c0 + group_size; c++) o[c] *= r * w[c];
        }
    }
}

void hn_cpu_gated_rmsnorm_backward(float *dx, float *dz, int ld_dz, float *dw,
                                   const float *dout, const float *x, const float *z, int ld_z,
                                   const float *w, const float *rstd, int T, int Dm,
                                   int group_size) {
    int ng = Dm / group_size;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * Dm, *zr = z + (size_t)t * ld_z;
        const float *gr = dout + (size_t)t * Dm;
        float *dxr = dx + (size_t)t * Dm, *dzr = dz + (size_t)t * ld_dz;
        for (int g = 0; g < ng; g++) {
            int c0 = g * group_size;
            double r = rstd[(size_t)t * ng + g], hg = 0;
            for (int c = c0; c < c0 + group_size; c++) {
                double gv = (double)xr[c] * zr[c] * sigmoid(zr[c]);
                hg += (double)gr[c] * w[c] * gv;
                dw[c] += (float)(gr[c] * gv * r);
            }
            double k = r * r * r * hg / group_size;
            for (int c = c0; c < c0 + group_size; c++) {
                float sg = sigmoid(zr[c]);
                float silu = zr[c] * sg;
                double gv = (double)xr[c] * silu;
                float dg = (float)(r * gr[c] * w[c] - k * gv);
                dxr[c] += dg * silu;
                dzr[c] += dg * xr[c] * sg * (1.0f + zr[c] * (1.0f - sg));
            }
        }
    }
}
