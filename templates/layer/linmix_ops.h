/* The template's own ops (backend/kernels.h): the SiLU of linmix, f(x) = silu(x W^T),
 * forward and backward, each with a cpu implementation (linmix_ops.c, the float32
 * reference) and a cuda one (linmix_ops.cu, built when nvcc is found). Params structs
 * are shared by both; append fields only. */
#ifndef LINMIX_OPS_H
#define LINMIX_OPS_H

#include "backend/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = silu(h) = h * sigmoid(h), elementwise over [rows, cols]; h and y float32 or bf16
 * (they may be the same tensor). */
typedef struct linmix_silu_fwd_params {
    hn_tensor h, y;
} linmix_silu_fwd_params;

/* dh += dy * silu'(h); h and dy float32 or bf16, dh float32. */
typedef struct linmix_silu_bwd_params {
    hn_tensor h, dy, dh;
} linmix_silu_bwd_params;

extern const hn_kernel_def linmix_silu_fwd, linmix_silu_bwd;

/* the implementations behind the defs (hidden: the plugin exports its entry alone) */
int linmix_silu_fwd_cpu(const hn_backend *be, const void *params);
int linmix_silu_bwd_cpu(const hn_backend *be, const void *params);
int linmix_silu_fwd_cuda(const hn_backend *be, const void *params);
int linmix_silu_bwd_cuda(const hn_backend *be, const void *params);

#ifdef __cplusplus
}
#endif

#endif
