/* The kernel registry: named ops with a cpu and (optionally) a cuda implementation,
 * registered by the runtime and by plugins, looked up by name and launched on a
 * backend. An op is a params-struct op like the typed ops of backend.h: it takes the
 * backend and a pointer to its own params struct (typed views, backend/tensor.h, and
 * scalars; fields only ever appended), returns HN_OK or HN_ERR, overwrites its OUT
 * tensors, accumulates into its INOUT ones and, on cuda, enqueues without synchronising:
 * on the legacy default stream (as plugins built so far do; hn_kernel_launch orders that
 * stream with the backend instance's by events) or on the instance's own stream
 * (hn_cuda_stream_of(be), cuda/cuda_backend.h).
 *
 * A plugin's .so built without nvcc registers its ops with cuda = NULL: it loads and
 * runs on the cpu, and launching it on cuda fails with a message saying so. The cpu
 * implementation is the float32 reference; the test kit (`hnet plugins --check FILE.so
 * --device cuda`) runs every op of a plugin on both and compares them. */
#ifndef HN_KERNELS_H
#define HN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*hn_kernel_fn)(const hn_backend *be, const void *params);

/* What the test kit does with one tensor of the params struct. */
typedef enum hn_kernel_arg_role {
    HN_ARG_IN = 0,    /* read only: random values */
    HN_ARG_OUT = 1,   /* overwritten: compared */
    HN_ARG_INOUT = 2, /* accumulated into (+=): random start values, compared */
} hn_kernel_arg_role;

/* One hn_tensor field of the params struct: offsetof(params, field), its role. */
typedef struct hn_kernel_arg {
    const char *name;
    size_t offset;
    hn_kernel_arg_role role;
} hn_kernel_arg;

/* Fields only appended: `size` tells which ones a def has (HN_KERNEL_HAS). An op is
 * registered from its plugin's entry (HN_PLUGIN_LAYER_KERNELS, plugin/plugin.h), so it
 * goes when the plugin is closed. */
typedef struct hn_kernel_def {
    uint32_t size;       /* sizeof(hn_kernel_def) the op was built with */
    const char *name;    /* "plugin.op", unique in the process */
    size_t params_size;  /* sizeof its params struct */
    hn_kernel_fn cpu;    /* required: the float32 reference */
    hn_kernel_fn cuda;   /* NULL when built without nvcc */

    /* ---- for the test kit (optional: an op without them is only listed) ---- */
    const hn_kernel_arg *args;
    int n_args;
    /* Fills a zeroed params struct for a small problem: every tensor's rows, cols, ld
     * and dtype (data stays NULL: the kit allocates and fills it) and the scalars.
     * dtype is what the kit asks the tensors in and out to be (HN_F32, or HN_BF16 for
     * the ones the op keeps in bf16 on cuda); return nonzero when the op has no variant
     * in that dtype (its bf16 pass is then skipped). */
    int (*example)(void *params, hn_dtype dtype);
    /* Worst relative L2 error allowed, cpu vs cuda; 0: the kit's default (2e-4 fp32,
     * 2e-2 bf16). */
    double tol_f32, tol_bf16;
} hn_kernel_def;

/* A def's field, when the def was built with it (a def built with an older header is
 * shorter). */
#define HN_KERNEL_HAS(def, field) \
    ((def)->size >= offsetof(hn_kernel_def, field) + sizeof((def)->field))

/* Registers an op. Fails for a def without a name or a cpu implementation, or a name
 * already registered by another def (naming both owners). Registering the same def
 * again is a no-op. */
int hn_kernel_register(const hn_kernel_def *def, hn_error *err);
/* The op registered under name, or NULL. */
const hn_kernel_def *hn_kernel_find(const char *name);
/* Runs def on be: its cpu or cuda implementation by be->kind. Fails (naming the op and
 * the backend) when def has no implementation for that backend. */
int hn_kernel_launch(const hn_backend *be, const hn_kernel_def *def, const void *params,
                     hn_error *err);

#ifdef __cplusplus
}
#endif

#endif
