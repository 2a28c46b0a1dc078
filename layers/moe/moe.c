/* The Mixture-of-Experts MLP plugin (see moe.h for the computation): the plugin table,
 * configuration, parameters, FLOPs, auxiliary losses and metrics. It stands wherever
 * the SwiGLU MLP stands (mlp = moe{...} per stage) and registers the letter E:
 * an attention block whose MLP is always an MoE (LlamaByte-MoE is "E<n>"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moe.h"

static const hn_letter_def letters[] = {
    {'E', "attention", "moe"},
};

static const hn_config_key config_keys[] = {
    {"experts", "integer", "8", "number of experts E (each a SwiGLU MLP)"},
    {"top_k", "integer", "2", "experts per token k (1 <= k <= E)"},
    {"hidden", "integer", "0",
     "hidden size H of each expert's SwiGLU; 0 = 3 * d_model (the dense MLP default)"},
    {"renormalize", "boolean", "true",
     "combination weights: the top-k probabilities renormalised to sum 1 (true) or the raw "
     "softmax probabilities (false)"},
    {"capacity_factor", "number", "0",
     "0 = dropless; else each expert takes at most ceil(cf * T * k / E) rows per forward and "
     "the rest are dropped (counted in the `dropped` metric)"},
    {"balance_weight", "number", "0.01",
     "weight of the Switch-Transformer load-balancing loss E * sum_e f_e P_e"},
    {"z_loss_weight", "number", "0", "weight of the router z-loss mean(logsumexp(logits)^2)"},
};

#define N_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

static int read_int(const hn_config *cfg, const char *key, long lo, long hi, long *out,
                    hn_error *err) {
    double v = hn_config_number(cfg, key); /* NaN unless a number: fails every test */
    if (!(v == floor(v) && v >= lo && v <= hi))
        return hn_fail(err, "moe.%s must be an integer in [%ld, %ld]", key, lo, hi);
    *out = (long)v;
    return HN_OK;
}

static int read_nonneg(const hn_config *cfg, const char *key, double *out, hn_error *err) {
    double v = hn_config_number(cfg, key);
    if (!(v >= 0) || !isfinite(v)) return hn_fail(err, "moe.%s must be a number >= 0", key);
    *out = v;
    return HN_OK;
}

static int moe_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    if (args->d_model <= 0) return hn_fail(err, "moe: d_model must be positive, got %d", args->d_model);
    long E, k, H;
    double cf, bw, zw;
    if (read_int(args->cfg, "experts", 1, MOE_MAX_EXPERTS, &E, err) ||
        read_int(args->cfg, "top_k", 1, MOE_MAX_EXPERTS, &k, err) ||
        read_int(args->cfg, "hidden", 0, 100000000, &H, err) ||
        read_nonneg(args->cfg, "capacity_factor", &cf, err) ||
        read_nonneg(args->cfg, "balance_weight", &bw, err) ||
        read_nonneg(args->cfg, "z_loss_weight", &zw, err))
        return HN_ERR;
    if (k > E) return hn_fail(err, "moe.top_k (%ld) must not exceed moe.experts (%ld)", k, E);
    int rn = hn_config_bool(args->cfg, "renormalize");
    if (rn < 0) return hn_fail(err, "moe.renormalize must be true or false");
    moe *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "moe: out of host memory");
    s->d = args->d_model;
    s->E = (int)E;
    s->k = (int)k;
    s->hidden = H ? (int)H : 3 * args->d_model;
    s->renormalize = rn;
    s->capacity_factor = cf;
    s->balance_weight = bw;
    s->z_weight = zw;
    int n = args->n_layers > 0 ? args->n_layers : 1;
    s->std_router = 0.02f;
    s->std_in = 0.02f;
    s->std_out = (float)(0.02 / sqrt((double)n)); /* residual-scaled, as swiglu fc2 */
    *self = s;
    return HN_OK;
}

static void moe_destroy(void *self, const hn_backend *be) {
    moe *s = self;
    if (!s) return;
    moe_release(s);
    free(s);
}

static int moe_param_count(void *self) { return 1 + 2 * ((moe *)self)->E; }

/* router.weight, then experts.{i}.fc1.weight, experts.{i}.fc2.weight per expert */
static void moe_describe(void *self, hn_param *params) {
    moe *s = self;
    hn_param_matrix(&params[0], "router.weight", s->E, s->d, s->std_router);
    for (int e = 0; e < s->E; e++) {
        char name[96];
        snprintf(name, sizeof name, "experts.%d.fc1.weight", e);
        hn_param_matrix(&params[1 + 2 * e], name, 2 * (int64_t)s->hidden, s->d, s->std_in);
        snprintf(name, sizeof name, "experts.%d.fc2.weight", e);
        hn_param_matrix(&params[2 + 2 * e], name, s->d, s->hidden, s->std_out);
    }
}

