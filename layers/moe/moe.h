/* The Mixture-of-Experts MLP plugin (shared between its files).
 *
 *   logits = x router^T                      [T, E]
 *   p      = softmax(logits)                 per row
 *   K(t)   = the top_k experts of row t      (ties: the lower index)
 *   w      = p over K(t), renormalised to sum 1 when `renormalize`
 *   y[t]   = sum_{e in K(t), kept} w[t,e] * SwiGLU_e(x[t])
 *
 * Routing decisions are made on the host (the logits are downloaded): they are
 * discrete, need host-side counts to size each expert's batch, and are cheap next to
 * the expert matmuls. Rows move between the token order and the expert-sorted order
 * with per-row backend copies.
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

#include "plugin/layer_abi.h"

#define MOE_MAX_EXPERTS 256

/* The routing of one forward pass (host memory, sized for `cap` rows). */
typedef struct moe_routing {
    int T, E, k;
    float *logits;  /* [T, E] */
    float *p;       /* [T, E] softmax */
    float *lse;     /* [T] log-sum-exp of the logits */
    int32_t *top;   /* [T, k] chosen experts, best first */
    float *w;       /* [T, k] combination weights */
    int32_t *slot;  /* [T, k] row in the expert-sorted order, -1 when dropped */
    int32_t *row_tok; /* [A] token of each expert-sorted row */
    float *row_w;     /* [A] its combination weight */
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

    /* device work buffers for up to cap rows (A = cap * k expert-sorted rows) */
    const hn_backend *be;
    int cap;
    float *logits_dev, *dlogits_dev; /* [cap, E] */
    float *xs, *ys;                  /* [A, D] gathered inputs, unweighted expert outputs */
    float *gu, *h;                   /* [A, 2H], [A, H] */
    float *dys, *dh, *dgu;           /* [cap, D], [cap, H], [cap, 2H]: one expert at a time */
    float *row;                      /* [D] scratch row */
    /* host buffers */
    moe_routing r;
    float *dy_h, *ys_h, *dlogits_h;  /* [cap, D], [A, D], [cap, E] */
    float *dw_h;                     /* [cap, k] d loss / d combination weight */

    const float *x; /* forward input, valid until the matching backward */
    int T;
    int has_forward; /* r holds the stats of a training forward */
} moe;

/* Host routing of T rows whose logits are in r->logits: softmax, top-k, combination
 * weights, capacity (cf <= 0: none), expert-sorted order, balance and z losses. */
void moe_route(moe_routing *r, int T, int E, int k, int renormalize, double cf);
/* d loss / d logits on the host: dw[T, k] is d loss / d w (0 for dropped pairs); adds
 * the weighted balance and z-loss gradients. Overwrites dlogits [T, E]. */
void moe_route_backward(const moe_routing *r, const float *dw, int renormalize,
                        double balance_weight, double z_weight, float *dlogits);

/* Host buffers of r for cap rows. */
int moe_routing_reserve(moe_routing *r, int cap, int E, int k);
void moe_routing_free(moe_routing *r);

int moe_forward(moe *s, const hn_backend *be, const float *x, float *y, int T, int training,
                hn_error *err);
int moe_backward(moe *s, const hn_backend *be, const float *dy, float *dx, int T, hn_error *err);
void moe_release(moe *s);

#endif
