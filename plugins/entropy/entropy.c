/* The "entropy" chunker: BLT's entropy patching (Pagnoni et al. 2024) as an H-Net
 * chunker. A small byte LM trained by hnet (key `model`: its checkpoint) gives the
 * entropy e_t of the byte after each row t; a row opens a chunk where its score passes
 * a threshold (threshold.h: `rule = "global"`, s_t = e_t, or `"relative"`,
 * s_t = e_t - e_{t-1}). BLT starts a patch at the hard-to-predict byte x_{t+1}; here
 * the row before it, t, opens the chunk, because a selected row's main-network output
 * is what predicts the bytes after it (as the row that closes a word does for
 * SpaceByte, space.c).
 *
 * The threshold meets a target compression (`ratio`, bytes per chunk) by calibration
 * on training batches. A batch's own calibration is the threshold midway between the
 * scores that leave T/ratio chunks open in it (threshold.h). With `threshold = null`
 * (the default) and `calibrate = "first"`, the threshold is the mean of the own
 * calibrations of the first CALIBRATION_STEPS training batches, then fixed (BLT's one
 * global threshold; one batch of a few KB of real text is too small a sample);
 * `"online"` starts from the first and moves it after every later training step 10% of
 * the way to that batch's own calibration (a running average that follows drifting
 * data). Only training steps calibrate: a training step's backward is where it happens,
 * and evaluation runs no backward. A forward before any training step (the step-0
 * validation) uses the own calibration of the first batch it sees, provisionally. The
 * threshold and its count of batches are a parameter of the model (no gradient, no
 * weight decay: the optimizer never changes it), so checkpoints carry them and a resumed
 * run, `hnet sample` and `hnet chunks` use the threshold training settled on. A number
 * for `threshold` fixes it and calibrates nothing.
 *
 * The entropy model is frozen (its weights are no parameters of this model) and the
 * boundaries are a hard rule: p in {0, 1}, no gradient; the stage downsamples (select,
 * mean or max) and upsamples as for space and pool. It runs on the cpu backend whatever
 * the model's device, and only at stage 0 (it reads bytes; deeper stages see chunks).
 * Its FLOPs count as the chunker's. Generation steps it incrementally (streams.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "streams.h"
#include "threshold.h"

#define ONLINE_RATE 0.1f
#define CALIBRATION_STEPS 16
#define PROVISIONAL (-1.0f) /* the count of a threshold a forward set before any training step */

typedef struct entropy {
    hn_byte_lm *lm;
    entropy_rule rule;
    double ratio;
    int online;
    int fixed;         /* a threshold given: no parameter, no calibration */
    float fixed_theta;
    float *theta;      /* device [2]: threshold, training batches it was calibrated on (0: none,
                          PROVISIONAL: set by a forward); NULL when fixed */
    int cap;           /* rows of the host buffers */
    int32_t *bytes;
    float *e, *s, *p, *work;
    int last_T, last_n; /* the last forward's packing (calibration in backward) */
    int32_t *last_offsets;
    entropy_streams streams;
} entropy;

static const hn_config_key config_keys[] = {
    {"model", "string", NULL, "checkpoint of the entropy model: an isotropic byte LM trained by hnet "
                              "(file or run folder; relative paths as checkpoint.dir)"},
    {"rule", "string", "\"global\"", "\"global\": entropy above the threshold; \"relative\": a rise of "
                                     "the entropy over the previous byte's above it"},
    {"ratio", "number", "6", "target bytes per chunk the threshold is calibrated to"},
    {"threshold", "number", "null", "a fixed threshold in bits (null: calibrated to the ratio)"},
    {"calibrate", "string", "\"first\"", "\"first\": the mean over the first 16 training batches, "
                                         "then fixed; \"online\": moved toward each training batch's"},
    {"smoothing", "boolean", "false", "EMA smoothing of the dechunked rows (Eq. 5)"},
    {"ste", "boolean", "false", "straight-through estimator on the confidence (Eq. 7)"},
};
#define N_KEYS (int)(sizeof config_keys / sizeof config_keys[0])

static void en_destroy(void *self, const hn_backend *be) {
    entropy *s = self;
    if (!s) return;
    entropy_streams_close(&s->streams);
    hn_byte_lm_close(s->lm);
    free(s->bytes), free(s->e), free(s->s), free(s->p), free(s->work), free(s->last_offsets);
    free(s);
}

