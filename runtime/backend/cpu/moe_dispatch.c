/* MoE dispatch on the cpu: rows between the token order and the expert-sorted order.
 * Every output row is written by one loop in a fixed order (the cuda twin sums in the
 * same order). */
#include <string.h>

#include "backend/cpu/moe_ops.h"

void hn_cpu_moe_gather_backward(float *dx, const float *dxs, const int32_t *slot, int T, int k,
                                int D) {
    for (int t = 0; t < T; t++) {
        float *o = dx + (size_t)t * D;
        for (int j = 0; j < k; j++) {
            int32_t a = slot[(size_t)t * k + j];
            if (a < 0) continue;
            const float *s = dxs + (size_t)a * D;
            for (int d = 0; d < D; d++) o[d] += s[d];
        }
    }
}

void hn_cpu_moe_combine(float *y, const float *ys, const float *w, const int32_t *slot, int T,
                        int k, int D) {
    for (int t = 0; t < T; t++) {
        float *o = y + (size_t)t * D;
        memset(o, 0, (size_t)D * sizeof(float));
        for (int j = 0; j < k; j++) {
            int32_t a = slot[(size_t)t * k + j];
            if (a < 0) continue;
            const float *s = ys + (size_t)a * D;
            float wj = w[(size_t)t * k + j];
            for (int d = 0; d < D; d++) o[d] += wj * s[d];
        }
    }
}

void hn_cpu_moe_combine_backward(float *dys, float *dw, const float *dy, const float *ys,
                                 const int32_t *slot, const int32_t *row_tok, const float *row_w,
                                 int T, int k, int A, int D) {
    for (int a = 0; a < A; a++) {
        float *o = dys + (size_t)a * D;
        const float *g = dy + (size_t)row_tok[a] * D;
        float wa = row_w[a];
        for (int d = 0; d < D; d++) o[d] += wa * g[d];
    }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < k; j++) {
            int32_t a = slot[(size_t)t * k + j];
            if (a < 0) continue;
            const float *g = dy + (size_t)t * D, *s = ys + (size_t)a * D;
            double acc = 0;
            for (int d = 0; d < D; d++) acc += (double)g[d] * s[d];
            dw[(size_t)t * k + j] += (float)acc;
        }
}
