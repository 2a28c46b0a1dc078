/* cpu attention of one new row per sequence over its key/value ring (backend.h,
 * attention_step): the twin of the cuda kernel, and what the attention plugin's step
 * runs on the cpu. The same online softmax as the parallel forward, keys in
 * chronological order. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

static void attend(float *o, const float *q, const float *kc, const float *vc, size_t R,
                   size_t first, size_t n, int D, int head_dim, float scale) {
    for (int d = 0; d < head_dim; d++) o[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (size_t i = 0; i < n; i++) {
        size_t off = ((first + i) % R) * (size_t)D;
        const float *k = kc + off, *v = vc + off;
        float s = 0.0f;
        for (int d = 0; d < head_dim; d++) s += q[d] * k[d];
        s *= scale;
        if (s > m) {
            float r = expf(m - s);
            l *= r;
            for (int d = 0; d < head_dim; d++) o[d] *= r;
            m = s;
        }
        float p = expf(s - m);
        l += p;
        for (int d = 0; d < head_dim; d++) o[d] += p * v[d];
    }
    float inv = 1.0f / l;
    for (int d = 0; d < head_dim; d++) o[d] *= inv;
}

void hn_cpu_attention_step(float *out, const float *qkv, float *state, size_t stride, int R,
                           const int32_t *pos, int n, int heads, int head_dim, float scale) {
    int D = heads * head_dim;
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0) { /* not advancing now */
            for (int d = 0; d < D; d++) out[(size_t)i * D + d] = 0.0f;
            continue;
        }
        float *kc = state + (size_t)i * stride, *vc = kc + (size_t)D * R;
        const float *row = qkv + (size_t)i * 3 * D;
        size_t p = (size_t)pos[i], slot = p % (size_t)R;
        for (int d = 0; d < D; d++) {
            kc[slot * D + d] = row[D + d];
            vc[slot * D + d] = row[2 * D + d];
        }
        vc[(size_t)D * R] = (float)(p + 1); /* the counter, after the values */
        size_t len = p + 1 < (size_t)R ? p + 1 : (size_t)R, first = (p + 1 - len) % (size_t)R;
        for (int h = 0; h < heads; h++) {
            size_t ho = (size_t)h * head_dim;
            attend(out + (size_t)i * D + ho, row + ho, kc + ho, vc + ho, (size_t)R, first, len, D,
                   head_dim, scale);
        }
    }
}
