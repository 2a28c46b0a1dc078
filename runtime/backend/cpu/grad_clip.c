/* cpu twins of the device's clipping (backend.h: grad_clip, adamw_clipped): the host
 * path's arithmetic (sum_squares, sqrt, hn_grad_clip_scale), done at once. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

void hn_cpu_grad_clip(hn_grad_clip *c, const float *g, size_t n, double max_norm) {
    c->sum_squares = hn_cpu_sum_squares(g, n);
    c->norm = sqrt(c->sum_squares);
    c->scale = hn_grad_clip_scale(c->norm, max_norm);
    c->skip = !isfinite(c->norm);
}

void hn_cpu_adamw_clipped(float *p, const float *g, float *m, float *v, size_t n, float lr,
                          float beta1, float beta2, float eps, float weight_decay, float bc1,
                          float bc2, const hn_grad_clip *c) {
    if (c->skip) return;
    hn_cpu_adamw(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2, c->scale);
}
