/* The cpu twins of the template's ops (linmix_ops.h) and their registry entries: the
 * float32 reference every cuda kernel is compared with (`hnet plugins --check linmix.so
 * --device cuda`). */
#include "linmix_ops.h"

#include <math.h>
#include <stddef.h>

static float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

/* The cpu backend is the float32 reference: bf16 views are the device's business. */
static int f32(const hn_tensor *t) { return t->dtype == HN_F32; }
static int same_shape(const hn_tensor *a, const hn_tensor *b) {
    return a->rows == b->rows && a->cols == b->cols;
}

int linmix_silu_fwd_cpu(const hn_backend *be, const void *params) {
    const linmix_silu_fwd_params *p = params;
    if (!f32(&p->h) || !f32(&p->y) || !same_shape(&p->h, &p->y)) return -1;
    for (int r = 0; r < p->h.rows; r++) {
        const float *h = (const float *)p->h.data + (size_t)r * p->h.ld;
        float *y = (float *)p->y.data + (size_t)r * p->y.ld;
        for (int c = 0; c < p->h.cols; c++) y[c] = h[c] * sigmoid(h[c]);
    }
    return 0;
}

int linmix_silu_bwd_cpu(const hn_backend *be, const void *params) {
    const linmix_silu_bwd_params *p = params;
    if (!f32(&p->h) || !f32(&p->dy) || !f32(&p->dh) || !same_shape(&p->h, &p->dy) ||
        !same_shape(&p->h, &p->dh))
        return -1;
    for (int r = 0; r < p->h.rows; r++) {
        const float *h = (const float *)p->h.data + (size_t)r * p->h.ld;
        const float *dy = (const float *)p->dy.data + (size_t)r * p->dy.ld;
        float *dh = (float *)p->dh.data + (size_t)r * p->dh.ld;
        for (int c = 0; c < p->h.cols; c++) {
            float s = sigmoid(h[c]);
            dh[c] += dy[c] * s * (1.0f + h[c] * (1.0f - s));
        }
    }
    return 0;
}

/* ---- what the test kit needs: the tensors and a small problem of each op ---- */

/* A [rows, cols] view, its rows padded (ld > cols), so a kernel that ignores ld shows. */
static hn_tensor shape(hn_dtype dtype) { return (hn_tensor){NULL, dtype, 67, 96, 100}; }

static const hn_kernel_arg fwd_args[] = {
    {"h", offsetof(linmix_silu_fwd_params, h), HN_ARG_IN},
    {"y", offsetof(linmix_silu_fwd_params, y), HN_ARG_OUT},
};
static int fwd_example(void *params, hn_dtype dtype) {
    linmix_silu_fwd_params *p = params;
    p->h = p->y = shape(dtype);
    return 0;
}

static const hn_kernel_arg bwd_args[] = {
    {"h", offsetof(linmix_silu_bwd_params, h), HN_ARG_IN},
    {"dy", offsetof(linmix_silu_bwd_params, dy), HN_ARG_IN},
    {"dh", offsetof(linmix_silu_bwd_params, dh), HN_ARG_INOUT},
};
static int bwd_example(void *params, hn_dtype dtype) {
    linmix_silu_bwd_params *p = params;
    p->h = p->dy = shape(dtype);
    p->dh = shape(HN_F32); /* gradients accumulate in float32 */
    return 0;
}

/* the cuda implementations exist only in a .so built with nvcc (Makefile) */
#ifdef HN_WITH_CUDA
#define CUDA_IMPL(fn) fn
#else
#define CUDA_IMPL(fn) NULL
#endif

const hn_kernel_def linmix_silu_fwd = {
    .size = sizeof(hn_kernel_def), .name = "linmix.silu_fwd",
    .params_size = sizeof(linmix_silu_fwd_params), .cpu = linmix_silu_fwd_cpu,
    .cuda = CUDA_IMPL(linmix_silu_fwd_cuda), .args = fwd_args, .n_args = 2,
    .example = fwd_example,
};

const hn_kernel_def linmix_silu_bwd = {
    .size = sizeof(hn_kernel_def), .name = "linmix.silu_bwd",
    .params_size = sizeof(linmix_silu_bwd_params), .cpu = linmix_silu_bwd_cpu,
    .cuda = CUDA_IMPL(linmix_silu_bwd_cuda), .args = bwd_args, .n_args = 3,
    .example = bwd_example,
};
