/* The runtime's own ops in the kernel registry (backend/kernels.h): the typed SwiGLU of
 * the backends (backend.h swiglu_forward_t / swiglu_backward_t), registered under a
 * name with their cpu and cuda implementations and what the test kit needs, so the
 * kit's device parity covers them like a plugin's ops. The backend table keeps its
 * entries: callers of be->swiglu_*_t are unchanged. */
#include <stddef.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/kernels.h"

#ifdef HN_HAVE_CUDA
int hn_cuda_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p);
int hn_cuda_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p);
static int fwd_cuda(const hn_backend *be, const void *p) { return hn_cuda_swiglu_forward_t(be, p); }
static int bwd_cuda(const hn_backend *be, const void *p) { return hn_cuda_swiglu_backward_t(be, p); }
#define CUDA_IMPL(fn) fn
#else
#define CUDA_IMPL(fn) NULL
#endif

static int fwd_cpu(const hn_backend *be, const void *p) { return hn_cpu_swiglu_forward_t(be, p); }
static int bwd_cpu(const hn_backend *be, const void *p) { return hn_cpu_swiglu_backward_t(be, p); }

enum { ROWS = 67, H = 96 };

static const hn_kernel_arg fwd_args[] = {
    {"gu", offsetof(hn_swiglu_params, gu), HN_ARG_IN},
    {"h", offsetof(hn_swiglu_params, h), HN_ARG_OUT},
};
static int fwd_example(void *params, hn_dtype dtype) {
    hn_swiglu_params *p = params;
    p->gu = (hn_tensor){NULL, dtype, ROWS, 2 * H, 2 * H};
    p->h = (hn_tensor){NULL, dtype, ROWS, H, H};
    return 0;
}

static const hn_kernel_arg bwd_args[] = {
    {"gu", offsetof(hn_swiglu_params, gu), HN_ARG_IN},
    {"dh", offsetof(hn_swiglu_params, dh), HN_ARG_IN},
    {"dgu", offsetof(hn_swiglu_params, dgu), HN_ARG_INOUT},
};
static int bwd_example(void *params, hn_dtype dtype) {
    hn_swiglu_params *p = params;
    p->gu = (hn_tensor){NULL, dtype, ROWS, 2 * H, 2 * H};
    p->dh = (hn_tensor){NULL, dtype, ROWS, H, H};
    p->dgu = (hn_tensor){NULL, HN_F32, ROWS, 2 * H, 2 * H}; /* accumulated: float32 */
    p->accumulate = 1;
    return 0;
}

const hn_kernel_def hn_kernel_swiglu_fwd = {
    .size = sizeof(hn_kernel_def), .name = "core.swiglu_fwd",
    .params_size = sizeof(hn_swiglu_params), .cpu = fwd_cpu, .cuda = CUDA_IMPL(fwd_cuda),
    .args = fwd_args, .n_args = 2, .example = fwd_example,
};

const hn_kernel_def hn_kernel_swiglu_bwd = {
    .size = sizeof(hn_kernel_def), .name = "core.swiglu_bwd",
    .params_size = sizeof(hn_swiglu_params), .cpu = bwd_cpu, .cuda = CUDA_IMPL(bwd_cuda),
    .args = bwd_args, .n_args = 3, .example = bwd_example,
};
