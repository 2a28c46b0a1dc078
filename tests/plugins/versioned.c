/* The smallest layer plugin, built by tests/e2e/test_plugin_versions.sh with
 * -DMIN_HOST=N to declare the host API version it needs (and -DABI=N to claim a layer
 * ABI version; -DDUP_OPS to register two ops of one name, which the loader must refuse):
 * it only has to load. */
#include "plugin/plugin.h"

#ifndef MIN_HOST
#define MIN_HOST 1
#endif
#ifndef ABI
#define ABI HN_LAYER_ABI_VERSION
#endif

static int v_create(const hn_layer_args *args, void **self, hn_error *err) {
    return hn_fail(err, "versioned: a loading test, not a layer");
}
static void v_destroy(void *self, const hn_backend *be) {}
static int v_param_count(void *self) { return 0; }
static void v_describe(void *self, hn_param *params) {}
static void v_bind(void *self, const hn_param *params) {}
static int v_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y, hn_error *err) {
    return hn_fail(err, "versioned: no forward");
}
static int v_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                      hn_error *err) {
    return hn_fail(err, "versioned: no backward");
}
static double v_flops(void *self, const int32_t *lens, int n) { return 0; }

static const hn_layer_plugin plugin = {
    .abi_version = ABI, .name = "versioned", .version = "0", .role = "mlp",
    .create = v_create, .destroy = v_destroy, .param_count = v_param_count,
    .describe_params = v_describe, .bind = v_bind, .forward = v_forward,
    .backward = v_backward, .flops = v_flops,
};

#ifdef DUP_OPS
static int op_cpu(const hn_backend *be, const void *params) { return 0; }
static const hn_kernel_def op_a = {.size = sizeof(hn_kernel_def), .name = "versioned.op",
                                   .params_size = 1, .cpu = op_cpu};
static const hn_kernel_def op_b = op_a;
static const hn_kernel_def *const kernels[] = {&op_a, &op_b};
HN_PLUGIN_LAYER_KERNELS(&plugin, MIN_HOST, kernels)
#else
HN_PLUGIN_LAYER(&plugin, MIN_HOST)
#endif
