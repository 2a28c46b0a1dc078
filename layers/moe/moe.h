/* The Mixture-of-Experts MLP plugin (shared between its files).
 *
 *   logits = x router^T                      [T, E]
 *   p      = softmax(logits)                 per row
 *   K(t)   = the top_k experts of row t      (ties: the lower index)
 *   w      = p over K(t), renormalised to sum 1 when `renormalize`
 *   y[t]   = sum_{e in K(t), kept} w[t,e] * SwiGLU_e(x[t])
 *
 * Routing runs on the device through the backend's moe op family (be->moe, see
 * backend/ops_moe.h; cpu twins in backend/cpu/moe_*.c, cuda kernels in
 * backend/cuda/moe.cu): softmax, top-k, capacity and the expert-sorted order are
 * computed there, and only the per-expert offsets plus a few sums for the metrics
 * (2E + 2 ints, E + 1 doubles) come back to the host, which needs them to size each
 * expert's matrix products. Rows move between the token order and the expert-sorted
 * order with the gather / combine ops (no per-row copies; deterministic).
 *
 * capacity_factor > 0 caps each expert at ceil(cf * T * k / E) rows per forward;
 * first choices of every token claim slots before second choices, and within a rank
 * earlier rows first. A dropped (token, expert) pair contributes nothing (the residual
 * stream carries the token past this layer); it is counted in the `dropped` metric.
 * Note that capacity makes a row's output depend on other rows (also later rows of its
 * own sequence); capacity_factor = 0 (dropless, the default) keeps the layer causal.
 *
 * Auxiliary losses (aux_loss hook, already weighted; backward includes their gradient):
 *   balance = E * sum_e f_e * P_e   (Switch Transformer), f_e = share of the T*k routed
 *             (token, expert) pairs that chose e (before capacity), P_e = mean_t p[t,e];
 *             f is a constant for the gradient. Uniform routing gives its minimum, 1.
 *   z       = mean_t logsumexp(logits[t])^2  (router z-loss, ST-MoE). */
#ifndef HN_LAYERS_MOE_H
#define HN_LAYERS_MOE_H

#include "backend/ops_chunk.h"
#include "backend/ops_moe.h"
#include "plugin/plugin.h"

#define MOE_MAX_EXPERTS HN_MOE_MAX_EXPERTS

/* The routing statistics of one forward pass, on the host (from route's counts/sums). */
typedef struct moe_routing {
    int T, E, k;
    int32_t off[MOE_MAX_EXPERTS + 1]; /* expert e owns sorted rows [off[e], off[e+1]) */
    long routed[MOE_MAX_EXPERTS];     /* pairs that chose e (before capacity) */
    long dropped;                     /* pairs dropped by the capacity */
    double f[MOE_MAX_EXPERTS], P[MOE_MAX_EXPERTS];
    double balance, z;                /* unweighted */
} moe_routing;

typedef struct moe {
    int d, hidden, E, k, renormalize;
    double capacity_factor, balance_weight, z_weight;
    float std_router, std_in, std_out;

    const float *wr; /* router [E, D] */
    float *gr;
    const float *w1[MOE_MAX_EXPERTS], *w2[MOE_MAX_EXPERTS]; /* fc1 [2H, D], fc2 [D, H] */
    float *g1[MOE_MAX_EXPERTS], *g2[MOE_MAX_EXPERTS];

    /* device buffers that live from a forward to its backward, for up to cap rows
     * (A = cap * k expert-sorted rows); grown geometrically, never per step. The
     * per-call buffers (logits, xs, h, and every gradient but dw) are taken from the
     * backend's shared workspace instead (be->workspace). */
    const hn_backend *be;
    int cap;
    float *p;                        /* [cap, E] */
    float *lse;                      /* [cap] */
    int32_t *top, *slot;             /* [cap, k] */
    float *w, *dw;                   /* [cap, k] weights and d loss / d weights */
    int32_t *row_tok;                /* [A] */
    float *row_w;                    /* [A] */
    int32_t *counts;                 /* [HN_MOE_COUNTS(E)] */
    double *sums;                    /* [HN_MOE_SUMS(E)] */
    float *ys;                       /* [A, D] unweighted expert outputs */
    float *gu;                       /* [A, 2H] expert pre-activations */
    /* host copies of counts and sums */
    int32_t counts_h[HN_MOE_COUNTS(MOE_MAX_EXPERTS)];
    double sums_h[HN_MOE_SUMS(MOE_MAX_EXPERTS)];
    moe_routing r;

    const float *x; /* forward input, valid until the matching backward */
    int T;
    int has_forward; /* r holds the stats of a training forward */
} moe;

int moe_forward(moe *s, const hn_backend *be, const float *x, float *y, int T, int training,
                hn_error *err);
int moe_backward(moe *s, const hn_backend *be, const float *dy, float *dx, int T, hn_error *err);
void moe_release(moe *s);

#endif
