/* The cuda backend's operations; each has the contract of the matching hn_backend /
 * hn_ops_ssm / hn_ops_chunk field. */
#ifndef HN_CUDA_OPS_CUH
#define HN_CUDA_OPS_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend/backend.h"
#include "backend/ops_chunk.h"
#include "backend/ops_moe.h"
#include "backend/ops_ssm.h"
}

void *hn_cuda_alloc(size_t bytes);
void hn_cuda_free(void *p);
void hn_cuda_upload(void *dst, const void *src, size_t bytes);
void hn_cuda_download(void *dst, const void *src, size_t bytes);
void hn_cuda_copy(void *dst, const void *src, size_t bytes);
void hn_cuda_zero(void *p, size_t bytes);
void hn_cuda_sync(void);
/* the step's statistics read without a wait (memory.cu) */
void *hn_cuda_alloc_host(size_t bytes);
void hn_cuda_free_host(void *p);
void hn_cuda_download_async(void *dst_host, const void *src, size_t bytes);
void hn_cuda_download_wait(void);
/* bf16 parameter copies (shadow.cu): params_arena is the table's op; touch marks an
 * arena stale after a write into it; read answers the bf16 copy of [p, p+count) (NULL:
 * not a parameter, or no copy); update answers where AdamW writes its rounded result
 * (NULL: nothing to keep in step). */
void hn_cuda_params_arena(const float *values, size_t n, int on);
void hn_cuda_shadow_touch(const void *p, size_t bytes);
const void *hn_cuda_shadow_read(const float *p, size_t count);
void *hn_cuda_shadow_update(const float *p, size_t count);
/* typed ops (matmul.cu, typed.cu) */
extern "C" hn_dtype hn_cuda_activation_dtype(const hn_backend *be);
extern "C" int hn_cuda_convert(const hn_backend *be, hn_tensor dst, hn_tensor src);
extern "C" int hn_cuda_matmul_t(const hn_backend *be, const hn_matmul_params *p);
extern "C" int hn_cuda_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p);
extern "C" int hn_cuda_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p);
extern "C" int hn_cuda_rope_t(const hn_backend *be, const hn_rope_params *p);
extern "C" int hn_cuda_rope_to_t(const hn_backend *be, const hn_rope_params *p, hn_tensor out);
extern "C" int hn_cuda_attention_forward_t(const hn_backend *be, const hn_attention_params *p);
extern "C" int hn_cuda_attention_backward_t(const hn_backend *be, const hn_attention_params *p);
extern "C" int hn_cuda_attention_grads_bf16(const hn_backend *be, const hn_attention_params *p);
/* rope_out.cu: rope_t with an output view (x only read) */
int hn_cuda_rope_out(const hn_rope_params *p, hn_tensor out);
/* rope_tiles.cu: rope in place (copy 0) or into out (copy 1) by row tiles; 1 when the
 * shape does not fit them (nothing launched) */
int hn_cuda_rope_tiles(const hn_rope_params *p, hn_tensor out, int copy);
/* chunk_plan.cu */
int hn_cuda_chunk_plan(const hn_chunk_plan_params *pp);
/* ema_scan.cu: the dechunk EMA as a chunked scan (ema_forward / ema_backward's contract) */
void hn_cuda_ema_scan_forward(float *zbar, const float *z, const float *P, const hn_seqs *seqs,
                              int D);
void hn_cuda_ema_scan_backward(float *dz, float *dP, const float *dzbar, const float *z,
                               const float *zbar, const float *P, const hn_seqs *seqs, int D);
/* chunk_typed.cu */
int hn_cuda_cosine_routing_backward_t(hn_tensor dq, hn_tensor dk, const float *dp, const float *q,
                                      const float *k, int ld, const hn_seqs *seqs, int D);
/* xent_typed.cu */
extern "C" int hn_cuda_xent_fused_t(const hn_backend *be, const hn_xent_params *p);
/* rmsnorm_typed.cu */
extern "C" int hn_cuda_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p);
extern "C" int hn_cuda_add_rmsnorm_forward_t(const hn_backend *be, const hn_rmsnorm_params *p);
extern "C" int hn_cuda_rmsnorm_backward_t(const hn_backend *be, const hn_rmsnorm_params *p);
/* dst = src (add = 0) or dst += src (add = 1), elementwise between any dtypes */
void hn_cuda_view_copy(hn_tensor dst, hn_tensor src, int add);
void hn_cuda_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                    const float *b, float beta, float *c);
void hn_cuda_fill(float *x, float value, size_t n);
void hn_cuda_add(float *y, const float *x, size_t n);
void hn_cuda_scale(float *x, float s, size_t n);
double hn_cuda_sum_squares(const float *x, size_t n);
void hn_cuda_add_bias(float *y, const float *b, int rows, int cols);
void hn_cuda_bias_backward(float *db, const float *dy, int rows, int cols);
/* out[k,:] = x[idx[k],:] (the chunk family's gather_rows; also the embedding) */
void hn_cuda_gather_rows(float *out, const float *x, const int32_t *idx, int K, int D);
void hn_cuda_embedding_forward(float *out, const float *table, const int32_t *tok, int T, int D);
void hn_cuda_embedding_backward(float *dtable, const float *dout, const int32_t *tok, int T, int D);
void hn_cuda_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int T, int D,
                             float eps);
