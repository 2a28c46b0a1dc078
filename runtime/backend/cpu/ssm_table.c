/* The cpu backend's Mamba-2 op table (hooked into the backend as .ssm). */
#include "backend/cpu/ssm_ops.h"

const struct hn_ops_ssm hn_cpu_ops_ssm = {
    .conv1d_forward = hn_cpu_conv1d_forward,
    .conv1d_backward = hn_cpu_conv1d_backward,
    .ssd_workspace_floats = hn_cpu_ssd_workspace_floats,
    .ssd_forward = hn_cpu_ssd_forward,
    .ssd_backward = hn_cpu_ssd_backward,
    .gated_rmsnorm_forward = hn_cpu_gated_rmsnorm_forward,
    .gated_rmsnorm_backward = hn_cpu_gated_rmsnorm_backward,
    .conv1d_state = hn_cpu_conv1d_state,
    .conv1d_step = hn_cpu_conv1d_step,
    .ssd_step = hn_cpu_ssd_step,
    .conv1d_forward_t = hn_cpu_conv1d_forward_t,
    .conv1d_backward_t = hn_cpu_conv1d_backward_t,
    .ssd_forward_t = hn_cpu_ssd_forward_t,
    .ssd_backward_t = hn_cpu_ssd_backward_t,
    .gated_rmsnorm_forward_t = hn_cpu_gated_rmsnorm_forward_t,
    .gated_rmsnorm_backward_t = hn_cpu_gated_rmsnorm_backward_t,
};