static void moe_bind(void *self, const hn_param *params) {
    moe *s = self;
    s->wr = params[0].value;
    s->gr = params[0].grad;
    for (int e = 0; e < s->E; e++) {
        s->w1[e] = params[1 + 2 * e].value;
        s->g1[e] = params[1 + 2 * e].grad;
        s->w2[e] = params[2 + 2 * e].value;
        s->g2[e] = params[2 + 2 * e].grad;
    }
}

static int moe_fwd(void *self, const hn_layer_ctx *ctx, const float *x, float *y, hn_error *err) {
    moe *s = self;
    s->x = x;
    s->T = ctx->seqs->total;
    /* training's routing (its capacity) either way, for the same numbers; an inference
     * forward only leaves no backward to follow it */
    int rc = moe_forward(s, ctx->be, x, y, s->T, 1, err);
    if (ctx->inference) s->has_forward = 0;
    return rc;
}

static int moe_bwd(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                   hn_error *err) {
    moe *s = self;
    int T = ctx->seqs->total;
    if (T != s->T)
        return hn_fail(err, "moe: backward over %d rows follows a forward over %d", T, s->T);
    return moe_backward(s, ctx->be, dy, dx, T, err);
}

/* Appendix B counting (2 per multiply-accumulate) for the experts a token uses: the
 * router 2*D*E, and top_k gated MLPs of 2*3*D*H + 5*D each (as swiglu). */
static double moe_flops(void *self, const int32_t *seq_lens, int n_seqs) {
    moe *s = self;
    double L = 0;
    for (int i = 0; i < n_seqs; i++) L += seq_lens[i];
    return L * (2.0 * s->d * s->E + s->k * (2.0 * 3.0 * s->d * s->hidden + 5.0 * s->d));
}

static int64_t moe_active_params(void *self) {
    moe *s = self;
    return (int64_t)s->E * s->d + (int64_t)s->k * 3 * s->d * s->hidden;
}

static double moe_aux(void *self) {
    moe *s = self;
    if (!s->has_forward) return 0;
    return s->balance_weight * s->r.balance + s->z_weight * s->r.z;
}

static int put(hn_layer_metric *out, int n, int max, const char *name, double v) {
    if (n >= max) return n;
    snprintf(out[n].name, sizeof out[n].name, "%s", name);
    out[n].value = v;
    return n + 1;
}

/* balance_loss and z_loss (unweighted), dropped (token-expert pairs), max_load (the
 * busiest expert's routed pairs over the mean), tokens_expert<e> (rows expert e
 * processed). */
static int moe_metrics(void *self, hn_layer_metric *out, int max) {
    moe *s = self;
    if (!s->has_forward) return 0;
    const moe_routing *r = &s->r;
    double mean = (double)r->T * s->k / s->E, load = 0;
    for (int e = 0; e < s->E; e++)
        if (r->routed[e] > load) load = (double)r->routed[e];
    int n = 0;
    n = put(out, n, max, "balance_loss", r->balance);
    n = put(out, n, max, "z_loss", r->z);
    n = put(out, n, max, "dropped", (double)r->dropped);
    n = put(out, n, max, "max_load", mean > 0 ? load / mean : 0);
    for (int e = 0; e < s->E; e++) {
        char name[48];
        snprintf(name, sizeof name, "tokens_expert%d", e);
        n = put(out, n, max, name, (double)(r->off[e + 1] - r->off[e]));
    }
    return n;
}

/* Position-wise: the state is empty and a step is a dropless forward of the new rows
 * (on a device it reads back the expert counts, as every forward does, to size the
 * expert batches). A step between a forward and its backward is not supported (it
 * reuses the routing). */
static size_t moe_state_floats(void *self, int max_len) { return 0; }

static int moe_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
                    const int32_t *pos, int n_seqs, hn_error *err) {
    return moe_forward(self, be, x, y, n_seqs, 0, err);
}

static int moe_prefill(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                       float *state, hn_error *err) {
    return moe_forward(self, ctx->be, x, y, ctx->seqs->total, 0, err);
}

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION,
    .name = "moe",
    .version = "1.0",
    .role = "mlp",
    .letters = letters,
    .n_letters = (int)(sizeof letters / sizeof letters[0]),
    .config_keys = config_keys,
    .n_config_keys = N_KEYS,
    .create = moe_create,
    .destroy = moe_destroy,
    .param_count = moe_param_count,
    .describe_params = moe_describe,
    .init_custom = NULL,
    .bind = moe_bind,
    .forward = moe_fwd,
    .backward = moe_bwd,
    .flops = moe_flops,
    .state_floats = moe_state_floats,
    .step = moe_step,
    .aux_loss = moe_aux,
    .metrics = moe_metrics,
    .prefill = moe_prefill,
    .active_param_count = moe_active_params,
};

HN_PLUGIN_LAYER(&plugin, 2)