void hn_cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                              const float *w, const float *rstd, int T, int D);
void hn_cuda_swiglu_forward(float *h, const float *gu, int T, int H);
void hn_cuda_swiglu_backward(float *dgu, const float *dh, const float *gu, int T, int H);
void hn_cuda_rope(float *x, int ld, int T, int heads, int head_dim, int rot_dim,
                  const int32_t *pos, float theta, int inverse);
void hn_cuda_attention_forward(float *out, float *lse, const float *q, const float *k,
                               const float *v, int ld, const hn_seqs *seqs, int heads,
                               int head_dim, int window, float scale);
void hn_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, int ld,
                                const float *out, const float *lse, const hn_seqs *seqs,
                                int heads, int head_dim, int window, float scale);
int hn_cuda_stash_bf16(void);
void hn_cuda_pack_bf16(uint16_t *dst, const float *src, size_t n);
void hn_cuda_unpack_bf16(float *dst, const uint16_t *src, size_t n);
void hn_cuda_xent_forward(float *loss, const float *logits, const int32_t *target, int T, int V);
void hn_cuda_xent_backward(float *dlogits, const float *logits, const int32_t *target, int T,
                           int V, float scale);
void hn_cuda_xent_fused(float *loss, float *dlogits, const float *logits, const int32_t *target,
                        int T, int V, float scale);
void hn_cuda_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float weight_decay, float bc1, float bc2,
                   float grad_scale);
void hn_cuda_grad_clip(hn_grad_clip *c, const float *g, size_t n, double max_norm);
void hn_cuda_adamw_clipped(float *p, const float *g, float *m, float *v, size_t n, float lr,
                           float beta1, float beta2, float eps, float weight_decay, float bc1,
                           float bc2, const hn_grad_clip *c);

/* The SSD scan's three implementations (ssm.cu: row recurrence; ssd_chunked.cu: chunked
 * products; ssd_mma.cu: chunked on tensor cores for headdim = d_state = 64) and their
 * chunk plan, on the device (cached per packing): cb [n_seqs + 1] the first chunk of each
 * sequence, tab [2 n_chunks] each chunk's first row and rows, tiles [n_tiles] the chunks
 * cut into tiles of HN_SSD_TILE_ROWS rows (int4: first row, rows, chunk, index within
 * the chunk | tiles in the chunk << 16; a chunk's tiles are consecutive). */
#define HN_SSD_TILE_ROWS 64
typedef struct hn_ssd_plan {
    int n_chunks, n_tiles;
    const int32_t *cb, *tab, *tiles;
} hn_ssd_plan;
int hn_cuda_ssd_plan(hn_ssd_plan *pl, const hn_seqs *seqs, int Q);
/* the state carried over each sequence's chunks (forward) or its gradient (backward,
 * reverse = 1): out[c] = value entering chunk c (leaving it, backward), v <- el_c v + z_c */
void hn_cuda_ssdc_scan(float *out, float *final_state, size_t final_stride, const float *z,
                       const float *el, const int32_t *cb, int n_seqs, int H, size_t PN,
                       int reverse);
int hn_cuda_ssd_mma_supports(const hn_ssm_dims *d);
/* y, dt_raw and ddt_raw: float32 or bf16 views (ddt_raw as ops_ssm.h's gradient rule); x,
 * B, C: float32, or bf16 when xbc_bf16 (one row stride ld for the three); dx, dB, dC:
 * float32, or bf16 (written, never added to) when dxbc_bf16, which needs xbc_bf16 */
void hn_cuda_ssd_mma_forward(hn_tensor y, float *chunk_states, float *final_state, size_t final_stride,
                             const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                             hn_tensor dt_raw, const float *dt_bias,
                             const float *A_log, const float *D, const hn_seqs *seqs,
                             const hn_ssm_dims *d);
void hn_cuda_ssd_mma_backward(void *dx, void *dB, void *dC, int ldd, int dxbc_bf16, hn_tensor ddt_raw,
                              float *ddt_bias, float *dA_log, float *dD, const float *dy,
                              const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                              hn_tensor dt_raw, const float *dt_bias,
                              const float *A_log, const float *D, const float *chunk_states,
                              const hn_seqs *seqs, const hn_ssm_dims *d, int add_to);
