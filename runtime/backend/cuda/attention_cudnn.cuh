/* cuDNN's fused attention (attention_cudnn.cu): the "cudnn" attention mode. */
#ifndef HN_ATTENTION_CUDNN_CUH
#define HN_ATTENTION_CUDNN_CUH

#include "backend/backend.h"

struct hn_cuda_instance;
typedef struct hn_cudnn hn_cudnn; /* an instance's handle and plans; NULL until used */

/* 0: done on the instance's stream; 1: not run (no libcudnn, or a shape or layout it does
 * not take: the caller runs its own kernels; hn_cudnn_why() says why); -1: failed (noted
 * in the instance's sticky error). bf16 q, k, v, out (and dout), head_dim a multiple of 8
 * up to 128. */
int hn_cudnn_attention_forward(const hn_attention_params *p);
int hn_cudnn_attention_backward(const hn_attention_params *p);
/* whether the instance's configuration sends the call to cuDNN (before it checks the
 * shape): the CUDNN mode, and AUTO where cuDNN measured faster */
int hn_cudnn_wanted(const hn_attention_params *p, int backward);
/* 1 where a backward with these params (dq, dk, dv bf16, overwrite) runs on cuDNN, which
 * writes the bf16 gradients itself (the plan is made here if it is not yet) */
int hn_cudnn_backward_ready(const hn_attention_params *p);
/* why the last call of this instance returned 1 ("" after one that ran) */
const char *hn_cudnn_why(void);
void hn_cudnn_release(struct hn_cuda_instance *inst);

#endif
