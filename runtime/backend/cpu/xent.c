/* cpu softmax cross-entropy: loss[t] = logsumexp(logits[t,:]) - logits[t, target[t]]
 * in nats, with the row maximum subtracted before exponentiating (stable for any
 * logit range); sums of exponentials are taken in double. */
#include <math.h>

#include <stdlib.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_view.h"

/* max of the row and log(sum exp(z - max)) */
static void row_lse(const float *z, int V, float *max_out, double *log_sum) {
    float mx = z[0];
    for (int i = 1; i < V; i++)
        if (z[i] > mx) mx = z[i];
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)z[i] - mx);
    *max_out = mx;
    *log_sum = log(s);
}

/* The rows of all three ops: loss (may be NULL) and dlogits (may be NULL; += or =). */
static void xent_rows(float *loss, float *dlogits, const float *logits, const int32_t *target,
                      int T, int V, float scale, int accumulate) {
    for (int t = 0; t < T; t++) {
        const float *z = logits + (size_t)t * V;
        float mx;
        double ls;
        row_lse(z, V, &mx, &ls);
        double shift = (double)mx + ls; /* log of the softmax denominator */
        if (loss) loss[t] = (float)(shift - (double)z[target[t]]);
        if (!dlogits) continue;
        float *dz = dlogits + (size_t)t * V;
        for (int i = 0; i < V; i++) {
            double p = exp((double)z[i] - shift);
            if (i == target[t]) p -= 1.0;
            dz[i] = (float)(scale * p) + (accumulate ? dz[i] : 0.0f);
        }
    }
}

void hn_cpu_xent_forward(float *loss, const float *logits, const int32_t *target, int T, int V) {
    xent_rows(loss, NULL, logits, target, T, V, 0.0f, 0);
}

void hn_cpu_xent_backward(float *dlogits, const float *logits, const int32_t *target, int T,
                          int V, float scale) {
    xent_rows(NULL, dlogits, logits, target, T, V, scale, 1);
}

void hn_cpu_xent_fused(float *loss, float *dlogits, const float *logits, const int32_t *target,
                       int T, int V, float scale) {
    xent_rows(loss, dlogits, logits, target, T, V, scale, 0);
}

/* typed: the float32 op itself on float32 views (bit for bit), else on a widened copy of
 * the logits with dlogits rounded once */
int hn_cpu_xent_fused_t(const hn_backend *be, const hn_xent_params *p) {
    (void)be;
    int T = p->logits.rows, V = p->logits.cols;
    if (V <= 0 || !p->loss || !p->target || p->dlogits.rows != T || p->dlogits.cols != V)
        return -1;
    if (p->logits.dtype == HN_F32 && p->dlogits.dtype == HN_F32 && hn_tensor_packed(p->logits) &&
        hn_tensor_packed(p->dlogits)) {
        hn_cpu_xent_fused(p->loss, p->dlogits.data, p->logits.data, p->target, T, V, p->scale);
        return 0;
    }
    float *z = hn_cpu_widen(p->logits), *d = malloc(((size_t)T * V + 1) * sizeof(float));
    int status = -1;
    if (z && d) {
        hn_cpu_xent_fused(p->loss, d, z, p->target, T, V, p->scale);
        hn_cpu_store(p->dlogits, d, 0);
        status = 0;
    }
    free(z);
    free(d);
    return status;
}
