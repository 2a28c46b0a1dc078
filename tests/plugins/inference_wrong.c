/* A layer plugin whose inference forward (hn_layer_ctx.inference) is not its training
 * forward: y = x in training, 2x in inference. Built by tests/e2e/test_plugin_check.sh,
 * whose kit must fail it. */
#include "plugin/plugin.h"

typedef struct wrong {
    int d;
} wrong;

static wrong g_self;

static int w_create(const hn_layer_args *args, void **self, hn_error *err) {
    g_self.d = args->d_model;
    *self = &g_self;
    return HN_OK;
}
static void w_destroy(void *self, const hn_backend *be) {}
static int w_param_count(void *self) { return 0; }
static void w_describe(void *self, hn_param *params) {}
static void w_bind(void *self, const hn_param *params) {}
static int w_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y, hn_error *err) {
    size_t n = (size_t)ctx->seqs->total * (size_t)((wrong *)self)->d;
    ctx->be->copy(y, x, n * sizeof(float));
    if (ctx->inference) ctx->be->add(y, x, n);
    return HN_OK;
}
static int w_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                      hn_error *err) {
    ctx->be->add(dx, dy, (size_t)ctx->seqs->total * (size_t)((wrong *)self)->d);
    return HN_OK;
}
static double w_flops(void *self, const int32_t *lens, int n) { return 0; }

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "inference_wrong", .version = "0", .role = "mlp",
    .create = w_create, .destroy = w_destroy, .param_count = w_param_count,
    .describe_params = w_describe, .bind = w_bind, .forward = w_forward,
    .backward = w_backward, .flops = w_flops,
};

HN_PLUGIN_LAYER(&plugin, 1)
