/* The mamba2 layer plugin: the Mamba-2 block (Dao & Gu 2024) as mamba_ssm's Mamba2 and
 * the reference H-Net configs use it: in_proj -> (z, x, B, C, dt); depthwise causal
 * conv1d + SiLU on x, B, C; the SSD scan (A = -exp(A_log) per head, dt = softplus(dt +
 * dt_bias), D skip); gated RMSNorm norm(y * silu(z)); out_proj. No biases on the
 * projections. This file: the plugin table, configuration, parameters, initialisation
 * and FLOPs. Letters: m (no MLP), M (with the stage's MLP). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mamba2.h"

static const hn_letter_def letters[] = {
    {'m', "mamba2", NULL},
    {'M', "mamba2", "*"},
};

static const hn_config_key config_keys[] = {
    {"d_state", "integer", "64", "SSM state size N per head"},
    {"headdim", "integer", "64", "channels per SSM head; expand * d_model must be a multiple"},
    {"expand", "integer", "2", "inner width = expand * d_model"},
    {"d_conv", "integer", "4", "width of the depthwise causal convolution"},
    {"ngroups", "integer", "1", "groups of heads sharing B and C (divides the head count)"},
    {"chunk_size", "integer", "256", "chunk length of the SSD algorithm (speed only)"},
    {"dt_min", "number", "0.001", "initial dt drawn log-uniformly from [dt_min, dt_max]"},
    {"dt_max", "number", "0.1", "see dt_min"},
    {"dt_init_floor", "number", "1e-4", "smallest initial dt"},
    {"norm_eps", "number", "1e-5", "epsilon of the gated RMSNorm"},
};

#define N_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

/* The runtime fills defaults, but create() also stands alone (tests, other hosts):
 * a missing key falls back to its default from the table above. NaN when neither the
 * key nor its default is a number. */
static double cfg_get_number(const hn_config *cfg, const char *key) {
    if (hn_config_kind_of(cfg, key) != HN_CONFIG_ABSENT) return hn_config_number(cfg, key);
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(config_keys[i].key, key) && config_keys[i].default_json) {
            char *end;
            double v = strtod(config_keys[i].default_json, &end);
            return end != config_keys[i].default_json && !*end ? v : NAN;
        }
    return NAN;
}

static int cfg_int(const hn_config *cfg, const char *key, int lo, int *out, hn_error *err) {
    double v = cfg_get_number(cfg, key);
    int ok = v == floor(v) && v >= lo && v < 1e8;
    if (ok) *out = (int)v;
    return ok ? HN_OK : hn_fail(err, "mamba2.%s must be an integer >= %d", key, lo);
}

static int cfg_pos(const hn_config *cfg, const char *key, int allow_zero, float *out,
                   hn_error *err) {
    double v = cfg_get_number(cfg, key);
    int ok = v > 0 || (allow_zero && v == 0);
    if (ok) *out = (float)v;
    return ok ? HN_OK : hn_fail(err, "mamba2.%s must be a %s number", key,
                                allow_zero ? "non-negative" : "positive");
}

static int m2_create(const hn_layer_args *args, void **self, hn_error *err) {
    *self = NULL;
    int d = args->d_model, d_state, headdim, expand, d_conv, ngroups, chunk;
    float dt_min = 0, dt_max = 0, dt_floor = 0, eps = 0;
    if (d <= 0) return hn_fail(err, "mamba2: d_model must be positive, got %d", d);
    const hn_config *c = args->cfg;
    if (cfg_int(c, "d_state", 1, &d_state, err) || cfg_int(c, "headdim", 1, &headdim, err) ||
        cfg_int(c, "expand", 1, &expand, err) || cfg_int(c, "d_conv", 1, &d_conv, err) ||
        cfg_int(c, "ngroups", 1, &ngroups, err) || cfg_int(c, "chunk_size", 1, &chunk, err) ||
        cfg_pos(c, "dt_min", 0, &dt_min, err) || cfg_pos(c, "dt_max", 0, &dt_max, err) ||
        cfg_pos(c, "dt_init_floor", 1, &dt_floor, err) || cfg_pos(c, "norm_eps", 0, &eps, err))
        return HN_ERR;
    int d_inner = expand * d;
    if (d_inner % headdim)
        return hn_fail(err, "mamba2: expand * d_model = %d is not a multiple of headdim %d; set "
                            "mamba2.headdim", d_inner, headdim);
    int nheads = d_inner / headdim;
    if (nheads % ngroups)
        return hn_fail(err, "mamba2: ngroups %d does not divide the %d heads", ngroups, nheads);
    if (dt_max < dt_min)
        return hn_fail(err, "mamba2: dt_max %g is below dt_min %g", dt_max, dt_min);

    hn_m2 *m = calloc(1, sizeof *m);
    if (!m) return hn_fail(err, "mamba2: out of host memory");
    m->d = d;
    m->d_inner = d_inner;
    m->nheads = nheads;
    m->headdim = headdim;
    m->d_state = d_state;
    m->ngroups = ngroups;
    m->d_conv = d_conv;
    m->chunk = chunk;
    m->conv_dim = d_inner + 2 * ngroups * d_state;
    m->d_proj = 2 * d_inner + 2 * ngroups * d_state + nheads;
    m->dt_min = dt_min;
    m->dt_max = dt_max;
    m->dt_floor = dt_floor;
    m->eps = eps;
    m->dims = (hn_ssm_dims){nheads, headdim, d_state, ngroups, chunk};
    /* mamba_ssm residual scaling: n_layers counts the residual sublayers */
    int n = args->n_layers > 0 ? args->n_layers : 1;
    m->std_in = 0.02f;
    m->std_out = (float)(0.02 / sqrt((double)n));
    *self = m;
    return HN_OK;
}

