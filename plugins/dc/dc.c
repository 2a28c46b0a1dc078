/* The "dc" chunker: H-Net's routing module (paper Eq. 4), and the paper's "direct
 * prediction" ablation (Figure 7, w/o cosine routing).
 *
 * Cosine routing, parameter names and orientation as the reference H-Net
 * (hnet/modules/dc.py RoutingModule): p[t] = (1 - cos(Wq x[t-1], Wk x[t])) / 2, i.e.
 * q_proj_layer projects the PREVIOUS row and k_proj_layer the current one, so a
 * reference checkpoint loads with its meaning intact. (The paper writes q_t^T k_{t-1};
 * cosine is symmetric, so the two differ only in which matrix sees which row.) The
 * backend op computes cos(q[t], k[t-1]); we therefore hand it cur = x Wk^T as "q" and
 * prev = x Wq^T as "k". Both matrices start as the identity, as in the reference, so
 * at initialisation p[t] = (1 - cos(x[t], x[t-1])) / 2. They are not weight-decayed:
 * decay would pull them from the identity towards zero, which only shrinks their norm
 * (cosine ignores it) while making the routing drift for no modelling reason.
 *
 * Linear routing: p[t] = sigmoid(x[t] . w + b), p = 1 at sequence starts.
 *
 * Keys ratio, alpha, smoothing, ste and downsample belong to the stage (ratio loss
 * target and weight, dechunking switches, downsampler); they are validated here so a
 * mistake is reported where the chunker is configured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops_chunk.h"
#include "plugin/plugin.h"

typedef struct dc {
    int d;
    int linear; /* 0: cosine routing, 1: linear routing */
    const float *wq, *wk, *w, *bias;
    float *gq, *gk, *gw, *gbias;
    const hn_backend *be; /* the backend the work buffers came from */
    int cap;              /* rows of the work buffers */
    float *cur, *prev, *dcur, *dprev; /* cosine: [cap, d] */
    float *p, *dlogit;                /* linear: [cap] */
    const float *x; /* forward input, valid until the matching backward */
    hn_tensor xt;   /* x as the products read it: the runtime's bf16 copy when it gave one */
    int T;
    /* stepping: the n new rows' and the n previous rows' projections, p, positions */
    const hn_backend *step_be;
    int step_cap;
    float *scur, *sprev, *sp;
    int32_t *spos_dev;
} dc;

static const hn_config_key config_keys[] = {
    {"ratio", "number", "3", "target downsampling ratio N of this stage (Eq. 10), > 1"},
    {"alpha", "number", "0.03", "weight of this stage's ratio loss (Eq. 10)"},
    {"routing", "string", "\"cosine\"",
     "\"cosine\" (Eq. 4) or \"linear\" (p = sigmoid(w.x + b), the paper's ablation)"},
    {"smoothing", "boolean", "true", "EMA smoothing of the dechunked rows (Eq. 5)"},
    {"ste", "boolean", "true", "straight-through estimator on the confidence (Eq. 7)"},
    {"downsample", "string", "\"select\"",
     "\"select\" the boundary rows (paper), or \"mean\" / \"max\" over each chunk"},
};
#define N_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

static int absent(const hn_chunker_args *args, const char *name) {
    return hn_config_kind_of(args->cfg, name) == HN_CONFIG_ABSENT;
}

/* The runtime fills defaults; reading them again here keeps direct use (tests) safe. */
static int read_number(const hn_chunker_args *args, const char *name, double def, double *out,
                       hn_error *err) {
    if (absent(args, name)) {
        *out = def;
        return HN_OK;
    }
    double v = hn_config_number(args->cfg, name);
    if (!isfinite(v)) return hn_fail(err, "dc.%s must be a number", name);
    *out = v;
    return HN_OK;
}

static int read_choice(const hn_chunker_args *args, const char *name, const char *a,
                       const char *b, const char *c, int *out, hn_error *err) {
    *out = 0;
    if (absent(args, name)) return HN_OK;
    const char *choices[3] = {a, b, c};
    const char *v = hn_config_string(args->cfg, name);
    if (v)
        for (int i = 0; i < 3; i++)
            if (choices[i] && !strcmp(v, choices[i])) {
                *out = i;
                return HN_OK;
            }
    if (c) return hn_fail(err, "dc.%s must be \"%s\", \"%s\" or \"%s\"", name, a, b, c);
    return hn_fail(err, "dc.%s must be \"%s\" or \"%s\"", name, a, b);
}

