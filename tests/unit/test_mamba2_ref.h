/* A float64 reference of the whole Mamba-2 mixer, written naively and independently of
 * the plugin and the ops: in_proj, causal depthwise conv + SiLU per sequence, the SSM
 * as a per-position recurrence, gated RMSNorm per group, out_proj. Header-only, for the
 * mamba2 tests. */
#ifndef HN_TEST_MAMBA2_REF_H
#define HN_TEST_MAMBA2_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct m2_ref {
    int d, di, H, P, N, G, K, T, n_seqs;
    double eps;
    const int32_t *offsets;
    /* parameters, in the plugin's order and layouts */
    double *w_in, *conv_w, *conv_b, *dt_bias, *A_log, *D, *norm_w, *w_out;
    double *x, *probe; /* [T, d] */
} m2_ref;

static inline double m2_ref_silu(double v) { return v / (1 + exp(-v)); }

/* out [T, d] (may be NULL); returns sum(out * probe). */
static double m2_ref_forward(const m2_ref *r, double *out) {
    int d = r->d, di = r->di, H = r->H, P = r->P, N = r->N, G = r->G, K = r->K, T = r->T;
    int GN = G * N, cd = di + 2 * GN, dp = 2 * di + 2 * GN + H, HG = H / G;
    double *zx = calloc((size_t)T * dp, sizeof *zx), *xbc = calloc((size_t)T * cd, sizeof *xbc);
    double *y = calloc((size_t)T * di, sizeof *y), *S = calloc((size_t)H * P * N, sizeof *S);
    double loss = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < dp; o++) {
            double a = 0;
            for (int k = 0; k < d; k++) a += r->x[t * d + k] * r->w_in[o * d + k];
            zx[t * dp + o] = a;
        }
    for (int s = 0; s < r->n_seqs; s++) {
        int t0 = r->offsets[s], t1 = r->offsets[s + 1];
        memset(S, 0, (size_t)H * P * N * sizeof *S);
        for (int t = t0; t < t1; t++) {
            for (int c = 0; c < cd; c++) {
                double p = r->conv_b[c];
                for (int k = 0; k < K; k++) {
                    int row = t - (K - 1) + k;
                    if (row >= t0) p += r->conv_w[c * K + k] * zx[row * dp + di + c];
                }
                xbc[t * cd + c] = m2_ref_silu(p);
            }
            for (int h = 0; h < H; h++) {
                const double *xv = xbc + t * cd + h * P, *B = xbc + t * cd + di + (h / HG) * N;
                const double *C = B + GN;
                double v = zx[t * dp + di + cd + h] + r->dt_bias[h];
                double dt = v > 20 ? v : log1p(exp(v)), a = exp(-exp(r->A_log[h]) * dt);
                for (int p = 0; p < P; p++) {
                    double acc = r->D[h] * xv[p];
                    for (int n = 0; n < N; n++) {
                        double *Sn = S + ((size_t)h * P + p) * N + n;
                        *Sn = a * *Sn + dt * xv[p] * B[n];
                        acc += *Sn * C[n];
                    }
                    y[t * di + h * P + p] = acc;
                }
            }
        }
    }
    int gs = di / G;
    for (int t = 0; t < T; t++) {
        double *yr = y + t * di;
        for (int g = 0; g < G; g++) {
            double ss = 0;
            for (int c = g * gs; c < (g + 1) * gs; c++) {
                yr[c] *= m2_ref_silu(zx[t * dp + c]);
                ss += yr[c] * yr[c];
            }
            double rs = 1 / sqrt(ss / gs + r->eps);
            for (int c = g * gs; c < (g + 1) * gs; c++) yr[c] *= rs * r->norm_w[c];
        }
        for (int o = 0; o < d; o++) {
            double a = 0;
            for (int c = 0; c < di; c++) a += yr[c] * r->w_out[o * di + c];
            if (out) out[t * d + o] = a;
            loss += a * r->probe[t * d + o];
        }
    }
    free(zx), free(xbc), free(y), free(S);
    return loss;
}

/* Central differences (float64) of the reference loss for every entry of v[0..n). */
static void m2_ref_grad(const m2_ref *r, double *v, size_t n, double *g) {
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + h;
        double up = m2_ref_forward(r, NULL);
        v[i] = saved - h;
        double down = m2_ref_forward(r, NULL);
        v[i] = saved;
        g[i] = (up - down) / (2 * h);
    }
}

#endif
