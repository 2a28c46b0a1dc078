/* MoE routing on the host: softmax, top-k, combination weights, capacity, the
 * expert-sorted order, the balance and z losses, and their backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moe.h"

void moe_routing_free(moe_routing *r) {
    free(r->logits);
    free(r->p);
    free(r->lse);
    free(r->top);
    free(r->w);
    free(r->slot);
    free(r->row_tok);
    free(r->row_w);
    r->logits = r->p = r->lse = r->w = r->row_w = NULL;
    r->top = r->slot = r->row_tok = NULL;
}

int moe_routing_reserve(moe_routing *r, int cap, int E, int k) {
    moe_routing_free(r);
    size_t n = (size_t)cap;
    r->logits = malloc(n * E * sizeof(float));
    r->p = malloc(n * E * sizeof(float));
    r->lse = malloc(n * sizeof(float));
    r->top = malloc(n * k * sizeof(int32_t));
    r->w = malloc(n * k * sizeof(float));
    r->slot = malloc(n * k * sizeof(int32_t));
    r->row_tok = malloc(n * k * sizeof(int32_t));
    r->row_w = malloc(n * k * sizeof(float));
    if (!r->logits || !r->p || !r->lse || !r->top || !r->w || !r->slot || !r->row_tok ||
        !r->row_w) {
        moe_routing_free(r);
        return HN_ERR;
    }
    return HN_OK;
}

/* softmax of one row in double (p rounded to float; psum accumulates the doubles, so
 * P is exact to double precision); returns the log-sum-exp */
static double softmax_row(const float *l, float *p, double *psum, int E) {
    double m = l[0];
    for (int e = 1; e < E; e++) if (l[e] > m) m = l[e];
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
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= top[i] == e;
            if (!taken && (best < 0 || l[e] > l[best])) best = e;
        }
        top[j] = best;
    }
}

void moe_route(moe_routing *r, int T, int E, int k, int renormalize, double cf) {
    r->T = T;
    r->E = E;
    r->k = k;
    memset(r->routed, 0, sizeof r->routed);
    double psum[MOE_MAX_EXPERTS] = {0}, z = 0;
    for (int t = 0; t < T; t++) {
        const float *l = r->logits + (size_t)t * E;
        float *p = r->p + (size_t)t * E;
        double lse = softmax_row(l, p, psum, E);
        r->lse[t] = (float)lse;
        z += lse * lse;
        int32_t *top = r->top + (size_t)t * k;
        float *w = r->w + (size_t)t * k;
        top_k(l, E, k, top);
        double s = 0;
        for (int j = 0; j < k; j++) s += p[top[j]];
        for (int j = 0; j < k; j++) {
            w[j] = renormalize ? (float)(p[top[j]] / s) : p[top[j]];
            r->routed[top[j]]++;
        }
    }
    /* capacity: ranks in order, rows in order within a rank */
    long cap = cf > 0 ? (long)ceil(cf * (double)T * k / E) : (long)T;
    long kept[MOE_MAX_EXPERTS] = {0};
    r->dropped = 0;
    for (int j = 0; j < k; j++)
        for (int t = 0; t < T; t++) {
            int e = r->top[(size_t)t * k + j];
            if (kept[e] < cap) {
                kept[e]++;
                r->slot[(size_t)t * k + j] = 0; /* kept; its row is set below */
            } else {
                r->slot[(size_t)t * k + j] = -1;
                r->dropped++;
            }
        }
    /* expert-sorted rows, in token order within an expert (so with one expert the
     * gathered input is x itself) */
    r->off[0] = 0;
    for (int e = 0; e < E; e++) r->off[e + 1] = r->off[e] + (int32_t)kept[e];
    int32_t fill[MOE_MAX_EXPERTS] = {0};
    for (int t = 0; t < T; t++)
        for (int j = 0; j < k; j++) {
            size_t i = (size_t)t * k + j;
            if (r->slot[i] < 0) continue;
            int e = r->top[i];
            int32_t row = r->off[e] + fill[e]++;
            r->slot[i] = row;
            r->row_tok[row] = t;
            r->row_w[row] = r->w[i];
        }
    double bal = 0;
    for (int e = 0; e < E; e++) {
        r->f[e] = T ? (double)r->routed[e] / ((double)T * k) : 0;
        r->P[e] = T ? psum[e] / T : 0;
        bal += r->f[e] * r->P[e];
    }
    r->balance = E * bal;
    r->z = T ? z / T : 0;
}

void moe_route_backward(const moe_routing *r, const float *dw, int renormalize,
                        double balance_weight, double z_weight, float *dlogits) {
    int T = r->T, E = r->E, k = r->k;
    double dp[MOE_MAX_EXPERTS];
    for (int t = 0; t < T; t++) {
        const float *p = r->p + (size_t)t * E;
        const int32_t *top = r->top + (size_t)t * k;
        const float *w = r->w + (size_t)t * k;
        const float *g = dw + (size_t)t * k;
        for (int e = 0; e < E; e++) dp[e] = balance_weight * E * r->f[e] / T;
        if (renormalize) {
            /* w_i = p_i / s, s = sum_K p: dp_i = (dw_i - sum_j dw_j w_j) / s */
            double s = 0, gw = 0;
            for (int j = 0; j < k; j++) {
                s += p[top[j]];
                gw += (double)g[j] * w[j];
            }
            for (int j = 0; j < k; j++) dp[top[j]] += ((double)g[j] - gw) / s;
        } else {
            for (int j = 0; j < k; j++) dp[top[j]] += g[j];
        }
        double pdp = 0;
        for (int e = 0; e < E; e++) pdp += p[e] * dp[e];
        double zg = z_weight * 2.0 * r->lse[t] / T;
        float *dl = dlogits + (size_t)t * E;
        for (int e = 0; e < E; e++) dl[e] = (float)(p[e] * (dp[e] - pdp) + zg * p[e]);
    }
}