static int check_bool(const hn_chunker_args *args, const char *name, hn_error *err) {
    if (!absent(args, name) && hn_config_bool(args->cfg, name) < 0) return hn_fail(err, "dc.%s must be true or false", name);
    return HN_OK;
}

static int dc_create(const hn_chunker_args *args, void **self, hn_error *err) {
    *self = NULL;
    double ratio, alpha;
    int routing, downsample;
    if (read_number(args, "ratio", 3, &ratio, err) || read_number(args, "alpha", 0.03, &alpha, err))
        return HN_ERR;
    if (!(ratio > 1))
        return hn_fail(err, "dc.ratio must be greater than 1 (the ratio loss divides by N - 1), "
                            "got %g", ratio);
    if (alpha < 0) return hn_fail(err, "dc.alpha must be non-negative, got %g", alpha);
    if (read_choice(args, "routing", "cosine", "linear", NULL, &routing, err) ||
        read_choice(args, "downsample", "select", "mean", "max", &downsample, err) ||
        check_bool(args, "smoothing", err) || check_bool(args, "ste", err))
        return HN_ERR;
    if (args->d_model <= 0)
        return hn_fail(err, "dc: d_model must be positive, got %d", args->d_model);
    dc *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "dc: out of host memory");
    s->d = args->d_model;
    s->linear = routing == 1;
    *self = s;
    return HN_OK;
}

static void release(dc *s) {
    if (s->be) {
        float *bufs[] = {s->cur, s->prev, s->dcur, s->dprev, s->p, s->dlogit};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) s->be->free(bufs[i]);
    }
    s->cur = s->prev = s->dcur = s->dprev = s->p = s->dlogit = NULL;
    s->cap = 0;
    s->be = NULL;
}

/* Work buffers for at least T rows; grows by 1.5x so a slowly growing T reallocates
 * rarely. */
static int reserve(dc *s, const hn_backend *be, int T, hn_error *err) {
    if (T <= s->cap && s->be == be) return HN_OK;
    int cap = s->be == be ? s->cap + s->cap / 2 : 0;
    if (cap < T) cap = T;
    release(s);
    s->be = be;
    size_t rows = (size_t)cap, bytes = rows * (size_t)s->d * sizeof(float);
    int ok;
    if (s->linear) {
        s->p = be->alloc(rows * sizeof(float));
        s->dlogit = be->alloc(rows * sizeof(float));
        ok = s->p && s->dlogit;
    } else {
        s->cur = be->alloc(bytes);
        s->prev = be->alloc(bytes);
        s->dcur = be->alloc(bytes);
        s->dprev = be->alloc(bytes);
        ok = s->cur && s->prev && s->dcur && s->dprev;
    }
    if (!ok) {
        release(s);
        return hn_fail(err, "dc: out of %s memory for %d rows of work buffers", be->name, cap);
    }
    s->cap = cap;
    return HN_OK;
}

static void release_step(dc *s) {
    if (s->step_be) {
        void *bufs[] = {s->scur, s->sprev, s->sp, s->spos_dev};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) s->step_be->free(bufs[i]);
    }
    s->scur = s->sprev = s->sp = NULL;
    s->spos_dev = NULL;
    s->step_cap = 0;
    s->step_be = NULL;
}

static void dc_destroy(void *self, const hn_backend *be) {
    dc *s = self;
    if (!s) return;
    release(s);
    release_step(s);
    free(s);
}

static int dc_param_count(void *self) { return 2; }

static void set_param(hn_param *p, const char *name, int ndim, int64_t d0, int64_t d1,
                      hn_init_kind init, float a, int decay) {
    memset(p, 0, sizeof *p);
    strncpy(p->name, name, sizeof p->name - 1);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->init = init;
    p->a = a;
    p->weight_decay = decay;
}

static void dc_describe(void *self, hn_param *params) {
    dc *s = self;
    if (s->linear) {
        set_param(&params[0], "proj.weight", 2, 1, s->d, HN_INIT_NORMAL, 0.02f, 1);
        set_param(&params[1], "proj.bias", 1, 1, 0, HN_INIT_ZEROS, 0, 0);
    } else {
        set_param(&params[0], "q_proj_layer.weight", 2, s->d, s->d, HN_INIT_CUSTOM, 0, 0);
        set_param(&params[1], "k_proj_layer.weight", 2, s->d, s->d, HN_INIT_CUSTOM, 0, 0);
    }
}