static int read_settings(entropy *s, const hn_chunker_args *args, hn_error *err) {
    const hn_config *c = args->cfg;
    const char *rule = hn_config_string(c, "rule"), *cal = hn_config_string(c, "calibrate");
    if (!rule || (strcmp(rule, "global") && strcmp(rule, "relative")))
        return hn_fail(err, "entropy.rule must be \"global\" or \"relative\"");
    s->rule = strcmp(rule, "global") ? ENTROPY_RELATIVE : ENTROPY_GLOBAL;
    if (!cal || (strcmp(cal, "first") && strcmp(cal, "online")))
        return hn_fail(err, "entropy.calibrate must be \"first\" or \"online\"");
    s->online = !strcmp(cal, "online");
    s->ratio = hn_config_number(c, "ratio");
    if (!(s->ratio >= 1 && isfinite(s->ratio)))
        return hn_fail(err, "entropy.ratio must be a number >= 1 (bytes per chunk)");
    hn_config_kind k = hn_config_kind_of(c, "threshold");
    if (k == HN_CONFIG_NUMBER) {
        double t = hn_config_number(c, "threshold");
        if (!isfinite(t)) return hn_fail(err, "entropy.threshold must be a finite number of bits, or null");
        s->fixed = 1, s->fixed_theta = (float)t;
    } else if (k != HN_CONFIG_NULL && k != HN_CONFIG_ABSENT) {
        return hn_fail(err, "entropy.threshold must be a number of bits, or null (calibrated)");
    }
    if (s->fixed && s->online)
        return hn_fail(err, "entropy: calibrate = \"online\" moves the threshold; give no threshold with it");
    const char *names[] = {"smoothing", "ste"};
    for (int i = 0; i < 2; i++)
        if (hn_config_kind_of(c, names[i]) != HN_CONFIG_ABSENT && hn_config_bool(c, names[i]) < 0)
            return hn_fail(err, "entropy.%s must be true or false", names[i]);
    return HN_OK;
}

static int en_create(const hn_chunker_args *args, void **self, hn_error *err) {
    *self = NULL;
    if (args->stage != 0)
        return hn_fail(err, "entropy: only the outermost stage (0) can chunk by byte entropy; stage %d "
                            "sees chunks, not bytes: an entropy-chunked H-Net has one stage", args->stage);
    entropy *s = calloc(1, sizeof *s);
    if (!s) return hn_fail(err, "entropy: out of host memory");
    const char *path = hn_config_string(args->cfg, "model");
    if (read_settings(s, args, err)) goto fail;
    if (!path || !path[0]) {
        hn_fail(err, "entropy.model must be the path of the entropy model's checkpoint");
        goto fail;
    }
    if (hn_byte_lm_open(path, &s->lm, err)) goto fail;
    *self = s;
    return HN_OK;
fail:
    en_destroy(s, NULL);
    return HN_ERR;
}

static int en_param_count(void *self) { return ((entropy *)self)->fixed ? 0 : 1; }

static void en_describe(void *self, hn_param *params) {
    if (((entropy *)self)->fixed) return;
    params[0] = (hn_param){.ndim = 1, .shape = {2}, .init = HN_INIT_ZEROS, .weight_decay = 0};
    snprintf(params[0].name, sizeof params[0].name, "entropy_threshold");
}

static void en_bind(void *self, const hn_param *params) {
    entropy *s = self;
    s->theta = params && !s->fixed ? params[0].value : NULL;
}

static int reserve(entropy *s, int T, int n, hn_error *err) {
    if (T <= s->cap && n + 1 <= s->cap) return HN_OK;
    int cap = s->cap + s->cap / 2;
    if (cap < T) cap = T;
    if (cap < n + 1) cap = n + 1;
    free(s->bytes), free(s->e), free(s->s), free(s->p), free(s->work), free(s->last_offsets);
    s->bytes = malloc((size_t)cap * sizeof *s->bytes);
    s->last_offsets = malloc((size_t)cap * sizeof *s->last_offsets);
    s->e = malloc((size_t)cap * sizeof *s->e);
    s->s = malloc((size_t)cap * sizeof *s->s);
    s->p = malloc((size_t)cap * sizeof *s->p);
    s->work = malloc((size_t)cap * sizeof *s->work);
    s->cap = s->bytes && s->last_offsets && s->e && s->s && s->p && s->work ? cap : 0;
    return s->cap ? HN_OK : hn_fail(err, "entropy: out of host memory for %d rows", cap);
}

/* The threshold in force; before anything calibrated it, this batch's own, kept
 * provisionally (so every validation batch of step 0 shares one threshold). */
static float threshold(entropy *s, const hn_backend *be, const int32_t *offsets, int n) {
    if (s->fixed) return s->fixed_theta;
    float th[2];
    be->download(th, s->theta, sizeof th);
    if (th[1] == 0) {
        th[0] = entropy_calibrate(s->s, offsets, n, s->ratio, s->work);
        th[1] = PROVISIONAL;
        be->upload(s->theta, th, sizeof th);
    }
    return th[0];
}

