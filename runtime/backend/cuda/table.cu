/* The cuda backend's tables. hn_cuda_proto holds the implementations; every instance
 * gets a copy in which each entry is a trampoline compiled for the instance's slot
 * (bound<SLOT, &struct::field>): it makes that instance (and its device) the one this
 * thread's op runs on, calls the implementation, and restores the previous instance.
 * That is how a v1 op, which takes no backend argument, reaches the instance whose table
 * it was called through (cuda_backend.h says why this and not a caller-set current). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utility>

#include "backend/cuda/instance.cuh"

static void *cuda_workspace(int slot, size_t bytes) {
    return hn_ws_pool_get(&hn_cuda_cur()->pool, hn_cuda_alloc, hn_cuda_free, slot, bytes);
}

static const char *cuda_device_error(void) {
    const char *e = hn_cuda_last_error();
    return e[0] ? e : NULL;
}

static hn_backend make_proto(void) {
    hn_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda";
    b.kind = HN_DEVICE_CUDA;
    b.alloc = hn_cuda_alloc;
    b.free = hn_cuda_free;
    b.upload = hn_cuda_upload;
    b.download = hn_cuda_download;
    b.copy = hn_cuda_copy;
    b.zero = hn_cuda_zero;
    b.sync = hn_cuda_sync;
    b.workspace = cuda_workspace;
    b.device_error = cuda_device_error;
    b.params_arena = hn_cuda_params_arena;
    b.matmul = hn_cuda_matmul;
    b.fill = hn_cuda_fill;
    b.add = hn_cuda_add;
    b.scale = hn_cuda_scale;
    b.sum_squares = hn_cuda_sum_squares;
    b.add_bias = hn_cuda_add_bias;
    b.bias_backward = hn_cuda_bias_backward;
    b.embedding_forward = hn_cuda_embedding_forward;
    b.embedding_backward = hn_cuda_embedding_backward;
    b.rmsnorm_forward = hn_cuda_rmsnorm_forward;
    b.rmsnorm_backward = hn_cuda_rmsnorm_backward;
    b.swiglu_forward = hn_cuda_swiglu_forward;
    b.swiglu_backward = hn_cuda_swiglu_backward;
    b.rope = hn_cuda_rope;
    b.attention_forward = hn_cuda_attention_forward;
    b.attention_backward = hn_cuda_attention_backward;
    b.xent_forward = hn_cuda_xent_forward;
    b.xent_backward = hn_cuda_xent_backward;
    b.xent_fused = hn_cuda_xent_fused;
    b.adamw = hn_cuda_adamw;
    b.stash_bf16 = hn_cuda_stash_bf16;
    b.pack_bf16 = hn_cuda_pack_bf16;
    b.unpack_bf16 = hn_cuda_unpack_bf16;
    b.activation_dtype = hn_cuda_activation_dtype;
    b.matmul_t = hn_cuda_matmul_t;
    b.swiglu_forward_t = hn_cuda_swiglu_forward_t;
    b.swiglu_backward_t = hn_cuda_swiglu_backward_t;
    b.convert = hn_cuda_convert;
    b.rope_t = hn_cuda_rope_t;
    b.attention_forward_t = hn_cuda_attention_forward_t;
    b.attention_backward_t = hn_cuda_attention_backward_t;
    b.ssm = &hn_cuda_ops_ssm;
    b.chunk = &hn_cuda_ops_chunk;
    b.moe = &hn_cuda_ops_moe;
    b.attention_step = hn_cuda_attention_step;
    b.sample = hn_cuda_sample;
    b.rmsnorm_forward_t = hn_cuda_rmsnorm_forward_t;
    b.add_rmsnorm_forward_t = hn_cuda_add_rmsnorm_forward_t;
    b.rmsnorm_backward_t = hn_cuda_rmsnorm_backward_t;
    b.xent_fused_t = hn_cuda_xent_fused_t;
    b.rope_to_t = hn_cuda_rope_to_t;
    b.alloc_host = hn_cuda_alloc_host;
    b.free_host = hn_cuda_free_host;
    b.download_async = hn_cuda_download_async;
    b.download_wait = hn_cuda_download_wait;
    b.grad_clip = hn_cuda_grad_clip;
    b.adamw_clipped = hn_cuda_adamw_clipped;
    b.attention_grads_bf16 = hn_cuda_attention_grads_bf16;
    return b;
}

static const hn_backend hn_cuda_proto = make_proto();

/* ---- the entry lists: every function field of each table, checked against the
 * structs' sizes below so that a field appended to a header without a line here fails
 * the build instead of running unbound on the default instance ---- */
