/* The "pool" chunker: fixed-width pooling (Hourglass / MegaByte style). p = 1 at every
 * position within its sequence that is a multiple of k (so each sequence starts with a
 * boundary), 0 elsewhere; the rule has no gradient.
 *
 * Keys smoothing and ste (off by default) are accepted as for "space": the stage reads
 * them from whichever chunker it has, and for p in {0, 1} both are no-ops. */
#include <math.h>
#include <stdlib.h>

#include "plugin/plugin.h"

typedef struct pool {
    int k;
    int cap;  /* rows of the host buffer */
    float *p; /* host p */
} pool;

static const hn_config_key config_keys[] = {
    {"k", "integer", NULL, "chunk width: a boundary every k positions (k >= 1)"},
    {"smoothing", "boolean", "false", "EMA smoothing of the dechunked rows (Eq. 5)"},
    {"ste", "boolean", "false", "straight-through estimator on the confidence (Eq. 7)"},
};

static int po_create(const hn_chunker_args *args, void **self, hn_error *err) {
    *self = NULL;
    if (hn_config_kind_of(args->cfg, "k") == HN_CONFIG_ABSENT)
        return hn_fail(err, "pool.k is required (the chunk width)");
    double k = hn_config_number(args->cfg, "k");
    if (!(k == floor(k) && k >= 1 && k <= 1e9))
        return hn_fail(err, "pool.k must be an integer >= 1");
    const char *names[] = {"smoothing", "ste"};
    for (int i = 0; i < 2; i++) {
        if (hn_config_kind_of(args->cfg, names[i]) != HN_CONFIG_ABSENT &&
            hn_config_bool(args->cfg, names[i]) < 0)
            return hn_fail(err, "pool.%s must be true or false", names[i]);
    }
    pool *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "pool: out of host memory");
    s->k = (int)k;
    *self = s;
    return HN_OK;
}

static void po_destroy(void *self, const hn_backend *be) {
    pool *s = self;
    if (!s) return;
    free(s->p);
    free(s);
}

static int po_param_count(void *self) { return 0; }
static void po_describe(void *self, hn_param *params) {}
static void po_bind(void *self, const hn_param *params) {}

static int po_forward(void *self, const hn_chunker_ctx *ctx, const float *x, float *p,
                      hn_error *err) {
    pool *s = self;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total;
    if (T == 0) return HN_OK;
    if (T > s->cap) { /* grown by 1.5x */
        int cap = s->cap + s->cap / 2;
        if (cap < T) cap = T;
        float *np = realloc(s->p, (size_t)cap * sizeof *np);
        if (!np) return hn_fail(err, "pool: out of host memory for %d rows", cap);
        s->p = np;
        s->cap = cap;
    }
    for (int i = 0; i < seqs->n; i++) {
        int t0 = seqs->offsets[i], t1 = seqs->offsets[i + 1];
        for (int t = t0; t < t1; t++) s->p[t] = (t - t0) % s->k == 0;
    }
    ctx->be->upload(p, s->p, (size_t)T * sizeof(float));
    return HN_OK;
}

static int po_backward(void *self, const hn_chunker_ctx *ctx, const float *dp, float *dx,
                       hn_error *err) {
    return HN_OK; /* a hard rule: no gradient */
}

static double po_flops(void *self, int T) { return 0; }

/* Stateless: the rule needs only the position. */
static size_t po_step_state_floats(void *self) { return 0; }

static int po_step(void *self, const hn_backend *be, const float *x, const int32_t *bytes,
                   const int32_t *pos, float *state, float *p, int n, hn_error *err) {
    pool *s = self;
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0) continue; /* not advancing now */
        float v = pos[i] % s->k == 0;
        be->upload(p + i, &v, sizeof v);
    }
    return HN_OK;
}

static const hn_chunker_plugin plugin = {
    .abi_version = HN_CHUNKER_ABI_VERSION,
    .name = "pool",
    .version = "1.0",
    .config_keys = config_keys,
    .n_config_keys = 3,
    .differentiable = 0,
    .create = po_create,
    .destroy = po_destroy,
    .param_count = po_param_count,
    .describe_params = po_describe,
    .init_custom = NULL,
    .bind = po_bind,
    .forward = po_forward,
    .backward = po_backward,
    .flops = po_flops,
    .step_state_floats = po_step_state_floats,
    .step = po_step,
};

HN_PLUGIN_CHUNKER(&plugin, 1)
