/* Mixture-of-Experts routing and expert dispatch: the op family the moe layer plugin
 * reaches through be->moe. Same conventions as backend.h: forward ops OVERWRITE their
 * outputs, backward ops ACCUMULATE (+=) into every gradient; all pointers are device
 * pointers. Every op is deterministic (no float atomics; fixed summation orders).
 *
 * Notation: T tokens, E experts (1 <= E <= HN_MOE_MAX_EXPERTS), k experts per token
 * (1 <= k <= E), D the row width. A pair (t, j) is token t's j-th choice; its index is
 * i = t * k + j. The A <= T * k kept pairs are laid out in the "expert-sorted" order:
 * expert e owns rows [off[e], off[e+1]), in token order within an expert. */
#ifndef HN_OPS_MOE_H
#define HN_OPS_MOE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#define HN_MOE_MAX_EXPERTS 256

/* Layout of route's int32 `counts` [HN_MOE_COUNTS(E)]:
 *   counts[0 .. E]        off: expert-sorted offsets (off[0] = 0, off[E] = A)
 *   counts[E+1 .. 2E]     routed[e]: pairs that chose e (before the capacity)
 *   counts[2E+1]          dropped: pairs dropped by the capacity
 * and of its double `sums` [HN_MOE_SUMS(E)]:
 *   sums[0 .. E-1]        sum_t p[t, e] (p in double precision before rounding)
 *   sums[E]               sum_t lse[t]^2 */
#define HN_MOE_COUNTS(E) (2 * (E) + 2)
#define HN_MOE_SUMS(E) ((E) + 1)

typedef struct hn_ops_moe {
    /* ---- routing of T rows of router logits [T, E] ----
     * p[t]     = softmax(logits[t]) (computed in double, rounded), lse[t] its log-sum-exp;
     * top[t,:] = the k largest logits, best first; ties go to the LOWER expert index;
     * w[t,j]   = p[t, top[t,j]], divided by sum_j p[t, top[t,j]] when renormalize;
     * capacity: expert e keeps at most `capacity` pairs (capacity >= T: none dropped);
     *   all first choices (j = 0) of every token claim slots before any second choice,
     *   and within one rank j earlier tokens first;
     * slot[t,j] = the pair's expert-sorted row, -1 when dropped;
     * row_tok[a], row_w[a] = token and weight w of expert-sorted row a (a < A);
     * counts, sums: see above (the host downloads these to size the expert batches and
     *   to report the balance loss f.P, the z-loss and the drops).
     * Buffers: p [T,E], lse [T], top, w, slot [T,k], row_tok, row_w [T*k]. */
    void (*route)(float *p, float *lse, int32_t *top, float *w, int32_t *slot,
                  int32_t *row_tok, float *row_w, int32_t *counts, double *sums,
                  const float *logits, int T, int E, int k, int renormalize, int capacity);
    /* dlogits[t,:] += d loss / d logits from dw [T,k] = d loss / d w (0 for dropped
     * pairs) through the softmax and the (renormalised) selection, plus the gradients of
     * balance_weight * E * sum_e f_e P_e (f_e = routed[e] / (T k) from counts, a constant;
     * P_e = mean_t p[t,e]) and of z_weight * mean_t lse[t]^2. */
    void (*route_backward)(float *dlogits, const float *dw, const float *p, const float *lse,
                           const int32_t *top, const float *w, const int32_t *counts, int T,
                           int E, int k, int renormalize, double balance_weight,
                           double z_weight);

    /* ---- dispatch: xs[a,:] = x[row_tok[a],:] is the chunk family's gather_rows ---- */
    /* dx[t,:] += sum_j dxs[slot[t,j],:] over kept pairs, j in order */
    void (*gather_backward)(float *dx, const float *dxs, const int32_t *slot, int T, int k,
                            int D);
    /* ---- combine: y[t,:] = sum_j w[t,j] * ys[slot[t,j],:] over kept pairs, j in order
     * (0 for a token whose pairs were all dropped) ---- */
    void (*combine)(float *y, const float *ys, const float *w, const int32_t *slot, int T,
                    int k, int D);
    /* dys[a,:] += row_w[a] * dy[row_tok[a],:] for a < A;
     * dw[t,j] += dot(dy[t,:], ys[slot[t,j],:]) (accumulated in double; nothing when
     * dropped) */
    void (*combine_backward)(float *dys, float *dw, const float *dy, const float *ys,
                             const int32_t *slot, const int32_t *row_tok, const float *row_w,
                             int T, int k, int A, int D);
} hn_ops_moe;

#endif
