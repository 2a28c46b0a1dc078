/* The cpu backend table: float32 reference ops, OpenBLAS for matrix products. */
#include "backend/cpu/chunk_ops.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/moe_ops.h"
#include "backend/cpu/ssm_ops.h"

static hn_ws_pool g_pool;
static void *cpu_workspace(int slot, size_t bytes) {
    return hn_ws_pool_get(&g_pool, hn_cpu_alloc, hn_cpu_free, slot, bytes);
}

static const hn_backend cpu_backend = {
    .name = "cpu",
    .kind = HN_DEVICE_CPU,
    .alloc = hn_cpu_alloc,
    .free = hn_cpu_free,
    .upload = hn_cpu_upload,
    .download = hn_cpu_download,
    .copy = hn_cpu_copy,
    .zero = hn_cpu_zero,
    .sync = hn_cpu_sync,
    .workspace = cpu_workspace,
    .device_error = NULL,
    .params_arena = NULL, /* the cpu computes in float32: nothing to keep */
    .matmul = hn_cpu_matmul,
    .fill = hn_cpu_fill,
    .add = hn_cpu_add,
    .scale = hn_cpu_scale,
    .sum_squares = hn_cpu_sum_squares,
    .add_bias = hn_cpu_add_bias,
    .bias_backward = hn_cpu_bias_backward,
    .embedding_forward = hn_cpu_embedding_forward,
    .embedding_backward = hn_cpu_embedding_backward,
    .rmsnorm_forward = hn_cpu_rmsnorm_forward,
    .rmsnorm_backward = hn_cpu_rmsnorm_backward,
    .swiglu_forward = hn_cpu_swiglu_forward,
    .swiglu_backward = hn_cpu_swiglu_backward,
    .rope = hn_cpu_rope,
    .attention_forward = hn_cpu_attention_forward,
    .attention_backward = hn_cpu_attention_backward,
    .xent_forward = hn_cpu_xent_forward,
    .xent_backward = hn_cpu_xent_backward,
    .xent_fused = hn_cpu_xent_fused,
    .adamw = hn_cpu_adamw,
    .stash_bf16 = hn_cpu_stash_bf16,
    .pack_bf16 = hn_cpu_pack_bf16,
    .unpack_bf16 = hn_cpu_unpack_bf16,
    .activation_dtype = hn_cpu_activation_dtype,
    .matmul_t = hn_cpu_matmul_t,
    .swiglu_forward_t = hn_cpu_swiglu_forward_t,
    .swiglu_backward_t = hn_cpu_swiglu_backward_t,
    .convert = hn_cpu_convert,
    .rope_t = hn_cpu_rope_t,
    .attention_forward_t = hn_cpu_attention_forward_t,
    .attention_backward_t = hn_cpu_attention_backward_t,
    .ssm = &hn_cpu_ops_ssm,
    .chunk = &hn_cpu_ops_chunk,
    .moe = &hn_cpu_ops_moe,
    .attention_step = hn_cpu_attention_step,
    .sample = hn_cpu_sample,
    .rmsnorm_forward_t = hn_cpu_rmsnorm_forward_t,
    .add_rmsnorm_forward_t = hn_cpu_add_rmsnorm_forward_t,
    .rmsnorm_backward_t = hn_cpu_rmsnorm_backward_t,
    .xent_fused_t = hn_cpu_xent_fused_t,
    .rope_to_t = hn_cpu_rope_to_t,
    /* the step's statistics: host memory, copies and clipping done at once */
    .alloc_host = hn_cpu_alloc,
    .free_host = hn_cpu_free,
    .download_async = hn_cpu_download,
    .download_wait = hn_cpu_sync,
    .grad_clip = hn_cpu_grad_clip,
    .adamw_clipped = hn_cpu_adamw_clipped,
};

const hn_backend *hn_backend_cpu(void) { return &cpu_backend; }
