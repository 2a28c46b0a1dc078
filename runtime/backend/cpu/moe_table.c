/* The cpu backend's Mixture-of-Experts op table (hooked into the backend as .moe). */
#include "backend/cpu/moe_ops.h"

const hn_ops_moe hn_cpu_ops_moe = {
    .route = hn_cpu_moe_route,
    .route_backward = hn_cpu_moe_route_backward,
    .gather_backward = hn_cpu_moe_gather_backward,
    .combine = hn_cpu_moe_combine,
    .combine_backward = hn_cpu_moe_combine_backward,
};
