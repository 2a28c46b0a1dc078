/* The cpu backend's dynamic-chunking ops (float32). Each has the contract of the
 * matching hn_ops_chunk field in backend/ops_chunk.h. */
#ifndef HN_CPU_CHUNK_OPS_H
#define HN_CPU_CHUNK_OPS_H

#include "backend/ops_chunk.h"

extern const hn_ops_chunk hn_cpu_ops_chunk;

/* chunk_routing.c */
void hn_cpu_cosine_routing_forward(float *p, const float *q, const float *k, int ld,
                                   const hn_seqs *seqs, int D);
void hn_cpu_cosine_routing_backward(float *dq, float *dk, const float *dp, const float *q,
                                    const float *k, int ld, const hn_seqs *seqs, int D);
int hn_cpu_cosine_routing_backward_t(hn_tensor dq, hn_tensor dk, const float *dp, const float *q,
                                     const float *k, int ld, const hn_seqs *seqs, int D);
void hn_cpu_sigmoid_routing_forward(float *p, const float *logit, const hn_seqs *seqs);
void hn_cpu_sigmoid_routing_backward(float *dlogit, const float *dp, const float *p,
                                     const hn_seqs *seqs);

/* chunk_pool.c */
void hn_cpu_gather_rows(float *out, const float *x, const int32_t *idx, int K, int D);
void hn_cpu_gather_rows_backward(float *dx, const float *dout, const int32_t *idx, int K, int D);
void hn_cpu_pool_mean_forward(float *out, const float *x, const int32_t *first,
                              const int32_t *idx, int K, int D);
void hn_cpu_pool_mean_backward(float *dx, const float *dout, const int32_t *first,
                               const int32_t *idx, int K, int D);
void hn_cpu_pool_max_forward(float *out, int32_t *argmax, const float *x, const int32_t *first,
                             const int32_t *idx, int K, int D);
void hn_cpu_pool_max_backward(float *dx, const float *dout, const int32_t *argmax, int K, int D);

/* chunk_dechunk.c */
void hn_cpu_ema_forward(float *zbar, const float *z, const float *P, const hn_seqs *seqs, int D);
void hn_cpu_ema_backward(float *dz, float *dP, const float *dzbar, const float *z,
                         const float *zbar, const float *P, const hn_seqs *seqs, int D);
void hn_cpu_upsample_forward(float *out, const float *zbar, const int32_t *chunk,
                             const float *p, const int32_t *b, int ste, int T, int D);
void hn_cpu_upsample_backward(float *dzbar, float *dp, const float *dout, const float *zbar,
                              const int32_t *chunk, const float *p, const int32_t *b, int ste,
                              int T, int D);

/* chunk_width.c */
void hn_cpu_widen_forward(float *out, const float *x, const float *pad, int T, int D1, int D2);
void hn_cpu_widen_backward(float *dx, float *dpad, const float *dout, int T, int D1, int D2);
void hn_cpu_narrow_forward(float *out, const float *x, int T, int D1, int D2);
void hn_cpu_narrow_backward(float *dx, const float *dout, int T, int D1, int D2);
void hn_cpu_add_scalar(float *x, float s, size_t n);

/* chunk_plan.c */
int hn_cpu_chunk_plan(const hn_chunk_plan_params *pp);

/* generation steps: chunk_routing.c (routing), chunk_step.c (the rest) */
void hn_cpu_cosine_routing_step(float *p, const float *q, const float *k, const int32_t *pos,
                                int n, int D);
void hn_cpu_sigmoid_routing_step(float *p, const float *logit, const int32_t *pos, int n);
void hn_cpu_copy_rows_step(float *dst, const float *src, const int32_t *pos, int n, int D);
void hn_cpu_ema_step(float *zbar, const float *z, int ld_z, const float *P, int n, int D);
void hn_cpu_pool_step(float *acc, float *out, const float *x, const int32_t *count,
                      const int32_t *b, int max, int n, int D);

#endif
