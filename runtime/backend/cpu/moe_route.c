/* MoE routing on the cpu: softmax, top-k, combination weights, the capacity, the
 * expert-sorted order and the sums behind the balance and z losses; and its backward.
 * The reference for the cuda kernels (moe.cu), which follow the same rules. */
#include <math.h>
#include <string.h>

#include "backend/cpu/moe_ops.h"

/* softmax of one row in double (p rounded to float; psum accumulates the doubles, so
 * the balance loss's P is exact to double precision); returns the log-sum-exp */
static double softmax_row(const float *l, float *p, double *psum, int E) {
    double m = l[0];
    for (int e = 1; e < E; e++)
        if (l[e] > m) m = l[e];
    double s = 0;
    for (int e = 0; e < E; e++) s += exp((double)l[e] - m);
    double lse = m + log(s);
    for (int e = 0; e < E; e++) {
        double q = exp((double)l[e] - lse);
        p[e] = (float)q;
        psum[e] += q;
    }
    return lse;
}

/* the k largest logits, best first; ties go to the lower index */
static void top_k(const float *l, int E, int k, int32_t *top) {
    unsigned char taken[HN_MOE_MAX_EXPERTS] = {0};
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!taken[e] && (best < 0 || l[e] > l[best])) best = e;
        top[j] = best;
        taken[best] = 1;
    }
}

void hn_cpu_moe_route(float *p, float *lse, int32_t *top, float *w, int32_t *slot,
                      int32_t *row_tok, float *row_w, int32_t *counts, double *sums,
                      const float *logits, int T, int E, int k, int renormalize, int capacity) {
    int32_t *off = counts, *routed = counts + E + 1;
    double *psum = sums, z = 0;
    memset(counts, 0, (size_t)HN_MOE_COUNTS(E) * sizeof(int32_t));
    memset(sums, 0, (size_t)HN_MOE_SUMS(E) * sizeof(double));
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * E;
        float *pt = p + (size_t)t * E;
        double ls = softmax_row(l, pt, psum, E);
        lse[t] = (float)ls;
        z += ls * ls;
        int32_t *tt = top + (size_t)t * k;
        float *wt = w + (size_t)t * k;
        top_k(l, E, k, tt);
        double s = 0;
        for (int j = 0; j < k; j++) s += pt[tt[j]];
        for (int j = 0; j < k; j++) {
            wt[j] = renormalize ? (float)(pt[tt[j]] / s) : pt[tt[j]];
            routed[tt[j]]++;
        }
    }
    sums[E] = z;
    /* capacity: ranks in order, tokens in order within a rank */
    int32_t kept[HN_MOE_MAX_EXPERTS] = {0}, dropped = 0;
    for (int j = 0; j < k; j++)
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)t * k + j;
            int e = top[i];
            if (kept[e] < capacity) {
                kept[e]++;
                slot[i] = 0; /* kept; its row is set below */
            } else {
                slot[i] = -1;
                dropped++;
            }
        }
    counts[2 * E + 1] = dropped;
    /* expert-sorted rows, in token order within an expert (so with one expert the
     * gathered input is x itself) */
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + kept[e];
    int32_t fill[HN_MOE_MAX_EXPERTS] = {0};
    for (int t = 0; t < T; t++)
        for (int j = 0; j < k; j++) {
            size_t i = (size_t)t * k + j;
            if (slot[i] < 0) continue;
            int e = top[i];
            int32_t row = off[e] + fill[e]++;
            slot[i] = row;
            row_tok[row] = t;
            row_w[row] = w[i];
        }
}

void hn_cpu_moe_route_backward(float *dlogits, const float *dw, const float *p, const float *lse,
                               const int32_t *top, const float *w, const int32_t *counts, int T,
                               int E, int k, int renormalize, double balance_weight,
                               double z_weight) {
    const int32_t *routed = counts + E + 1;
    double db[HN_MOE_MAX_EXPERTS], dp[HN_MOE_MAX_EXPERTS];
    /* the balance loss's gradient per unit of p[t, e]: weight * E * f_e / T */
    for (int e = 0; e < E; e++) {
        double f = T ? (double)routed[e] / ((double)T * k) : 0;
        db[e] = balance_weight * E * f / T;
    }
    for (int t = 0; t < T; t++) {
        const float *pt = p + (size_t)t * E, *wt = w + (size_t)t * k, *g = dw + (size_t)t * k;
        const int32_t *tt = top + (size_t)t * k;
        for (int e = 0; e < E; e++) dp[e] = db[e];
        if (renormalize) {
            /* w_i = p_i / s, s = sum_K p: dp_i = (dw_i - sum_j dw_j w_j) / s */
            double s = 0, gw = 0;
            for (int j = 0; j < k; j++) {
                s += pt[tt[j]];
                gw += (double)g[j] * wt[j];
            }
            for (int j = 0; j < k; j++) dp[tt[j]] += ((double)g[j] - gw) / s;
        } else {
            for (int j = 0; j < k; j++) dp[tt[j]] += g[j];
        }
        double pdp = 0;
        for (int e = 0; e < E; e++) pdp += pt[e] * dp[e];
        double zg = z_weight * 2.0 * lse[t] / T;
        float *dl = dlogits + (size_t)t * E;
        for (int e = 0; e < E; e++) dl[e] += (float)(pt[e] * (dp[e] - pdp) + zg * pt[e]);
    }
}