static int en_forward(void *self, const hn_chunker_ctx *ctx, const float *x, float *p, hn_error *err) {
    entropy *s = self;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total, n = seqs->n;
    if (T == 0) return HN_OK;
    if (!ctx->bytes) return hn_fail(err, "entropy: the stage passed no bytes to chunk");
    if (reserve(s, T, n, err)) return HN_ERR;
    ctx->be->download(s->bytes, ctx->bytes, (size_t)T * sizeof(int32_t));
    if (hn_byte_lm_entropy(s->lm, s->bytes, seqs->offsets, n, s->e, err)) return HN_ERR;
    entropy_scores(s->rule, s->e, seqs->offsets, n, s->s);
    float th = threshold(s, ctx->be, seqs->offsets, n);
    for (int i = 0; i < n; i++)
        for (int t = seqs->offsets[i]; t < seqs->offsets[i + 1]; t++)
            s->p[t] = t == seqs->offsets[i] || s->s[t] > th;
    ctx->be->upload(p, s->p, (size_t)T * sizeof(float));
    memcpy(s->last_offsets, seqs->offsets, (size_t)(n + 1) * sizeof *s->last_offsets);
    s->last_T = T, s->last_n = n;
    return HN_OK;
}

/* No gradient (a hard rule). A training step's backward is where the threshold is
 * calibrated, on the batch of the forward just before it: only training batches reach
 * it. */
static int en_backward(void *self, const hn_chunker_ctx *ctx, const float *dp, float *dx, hn_error *err) {
    entropy *s = self;
    if (!s->theta || s->last_T == 0) return HN_OK;
    float th[2];
    ctx->be->download(th, s->theta, sizeof th);
    int k = th[1] > 0 ? (int)th[1] : 0; /* training batches calibrated on so far */
    if (!s->online && k >= CALIBRATION_STEPS) return HN_OK;
    float q = entropy_calibrate(s->s, s->last_offsets, s->last_n, s->ratio, s->work);
    if (k == 0) th[0] = q;
    else if (s->online) th[0] += ONLINE_RATE * (q - th[0]);
    else th[0] += (q - th[0]) / (float)(k + 1); /* the running mean */
    th[1] = (float)(k < CALIBRATION_STEPS ? k + 1 : k);
    ctx->be->upload(s->theta, th, sizeof th);
    return HN_OK;
}

static double en_flops(void *self, int T) { return hn_byte_lm_flops(((entropy *)self)->lm, T); }

/* State per sequence: the previous row's entropy (the relative rule's e_{t-1}). */
static size_t en_step_state_floats(void *self) { return 1; }

static int en_step(void *self, const hn_backend *be, const float *x, const int32_t *bytes,
                   const int32_t *pos, float *state, float *p, int n, hn_error *err) {
    entropy *s = self;
    float th = s->fixed_theta;
    if (!s->fixed) {
        float t2[2];
        be->download(t2, s->theta, sizeof t2);
        if (t2[1] == 0)
            return hn_fail(err, "entropy: the threshold was never calibrated (the model has seen no "
                                "batch); generate from a trained checkpoint, or give a threshold");
        th = t2[0];
    }
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0) continue; /* not advancing now */
        hn_lm_stream *st;
        if (entropy_stream_get(&s->streams, s->lm, state + i, pos[i] == 0, &st, err)) return HN_ERR;
        float e, prev, v;
        if (hn_lm_stream_step(st, bytes[i], &e, err)) return HN_ERR;
        be->download(&prev, state + i, sizeof prev);
        float score = s->rule == ENTROPY_GLOBAL ? e : e - prev;
        v = pos[i] == 0 || score > th;
        be->upload(p + i, &v, sizeof v);
        be->upload(state + i, &e, sizeof e);
    }
    return HN_OK;
}

static const hn_chunker_plugin plugin = {
    .abi_version = HN_CHUNKER_ABI_VERSION,
    .name = "entropy",
    .version = "1.0",
    .config_keys = config_keys,
    .n_config_keys = N_KEYS,
    .differentiable = 0,
    .create = en_create,
    .destroy = en_destroy,
    .param_count = en_param_count,
    .describe_params = en_describe,
    .init_custom = NULL,
    .bind = en_bind,
    .forward = en_forward,
    .backward = en_backward,
    .flops = en_flops,
    .step_state_floats = en_step_state_floats,
    .step = en_step,
};

HN_PLUGIN_CHUNKER(&plugin, 3)
