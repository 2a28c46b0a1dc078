/* The SwiGLU MLP plugin, as the reference H-Net's SwiGLU (no biases):
 *   gu = x fc1^T   [T, 2H] = [value | gate]
 *   h  = value * silu(gate)
 *   y  = h fc2^T   [T, D]
 * Position-wise, so an inference step is the forward over the new rows and the state
 * is empty. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"

typedef struct swiglu {
    int d, hidden;
    float std_in, std_out;
    const float *w1, *w2; /* fc1 [2H, D], fc2 [D, H] */
    float *g1, *g2;
    hn_stash gu;          /* [T, 2H] kept for backward (bf16 when the backend says so);
                           * the backward overwrites it with dgu. h is recomputed, and
                           * made and then overwritten by dh, in one workspace slot */
    hn_tensor x;    /* forward input (float32 or bf16), valid until the matching backward */
    int T;
    int kept; /* gu holds the last training forward's (not an inference forward's, and
               * not yet overwritten by its backward) */
} swiglu;

static const hn_config_key config_keys[] = {
    {"hidden", "integer", NULL, "hidden size H (fc1 is [2H, d_model], fc2 [d_model, H])"},
};

static int sw_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    if (hn_config_kind_of(args->cfg, "hidden") == HN_CONFIG_ABSENT)
        return hn_fail(err, "swiglu.hidden is required (the MLP hidden size)");
    double hidden = hn_config_number(args->cfg, "hidden");
    if (!(hidden == floor(hidden) && hidden >= 1 && hidden <= 1e8))
        return hn_fail(err, "swiglu.hidden must be a positive integer");
    if (args->d_model <= 0)
        return hn_fail(err, "swiglu: d_model must be positive, got %d", args->d_model);
    swiglu *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "swiglu: out of host memory");
    s->d = args->d_model;
    s->hidden = (int)hidden;
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


/* The forward over T rows, shared by training, inference and stepping. gu = x fc1^T is
 * kept when keep (in the backend's activation dtype, written there by the product
 * itself), else written to a workspace slot; h = swiglu(gu) is made again in backward.
 * A training forward's h takes slot 1, the one the attention backward's float32 dqkv
 * (larger) grows, so the MLP adds no workspace of its own to a step. */
static int run_forward(swiglu *s, const hn_backend *be, hn_tensor x, float *y, int T, int keep,
                       hn_error *err) {
    s->kept = keep;
    if (T == 0) return HN_OK;
    int D = s->d, H = s->hidden;
    hn_tensor gu = keep ? hn_stash_tensor_begin(&s->gu, be, T, 2 * H)
                        : hn_ws_activation(be, HN_WS_LAYER1, T, 2 * H);
    hn_tensor h = hn_ws_tensor(be, keep ? HN_WS_LAYER1 : HN_WS_LAYER0, be->activation_dtype(be), T, H);
    if (!h.data || !gu.data) return hn_fail(err, "swiglu: out of %s memory for %d rows", be->name, T);
    hn_matmul_params fc1 = {.a = x, .b = hn_tensor_f32(s->w1, 2 * H, D),
                            .c = gu, .trans_b = 1, .alpha = 1.0f};
    hn_swiglu_params act = {.gu = gu, .h = h};
    hn_matmul_params fc2 = {.a = h, .b = hn_tensor_f32(s->w2, D, H), .c = hn_tensor_f32(y, T, D),
                            .trans_b = 1, .alpha = 1.0f};
    if (be->matmul_t(be, &fc1) || be->swiglu_forward_t(be, &act) || be->matmul_t(be, &fc2))
        return hn_fail_op(err, be, "swiglu", "a forward op");
    return HN_OK;
}

/* x as the network's norm wrote it: bf16 in the bf16 activation dtype, so neither fc1
 * nor dfc1 rounds it per call */
static int sw_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y,
                        hn_error *err) {
    swiglu *s = self;
    s->x = x;
    s->T = ctx->seqs->total;
    return run_forward(s, ctx->be, x, y, s->T, !ctx->inference, err);
}

