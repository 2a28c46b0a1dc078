/* The cpu backend's Mixture-of-Experts ops (float32, double accumulations). Each has
 * the contract of the matching hn_ops_moe field in backend/ops_moe.h. */
#ifndef HN_CPU_MOE_OPS_H
#define HN_CPU_MOE_OPS_H

#include "backend/ops_moe.h"

extern const hn_ops_moe hn_cpu_ops_moe;

/* moe_route.c */
void hn_cpu_moe_route(float *p, float *lse, int32_t *top, float *w, int32_t *slot,
                      int32_t *row_tok, float *row_w, int32_t *counts, double *sums,
                      const float *logits, int T, int E, int k, int renormalize, int capacity);
void hn_cpu_moe_route_backward(float *dlogits, const float *dw, const float *p, const float *lse,
                               const int32_t *top, const float *w, const int32_t *counts, int T,
                               int E, int k, int renormalize, double balance_weight,
                               double z_weight);

/* moe_dispatch.c */
void hn_cpu_moe_gather_backward(float *dx, const float *dxs, const int32_t *slot, int T, int k,
                                int D);
void hn_cpu_moe_combine(float *y, const float *ys, const float *w, const int32_t *slot, int T,
                        int k, int D);
void hn_cpu_moe_combine_backward(float *dys, float *dw, const float *dy, const float *ys,
                                 const int32_t *slot, const int32_t *row_tok, const float *row_w,
                                 int T, int k, int A, int D);

#endif
