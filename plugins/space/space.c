/* The "space" chunker: SpaceByte's rule (Slagle 2024), the H-Net (space) baseline.
 *
 * A byte is spacelike when it is not an ASCII letter or digit and not a UTF-8
 * continuation byte (0x80-0xBF) -- SpaceByte's definition, which the H-Net paper reuses
 * ("the same definition of spacelike as the original SpaceByte paper", Section 3.2;
 * "space-like delimiters (e.g. /, ], :)", Appendix A.1.3). So spaces, punctuation,
 * control bytes and UTF-8 leading bytes (0xC0-0xFF) are spacelike; values outside
 * 0..255 (special tokens) count as spacelike too. A boundary (p = 1) sits at every
 * sequence start and at each spacelike byte whose predecessor is not spacelike: the
 * row that closes a word carries it into the main network, as SpaceByte applies its
 * global blocks after such bytes. Elsewhere p = 0; the rule has no gradient.
 *
 * Keys smoothing and ste are the stage's dechunking switches (both no-ops for p in
 * {0, 1}; off by default, as SpaceByte has neither). */
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"

typedef struct space {
    int cap;       /* rows of the host buffers */
    int32_t *bytes; /* host copy of ctx->bytes */
    float *p;       /* host p */
} space;

static const hn_config_key config_keys[] = {
    {"smoothing", "boolean", "false", "EMA smoothing of the dechunked rows (Eq. 5)"},
    {"ste", "boolean", "false", "straight-through estimator on the confidence (Eq. 7)"},
};

static int spacelike(int32_t b) {
    if (b < 0 || b > 255) return 1;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')) return 0;
    return !(b >= 0x80 && b <= 0xBF);
}

static int sp_create(const hn_chunker_args *args, void **self, hn_error *err) {
    *self = NULL;
    const char *names[] = {"smoothing", "ste"};
    for (int i = 0; i < 2; i++) {
        if (hn_config_kind_of(args->cfg, names[i]) != HN_CONFIG_ABSENT &&
            hn_config_bool(args->cfg, names[i]) < 0)
            return hn_fail(err, "space.%s must be true or false", names[i]);
    }
    space *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "space: out of host memory");
    *self = s;
    return HN_OK;
}

static void sp_destroy(void *self, const hn_backend *be) {
    space *s = self;
    if (!s) return;
    free(s->bytes);
    free(s->p);
    free(s);
}

/* Host buffers for at least T rows, grown by 1.5x. */
static int reserve(space *s, int T, hn_error *err) {
    if (T <= s->cap) return HN_OK;
    int cap = s->cap + s->cap / 2;
    if (cap < T) cap = T;
    int32_t *b = realloc(s->bytes, (size_t)cap * sizeof *b);
    if (b) s->bytes = b;
    float *p = realloc(s->p, (size_t)cap * sizeof *p);
    if (p) s->p = p;
    if (!b || !p) return hn_fail(err, "space: out of host memory for %d rows", cap);
    s->cap = cap;
    return HN_OK;
}

static int sp_param_count(void *self) { return 0; }
static void sp_describe(void *self, hn_param *params) {}
static void sp_bind(void *self, const hn_param *params) {}

static int sp_forward(void *self, const hn_chunker_ctx *ctx, const float *x, float *p,
                      hn_error *err) {
    space *s = self;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total;
    if (T == 0) return HN_OK;
    if (!ctx->bytes) return hn_fail(err, "space: the stage passed no bytes to chunk");
    if (reserve(s, T, err)) return HN_ERR;
    /* download works on every backend (a plain copy on cpu) */
    ctx->be->download(s->bytes, ctx->bytes, (size_t)T * sizeof(int32_t));
    for (int i = 0; i < seqs->n; i++) {
        int t0 = seqs->offsets[i], t1 = seqs->offsets[i + 1];
        for (int t = t0; t < t1; t++)
            s->p[t] = t == t0 || (spacelike(s->bytes[t]) && !spacelike(s->bytes[t - 1]));
    }
    ctx->be->upload(p, s->p, (size_t)T * sizeof(float));
    return HN_OK;
}

static int sp_backward(void *self, const hn_chunker_ctx *ctx, const float *dp, float *dx,
                       hn_error *err) {
    return HN_OK; /* a hard rule: no gradient */
}

static double sp_flops(void *self, int T) { return 0; }

/* State: the previous byte (as a float). A host loop with one transfer per sequence:
 * correct on a device, not fast. */
static size_t sp_step_state_floats(void *self) { return 1; }

static int sp_step(void *self, const hn_backend *be, const float *x, const int32_t *bytes,
                   const int32_t *pos, float *state, float *p, int n, hn_error *err) {
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0) continue; /* not advancing now */
        float prev;
        be->download(&prev, state + i, sizeof prev);
        float v = pos[i] == 0 || (spacelike(bytes[i]) && !spacelike((int32_t)prev));
        float b = (float)bytes[i];
        be->upload(p + i, &v, sizeof v);
        be->upload(state + i, &b, sizeof b);
    }
    return HN_OK;
}

static const hn_chunker_plugin plugin = {
    .abi_version = HN_CHUNKER_ABI_VERSION,
    .name = "space",
    .version = "1.0",
    .config_keys = config_keys,
    .n_config_keys = 2,
    .differentiable = 0,
    .create = sp_create,
    .destroy = sp_destroy,
    .param_count = sp_param_count,
    .describe_params = sp_describe,
    .init_custom = NULL,
    .bind = sp_bind,
    .forward = sp_forward,
    .backward = sp_backward,
    .flops = sp_flops,
    .step_state_floats = sp_step_state_floats,
    .step = sp_step,
};

HN_PLUGIN_CHUNKER(&plugin, 1)