#define HN_CUDA_TABLE_OPS(X) \
    X(alloc) X(free) X(upload) X(download) X(copy) X(zero) X(sync) X(device_error) \
    X(workspace) X(params_arena) X(matmul) X(fill) X(add) X(scale) X(sum_squares) \
    X(add_bias) X(bias_backward) X(embedding_forward) X(embedding_backward) \
    X(rmsnorm_forward) X(rmsnorm_backward) X(swiglu_forward) X(swiglu_backward) X(rope) \
    X(attention_forward) X(attention_backward) X(xent_forward) X(xent_backward) \
    X(xent_fused) X(adamw) X(stash_bf16) X(pack_bf16) X(unpack_bf16) X(activation_dtype) \
    X(matmul_t) X(swiglu_forward_t) X(swiglu_backward_t) X(convert) X(rope_t) \
    X(attention_forward_t) X(attention_backward_t) X(attention_step) X(sample) \
    X(rmsnorm_forward_t) X(add_rmsnorm_forward_t) X(rmsnorm_backward_t) X(xent_fused_t) \
    X(rope_to_t) X(alloc_host) X(free_host) X(download_async) X(download_wait) X(grad_clip) \
    X(adamw_clipped) X(attention_grads_bf16)

#define HN_CUDA_SSM_OPS(X) \
    X(conv1d_forward) X(conv1d_backward) X(ssd_workspace_floats) X(ssd_forward) \
    X(ssd_backward) X(gated_rmsnorm_forward) X(gated_rmsnorm_backward) X(conv1d_state) \
    X(conv1d_step) X(ssd_step) X(conv1d_forward_t) X(conv1d_backward_t) X(ssd_forward_t) \
    X(ssd_backward_t) X(gated_rmsnorm_forward_t) X(gated_rmsnorm_backward_t) X(xbc_dtype)

#define HN_CUDA_CHUNK_OPS(X) \
    X(cosine_routing_forward) X(cosine_routing_backward) X(gather_rows) \
    X(gather_rows_backward) X(pool_mean_forward) X(pool_mean_backward) \
    X(pool_max_forward) X(pool_max_backward) X(ema_forward) X(ema_backward) \
    X(upsample_forward) X(upsample_backward) X(widen_forward) X(widen_backward) \
    X(narrow_forward) X(narrow_backward) X(sigmoid_routing_forward) \
    X(sigmoid_routing_backward) X(add_scalar) X(cosine_routing_step) \
    X(sigmoid_routing_step) X(copy_rows_step) X(ema_step) X(pool_step) X(cosine_routing_backward_t) \
    X(plan)

#define HN_CUDA_MOE_OPS(X) \
    X(route) X(route_backward) X(gather_backward) X(combine) X(combine_backward)

#define HN_COUNT(f) +1
static_assert(sizeof(hn_backend) == (2 + 3 HN_CUDA_TABLE_OPS(HN_COUNT)) * sizeof(void *),
              "hn_backend grew: add the new op to HN_CUDA_TABLE_OPS (table.cu)");
static_assert(sizeof(hn_ops_ssm) == (0 HN_CUDA_SSM_OPS(HN_COUNT)) * sizeof(void *),
              "hn_ops_ssm grew: add the new op to HN_CUDA_SSM_OPS (table.cu)");
static_assert(sizeof(hn_ops_chunk) == (0 HN_CUDA_CHUNK_OPS(HN_COUNT)) * sizeof(void *),
              "hn_ops_chunk grew: add the new op to HN_CUDA_CHUNK_OPS (table.cu)");
static_assert(sizeof(hn_ops_moe) == (0 HN_CUDA_MOE_OPS(HN_COUNT)) * sizeof(void *),
              "hn_ops_moe grew: add the new op to HN_CUDA_MOE_OPS (table.cu)");

template <class S> static const S &proto_of();
template <> const hn_backend &proto_of<hn_backend>() { return hn_cuda_proto; }
template <> const hn_ops_ssm &proto_of<hn_ops_ssm>() { return hn_cuda_ops_ssm; }
template <> const hn_ops_chunk &proto_of<hn_ops_chunk>() { return hn_cuda_ops_chunk; }
template <> const hn_ops_moe &proto_of<hn_ops_moe>() { return hn_cuda_ops_moe; }