/* Identity for both routing projections (the reference's initialisation). */
static void dc_init_custom(void *self, int index, float *host, size_t n, hn_rng *rng) {
    dc *s = self;
    memset(host, 0, n * sizeof(float));
    for (size_t i = 0; i < (size_t)s->d && i * s->d + i < n; i++) host[i * s->d + i] = 1.0f;
}

static void dc_bind(void *self, const hn_param *params) {
    dc *s = self;
    if (s->linear) {
        s->w = params[0].value;
        s->gw = params[0].grad;
        s->bias = params[1].value;
        s->gbias = params[1].grad;
    } else {
        s->wq = params[0].value;
        s->gq = params[0].grad;
        s->wk = params[1].value;
        s->gk = params[1].grad;
    }
}

static int dc_forward(void *self, const hn_chunker_ctx *ctx, const float *x, float *p,
                      hn_error *err) {
    dc *s = self;
    const hn_backend *be = ctx->be;
    if (!be->chunk) return hn_fail(err, "dc: backend %s has no chunking ops", be->name);
    int T = ctx->seqs->total, D = s->d;
    s->x = x;
    s->T = T;
    s->xt = ctx->x_typed.data ? ctx->x_typed : hn_tensor_f32(x, T, D);
    if (T == 0) return HN_OK;
    if (reserve(s, be, T, err)) return HN_ERR;
    if (s->linear) {
        /* s->p holds the logit, then a copy of p for backward (p is the caller's) */
        be->matmul(0, 1, T, 1, D, 1.0f, x, s->w, 0.0f, s->p);
        be->add_bias(s->p, s->bias, T, 1);
        be->chunk->sigmoid_routing_forward(p, s->p, ctx->seqs);
        be->copy(s->p, p, (size_t)T * sizeof(float));
    } else {
        hn_matmul_params k = {.a = s->xt, .b = hn_tensor_f32(s->wk, D, D),
                              .c = hn_tensor_f32(s->cur, T, D), .trans_b = 1, .alpha = 1.0f};
        hn_matmul_params q = k;
        q.b = hn_tensor_f32(s->wq, D, D);
        q.c = hn_tensor_f32(s->prev, T, D);
        if (be->matmul_t(be, &k) || be->matmul_t(be, &q)) /* current row: Wk; previous: Wq */
            return hn_fail(err, "dc: the %s backend refused a routing projection", be->name);
        be->chunk->cosine_routing_forward(p, s->cur, s->prev, D, ctx->seqs, D);
    }
    return HN_OK;
}

static int dc_backward(void *self, const hn_chunker_ctx *ctx, const float *dp, float *dx,
                       hn_error *err) {
    dc *s = self;
    const hn_backend *be = ctx->be;
    int T = ctx->seqs->total, D = s->d;
    if (T != s->T)
        return hn_fail(err, "dc: backward over %d rows follows a forward over %d", T, s->T);
    if (T == 0) return HN_OK;
    if (s->linear) {
        be->zero(s->dlogit, (size_t)T * sizeof(float));
        be->chunk->sigmoid_routing_backward(s->dlogit, dp, s->p, ctx->seqs);
        be->matmul(1, 0, 1, D, T, 1.0f, s->dlogit, s->x, 1.0f, s->gw); /* dw += dlogit^T x */
        be->bias_backward(s->gbias, s->dlogit, T, 1);
        be->matmul(0, 0, T, D, 1, 1.0f, s->dlogit, s->w, 1.0f, dx); /* dx += dlogit w */
    } else {
        /* dcur and dprev in the activation dtype (bf16 on cuda: half their buffers),
         * written whole by the routing's backward, read as they are by the products */
        hn_dtype at = be->activation_dtype(be);
        hn_tensor dcur = hn_tensor_of(s->dcur, at, T, D), dprev = hn_tensor_of(s->dprev, at, T, D);
        if (be->chunk->cosine_routing_backward_t(dcur, dprev, dp, s->cur, s->prev, D, ctx->seqs, D))
            return hn_fail(err, "dc: the %s backend refused the routing's backward", be->name);
        hn_matmul_params dk = {.a = dcur, .b = s->xt, .c = hn_tensor_f32(s->gk, D, D),
                               .trans_a = 1, .alpha = 1.0f, .beta = 1.0f}; /* dWk += dcur^T x */
        hn_matmul_params dq = dk;                                          /* dWq += dprev^T x */
        dq.a = dprev;
        dq.c = hn_tensor_f32(s->gq, D, D);
        hn_matmul_params dxk = {.a = dcur, .b = hn_tensor_f32(s->wk, D, D),
                                .c = hn_tensor_f32(dx, T, D), .alpha = 1.0f, .beta = 1.0f};
        hn_matmul_params dxq = dxk; /* dx += dcur Wk + dprev Wq */
        dxq.a = dprev;
        dxq.b = hn_tensor_f32(s->wq, D, D);
        if (be->matmul_t(be, &dk) || be->matmul_t(be, &dq) || be->matmul_t(be, &dxk) ||
            be->matmul_t(be, &dxq))
            return hn_fail(err, "dc: the %s backend refused a routing projection's backward", be->name);
    }
    return HN_OK;
}

