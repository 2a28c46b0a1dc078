/* A layer plugin template: "linmix", a position-wise linear mixer f(x) = silu(x W^T)
 * (W [d, d]). Copy this folder, rename the plugin, and replace the arithmetic; what
 * stays is the shape every layer plugin has (README.md explains each part).
 *
 * The runtime owns the RMSNorm and the residual: a block computes y = x + f(norm(x)).
 * All device work goes through ctx->be: the backend's own ops (backend/backend.h) and
 * the plugin's own SiLU (linmix_ops.h), launched through the kernel registry, which
 * picks its cpu or cuda implementation -- so the same code runs on either backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"

#include "linmix_ops.h"

typedef struct linmix {
    int d;
    float std;
    const float *w; /* [d, d], device memory owned by the runtime */
    float *gw;      /* its gradient, accumulated */
    const float *x; /* the forward input, valid until the matching backward */
    float *h;       /* x W^T of the last forward, kept for its backward */
    size_t h_cap;   /* floats h holds */
    int T;
} linmix;

/* Letters for layout strings: 'l' = this mixer alone, 'L' = with the stage's MLP. */
static const hn_letter_def letters[] = {
    {'l', "linmix", NULL},
    {'L', "linmix", "*"},
};

/* Every key the plugin reads, with its type, default and meaning: the runtime checks
 * experiment files against this list (with file:line) and fills the defaults, and
 * `hnet plugins --settings linmix` prints it. */
static const hn_config_key config_keys[] = {
    {"std", "number", "0.02", "standard deviation of W's normal initialisation"},
};

static int lm_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    double std = hn_config_number(args->cfg, "std"); /* NaN when not a number */
    if (!(std >= 0) || !isfinite(std)) return hn_fail(err, "linmix.std must be a number >= 0");
    if (args->d_model <= 0) return hn_fail(err, "linmix: d_model must be positive");
    linmix *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "linmix: out of host memory");
    s->d = args->d_model;
    s->std = (float)std;
    *self = s;
    return HN_OK;
}

static void lm_destroy(void *self, const hn_backend *be) {
    linmix *s = self;
    if (s->h) be->free(s->h);
    free(s);
}

/* s->h with room for T rows; grown, never per step */
static int ensure_h(linmix *s, const hn_backend *be, int T, hn_error *err) {
    size_t n = (size_t)T * (size_t)s->d;
    if (n <= s->h_cap) return HN_OK;
    if (s->h) be->free(s->h);
    s->h = be->alloc(n * sizeof(float));
    s->h_cap = s->h ? n : 0;
    return s->h ? HN_OK : hn_fail(err, "linmix: out of device memory for %d rows", T);
}

/* y = silu(h) through the registry: rows x d, float32 */
static int silu(const hn_backend *be, const float *h, float *y, int rows, int d, hn_error *err) {
    linmix_silu_fwd_params p = {hn_tensor_f32(h, rows, d), hn_tensor_f32(y, rows, d)};
    return hn_kernel_launch(be, &linmix_silu_fwd, &p, err);
}

static int lm_param_count(void *self) { return 1; }

static void lm_describe_params(void *self, hn_param *params) {
    linmix *s = self;
    hn_param_matrix(&params[0], "weight", s->d, s->d, s->std);
}

static void lm_bind(void *self, const hn_param *params) {
    linmix *s = self;
    s->w = params[0].value;
    s->gw = params[0].grad;
}

/* h = x W^T; y = silu(h) */
static int lm_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                      hn_error *err) {
    linmix *s = self;
    int T = ctx->seqs->total;
    if (ensure_h(s, ctx->be, T, err)) return HN_ERR;
    ctx->be->matmul(0, 1, T, s->d, s->d, 1.0f, x, s->w, 0.0f, s->h);
    s->x = x;
    s->T = T;
    return silu(ctx->be, s->h, y, T, s->d, err);
}

/* dh = dy * silu'(h); dx += dh W; dW += dh^T x */
static int lm_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                       hn_error *err) {
    linmix *s = self;
    const hn_backend *be = ctx->be;
    size_t n = (size_t)s->T * (size_t)s->d;
    float *dh = be->workspace(HN_WS_LAYER0, n * sizeof(float)); /* this call only */
    if (!dh) return hn_fail(err, "linmix: out of device memory for the backward");
    be->zero(dh, n * sizeof(float)); /* the op accumulates */
    linmix_silu_bwd_params p = {hn_tensor_f32(s->h, s->T, s->d), hn_tensor_f32(dy, s->T, s->d),
                                hn_tensor_f32(dh, s->T, s->d)};
    if (hn_kernel_launch(be, &linmix_silu_bwd, &p, err)) return HN_ERR;
    be->matmul(0, 0, s->T, s->d, s->d, 1.0f, dh, s->w, 1.0f, dx);
    be->matmul(1, 0, s->d, s->d, s->T, 1.0f, dh, s->x, 1.0f, s->gw);
    return HN_OK;
}

static double lm_flops(void *self, const int32_t *seq_lens, int n_seqs) {
    linmix *s = self;
    double T = 0;
    for (int i = 0; i < n_seqs; i++) T += seq_lens[i];
    return 2.0 * T * s->d * s->d;
}

/* Position-wise, so generation keeps no state: a step is the forward of the new rows. */
static size_t lm_state_floats(void *self, int max_len) { return 0; }

static int lm_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
                   const int32_t *pos, int n_seqs, hn_error *err) {
    linmix *s = self;
    be->matmul(0, 1, n_seqs, s->d, s->d, 1.0f, x, s->w, 0.0f, y);
    return silu(be, y, y, n_seqs, s->d, err); /* elementwise: in place is fine */
}

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION,
    .name = "linmix",
    .version = "0.1",
    .role = "mixer",
    .letters = letters,
    .n_letters = (int)(sizeof letters / sizeof letters[0]),
    .config_keys = config_keys,
    .n_config_keys = (int)(sizeof config_keys / sizeof config_keys[0]),
    .create = lm_create,
    .destroy = lm_destroy,
    .param_count = lm_param_count,
    .describe_params = lm_describe_params,
    .bind = lm_bind,
    .forward = lm_forward,
    .backward = lm_backward,
    .flops = lm_flops,
    .state_floats = lm_state_floats,
    .step = lm_step,
};

/* The plugin's own ops, registered at load (the kit finds them there too). */
static const hn_kernel_def *const kernels[] = {&linmix_silu_fwd, &linmix_silu_bwd};

/* The one exported symbol: this table, the host API version it needs (4: the kernel
 * registry; see plugin/host_api.h for what each version adds) and its ops. */
HN_PLUGIN_LAYER_KERNELS(&plugin, 4, kernels)
