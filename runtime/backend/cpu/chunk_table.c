/* The cpu backend's dynamic-chunking op table (hooked into the backend as .chunk). */
#include "backend/cpu/chunk_ops.h"

const hn_ops_chunk hn_cpu_ops_chunk = {
    .cosine_routing_forward = hn_cpu_cosine_routing_forward,
    .cosine_routing_backward = hn_cpu_cosine_routing_backward,
    .gather_rows = hn_cpu_gather_rows,
    .gather_rows_backward = hn_cpu_gather_rows_backward,
    .pool_mean_forward = hn_cpu_pool_mean_forward,
    .pool_mean_backward = hn_cpu_pool_mean_backward,
    .pool_max_forward = hn_cpu_pool_max_forward,
    .pool_max_backward = hn_cpu_pool_max_backward,
    .ema_forward = hn_cpu_ema_forward,
    .ema_backward = hn_cpu_ema_backward,
    .upsample_forward = hn_cpu_upsample_forward,
    .upsample_backward = hn_cpu_upsample_backward,
    .widen_forward = hn_cpu_widen_forward,
    .widen_backward = hn_cpu_widen_backward,
    .narrow_forward = hn_cpu_narrow_forward,
    .narrow_backward = hn_cpu_narrow_backward,
    .sigmoid_routing_forward = hn_cpu_sigmoid_routing_forward,
    .sigmoid_routing_backward = hn_cpu_sigmoid_routing_backward,
    .add_scalar = hn_cpu_add_scalar,
    .cosine_routing_step = hn_cpu_cosine_routing_step,
    .sigmoid_routing_step = hn_cpu_sigmoid_routing_step,
    .copy_rows_step = hn_cpu_copy_rows_step,
    .ema_step = hn_cpu_ema_step,
    .pool_step = hn_cpu_pool_step,
};
