/* Routing (paper Eq. 4 and the linear-routing ablation).
 *
 * Cosine routing normalises like torch's F.normalize: v / max(|v|, 1e-12), so a zero
 * row gives cos = 0 (p = 1/2) instead of a NaN. Row reductions run in double. The clamp
 * to [0, 1] only bites through rounding (|cos| can exceed 1 by an ulp); where it does,
 * p is constant and gets no gradient, as torch.clamp. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/chunk_ops.h"
#include "backend/cpu/cpu_view.h"

#define NORM_EPS 1e-12

typedef struct pair_stats {
    double nq, nk; /* clamped norms */
    int q_small, k_small; /* the norm was below NORM_EPS */
    double cos;
} pair_stats;

static pair_stats pair(const float *q, const float *k, int D) {
    double qq = 0, kk = 0, qk = 0;
    for (int d = 0; d < D; d++) {
        qq += (double)q[d] * q[d];
        kk += (double)k[d] * k[d];
        qk += (double)q[d] * k[d];
    }
    pair_stats s;
    s.nq = sqrt(qq);
    s.nk = sqrt(kk);
    s.q_small = s.nq < NORM_EPS;
    s.k_small = s.nk < NORM_EPS;
    if (s.q_small) s.nq = NORM_EPS;
    if (s.k_small) s.nk = NORM_EPS;
    s.cos = qk / (s.nq * s.nk);
    return s;
}

void hn_cpu_cosine_routing_forward(float *p, const float *q, const float *k, int ld,
                                   const hn_seqs *seqs, int D) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        if (t0 < t1) p[t0] = 1.0f; /* every sequence starts with a boundary */
        for (int t = t0 + 1; t < t1; t++) {
            pair_stats st = pair(q + (size_t)t * ld, k + (size_t)(t - 1) * ld, D);
            double v = 0.5 * (1.0 - st.cos);
            p[t] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
    }
}

/* dcos/dq = (k/nk - cos q/nq) / nq (only k/(nk nq) when |q| is below the clamp,
 * where normalisation is a fixed scaling); symmetric for k. */
void hn_cpu_cosine_routing_backward(float *dq, float *dk, const float *dp, const float *q,
                                    const float *k, int ld, const hn_seqs *seqs, int D) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        for (int t = t0 + 1; t < t1; t++) {
            const float *qt = q + (size_t)t * ld, *kt = k + (size_t)(t - 1) * ld;
            pair_stats st = pair(qt, kt, D);
            double v = 0.5 * (1.0 - st.cos);
            if (v < 0 || v > 1) continue; /* clamped: p does not move */
            double g = -0.5 * dp[t];   /* dL/dcos */
            double inv = 1.0 / (st.nq * st.nk);
            double cq = st.q_small ? 0 : st.cos / (st.nq * st.nq);
            double ck = st.k_small ? 0 : st.cos / (st.nk * st.nk);
            float *dqt = dq + (size_t)t * ld, *dkt = dk + (size_t)(t - 1) * ld;
            for (int d = 0; d < D; d++) {
                dqt[d] += (float)(g * (kt[d] * inv - cq * qt[d]));
                dkt[d] += (float)(g * (qt[d] * inv - ck * kt[d]));
            }
        }
    }
}

/* typed: the accumulating op into zeroed float32 rows of stride ld (dq and dk
 * themselves when they are such views: bit for bit the float32 op), then stored */
int hn_cpu_cosine_routing_backward_t(hn_tensor dq, hn_tensor dk, const float *dp, const float *q,
                                     const float *k, int ld, const hn_seqs *seqs, int D) {
    int T = seqs->total;
    if (dq.rows != T || dk.rows != T || dq.cols != D || dk.cols != D) return -1;
    size_t n = (size_t)T * ld;
    if (dq.dtype == HN_F32 && dk.dtype == HN_F32 && dq.ld == ld && dk.ld == ld) {
        for (int t = 0; t < T; t++) {
            memset((float *)dq.data + (size_t)t * ld, 0, (size_t)D * sizeof(float));
            memset((float *)dk.data + (size_t)t * ld, 0, (size_t)D * sizeof(float));
        }
        hn_cpu_cosine_routing_backward(dq.data, dk.data, dp, q, k, ld, seqs, D);
        return 0;
    }
    float *gq = calloc(n + 1, sizeof(float)), *gk = calloc(n + 1, sizeof(float));
    int status = -1;
    if (gq && gk) {
        hn_cpu_cosine_routing_backward(gq, gk, dp, q, k, ld, seqs, D);
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) {
                hn_view_put(dq, t, d, gq[(size_t)t * ld + d]);
                hn_view_put(dk, t, d, gk[(size_t)t * ld + d]);
            }
        status = 0;
    }
    free(gq);
    free(gk);
    return status;
}

void hn_cpu_sigmoid_routing_forward(float *p, const float *logit, const hn_seqs *seqs) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        if (t0 < t1) p[t0] = 1.0f;
        for (int t = t0 + 1; t < t1; t++) p[t] = (float)(1.0 / (1.0 + exp(-(double)logit[t])));
    }
}

void hn_cpu_sigmoid_routing_backward(float *dlogit, const float *dp, const float *p,
                                     const hn_seqs *seqs) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        /* the start's p is the constant 1 */
        for (int t = t0 + 1; t < t1; t++) dlogit[t] += dp[t] * p[t] * (1.0f - p[t]);
    }
}

/* ---- generation steps: row i's new projection q[i] against its previous row's k[i] */
void hn_cpu_cosine_routing_step(float *p, const float *q, const float *k, const int32_t *pos,
                                int n, int D) {
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0) continue;
        if (pos[i] == 0) {
            p[i] = 1.0f;
            continue;
        }
        pair_stats st = pair(q + (size_t)i * D, k + (size_t)i * D, D);
        double v = 0.5 * (1.0 - st.cos);
        p[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
}

void hn_cpu_sigmoid_routing_step(float *p, const float *logit, const int32_t *pos, int n) {
    for (int i = 0; i < n; i++)
        if (pos[i] >= 0) p[i] = pos[i] == 0 ? 1.0f : (float)(1.0 / (1.0 + exp(-(double)logit[i])));
}
