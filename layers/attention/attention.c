/* The attention layer plugin: causal multi-head self-attention with rotary embeddings
 * and an optional sliding window, as the reference H-Net's CausalMHA (Wqkv and
 * out_proj without biases; qkv rows are [q | k | v], each [heads, head_dim]).
 * This file: the plugin table, configuration, parameters and FLOPs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

static const hn_letter_def letters[] = {
    {'t', "attention", NULL},
    {'T', "attention", "*"},
};

static const hn_config_key config_keys[] = {
    {"heads", "integer", "0",
     "number of attention heads; 0 = d_model / head_dim"},
    {"head_dim", "integer", "0",
     "dims per head; 0 = d_model / heads, or when heads is 0 too the largest of 64, 32, 16, 8 "
     "dividing d_model"},
    {"window", "window", "\"global\"",
     "sliding window: a row attends to itself and the `window` rows before it; \"global\" = "
     "the whole sequence so far"},
    {"rotary_dim", "integer", "-1",
     "dims per head rotated by RoPE (even, <= head_dim); 0 = no rotary embedding; -1 = 32, "
     "or head_dim when heads are narrower"},
    {"rope_theta", "number", "10000", "RoPE base"},
};

#define N_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

/* The runtime fills defaults, but create() also stands alone (tests, other hosts):
 * a missing key falls back to its default from the table above (a JSON literal). */
static const char *default_of(const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(config_keys[i].key, key)) return config_keys[i].default_json;
    return NULL;
}

/* The number at key or its default; NaN when neither is a number. */
static double cfg_get_number(const hn_config *cfg, const char *key) {
    if (hn_config_kind_of(cfg, key) != HN_CONFIG_ABSENT) return hn_config_number(cfg, key);
    const char *def = default_of(key);
    char *end = NULL;
    double v = def ? strtod(def, &end) : NAN;
    return def && end != def && !*end ? v : NAN;
}

static int cfg_int(const hn_config *cfg, const char *key, int *out, hn_error *err) {
    double v = cfg_get_number(cfg, key);
    int ok = v == floor(v) && fabs(v) < 1e9;
    if (ok) *out = (int)v;
    return ok ? HN_OK : hn_fail(err, "attention.%s must be an integer", key);
}

static int cfg_number(const hn_config *cfg, const char *key, double *out, hn_error *err) {
    double v = cfg_get_number(cfg, key);
    if (!isnan(v)) *out = v;
    return !isnan(v) ? HN_OK : hn_fail(err, "attention.%s must be a number", key);
}

/* window: a non-negative integer, or "global" (returned as -1) */
static int cfg_window(const hn_config *cfg, int *out, hn_error *err) {
    const char *s = hn_config_kind_of(cfg, "window") == HN_CONFIG_ABSENT
                        ? default_of("window")
                        : hn_config_string(cfg, "window");
    double v = cfg_get_number(cfg, "window");
    int ok = 0;
    if (s && (!strcmp(s, "global") || !strcmp(s, "\"global\""))) {
        *out = -1;
        ok = 1;
    } else if (v >= 0 && v == floor(v) && v < 2147483647.0) {
        *out = (int)v;
        ok = 1;
    }
    return ok ? HN_OK
              : hn_fail(err, "attention.window must be a non-negative integer or \"global\"");
}

/* Resolves heads x head_dim = d_model from the two (possibly 0 = derived) keys. */
static int resolve_heads(int d, int heads, int head_dim, int *h_out, int *hd_out,
                         hn_error *err) {
    if (heads < 0 || head_dim < 0)
        return hn_fail(err, "attention.heads and attention.head_dim must be >= 0");
    if (heads == 0 && head_dim == 0) {
        /* the largest usual head size that divides the width (64 for the paper's) */
        head_dim = 64;
        while (head_dim > 8 && d % head_dim) head_dim /= 2;
    }
    if (heads == 0) {
        if (d % head_dim)
            return hn_fail(err,
                           "attention: d_model %d is not a multiple of head_dim %d; set "
                           "attention.heads or attention.head_dim",
                           d, head_dim);
        heads = d / head_dim;
    } else if (head_dim == 0) {
        if (d % heads)
            return hn_fail(err, "attention: d_model %d is not divisible by heads %d", d, heads);
        head_dim = d / heads;
    } else if (heads * head_dim != d) {
        return hn_fail(err, "attention: heads %d x head_dim %d = %d, but d_model is %d", heads,
                       head_dim, heads * head_dim, d);
    }
    *h_out = heads;
    *hd_out = head_dim;
    return HN_OK;
}

