/* A cuda backend instance (one per device, several per process): everything the ops
 * used to keep in module globals. An op reaches its instance through hn_cuda_cur(),
 * which the entry trampoline of the table it was called through has set for the
 * duration of the call (table.cu; cuda_backend.h says why). */
#ifndef HN_CUDA_INSTANCE_CUH
#define HN_CUDA_INSTANCE_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define HN_CUDA_ARENAS 8     /* live models whose parameters get a bf16 copy */
#define HN_CUDA_PLANS 4      /* SSD chunk plans kept on the device */
#define HN_CUDA_PROFILE_NAMES 96
#define HN_CUDA_ONCE_KEYS 32 /* kernels whose function attributes were set on this device */

typedef struct hn_cuda_arena { /* shadow.cu */
    const float *base;
    size_t n;
    void *bf; /* bf16 copy; NULL until a product needs it */
    int stale;
} hn_cuda_arena;

typedef struct hn_cuda_plan_slot { /* ssm.cu */
    int Q, n_seqs;
    hn_ssd_plan plan;
    int32_t *offsets; /* host copy of the packing it was made for */
    int32_t *dev;
    size_t dev_cap, off_cap;
} hn_cuda_plan_slot;

typedef struct hn_cuda_profile_entry {
    const char *name;
    double ms;
    long calls;
} hn_cuda_profile_entry;

typedef struct hn_cuda_instance {
    hn_backend table; /* first: the instance's own table (its entries are trampolines) */
    hn_ops_ssm ssm;
    hn_ops_chunk chunk;
    hn_ops_moe moe;
    int slot, device;
    hn_cuda_config cfg;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws; /* cuBLAS's workspace: it never allocates inside a captured region */
    size_t blas_ws_bytes;
    struct hn_cuda_lt *lt; /* cuBLASLt handle and per-shape cache (matmul_lt.cu); NULL until used */
    struct hn_cudnn *cudnn; /* cuDNN handle and attention plans (attention_cudnn.cu); NULL until used */

    /* the sticky error: the first failure, kept until read */
    char err[384];
    char err_out[384];
    const char *op; /* the table op running now (set by the trampoline) */

    size_t in_use, peak;
    hn_grow_buf scratch[HN_SCRATCH_N];
    hn_ws_pool pool;
    hn_cuda_arena arenas[HN_CUDA_ARENAS];
    hn_cuda_plan_slot plans[HN_CUDA_PLANS];
    int plan_next;
    int last_ssd_impl;
    const char *last_conv_bwd; /* the kernels of the last conv1d backward (hn_cuda_conv_last_backward) */
    const char *last_conv_fwd; /* and forward (hn_cuda_conv_last_forward) */
    const void *once[HN_CUDA_ONCE_KEYS];
    int n_once;

    int prof_on;
    double prof_last;
    hn_cuda_profile_entry prof[HN_CUDA_PROFILE_NAMES];
    int prof_n;
    cudaEvent_t t0, t1;
    cudaEvent_t ev_work, ev_legacy; /* ordering with the legacy stream (kernel registry) */
    cudaEvent_t ev_download; /* after the last download_async (download_wait waits for it) */
} hn_cuda_instance;

/* The instance of the op running on this thread (set by the entry trampoline), else the
 * process's default instance (hn_backend_cuda's), else NULL (none was opened). */
extern thread_local hn_cuda_instance *hn_cuda_t_scope;
extern hn_cuda_instance *hn_cuda_default;
static inline hn_cuda_instance *hn_cuda_cur(void) {
    return hn_cuda_t_scope ? hn_cuda_t_scope : hn_cuda_default;
}
/* The stream every launch, memset and copy of an op goes to. */
#define HN_STREAM (hn_cuda_cur()->stream)

/* Makes inst the instance of this thread's ops until the scope ends, its device the
 * current one; both are restored after (the caller's device stays the caller's). */
struct hn_cuda_scope {
    hn_cuda_instance *prev, *inst;
    const char *prev_op;
    int prev_device;
    hn_cuda_scope(hn_cuda_instance *inst, const char *op);
    ~hn_cuda_scope();
};

/* The instance whose table is be (NULL when be is no cuda instance's table). */
hn_cuda_instance *hn_cuda_instance_of(const hn_backend *be);
hn_cuda_instance *hn_cuda_slot(int slot);
/* 1 the first time this instance sees key (per-device setup such as a kernel's
 * shared-memory attribute), 0 afterwards. */
int hn_cuda_first_time(const void *key);
/* The legacy-mode getters as the current instance has them. */
int hn_cuda_attention_mode_now(void);
int hn_cuda_ssd_mode_now(void);
/* the configuration the default instance is created from (the setters write it before) */
hn_cuda_config *hn_cuda_pending_config(void);

#endif
