/* The SwiGLU MLP plugin, as the reference H-Net's SwiGLU (no biases):
 *   gu = x fc1^T   [T, 2H] = [value | gate]
 *   h  = value * silu(gate)
 *   y  = h fc2^T   [T, D]
 * Position-wise, so an inference step is the forward over the new rows and the state
 * is empty. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/stash.h"
#include "plugin/layer_abi.h"

typedef struct swiglu {
    int d, hidden;
    float std_in, std_out;
    const float *w1, *w2; /* fc1 [2H, D], fc2 [D, H] */
    float *g1, *g2;
    hn_stash gu;          /* [T, 2H] kept for backward (bf16 when the backend says so);
                           * h and the gradients are recomputed / made in the backend's
                           * shared workspace */
    const float *x; /* forward input, valid until the matching backward */
    int T;
} swiglu;

static const hn_config_key config_keys[] = {
    {"hidden", "integer", NULL, "hidden size H (fc1 is [2H, d_model], fc2 [d_model, H])"},
};

static int sw_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    const cJSON *it = args->cfg ? cJSON_GetObjectItemCaseSensitive(args->cfg, "hidden") : NULL;
    if (!it) return hn_fail(err, "swiglu.hidden is required (the MLP hidden size)");
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 ||
        it->valuedouble > 1e8)
        return hn_fail(err, "swiglu.hidden must be a positive integer");
    if (args->d_model <= 0)
        return hn_fail(err, "swiglu: d_model must be positive, got %d", args->d_model);
    swiglu *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "swiglu: out of host memory");
    s->d = args->d_model;
    s->hidden = (int)it->valuedouble;
    int n = args->n_layers > 0 ? args->n_layers : 1;
    s->std_in = 0.02f;
    s->std_out = (float)(0.02 / sqrt((double)n)); /* residual-scaled, as attention out_proj */
    *self = s;
    return HN_OK;
}

static void sw_destroy(void *self, const hn_backend *be) {
    swiglu *s = self;
    if (!s) return;
    hn_stash_free(&s->gu);
    free(s);
}

static int sw_param_count(void *self) { return 2; }

static void sw_describe(void *self, hn_param *params) {
    swiglu *s = self;
    hn_param_matrix(&params[0], "fc1.weight", 2 * (int64_t)s->hidden, s->d, s->std_in);
    hn_param_matrix(&params[1], "fc2.weight", s->d, s->hidden, s->std_out);
}

static void sw_bind(void *self, const hn_param *params) {
    swiglu *s = self;
    s->w1 = params[0].value;
    s->g1 = params[0].grad;
    s->w2 = params[1].value;
    s->g2 = params[1].grad;
}

/* the forward over T rows, shared by training and stepping */
static int run_forward(swiglu *s, const hn_backend *be, const float *x, float *y, int T,
                       hn_error *err) {
    if (T == 0) return HN_OK;
    int D = s->d, H = s->hidden;
    float *h = be->workspace(HN_WS_LAYER0, (size_t)T * H * sizeof(float));
    float *gu = hn_stash_begin(&s->gu, be, HN_WS_LAYER1, (size_t)T * 2 * H);
    if (!h || !gu) return hn_fail(err, "swiglu: out of %s memory for %d rows", be->name, T);
    be->matmul(0, 1, T, 2 * H, D, 1.0f, x, s->w1, 0.0f, gu);
    be->swiglu_forward(h, gu, T, H);
    be->matmul(0, 1, T, D, H, 1.0f, h, s->w2, 0.0f, y);
    hn_stash_end(&s->gu);
    return HN_OK;
}

static int sw_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                      hn_error *err) {
    swiglu *s = self;
    s->x = x;
    s->T = ctx->seqs->total;
    return run_forward(s, ctx->be, x, y, s->T, err);
}

static int sw_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                       hn_error *err) {
    swiglu *s = self;
    const hn_backend *be = ctx->be;
    int T = ctx->seqs->total, D = s->d, H = s->hidden;
    if (T != s->T)
        return hn_fail(err, "swiglu: backward over %d rows follows a forward over %d", T, s->T);
    if (T == 0) return HN_OK;
    size_t th = (size_t)T * H * sizeof(float);
    float *h = be->workspace(HN_WS_LAYER0, th), *dh = be->workspace(HN_WS_LAYER1, th);
    float *dgu = be->workspace(HN_WS_LAYER2, 2 * th);
    const float *gu = hn_stash_get(&s->gu, HN_WS_LAYER3);
    if (!h || !dh || !dgu || !gu)
        return hn_fail(err, "swiglu: out of %s memory for %d rows of gradients", be->name, T);
    be->swiglu_forward(h, gu, T, H);                         /* h again: cheaper than keeping it */
    be->matmul(1, 0, D, H, T, 1.0f, dy, h, 1.0f, s->g2);    /* dfc2 += dy^T h */
    be->matmul(0, 0, T, H, D, 1.0f, dy, s->w2, 0.0f, dh);   /* dh = dy fc2 */
    be->zero(dgu, 2 * th);
    be->swiglu_backward(dgu, dh, gu, T, H);
    be->matmul(1, 0, 2 * H, D, T, 1.0f, dgu, s->x, 1.0f, s->g1); /* dfc1 += dgu^T x */
    be->matmul(0, 0, T, D, 2 * H, 1.0f, dgu, s->w1, 1.0f, dx);   /* dx += dgu fc1 */
    return HN_OK;
}

/* Appendix B "Gated MLP": in, gate and out projections 2 * L * 3 * D * H, plus the
 * gating term 5 * L * D exactly as the paper writes it. */
static double sw_flops(void *self, const int32_t *seq_lens, int n_seqs) {
    swiglu *s = self;
    double L = 0;
    for (int i = 0; i < n_seqs; i++) L += seq_lens[i];
    return 2.0 * L * 3.0 * s->d * s->hidden + 5.0 * L * s->d;
}

static size_t sw_state_floats(void *self, int max_len) { return 0; }

static int sw_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
                   const int32_t *pos, int n_seqs, hn_error *err) {
    return run_forward(self, be, x, y, n_seqs, err);
}

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION,
    .name = "swiglu",
    .version = "1.0",
    .role = "mlp",
    .letters = NULL,
    .n_letters = 0,
    .config_keys = config_keys,
    .n_config_keys = 1,
    .create = sw_create,
    .destroy = sw_destroy,
    .param_count = sw_param_count,
    .describe_params = sw_describe,
    .init_custom = NULL,
    .bind = sw_bind,
    .forward = sw_forward,
    .backward = sw_backward,
    .flops = sw_flops,
    .state_floats = sw_state_floats,
    .step = sw_step,
};

const hn_layer_plugin *hn_layer_plugin_v1(void) { return &plugin; }