static int attn_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    int d = args->d_model, heads = 0, head_dim = 0, window = -1, rot = 0;
    double theta = 0;
    if (d <= 0) return hn_fail(err, "attention: d_model must be positive, got %d", d);
    if (cfg_int(args->cfg, "heads", &heads, err) || cfg_int(args->cfg, "head_dim", &head_dim, err) ||
        cfg_window(args->cfg, &window, err) || cfg_int(args->cfg, "rotary_dim", &rot, err) ||
        cfg_number(args->cfg, "rope_theta", &theta, err))
        return HN_ERR;
    if (resolve_heads(d, heads, head_dim, &heads, &head_dim, err)) return HN_ERR;
    if (rot == -1) rot = head_dim < 32 ? head_dim : 32; /* the default: 32, or narrower heads */
    if (rot < 0 || rot % 2 || rot > head_dim)
        return hn_fail(err,
                       "attention.rotary_dim must be even and between 0 and head_dim (%d), got %d",
                       head_dim, rot);
    if (!(theta > 0)) return hn_fail(err, "attention.rope_theta must be positive, got %g", theta);

    hn_attn *a = calloc(1, sizeof *a);
    if (!a) return hn_fail(err, "attention: out of host memory");
    a->d = d;
    a->heads = heads;
    a->head_dim = head_dim;
    a->rot_dim = rot;
    a->window = window;
    a->theta = (float)theta;
    a->scale = (float)(1.0 / sqrt((double)head_dim));
    /* GPT-2 / mamba_ssm residual scaling: n_layers counts the residual sublayers */
    int n = args->n_layers > 0 ? args->n_layers : 1;
    a->std_in = 0.02f;
    a->std_out = (float)(0.02 / sqrt((double)n));
    *self = a;
    return HN_OK;
}

static void attn_destroy(void *self, const hn_backend *be) {
    hn_attn *a = self;
    if (!a) return;
    hn_attn_release(a);
    free(a);
}

static int attn_param_count(void *self) { return 2; }

static void attn_describe(void *self, hn_param *params) {
    hn_attn *a = self;
    hn_param_matrix(&params[0], "Wqkv.weight", 3 * (int64_t)a->d, a->d, a->std_in);
    hn_param_matrix(&params[1], "out_proj.weight", a->d, a->d, a->std_out);
}

static void attn_bind(void *self, const hn_param *params) {
    hn_attn *a = self;
    a->wqkv = params[0].value;
    a->gwqkv = params[0].grad;
    a->wo = params[1].value;
    a->gwo = params[1].grad;
}

/* Appendix B, 2 FLOPs per multiply-accumulate, with the score and value products
 * counted over the keys each position really sees: min(window + 1, pos + 1). */
static double attn_flops(void *self, const int32_t *seq_lens, int n_seqs) {
    hn_attn *a = self;
    double D = a->d, flops = 0;
    for (int s = 0; s < n_seqs; s++) {
        double L = seq_lens[s];
        double m = a->window < 0 || seq_lens[s] < a->window + 1 ? L : (double)a->window + 1;
        double keys = m * (m + 1) / 2 + (L - m) * m; /* sum over positions of keys seen */
        flops += 2 * 3 * L * D * D;                  /* qkv projections */
        flops += 2 * keys * D;                       /* logits */
        flops += 3 * keys * a->heads;                /* softmax */
        flops += 2 * keys * D;                       /* scores @ values */
        flops += 2 * L * D * D;                      /* output projection */
    }
    return flops;
}

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION,
    .name = "attention",
    .version = "1.0",
    .role = "mixer",
    .letters = letters,
    .n_letters = (int)(sizeof letters / sizeof letters[0]),
    .config_keys = config_keys,
    .n_config_keys = N_KEYS,
    .create = attn_create,
    .destroy = attn_destroy,
    .param_count = attn_param_count,
    .describe_params = attn_describe,
    .init_custom = NULL,
    .bind = attn_bind,
    .forward = hn_attn_forward,
    .backward = hn_attn_backward,
    .forward_t = hn_attn_forward_t,
    .backward_t = hn_attn_backward_t,
    .flops = attn_flops,
    .state_floats = hn_attn_state_floats,
    .step = hn_attn_step,
    .output_again = hn_attn_output_again,
    .writes_dx = 1,
};

HN_PLUGIN_LAYER(&plugin, 5) /* 5: hn_attention_params.overwrite */
