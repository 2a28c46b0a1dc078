/* cpu AdamW with decoupled weight decay (Loshchilov & Hutter), in the order PyTorch
 * uses: p -= lr * wd * p, then the bias-corrected Adam step with the clipped gradient
 * g * grad_scale. m and v are updated in place. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

void hn_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2,
                  float grad_scale) {
    float decay = lr * weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float pi = p[i] - decay * p[i];
        p[i] = pi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}
