/* Nucleus sampling of the next byte. */
#include <math.h>
#include <stdlib.h>

#include "model/generate.h"

typedef struct cand {
    double p;
    int i;
} cand;

static int by_prob_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->i - y->i; /* ties: deterministic order */
}

int hn_sample_byte(const float *logits, int n, double temperature, double top_p, hn_rng *rng) {
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
    double u = hn_rng_uniform(rng) * mass, acc = 0;
    int pick = c[keep - 1].i;
    for (int k = 0; k < keep; k++) {
        acc += c[k].p;
        if (u < acc) {
            pick = c[k].i;
            break;
        }
    }
    free(c);
    return pick;
}