/* Two D x D projections (2 FLOPs per multiply-accumulate) plus the cosine's three dot
 * products; linear routing is one dot product per row. */
static double dc_flops(void *self, int T) {
    dc *s = self;
    double D = s->d;
    if (s->linear) return 2.0 * T * D;
    return 4.0 * T * D * D + 6.0 * T * D;
}

/* ---------- stepping (generation) ---------- */

static size_t dc_step_state_floats(void *self) { return (size_t)((dc *)self)->d; }

static int reserve_step(dc *s, const hn_backend *be, int n, hn_error *err) {
    if (n <= s->step_cap && s->step_be == be) return HN_OK;
    release_step(s);
    s->step_be = be;
    size_t bytes = (size_t)n * (size_t)s->d * sizeof(float);
    s->scur = be->alloc(bytes);
    s->sprev = be->alloc(bytes);
    s->sp = be->alloc((size_t)n * sizeof(float));
    s->spos_dev = be->alloc((size_t)n * sizeof(int32_t));
    if (!s->scur || !s->sprev || !s->sp || !s->spos_dev) {
        release_step(s);
        return hn_fail(err, "dc: out of %s memory for stepping %d sequences", be->name, n);
    }
    s->step_cap = n;
    return HN_OK;
}

/* The state is the previous row; the new row's p is the routing of the pair (previous,
 * new), as in the parallel forward, for all n sequences in a few device ops. Sequences
 * at a negative position do not advance: their state and p are left. */
static int dc_step(void *self, const hn_backend *be, const float *x, const int32_t *bytes,
                   const int32_t *pos, float *state, float *p, int n, hn_error *err) {
    dc *s = self;
    int D = s->d;
    if (n <= 0) return HN_OK;
    if (!be->chunk || !be->chunk->cosine_routing_step)
        return hn_fail(err, "dc: backend %s has no chunking step ops", be->name);
    if (reserve_step(s, be, n, err)) return HN_ERR;
    be->upload(s->spos_dev, pos, (size_t)n * sizeof(int32_t));
    if (s->linear) {
        be->matmul(0, 1, n, 1, D, 1.0f, x, s->w, 0.0f, s->scur);
        be->add_bias(s->scur, s->bias, n, 1);
        be->chunk->sigmoid_routing_step(s->sp, s->scur, s->spos_dev, n);
    } else {
        be->matmul(0, 1, n, D, D, 1.0f, x, s->wk, 0.0f, s->scur);      /* new row: Wk */
        be->matmul(0, 1, n, D, D, 1.0f, state, s->wq, 0.0f, s->sprev); /* previous row: Wq */
        be->chunk->cosine_routing_step(s->sp, s->scur, s->sprev, s->spos_dev, n, D);
    }
    /* p of the advancing rows only: the others keep what the caller had there */
    be->chunk->copy_rows_step(p, s->sp, s->spos_dev, n, 1);
    be->chunk->copy_rows_step(state, x, s->spos_dev, n, D);
    return HN_OK;
}

static const hn_chunker_plugin plugin = {
    .abi_version = HN_CHUNKER_ABI_VERSION,
    .name = "dc",
    .version = "1.0",
    .config_keys = config_keys,
    .n_config_keys = N_KEYS,
    .differentiable = 1,
    .create = dc_create,
    .destroy = dc_destroy,
    .param_count = dc_param_count,
    .describe_params = dc_describe,
    .init_custom = dc_init_custom,
    .bind = dc_bind,
    .forward = dc_forward,
    .backward = dc_backward,
    .flops = dc_flops,
    .step_state_floats = dc_step_state_floats,
    .step = dc_step,
};

HN_PLUGIN_CHUNKER(&plugin, 2)
