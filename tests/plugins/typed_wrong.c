/* A layer plugin whose typed hooks (forward_t / backward_t, layer ABI 4) are not its
 * float32 forward and backward: y = x both ways, but backward_t's dx is 2 dy where
 * backward's is dy. The network calls the typed hooks when a layer has them, so the kit
 * must check those too. Built by tests/e2e/test_plugin_check.sh, whose kit must fail it. */
#include "plugin/plugin.h"

typedef struct wrong {
    int d;
} wrong;

static wrong g_self;

static size_t rows_x_d(void *self, const hn_layer_ctx *ctx) {
    return (size_t)ctx->seqs->total * (size_t)((wrong *)self)->d;
}
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
    ctx->be->copy(y, x, rows_x_d(self, ctx) * sizeof(float));
    return HN_OK;
}
static int w_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                      hn_error *err) {
    ctx->be->add(dx, dy, rows_x_d(self, ctx));
    return HN_OK;
}
/* float32 views only (the kit's cpu backend) */
static int w_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y, hn_error *err) {
    return w_forward(self, ctx, x.data, y, err);
}
static int w_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dy, float *dx,
                        hn_error *err) {
    ctx->be->add(dx, dy.data, rows_x_d(self, ctx));
    ctx->be->add(dx, dy.data, rows_x_d(self, ctx)); /* the bug: dy twice */
    return HN_OK;
}
static double w_flops(void *self, const int32_t *lens, int n) { return 0; }

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "typed_wrong", .version = "0", .role = "mlp",
    .create = w_create, .destroy = w_destroy, .param_count = w_param_count,
    .describe_params = w_describe, .bind = w_bind, .forward = w_forward,
    .backward = w_backward, .flops = w_flops, .forward_t = w_forward_t,
    .backward_t = w_backward_t,
};

HN_PLUGIN_LAYER(&plugin, 1)
