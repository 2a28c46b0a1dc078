/* cpu SwiGLU activation: each row of gu is [value | gate] (width 2H);
 * h = value * silu(gate), silu(g) = g * sigmoid(g).
 * d/dg silu(g) = s * (1 + g * (1 - s)) with s = sigmoid(g). */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

/* 1 / (1 + e^-g): for very negative g, expf overflows to inf and the result is 0,
 * which is the correct limit. */
static inline float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

void hn_cpu_swiglu_forward(float *h, const float *gu, int T, int H) {
    for (int t = 0; t < T; t++) {
        const float *val = gu + (size_t)t * 2 * H, *gate = val + H;
        float *hr = h + (size_t)t * H;
        for (int i = 0; i < H; i++) hr[i] = val[i] * gate[i] * sigmoidf(gate[i]);
    }
}

void hn_cpu_swiglu_backward(float *dgu, const float *dh, const float *gu, int T, int H) {
    for (int t = 0; t < T; t++) {
        const float *val = gu + (size_t)t * 2 * H, *gate = val + H;
        const float *g = dh + (size_t)t * H;
        float *dval = dgu + (size_t)t * 2 * H, *dgate = dval + H;
        for (int i = 0; i < H; i++) {
            float s = sigmoidf(gate[i]);
            dval[i] += g[i] * gate[i] * s;
            dgate[i] += g[i] * val[i] * s * (1.0f + gate[i] * (1.0f - s));
        }
    }
}
