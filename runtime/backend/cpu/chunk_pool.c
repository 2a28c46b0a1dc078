/* Downsampling: select the boundary rows (the paper's choice), or mean / max over the
 * rows each boundary closes (Appendix E.1 ablations). */
#include <string.h>

#include "backend/cpu/chunk_ops.h"

void hn_cpu_gather_rows(float *out, const float *x, const int32_t *idx, int K, int D) {
    for (int k = 0; k < K; k++)
        memcpy(out + (size_t)k * D, x + (size_t)idx[k] * D, (size_t)D * sizeof(float));
}

void hn_cpu_gather_rows_backward(float *dx, const float *dout, const int32_t *idx, int K, int D) {
    for (int k = 0; k < K; k++) {
        float *r = dx + (size_t)idx[k] * D;
        const float *g = dout + (size_t)k * D;
        for (int d = 0; d < D; d++) r[d] += g[d];
    }
}

void hn_cpu_pool_mean_forward(float *out, const float *x, const int32_t *first,
                              const int32_t *idx, int K, int D) {
    for (int k = 0; k < K; k++) {
        float *o = out + (size_t)k * D;
        float inv = 1.0f / (float)(idx[k] - first[k] + 1);
        for (int d = 0; d < D; d++) o[d] = 0;
        for (int r = first[k]; r <= idx[k]; r++) {
            const float *xr = x + (size_t)r * D;
            for (int d = 0; d < D; d++) o[d] += xr[d];
        }
        for (int d = 0; d < D; d++) o[d] *= inv;
    }
}

void hn_cpu_pool_mean_backward(float *dx, const float *dout, const int32_t *first,
                               const int32_t *idx, int K, int D) {
    for (int k = 0; k < K; k++) {
        const float *g = dout + (size_t)k * D;
        float inv = 1.0f / (float)(idx[k] - first[k] + 1);
        for (int r = first[k]; r <= idx[k]; r++) {
            float *dr = dx + (size_t)r * D;
            for (int d = 0; d < D; d++) dr[d] += g[d] * inv;
        }
    }
}

/* argmax holds the outer row of the maximum (the first one on ties). */
void hn_cpu_pool_max_forward(float *out, int32_t *argmax, const float *x, const int32_t *first,
                             const int32_t *idx, int K, int D) {
    for (int k = 0; k < K; k++) {
        float *o = out + (size_t)k * D;
        int32_t *a = argmax + (size_t)k * D;
        const float *x0 = x + (size_t)first[k] * D;
        for (int d = 0; d < D; d++) {
            o[d] = x0[d];
            a[d] = first[k];
        }
        for (int r = first[k] + 1; r <= idx[k]; r++) {
            const float *xr = x + (size_t)r * D;
            for (int d = 0; d < D; d++)
                if (xr[d] > o[d]) {
                    o[d] = xr[d];
                    a[d] = r;
                }
        }
    }
}

void hn_cpu_pool_max_backward(float *dx, const float *dout, const int32_t *argmax, int K, int D) {
    for (int k = 0; k < K; k++)
        for (int d = 0; d < D; d++)
            dx[(size_t)argmax[(size_t)k * D + d] * D + d] += dout[(size_t)k * D + d];
}
