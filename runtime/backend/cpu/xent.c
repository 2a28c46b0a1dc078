/* cpu softmax cross-entropy: loss[t] = logsumexp(logits[t,:]) - logits[t, target[t]]
 * in nats, with the row maximum subtracted before exponentiating (stable for any
 * logit range); sums of exponentials are taken in double. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

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