template <int SLOT, auto FIELD> struct bound;
template <int SLOT, typename S, typename R, typename... A, R (*S::*FIELD)(A...)>
struct bound<SLOT, FIELD> {
    static inline const char *name = "";
    static R call(A... a) {
        hn_cuda_scope scope(hn_cuda_slot(SLOT), name);
        return (proto_of<S>().*FIELD)(a...);
    }
};

/* a NULL entry of the implementation stays NULL (the caller checks for it) */
#define HN_BIND(S, f)                                  \
    if (proto_of<S>().f) {                             \
        t->f = bound<SLOT, &S::f>::call;               \
        bound<SLOT, &S::f>::name = #f;                 \
    }

template <int SLOT> static void fill_slot(hn_cuda_instance *inst) {
    {
        hn_backend *t = &inst->table;
        *t = hn_cuda_proto;
#define X(f) HN_BIND(hn_backend, f)
        HN_CUDA_TABLE_OPS(X)
#undef X
        t->ssm = &inst->ssm;
        t->chunk = &inst->chunk;
        t->moe = &inst->moe;
    }
    {
        hn_ops_ssm *t = &inst->ssm;
        *t = hn_cuda_ops_ssm;
#define X(f) HN_BIND(hn_ops_ssm, f)
        HN_CUDA_SSM_OPS(X)
#undef X
    }
    {
        hn_ops_chunk *t = &inst->chunk;
        *t = hn_cuda_ops_chunk;
#define X(f) HN_BIND(hn_ops_chunk, f)
        HN_CUDA_CHUNK_OPS(X)
#undef X
    }
    {
        hn_ops_moe *t = &inst->moe;
        *t = hn_cuda_ops_moe;
#define X(f) HN_BIND(hn_ops_moe, f)
        HN_CUDA_MOE_OPS(X)
#undef X
    }
}

template <int... SLOTS> static void fill_any(hn_cuda_instance *inst, std::integer_sequence<int, SLOTS...>) {
    ((inst->slot == SLOTS ? fill_slot<SLOTS>(inst) : (void)0), ...);
}

void hn_cuda_fill_tables(hn_cuda_instance *inst) {
    fill_any(inst, std::make_integer_sequence<int, HN_CUDA_MAX_INSTANCES>{});
}

/* ---- the default instance ---- */

static int g_local_rank = -1; /* hn_cuda_prefer_device: -1 none (device 0) */

extern "C" void hn_cuda_prefer_device(int local_rank) { g_local_rank = local_rank; }

/* The device of this process among n visible ones, or -1 with the reason noted. */
static int pick_device(int n) {
    if (g_local_rank < 0) return 0;
    if (g_local_rank < n) return g_local_rank;
    /* the launcher gave each rank its own device (srun --gpus-per-task=1, a scheduler) */
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    if (n == 1 && visible && *visible && !strchr(visible, ',')) return 0;
    char why[256];
    snprintf(why, sizeof why,
             "this rank's local rank is %d but %d CUDA device%s visible (CUDA_VISIBLE_DEVICES=%s): "
             "one process per GPU, so start at most %d rank%s per host",
             g_local_rank, n, n == 1 ? " is" : "s are", visible ? visible : "unset", n, n == 1 ? "" : "s");
    hn_cuda_note_text(why);
    return -1;
}

extern "C" const hn_backend *hn_backend_cuda(void) {
    static int state = 0; /* 0 unknown, 1 usable, -1 not */
    if (state == 0) {
        int n = 0;
        cudaError_t e = cudaGetDeviceCount(&n);
        state = -1;
        if (e != cudaSuccess || n == 0) {
            hn_cuda_note(e != cudaSuccess ? e : cudaErrorNoDevice, "no CUDA device");
        } else {
            int dev = pick_device(n);
            if (dev >= 0 && cudaSetDevice(dev) == cudaSuccess) {
                hn_cuda_config cfg = *hn_cuda_pending_config();
                cfg.device = dev;
                const hn_backend *be = hn_cuda_instance_create(&cfg);
                if (be) {
                    hn_cuda_default = hn_cuda_instance_of(be);
                    state = 1;
                }
            }
        }
    }
    return state == 1 ? &hn_cuda_default->table : NULL;
}
