/* Tiled flash attention kernels (attention_tiled.cu) used by attention.cu where the
 * head width allows. */
#ifndef HN_ATTENTION_TILED_CUH
#define HN_ATTENTION_TILED_CUH

extern "C" {
#include "backend/backend.h"
}

int hn_fa_supported(int head_dim, int ld);
void hn_fa_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                   const hn_seqs *seqs, int heads, int hd, int window, float scale);
/* Dbuf: T x heads floats of scratch */
void hn_fa_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                    const float *k, const float *v, int ld, const float *out, const float *lse,
                    const hn_seqs *seqs, int heads, int hd, int window, float scale, float *Dbuf);



/* bf16 tensor-core kernels (attention_tc.cu), head_dim 64 */
int hn_tc_supported(int head_dim);
void hn_tc_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                   const hn_seqs *seqs, int heads, int window, float scale);
void hn_tc_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                    const float *k, const float *v, int ld, const float *out, const float *lse,
                    const hn_seqs *seqs, int heads, int window, float scale, float *Dbuf);

/* bf16 tensor-core kernels with register-resident scores (attention_mma.cu), head_dim 64;
 * q, k, v 16-byte aligned with ld a multiple of 4 */
int hn_mma_supported(int head_dim, int ld, const void *q, const void *k, const void *v);
void hn_mma_forward(float *out, float *lse, const float *q, const float *k, const float *v, int ld,
                    const hn_seqs *seqs, int heads, int window, float scale);
void hn_mma_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                     const float *k, const float *v, int ld, const float *out, const float *lse,
                     const hn_seqs *seqs, int heads, int window, float scale, float *D);
/* the same on bf16 q, k, v (row stride ldq, a multiple of 8); out, dout float32 or bf16;
 * the backward adds into dq, dk, dv (add_to) or writes them (0: nothing read there) */
int hn_mma_supported_bf16(int head_dim, int ld, const void *q, const void *k, const void *v);
void hn_mma_forward_bf16(void *out, int out_bf16, float *lse, const void *q, const void *k,
                         const void *v, int ldq, const hn_seqs *seqs, int heads, int window,
                         float scale);
void hn_mma_backward_bf16(float *dq, float *dk, float *dv, int ld_grad, const void *dout,
                          int dout_bf16, const void *q, const void *k, const void *v, int ldq,
                          const void *out, int out_bf16, const float *lse, const hn_seqs *seqs,
                          int heads, int window, float scale, float *D, int add_to);
/* Hopper warpgroup kernels (attention_wgmma.cu), head_dim 64, bf16 q, k, v as for the
 * mma ones; only where hn_wgmma_available() (compute capability 9.0, the sm_90a build) */
int hn_wgmma_available(void);
void hn_wgmma_forward_bf16(void *out, int out_bf16, float *lse, const void *q, const void *k,
                           const void *v, int ldq, const hn_seqs *seqs, int heads, int window,
                           float scale);
/* dQ, dK, dV += (add_to) or = (float32, row stride ld_grad) from bf16 dout, q, k, v and
 * D = rowsum(dO * O); dq_atomic: dQ added by the dK/dV kernel's atomics (dq cleared first
 * where add_to is 0) instead of the dQ kernel */
void hn_wgmma_backward_tiles(float *dq, float *dk, float *dv, int ld_grad, const void *dout,
                             const void *q, const void *k, const void *v, int ldq, const float *lse,
                             const hn_seqs *seqs, int heads, int window, float scale, const float *D,
                             int dq_atomic, int add_to);
#endif
