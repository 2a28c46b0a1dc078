/* Scores and the threshold that meets a target ratio. */
#include <math.h>
#include <stdlib.h>

#include "threshold.h"

void entropy_scores(entropy_rule rule, const float *e, const int32_t *offsets, int n_seqs, float *s) {
    for (int i = 0; i < n_seqs; i++)
        for (int t = offsets[i]; t < offsets[i + 1]; t++)
            s[t] = t == offsets[i] ? 0.0f : rule == ENTROPY_GLOBAL ? e[t] : e[t] - e[t - 1];
}

static int descending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

float entropy_calibrate(const float *s, const int32_t *offsets, int n_seqs, double ratio, float *work) {
    int T = offsets[n_seqs], m = 0;
    for (int i = 0; i < n_seqs; i++)
        for (int t = offsets[i] + 1; t < offsets[i + 1]; t++) work[m++] = s[t];
    if (m == 0) return 0.0f;
    qsort(work, (size_t)m, sizeof *work, descending);
    long k = lround(T / ratio) - n_seqs; /* the starts are boundaries already */
    if (k <= 0) return work[0] + 1.0f;     /* none above: past the largest */
    if (k >= m) return work[m - 1] - 1.0f; /* all above */
    return 0.5f * (work[k - 1] + work[k]);
}
