/* Width changes between stages (Section 2.1, after SpaceByte): widen appends a shared
 * learned vector, narrow keeps the first dims. Plus add_scalar. */
#include <string.h>

#include "backend/cpu/chunk_ops.h"

void hn_cpu_widen_forward(float *out, const float *x, const float *pad, int T, int D1, int D2) {
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * D2;
        memcpy(o, x + (size_t)t * D1, (size_t)D1 * sizeof(float));
        memcpy(o + D1, pad, (size_t)(D2 - D1) * sizeof(float));
    }
}

void hn_cpu_widen_backward(float *dx, float *dpad, const float *dout, int T, int D1, int D2) {
    for (int t = 0; t < T; t++) {
        const float *g = dout + (size_t)t * D2;
        float *r = dx + (size_t)t * D1;
        for (int d = 0; d < D1; d++) r[d] += g[d];
        for (int d = D1; d < D2; d++) dpad[d - D1] += g[d];
    }
}

void hn_cpu_narrow_forward(float *out, const float *x, int T, int D1, int D2) {
    for (int t = 0; t < T; t++)
        memcpy(out + (size_t)t * D1, x + (size_t)t * D2, (size_t)D1 * sizeof(float));
}

void hn_cpu_narrow_backward(float *dx, const float *dout, int T, int D1, int D2) {
    for (int t = 0; t < T; t++) {
        const float *g = dout + (size_t)t * D1;
        float *r = dx + (size_t)t * D2;
        for (int d = 0; d < D1; d++) r[d] += g[d];
    }
}

void hn_cpu_add_scalar(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += s;
}
