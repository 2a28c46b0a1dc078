/* cpu sampling of one entry per row (backend.h, sample): nucleus sampling in double,
 * candidates sorted by probability (ties: lower index first). The cuda kernel is its
 * twin, step for step, so the same logits and uniforms draw the same bytes. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_ops.h"

typedef struct cand {
    double p;
    int i;
} cand;

static int by_prob_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->i - y->i; /* ties: deterministic order */
}

static int sample_row(const float *logits, int n, double temperature, double top_p, double u) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0 || n <= 1) return best;
    cand *c = malloc((size_t)n * sizeof *c);
    if (!c) return best;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = exp(((double)logits[i] - logits[best]) / temperature);
        c[i].i = i;
        sum += c[i].p;
    }
    qsort(c, (size_t)n, sizeof *c, by_prob_desc);
    if (!(top_p > 0) || top_p > 1) top_p = 1;
    int keep = 0;
    double mass = 0;
    while (keep < n && (keep == 0 || mass < top_p * sum)) mass += c[keep++].p;
    double target = u * mass, acc = 0;
    int pick = c[keep - 1].i;
    for (int k = 0; k < keep; k++) {
        acc += c[k].p;
        if (target < acc) {
            pick = c[k].i;
            break;
        }
    }
    free(c);
    return pick;
}

void hn_cpu_sample(int32_t *out, const float *logits, const double *u, int n, int V,
                   double temperature, double top_p) {
    for (int i = 0; i < n; i++)
        out[i] = sample_row(logits + (size_t)i * V, V, temperature, top_p, u[i]);
}
