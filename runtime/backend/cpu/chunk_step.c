/* The H-Net stage's per-step ops of generation (ops_chunk.h, "generation steps"): the
 * state of the routing module, the dechunk EMA and the pooled chunk, one row per
 * sequence, sequences with pos < 0 (or P < 0, count < 0) left alone. */
#include <string.h>

#include "backend/cpu/chunk_ops.h"

void hn_cpu_copy_rows_step(float *dst, const float *src, const int32_t *pos, int n, int D) {
    for (int i = 0; i < n; i++)
        if (pos[i] >= 0) memcpy(dst + (size_t)i * D, src + (size_t)i * D, (size_t)D * sizeof *dst);
}

void hn_cpu_ema_step(float *zbar, const float *z, int ld_z, const float *P, int n, int D) {
    for (int i = 0; i < n; i++) {
        if (P[i] < 0) continue;
        float a = P[i], c = 1.0f - a, *zb = zbar + (size_t)i * D;
        const float *zi = z + (size_t)i * ld_z;
        for (int d = 0; d < D; d++) zb[d] = a * zi[d] + c * zb[d];
    }
}

void hn_cpu_pool_step(float *acc, float *out, const float *x, const int32_t *count,
                      const int32_t *b, int max, int n, int D) {
    for (int i = 0; i < n; i++) {
        if (count[i] < 0) continue;
        float *a = acc + (size_t)i * D;
        const float *xi = x + (size_t)i * D;
        for (int d = 0; d < D; d++)
            a[d] = count[i] == 0 ? xi[d] : max ? (xi[d] > a[d] ? xi[d] : a[d]) : a[d] + xi[d];
        if (!b[i]) continue;
        float inv = 1.0f / (float)(count[i] + 1), *o = out + (size_t)i * D;
        for (int d = 0; d < D; d++) o[d] = max ? a[d] : a[d] * inv;
    }
}