static int sw_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                      hn_error *err) {
    return sw_forward_t(self, ctx, hn_tensor_f32(x, ctx->seqs->total, ((swiglu *)self)->d), y, err);
}

/* In the bf16 activation dtype, dy is bf16 for its two products (rounded here once when
 * it comes as float32), and h, dh and dgu are bf16: every product reads bf16 operands
 * when x and dy come typed from the network. No memory beyond one [T, H] slot: dh
 * overwrites h once dfc2 has read it, and dgu overwrites gu (the activation reads each
 * gu pair before it writes that pair's gradient), so gu is spent: a second backward
 * needs a new forward. */
static int sw_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dy, float *dx,
                         hn_error *err) {
    swiglu *s = self;
    const hn_backend *be = ctx->be;
    int T = ctx->seqs->total, D = s->d, H = s->hidden;
    if (T != s->T)
        return hn_fail(err, "swiglu: backward over %d rows follows a forward over %d", T, s->T);
    if (!s->kept && T)
        return hn_fail(err, "swiglu: backward without a training forward before it (after an "
                            "inference forward, or a second backward: the first spent what the "
                            "forward kept)");
    if (T == 0) return HN_OK;
    hn_dtype at = be->activation_dtype(be);
    hn_tensor gu = hn_stash_tensor(&s->gu), dyt = dy;
    hn_tensor h = hn_ws_tensor(be, HN_WS_LAYER1, at, T, H);
    hn_tensor dh = h, dgu = gu;
    if (dy.dtype != at) dyt = hn_ws_tensor(be, HN_WS_LAYER0, at, T, D);
    if (!h.data || !dh.data || !dgu.data || !gu.data || !dyt.data)
        return hn_fail(err, "swiglu: out of %s memory for %d rows of gradients", be->name, T);
    hn_swiglu_params act = {.gu = gu, .h = h, .dh = dh, .dgu = dgu};
    hn_matmul_params dfc2 = {.a = dyt, .b = h, .c = hn_tensor_f32(s->g2, D, H), .trans_a = 1,
                             .alpha = 1.0f, .beta = 1.0f};                 /* dfc2 += dy^T h */
    hn_matmul_params dhp = {.a = dyt, .b = hn_tensor_f32(s->w2, D, H), .c = dh, .alpha = 1.0f};
    hn_matmul_params dfc1 = {.a = dgu, .b = s->x,
                             .c = hn_tensor_f32(s->g1, 2 * H, D), .trans_a = 1, .alpha = 1.0f,
                             .beta = 1.0f};                               /* dfc1 += dgu^T x */
    hn_matmul_params dxp = {.a = dgu, .b = hn_tensor_f32(s->w1, 2 * H, D),
                            .c = hn_tensor_f32(dx, T, D), .alpha = 1.0f,
                            .beta = ctx->write_dx ? 0.0f : 1.0f};
    if ((dy.dtype != at && be->convert(be, dyt, dy)) ||
        be->swiglu_forward_t(be, &act) || /* h again: cheaper than keeping it */
        be->matmul_t(be, &dfc2) || be->matmul_t(be, &dhp) || be->swiglu_backward_t(be, &act) ||
        be->matmul_t(be, &dfc1) || be->matmul_t(be, &dxp))
        return hn_fail_op(err, be, "swiglu", "a backward op");
    s->kept = 0;
    return HN_OK;
}

static int sw_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                       hn_error *err) {
    return sw_backward_t(self, ctx, hn_tensor_f32(dy, ctx->seqs->total, ((swiglu *)self)->d), dx, err);
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
    return run_forward(self, be, hn_tensor_f32(x, n_seqs, ((swiglu *)self)->d), y, n_seqs, 0, err);
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
    .forward_t = sw_forward_t,
    .backward_t = sw_backward_t,
    .writes_dx = 1,
};

HN_PLUGIN_LAYER(&plugin, 2)