static void m2_destroy(void *self, const hn_backend *be) {
    hn_m2 *m = self;
    if (!m) return;
    hn_m2_release(m);
    free(m);
}

static int m2_param_count(void *self) { return M2_N_PARAMS; }

static void set_param(hn_param *p, const char *name, int ndim, int64_t d0, int64_t d1,
                      int64_t d2, hn_init_kind init, float a, float b, int decay) {
    memset(p, 0, sizeof *p);
    strncpy(p->name, name, sizeof p->name - 1);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->shape[2] = d2;
    p->init = init;
    p->a = a;
    p->b = b;
    p->weight_decay = decay;
}

static void m2_describe(void *self, hn_param *p) {
    hn_m2 *m = self;
    /* PyTorch's Conv1d default: kaiming_uniform(a = sqrt 5) = uniform(+-1/sqrt(fan_in)),
     * fan_in = d_conv for a depthwise convolution; the bias uses the same bound */
    float cb = (float)(1.0 / sqrt((double)m->d_conv));
    set_param(&p[M2_IN_PROJ], "in_proj.weight", 2, m->d_proj, m->d, 0, HN_INIT_NORMAL, m->std_in, 0, 1);
    set_param(&p[M2_CONV_W], "conv1d.weight", 3, m->conv_dim, 1, m->d_conv, HN_INIT_UNIFORM, -cb, cb, 1);
    set_param(&p[M2_CONV_B], "conv1d.bias", 1, m->conv_dim, 0, 0, HN_INIT_UNIFORM, -cb, cb, 0);
    set_param(&p[M2_DT_BIAS], "dt_bias", 1, m->nheads, 0, 0, HN_INIT_CUSTOM, 0, 0, 0);
    set_param(&p[M2_A_LOG], "A_log", 1, m->nheads, 0, 0, HN_INIT_CUSTOM, 0, 0, 0);
    set_param(&p[M2_D], "D", 1, m->nheads, 0, 0, HN_INIT_ONES, 0, 0, 0);
    set_param(&p[M2_NORM_W], "norm.weight", 1, m->d_inner, 0, 0, HN_INIT_ONES, 0, 0, 0);
    set_param(&p[M2_OUT_PROJ], "out_proj.weight", 2, m->d, m->d_inner, 0, HN_INIT_NORMAL, m->std_out, 0, 1);
}

/* As mamba_ssm: dt = exp(uniform(log dt_min, log dt_max)) floored at dt_init_floor and
 * dt_bias = softplus^-1(dt) = dt + log(-expm1(-dt)); A_log = log(uniform(1, 16)). */
static void m2_init_custom(void *self, int index, float *host, size_t n, hn_rng *rng) {
    hn_m2 *m = self;
    for (size_t i = 0; i < n; i++) {
        if (index == M2_DT_BIAS) {
            double lo = log((double)m->dt_min), hi = log((double)m->dt_max);
            double dt = exp(lo + (hi - lo) * hn_rng_uniform(rng));
            if (dt < m->dt_floor) dt = m->dt_floor;
            host[i] = (float)(dt + log(-expm1(-dt)));
        } else if (index == M2_A_LOG) {
            host[i] = (float)log(1.0 + 15.0 * hn_rng_uniform(rng));
        }
    }
}

static void m2_bind(void *self, const hn_param *params) {
    hn_m2 *m = self;
    for (int i = 0; i < M2_N_PARAMS; i++) {
        m->w[i] = params[i].value;
        m->g[i] = params[i].grad;
    }
}

/* Appendix B of the H-Net paper, 2 FLOPs per multiply-accumulate, term by term as
 * written there (with nheads for num_heads and ngroups x d_state for the B, C width;
 * the paper counts the depthwise convolution, the gating and the output projection at
 * d_model width, and so do we, so FLOP-matched layer counts agree with the paper's). */
static double m2_flops(void *self, const int32_t *seq_lens, int n_seqs) {
    hn_m2 *m = self;
    double d = m->d, e = (double)m->d_inner / m->d, N = m->d_state, flops = 0;
    for (int s = 0; s < n_seqs; s++) {
        double L = seq_lens[s];
        flops += 2 * L * d * (2 * e * d);                               /* xz projections */
        flops += 2 * L * d * (2.0 * m->ngroups * N + m->nheads);        /* B C dt projections */
        flops += 2 * 3 * L * (e * d) * N;                               /* SSD */
        flops += 2 * L * d * m->d_conv;                                 /* depthwise conv */
        flops += 5 * L * d;                                             /* gating */
        flops += 2 * L * d * d;                                         /* output projection */
    }
    return flops;
}

static const hn_layer_plugin plugin = {
    .abi_version = HN_LAYER_ABI_VERSION,
    .name = "mamba2",
    .version = "1.0",
    .role = "mixer",
    .letters = letters,
    .n_letters = (int)(sizeof letters / sizeof letters[0]),
    .config_keys = config_keys,
    .n_config_keys = N_KEYS,
    .create = m2_create,
    .destroy = m2_destroy,
    .param_count = m2_param_count,
    .describe_params = m2_describe,
    .init_custom = m2_init_custom,
    .bind = m2_bind,
    .forward = hn_m2_forward,
    .backward = hn_m2_backward,
    .forward_t = hn_m2_forward_t,
    .backward_t = hn_m2_backward_t,
    .writes_dx = 1,
    .flops = m2_flops,
    .state_floats = hn_m2_state_floats,
    .step = hn_m2_step,
};

HN_PLUGIN_LAYER(&plugin, 5) /* 5: the overwrite fields, hn_ops_ssm.xbc_dtype */
