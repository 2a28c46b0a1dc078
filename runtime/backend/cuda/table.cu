/* The cuda backend table. hn_backend_cuda opens its device on first use (device 0, or the
 * one hn_cuda_prefer_device chose for a rank) and answers NULL when it cannot (a build
 * with nvcc on a machine without a GPU, a local rank beyond the visible devices). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

static hn_ws_pool g_pool;
static void *cuda_workspace(int slot, size_t bytes) {
    return hn_ws_pool_get(&g_pool, hn_cuda_alloc, hn_cuda_free, slot, bytes);
}

static const char *cuda_device_error(void) {
    const char *e = hn_cuda_last_error();
    return e[0] ? e : NULL;
}

static hn_backend make_table(void) {
    hn_backend b;
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
    return b;
}

static const hn_backend g_table = make_table();

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
        if (e != cudaSuccess || n == 0) {
            hn_cuda_note(e != cudaSuccess ? e : cudaErrorNoDevice, "no CUDA device");
            state = -1;
        } else {
            int dev = pick_device(n);
            state = dev >= 0 && cudaSetDevice(dev) == cudaSuccess ? 1 : -1;
        }
    }
    return state == 1 ? &g_table : NULL;
}