void hn_cuda_ssdc_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                          const float *x, const float *B, const float *C, int ld,
                          const float *dt_raw, int ld_dt, const float *dt_bias,
                          const float *A_log, const float *D, const hn_seqs *seqs,
                          const hn_ssm_dims *d);
void hn_cuda_ssdc_backward(float *dx, float *dB, float *dC, int ldd, float *ddt_raw, int ld_ddt,
                           float *ddt_bias, float *dA_log, float *dD, const float *dy,
                           const float *x, const float *B, const float *C, int ld,
                           const float *dt_raw, int ld_dt, const float *dt_bias,
                           const float *A_log, const float *D, const float *chunk_states,
                           const hn_seqs *seqs, const hn_ssm_dims *d);
/* The SSD as the v1 ops (ssm.cu, whichever kernels ssd_pick chooses), y, dt_raw and
 * ddt_raw as views: bf16 ones only where hn_cuda_ssd_typed_io says the chosen kernels
 * read and write them (the tensor-core ones); float32 views with y packed elsewhere.
 * x, B, C and dx, dB, dC likewise: bf16 (xbc_bf16, dxbc_bf16) for the tensor-core
 * kernels only. */
int hn_cuda_ssd_typed_io(const hn_ssm_dims *d);
void hn_cuda_ssd_forward(hn_tensor y, float *chunk_states, float *final_state,
                         size_t final_stride, const void *x, const void *B, const void *C,
                         int ld, int xbc_bf16, hn_tensor dt_raw, const float *dt_bias, const float *A_log,
                         const float *D, const hn_seqs *seqs, const hn_ssm_dims *d);
void hn_cuda_ssd_backward(void *dx, void *dB, void *dC, int ldd, int dxbc_bf16, hn_tensor ddt_raw,
                          float *ddt_bias, float *dA_log, float *dD, const float *dy,
                          const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                          hn_tensor dt_raw, const float *dt_bias, const float *A_log,
                          const float *D, const float *chunk_states, const hn_seqs *seqs,
                          const hn_ssm_dims *d, int add_to);
/* ssm_conv.cu, ssm_norm.cu: the v1 convolution and gated RMSNorm */
void hn_cuda_conv1d_forward(float *out, const float *x, int ld_x, const float *w, const float *bias,
                            const hn_seqs *seqs, int C, int K);
void hn_cuda_conv1d_backward(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                             const float *x, int ld_x, const float *w, const float *bias,
                             const hn_seqs *seqs, int C, int K);
void hn_cuda_grms_forward(float *out, float *rstd, const float *x, const float *z, int ld_z,
                          const float *w, int T, int Dm, int gs, float eps);
void hn_cuda_grms_backward(float *dx, float *dz, int ld_dz, float *dw, const float *dout,
                           const float *x, const float *z, int ld_z, const float *w,
                           const float *rstd, int T, int Dm, int gs);
/* the typed Mamba-2 ops (ops_ssm.h "_t"): ssm_conv.cu, ssd_typed.cu, ssm_norm.cu */
extern "C" int hn_cuda_conv1d_forward_t(const hn_backend *be, const hn_conv1d_params *p);
extern "C" int hn_cuda_conv1d_backward_t(const hn_backend *be, const hn_conv1d_params *p);
extern "C" int hn_cuda_ssd_forward_t(const hn_backend *be, const hn_ssd_params *p);
extern "C" int hn_cuda_ssd_backward_t(const hn_backend *be, const hn_ssd_params *p);
extern "C" int hn_cuda_gated_rmsnorm_forward_t(const hn_backend *be, const hn_gated_norm_params *p);
extern "C" int hn_cuda_gated_rmsnorm_backward_t(const hn_backend *be, const hn_gated_norm_params *p);

/* generation steps of the chunk family (chunk_step.cu) */
void hn_cuda_cosine_routing_step(float *p, const float *q, const float *k, const int32_t *pos,
                                 int n, int D);
void hn_cuda_sigmoid_routing_step(float *p, const float *logit, const int32_t *pos, int n);
void hn_cuda_copy_rows_step(float *dst, const float *src, const int32_t *pos, int n, int D);
void hn_cuda_ema_step(float *zbar, const float *z, int ld_z, const float *P, int n, int D);
void hn_cuda_pool_step(float *acc, float *out, const float *x, const int32_t *count,
                       const int32_t *b, int max, int n, int D);
/* generation (attention_step.cu, sample.cu) */
void hn_cuda_attention_step(float *out, const float *qkv, float *state, size_t stride, int R,
                            const int32_t *pos, int n, int heads, int head_dim, float scale);
void hn_cuda_sample(int32_t *out, const float *logits, const double *u, int n, int V,
                    double temperature, double top_p);

extern const hn_ops_ssm hn_cuda_ops_ssm;
extern const hn_ops_chunk hn_cuda_ops_chunk;
extern const hn_ops_moe hn_cuda_ops_moe;

#endif
