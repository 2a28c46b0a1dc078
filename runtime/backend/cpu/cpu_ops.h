/* The cpu backend's operations (float32 reference implementations). Each has the
 * contract of the matching hn_backend field in backend/backend.h. */
#ifndef HN_CPU_OPS_H
#define HN_CPU_OPS_H

#include "backend/backend.h"

/* memory.c */
void *hn_cpu_alloc(size_t bytes);
void hn_cpu_free(void *p);
void hn_cpu_upload(void *dst, const void *src, size_t bytes);
void hn_cpu_download(void *dst, const void *src, size_t bytes);
void hn_cpu_copy(void *dst, const void *src, size_t bytes);
void hn_cpu_zero(void *p, size_t bytes);
void hn_cpu_sync(void);

/* matmul.c (OpenBLAS) */
void hn_cpu_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   const float *b, float beta, float *c);

/* elementwise.c */
void hn_cpu_fill(float *x, float value, size_t n);
void hn_cpu_add(float *y, const float *x, size_t n);
void hn_cpu_scale(float *x, float s, size_t n);
double hn_cpu_sum_squares(const float *x, size_t n);
void hn_cpu_add_bias(float *y, const float *b, int rows, int cols);
void hn_cpu_bias_backward(float *db, const float *dy, int rows, int cols);

/* embedding.c */
void hn_cpu_embedding_forward(float *out, const float *table, const int32_t *tok, int T, int D);
void hn_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *tok, int T, int D);

/* rmsnorm.c */
void hn_cpu_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T, int D,
                            float eps);
void hn_cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, const float *rstd, int T, int D);

/* swiglu.c */
void hn_cpu_swiglu_forward(float *h, const float *gu, int T, int H);
void hn_cpu_swiglu_backward(float *dgu, const float *dh, const float *gu, int T, int H);

/* rope.c */
void hn_cpu_rope(float *x, int ld, int T, int heads, int head_dim, int rot_dim,
                 const int32_t *pos, float theta, int inverse);

/* attention_step.c, sample.c: generation */
void hn_cpu_attention_step(float *out, const float *qkv, float *state, size_t stride, int R,
                           const int32_t *pos, int n, int heads, int head_dim, float scale);
void hn_cpu_sample(int32_t *out, const float *logits, const double *u, int n, int V,
                   double temperature, double top_p);

/* attention.c */
void hn_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, int ld, const hn_seqs *seqs, int heads,
                              int head_dim, int window, float scale);
void hn_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, int ld,
                               const float *out, const float *lse, const hn_seqs *seqs,
                               int heads, int head_dim, int window, float scale);

/* bf16.c: activation storage in bf16; the switch is for tests of the bf16 path */
int hn_cpu_stash_bf16(void);
void hn_cpu_set_stash_bf16(int on);
void hn_cpu_pack_bf16(uint16_t *dst, const float *src, size_t n);
void hn_cpu_unpack_bf16(float *dst, const uint16_t *src, size_t n);

/* typed ops (typed.c) */
hn_dtype hn_cpu_activation_dtype(const hn_backend *be);
int hn_cpu_convert(const hn_backend *be, hn_tensor dst, hn_tensor src);
int hn_cpu_matmul_t(const hn_backend *be, const hn_matmul_params *p);
int hn_cpu_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p);
int hn_cpu_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p);
int hn_cpu_rope_t(const hn_backend *be, const hn_rope_params *p);
int hn_cpu_rope_to_t(const hn_backend *be, const hn_rope_params *p, hn_tensor out);
int hn_cpu_attention_forward_t(const hn_backend *be, const hn_attention_params *p);
int hn_cpu_attention_backward_t(const hn_backend *be, const hn_attention_params *p);
/* rmsnorm_typed.c */
int hn_cpu_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p);
int hn_cpu_add_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p);
int hn_cpu_rmsnorm_backward_t(const hn_backend *be, const hn_rmsnorm_params *p);

/* xent.c */
void hn_cpu_xent_forward(float *loss, const float *logits, const int32_t *target, int T, int V);
void hn_cpu_xent_backward(float *dlogits, const float *logits, const int32_t *target, int T,
                          int V, float scale);
void hn_cpu_xent_fused(float *loss, float *dlogits, const float *logits, const int32_t *target,
                       int T, int V, float scale);
int hn_cpu_xent_fused_t(const hn_backend *be, const hn_xent_params *p);

/* adamw.c */
void hn_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2,
                  float grad_scale);

/* grad_clip.c */
void hn_cpu_grad_clip(hn_grad_clip *c, const float *g, size_t n, double max_norm);
void hn_cpu_adamw_clipped(float *p, const float *g, float *m, float *v, size_t n, float lr,
                          float beta1, float beta2, float eps, float weight_decay, float bc1,
                          float bc2, const hn_grad_clip *c);

#endif
