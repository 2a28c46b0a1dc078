#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "data/corpus.h"
#include "identity/resume_check.h"
#include "model/model.h"
#include "model/model_check.h"
#include "model/sublayers.h"
#include "results/location.h"
#include "results/store.h"
#include "train/batches.h"
#include "train/boundary_score.h"
#include "train/checkpoint.h"
#include "train/data_stream.h"
#include "train/grad_overlap.h"
#include "train/init.h"
#include "train/lr_modulation.h"
#include "train/progress.h"
#include "train/schedule.h"
#include "train/step_stats.h"

#define LN2 0.6931471805599453

/* The settings of a run, read once from the resolved config. */
typedef struct run_settings {
    const char *name;
    uint64_t seed;
    int seq_len, batch, eval_batch;
    long steps, eval_every, eval_bytes, log_every;
    double beta1, beta2, eps, weight_decay, grad_clip;
    int zero; /* train.zero: ZeRO-1, the optimizer state sharded over the ranks */
    const char *db_path, *device;
    char db_buf[4096]; /* log.db resolved (results/location.h) */
} run_settings;

static const cJSON *section(const cJSON *cfg, const char *key) {
    return cJSON_GetObjectItem(cfg, key);
}
static double num(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}
static const char *str(const cJSON *o, const char *key, const char *fallback) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

static int read_settings(run_settings *s, const cJSON *cfg, const hn_train_options *opt,
                         hn_error *err) {
    const cJSON *train = section(cfg, "train"), *eval = section(cfg, "eval");
    const cJSON *log = section(cfg, "log"), *data = section(cfg, "data");
    s->name = str(cfg, "name", "run");
    s->seed = (uint64_t)num(cfg, "seed", 1);
    s->seq_len = (int)num(data, "seq_len", 512);
    s->batch = (int)num(train, "batch", 8);
    s->steps = (long)num(train, "steps", 200);
    s->beta1 = num(train, "beta1", 0.9);
    s->beta2 = num(train, "beta2", 0.95);
    s->eps = num(train, "eps", 1e-8);
    s->weight_decay = num(train, "weight_decay", 0.1);
    s->grad_clip = num(train, "grad_clip", 1.0);
    s->zero = (int)num(train, "zero", 0);
    s->eval_every = (long)num(eval, "every", 50);
    s->eval_bytes = (long)num(eval, "bytes", 65536);
    s->eval_batch = (int)num(eval, "batch", 8);
    s->log_every = (long)num(log, "every", 10);
    s->db_path = opt->db_path;
    if (!s->db_path) {
        if (hn_results_config_path(cfg, str(log, "db", NULL), s->db_buf, sizeof s->db_buf, err))
            return HN_ERR;
        s->db_path = s->db_buf;
    }
    s->device = str(cfg, "backend", "cpu");
    if (s->seq_len < 2) return hn_fail(err, "data.seq_len: expected at least 2, found %d", s->seq_len);
    if (s->batch < 1) return hn_fail(err, "train.batch: expected at least 1, found %d", s->batch);
    if (s->steps < 1) return hn_fail(err, "train.steps: expected at least 1, found %ld", s->steps);
    if (s->eval_every < 1) s->eval_every = s->steps;
    if (s->log_every < 1) s->log_every = 1;
    if (s->eval_batch < 1) s->eval_batch = 1;
    return HN_OK;
}

#define MAX_SCORED_STAGES 4

/* Scores, for the n validation windows just evaluated, where each stage's chunks open
 * against the corpus's word starts (synthetic corpus only). A byte opens a stage-s
 * chunk when it is a boundary at stage 0 and its row is a boundary at every stage
 * below s: the innermost chunks are what the main network sees. sc has one score per
 * stage. */
static void score_boundaries(const hn_model *m, const hn_corpus *c, long first, int n,
                             int seq_len, hn_boundary_score *sc) {
    if (!c->word_start || m->n_stages == 0) return;
    int32_t *open = malloc((size_t)seq_len * sizeof *open), *row = malloc((size_t)seq_len * sizeof *row);
    if (!open || !row) {
        free(open);
        free(row);
        return;
    }
    for (int w = 0; w < n; w++) {
        size_t base = c->split + (size_t)(first + w) * (size_t)seq_len;
        for (int t = 0; t < seq_len; t++) row[t] = w * seq_len + t;
        for (int t = 0; t < seq_len; t++) open[t] = 1;
        const hn_stage *st = &m->backbone;
        for (int s = 0; s < m->n_stages && s < MAX_SCORED_STAGES; s++, st = st->inner) {
            for (int t = 0; t < seq_len; t++) {
                if (!open[t]) continue;
                open[t] = st->b_h[row[t]] != 0;
                row[t] = st->chunk_h[row[t]]; /* its row one stage in, where it opens one */
            }
            hn_boundary_score_add(&sc[s], open, c->word_start + base, seq_len);
        }
    }
    free(open);
    free(row);
}

/* One validation forward of n windows of len positions: its NLL and innermost rows. */
static int evaluate_batch(hn_model *m, const int32_t *tok, const int32_t *tgt, int n, int len,
                          double *nats, double *innermost, hn_error *err) {
    hn_loss loss;
    if (hn_model_forward(m, tok, tgt, n, len, &loss, err)) return HN_ERR;
    *nats += loss.ce_nats;
    hn_stage_stats st[16];
    int S = hn_model_stage_stats(m, st, 16);
    *innermost += S ? (double)st[S - 1].inner_len : (double)loss.count;
    return HN_OK;
}

/* The sums of a validation pass, as one vector for the ranks to add up: nats, bytes,
 * innermost chunks, then the six counts of each stage's boundary score. */
#define VALID_SUMS (3 + 6 * MAX_SCORED_STAGES)
static void pack_scores(double *v, const hn_boundary_score *sc) {
    for (int s = 0; s < MAX_SCORED_STAGES; s++, v += 6) {
        v[0] = (double)sc[s].boundaries;
        v[1] = (double)sc[s].aligned_boundaries;
        v[2] = (double)sc[s].words;
        v[3] = (double)sc[s].words_found;
        v[4] = (double)sc[s].positions;
        v[5] = (double)sc[s].aligned_positions;
    }
}
static void unpack_scores(hn_boundary_score *sc, const double *v) {
    for (int s = 0; s < MAX_SCORED_STAGES; s++, v += 6)
        sc[s] = (hn_boundary_score){.boundaries = (long)v[0], .aligned_boundaries = (long)v[1],
                                    .words = (long)v[2], .words_found = (long)v[3],
                                    .positions = (long)v[4], .aligned_positions = (long)v[5]};
}

/* Validation BPB over the fixed validation windows (the same bytes for byte- and
 * token-level models: the NLL of every position in bits over the bytes they stand for),
 * and bytes per innermost chunk. The batches of windows, then a token model's last,
 * shorter window as one batch more, are dealt to the ranks in turn (a world of one takes
 * them all) and the sums added up, so every rank gets the BPB of the whole validation
 * set. */
static int evaluate(hn_model *m, const hn_data_stream *d, const run_settings *s, hn_dist *dist,
                    int32_t *tok, int32_t *tgt, double *bpb, double *bpic, hn_boundary_score *sc,
                    hn_error *err) {
    memset(sc, 0, MAX_SCORED_STAGES * sizeof *sc);
    double nats = 0, bytes = 0, innermost = 0;
    long batch = 0;
    int rc = HN_OK;
    /* the ranks run different batches here: no sums over them inside a forward */
    const hn_batch_group *group = m->group;
    m->group = NULL;
    int was = m->no_grad;
    m->no_grad = 1; /* inference forwards: the same losses, nothing kept for a backward */
    for (long w = 0; w < d->valid_windows && !rc; w += s->eval_batch, batch++) {
        if (batch % dist->world != dist->rank) continue;
        int n = (int)(d->valid_windows - w < s->eval_batch ? d->valid_windows - w : s->eval_batch);
        bytes += (double)hn_data_stream_valid(d, w, n, tok, tgt);
        rc = evaluate_batch(m, tok, tgt, n, d->seq_len, &nats, &innermost, err);
        if (!rc && !hn_data_stream_is_tokens(d)) score_boundaries(m, d->corpus, w, n, d->seq_len, sc);
    }
    if (!rc && d->valid_tail && batch % dist->world == dist->rank) {
        bytes += (double)hn_data_stream_valid_tail(d, tok, tgt);
        rc = evaluate_batch(m, tok, tgt, 1, d->valid_tail, &nats, &innermost, err);
    }
    m->group = group;
    m->no_grad = was;
    if (rc) return HN_ERR;
    double v[VALID_SUMS] = {nats, bytes, innermost};
    pack_scores(v + 3, sc);
    if (hn_dist_sum_f64(dist, v, VALID_SUMS, err)) return hn_fail_prefix(err, "validation");
    unpack_scores(sc, v + 3);
    /* v[1] is d->valid_bytes: each byte of the span is one window's target, once */
    *bpb = v[0] / v[1] / LN2;
    *bpic = v[1] / v[2];
    return HN_OK;
}

/* The global gradient norm of the last backward (after the all-reduce: every rank has the
 * whole gradient). */
static double gradient_norm(const hn_model *m) {
    return sqrt(m->be->sum_squares(m->params.grads, m->params.total));
}

/* ZeRO-1: each rank holds the reduced gradient of its shard alone; the squares of the
 * shards are summed over the ranks. */
static int sharded_gradient_norm(const hn_model *m, hn_dist *d, size_t off, size_t len,
                                 double *norm, hn_error *err) {
    double ss = len ? m->be->sum_squares(m->params.grads + off, len) : 0;
    if (hn_dist_sum_f64(d, &ss, 1, err)) return HN_ERR;
    *norm = sqrt(ss);
    return HN_OK;
}

/* The failure of a non-finite gradient norm (the host path finds it before the update,
 * the device path a step late, its update skipped on the device): one message for both. */
static int norm_failure(double norm, long step, double lr, hn_error *err) {
    return hn_fail(err, "the gradient norm became %s at step %ld (lr %.3g); the run stopped and "
                        "is recorded as failed, its weights untouched — try a lower train.lr",
                   isnan(norm) ? "NaN" : "infinite", step, lr);
}

/* Clips by the global norm and applies AdamW to the parameters in [lo, hi) of the flat
 * array (the whole of it, or this rank's ZeRO-1 shard), whose moments opt_m / opt_v hold
 * from lo on: each parameter cut to the range keeps its own learning rate (times its
 * stage's multiplier), weight decay and frozen group, element by element as unsharded.
 * clip (device, or NULL): the device path's clip of this update (step_stats.h), in place
 * of norm. */
static void optimizer_step(hn_model *m, float *opt_m, float *opt_v, size_t lo, size_t hi, long t,
                           double lr, double norm, const hn_grad_clip *clip, const double *mult,
                           const hn_init *init, const run_settings *s) {
    const hn_backend *be = m->be;
    hn_param_store *ps = &m->params;
    float scale = hn_grad_clip_scale(norm, s->grad_clip);
    float bc1 = (float)(1 - pow(s->beta1, (double)t)), bc2 = (float)(1 - pow(s->beta2, (double)t));
    for (int i = 0; i < ps->n; i++) {
        hn_param_entry *e = &ps->entries[i];
        if (e->group >= 0 && e->group < HN_INIT_MAX_GROUPS && init->frozen[e->group]) continue;
        size_t a = e->offset > lo ? e->offset : lo, end = e->offset + e->numel;
        size_t b = end < hi ? end : hi;
        if (a >= b) continue;
        float wd = e->p.weight_decay ? (float)s->weight_decay : 0.0f;
        size_t in = a - e->offset; /* where the range starts inside this parameter */
        if (clip)
            be->adamw_clipped(e->p.value + in, e->p.grad + in, opt_m + (a - lo), opt_v + (a - lo),
                              b - a, (float)(lr * mult[e->group]), (float)s->beta1,
                              (float)s->beta2, (float)s->eps, wd, bc1, bc2, clip);
        else
            be->adamw(e->p.value + in, e->p.grad + in, opt_m + (a - lo), opt_v + (a - lo), b - a,
                      (float)(lr * mult[e->group]),
                      (float)s->beta1, (float)s->beta2, (float)s->eps, wd, bc1, bc2, scale);
    }
    hn_params_zero_grads(ps);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything a run holds, released in one place. */
typedef struct run_state {
    hn_corpus corpus;
    hn_data_stream data;
    hn_model model;
    hn_results *db;  /* rank 0's alone (NULL on the other ranks of a data-parallel run) */
    int64_t run_id;
    char run_uuid[33], config_hash[17]; /* the run's identity, recorded in its checkpoints */
    float *opt_m, *opt_v;  /* AdamW's moments: of the whole flat array, or of the shard */
    int zero;              /* ZeRO-1: this rank keeps and updates [shard_off, + shard_len) */
    size_t shard_off, shard_len;
    int32_t *tok, *tgt;
    /* data parallel (a world of one: rank 0, the whole batch, share 1) */
    hn_dist *dist;
    int lead;              /* rank 0: writes results.db, checkpoints, the progress line */
    int first, count;      /* this rank's sequences of each global batch */
    double share;          /* count / train.batch: its weight in every batch mean */
    hn_batch_group group;  /* the ranks, for the model's ratio loss */
    hn_grad_overlap overlap; /* the gradient's all-reduce during the backward (or off) */
    int agreed_failure;    /* the failure is every rank's (computed from shared numbers) */
    hn_step_stats stats;   /* HNET_STEP_STATS=device: the norm on the device, read late */
} run_state;

/* Only rank 0 records; the other ranks compute the same numbers and keep quiet. */
static void record(run_state *r, long step, long bytes, const char *split, const char *name,
                   double value) {
    if (r->db) hn_results_log(r->db, r->run_id, step, bytes, split, name, value);
}
static int flush(run_state *r, hn_error *err) {
    return r->db ? hn_results_flush(r->db, err) : HN_OK;
}

/* Chunking metrics of the last training forward, per stage (names stage<s>.<metric>),
 * and the weighted auxiliary loss averaged over the logging interval. */
static void log_stage_metrics(run_state *r, long step, long bytes, double aux) {
    hn_stage_stats st[16];
    int S = hn_model_stage_stats(&r->model, st, 16);
    /* every auxiliary loss: the weighted ratio losses and any layer's (MoE balance) */
    if (S > 0 || aux != 0) record(r, step, bytes, "train", "aux_loss", aux);
    for (int s = 0; s < S; s++) {
        char name[64];
        snprintf(name, sizeof name, "stage%d.compression", s);
        record(r, step, bytes, "train", name, st[s].compression);
        snprintf(name, sizeof name, "stage%d.mean_p", s);
        record(r, step, bytes, "train", name, st[s].mean_p);
        snprintf(name, sizeof name, "stage%d.ratio_loss", s);
        record(r, step, bytes, "train", name, st[s].ratio_loss);
    }
}

/* Metrics of the sublayers that report them (MoE: tokens per expert, dropped tokens,
 * balance loss), named by their parameter prefix: backbone.layers.1.mlp.dropped */
typedef struct metric_sink {
    run_state *r;
    long step, bytes;
} metric_sink;
static void log_one_metric(const char *name, double value, void *ctx) {
    metric_sink *m = ctx;
    record(m->r, m->step, m->bytes, "train", name, value);
}
static void log_layer_metrics(run_state *r, long step, long bytes) {
    metric_sink m = {.r = r, .step = step, .bytes = bytes};
    hn_model_sublayer_metrics(&r->model, log_one_metric, &m);
}

/* Each stage's chunk starts against the corpus's word boundaries (train/boundary_score.h):
 * boundary_precision / _recall / _chance for stage 0, with a suffix _s1, _s2 ... for the
 * chunks that reach deeper stages. */
static void log_boundary_score(run_state *r, long step, long bytes, const hn_boundary_score *sc,
                               hn_train_result *res) {
    for (int s = 0; s < r->model.n_stages && s < MAX_SCORED_STAGES; s++) {
        if (sc[s].boundaries == 0 || sc[s].words == 0) continue;
        char suffix[8] = "", name[48];
        if (s > 0) snprintf(suffix, sizeof suffix, "_s%d", s);
        if (s == 0) {
            res->boundary_precision = hn_boundary_precision(&sc[s]);
            res->boundary_recall = hn_boundary_recall(&sc[s]);
        }
        snprintf(name, sizeof name, "boundary_precision%s", suffix);
        record(r, step, bytes, "valid", name, hn_boundary_precision(&sc[s]));
        snprintf(name, sizeof name, "boundary_recall%s", suffix);
        record(r, step, bytes, "valid", name, hn_boundary_recall(&sc[s]));
        snprintf(name, sizeof name, "boundary_chance%s", suffix);
        record(r, step, bytes, "valid", name, hn_boundary_chance(&sc[s]));
    }
}

/* A fresh run must neither prune nor later resume from the checkpoints an earlier run
 * of the same name left in its folder: they are moved aside (kept, not deleted) to
 * <folder>.<n>, the first free n. */
static int set_aside_old_checkpoints(const hn_ckpt_settings *cs, hn_error *err) {
    long steps[1];
    if (hn_checkpoint_list(cs->run_dir, steps, 1) == 0) return HN_OK;
    char aside[sizeof cs->run_dir + 16];
    for (int n = 1; n < 10000; n++) {
        snprintf(aside, sizeof aside, "%s.%d", cs->run_dir, n);
        if (access(aside, F_OK) != 0) {
            if (rename(cs->run_dir, aside))
                return hn_fail(err, "cannot move the earlier checkpoints of %s aside to %s: %s",
                               cs->run_dir, aside, strerror(errno));
            fprintf(stderr, "hnet: %s held checkpoints of an earlier run of this name; kept them "
                            "in %s (use --resume to continue that run instead)\n",
                    cs->run_dir, aside);
            return HN_OK;
        }
    }
    return hn_fail(err, "too many earlier checkpoint folders next to %s", cs->run_dir);
}

/* The checksum of this rank's weights, read from the device in pieces where they live on
 * one (checkpoints only: not on the step's path). */
static int weights_checksum(run_state *r, uint32_t *crc, hn_error *err) {
    const hn_param_store *ps = &r->model.params;
    const hn_backend *be = r->model.be;
    if (be->kind == HN_DEVICE_CPU) {
        *crc = hn_crc32c(0, ps->values, ps->total * sizeof(float));
        return HN_OK;
    }
    size_t piece = (size_t)1 << 22, n = ps->total;
    float *host = malloc((n < piece ? n : piece) * sizeof *host + 1);
    if (!host) return hn_fail(err, "out of memory for the checksum of the weights");
    *crc = 0;
    for (size_t off = 0; off < n; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        be->download(host, ps->values + off, len * sizeof *host);
        *crc = hn_crc32c(*crc, host, len * sizeof *host);
    }
    free(host);
    return HN_OK;
}

/* The ranks' copies of the weights must be the same bits (the all-reduce hands every
 * rank the same sums): checked where rank 0 saves its copy for all of them. */
static int check_replicas(run_state *r, long step, hn_error *err) {
    if (r->dist->world == 1) return HN_OK;
    uint32_t crc = 0;
    if (weights_checksum(r, &crc, err)) return hn_fail_prefix(err, "step %ld", step);
    int64_t v[2] = {crc, -(int64_t)crc};
    if (hn_dist_max_i64(r->dist, v, 2, err)) return hn_fail_prefix(err, "step %ld", step);
    if (v[0] == -v[1]) return HN_OK;
    r->agreed_failure = 1;
    return hn_fail(err,
                   "at step %ld the ranks' copies of the weights differ (checksums %08x..%08x): the "
                   "gradient all-reduce did not give every rank the same sums; the run stops rather "
                   "than checkpoint one rank's copy",
                   step, (unsigned)-v[1], (unsigned)v[0]);
}

static int write_checkpoint(run_state *r, const hn_ckpt_settings *ckpt, const cJSON *cfg,
                            const char *name, long step, hn_rng data_rng, double bpb_sum,
                            double flops_sum, double aux_sum, long bpb_n, long flops_n,
                            const hn_train_result *res, const float *m, const float *v,
                            hn_error *err);
static int gather_moments(run_state *r, float **m, float **v, hn_error *err);

/* Every rank calls it (ZeRO-1: the moments gathered to rank 0 first): the ranks check
 * their copies agree, then rank 0 flushes the metrics and writes the checkpoint of the run
 * as it stands after `step` steps, with the open logging interval's sums so a resumed run
 * logs the same rows. */
static int checkpoint_now(run_state *r, const hn_ckpt_settings *ckpt, const cJSON *cfg,
                          const char *name, long step, hn_rng data_rng, double bpb_sum,
                          double flops_sum, double aux_sum, long bpb_n, long flops_n,
                          const hn_train_result *res, hn_error *err) {
    if (check_replicas(r, step, err)) return HN_ERR;
    /* a world of one's shard is the whole array */
    if (!r->zero || r->dist->world == 1)
        return write_checkpoint(r, ckpt, cfg, name, step, data_rng, bpb_sum, flops_sum, aux_sum,
                                bpb_n, flops_n, res, r->opt_m, r->opt_v, err);
    float *m = NULL, *v = NULL;
    int rc = gather_moments(r, &m, &v, err);
    if (!rc) rc = write_checkpoint(r, ckpt, cfg, name, step, data_rng, bpb_sum, flops_sum, aux_sum,
                                   bpb_n, flops_n, res, m, v, err);
    if (m) r->model.be->free(m);
    if (v) r->model.be->free(v);
    return rc ? hn_fail_prefix(err, "step %ld", step) : HN_OK;
}

/* Rank 0 writes the checkpoint (weights, and the moments m, v of the whole array). */
static int write_checkpoint(run_state *r, const hn_ckpt_settings *ckpt, const cJSON *cfg,
                            const char *name, long step, hn_rng data_rng, double bpb_sum,
                            double flops_sum, double aux_sum, long bpb_n, long flops_n,
                            const hn_train_result *res, const float *m, const float *v,
                            hn_error *err) {
    if (!r->lead) return HN_OK;
    hn_ckpt_train at = {.step = step, .run_id = r->run_id, .data_rng = data_rng,
                        .bpb_sum = bpb_sum, .flops_sum = flops_sum, .aux_sum = aux_sum,
                        .bpb_n = bpb_n, .flops_n = flops_n,
                        .first_valid_bpb = res->first_valid_bpb,
                        .final_valid_bpb = res->final_valid_bpb, .bpic = res->bpic,
                        .final_train_bpb = res->final_train_bpb, .world_size = r->dist->world};
    snprintf(at.run_uuid, sizeof at.run_uuid, "%s", r->run_uuid);
    snprintf(at.config_hash, sizeof at.config_hash, "%s", r->config_hash);
    if (hn_results_flush(r->db, err)) return HN_ERR;
    return hn_checkpoint_write(ckpt, cfg, name, &r->model, m, v, &at, err);
}

/* ZeRO-1: the whole moments for a checkpoint, every rank's shard gathered into rank 0's
 * buffers of the whole array (held for the write only; the checkpoint is the unsharded
 * run's). Every rank calls it; only rank 0 allocates. */
static int gather_moments(run_state *r, float **m, float **v, hn_error *err) {
    const hn_backend *be = r->model.be;
    size_t n = r->model.params.total;
    if (r->lead) {
        *m = be->alloc(n * sizeof(float));
        *v = be->alloc(n * sizeof(float));
        /* the others would wait in the gather: the run ends on every rank (failed_alone) */
        if (!*m || !*v)
            return hn_fail(err, "rank 0: out of %s memory gathering the optimizer state (2 x %.1f "
                                "MiB) for a checkpoint", be->name, (double)n * 4 / 1048576.0);
    }
    if (hn_dist_gather_floats(r->dist, be, r->opt_m, *m, n, err) ||
        hn_dist_gather_floats(r->dist, be, r->opt_v, *v, n, err))
        return HN_ERR;
    return HN_OK;
}

static void release(run_state *r) {
    hn_grad_overlap_close(&r->overlap);
    hn_step_stats_close(&r->stats);
    if (r->model.be) {
        if (r->opt_m) r->model.be->free(r->opt_m);
        if (r->opt_v) r->model.be->free(r->opt_v);
    }
    hn_model_free(&r->model);
    hn_data_stream_close(&r->data);
    hn_corpus_free(&r->corpus);
    free(r->tok);
    free(r->tgt);
    if (r->db) hn_results_close(r->db);
}

/* Why a stop was asked for: the signal (stop holds its number), and how to continue. */
static void stop_reason(int sig, int world, char *out, size_t n) {
    const char *name = sig == SIGINT ? "SIGINT (Ctrl-C)" : sig == SIGTERM ? "SIGTERM"
                     : sig == SIGHUP ? "SIGHUP" : NULL;
    char num[32], again[64] = "";
    snprintf(num, sizeof num, "signal %d", sig);
    if (world > 1) snprintf(again, sizeof again, "mpirun -np %d ", world);
    snprintf(out, n, "stopped by %s; %shnet run FILE --resume continues it", name ? name : num, again);
}

/* Records the end of a run; a failure to record is reported but does not hide err.
 * When the database cannot take the buffered points (full disk, file-size limit), the
 * end is recorded without them (hn_results_end_run_salvage), so the row says why. */
static void finish_run(run_state *r, const char *status, const char *message) {
    if (!r->db || r->run_id <= 0) return;
    hn_error e2;
    if (hn_results_flush(r->db, &e2) == HN_OK &&
        hn_results_end_run(r->db, r->run_id, status, message, &e2) == HN_OK)
        return;
    hn_error e3;
    if (hn_results_end_run_salvage(r->db, r->run_id, status, message, e2.msg, &e3))
        fprintf(stderr, "hnet: could not record the end of run %lld: %s\n", (long long)r->run_id,
                e3.msg);
}

/* Decides which run this process logs into, and owns it: a new run; with --resume the
 * run its newest checkpoint belongs to (weights, moments and position restored); for a
 * suite the config's run, claimed atomically (res->skipped when finished or owned by a
 * live process). */
static int claim_run(run_state *r, const cJSON *cfg, const hn_run_info *info, const char *hash,
                     const hn_ckpt_settings *ckpt, const hn_train_options *opt, hn_ckpt_train *pos,
                     long total_steps, int *resumed, hn_train_result *res, hn_error *err) {
    snprintf(r->config_hash, sizeof r->config_hash, "%s", hash);
    hn_claim c = {.action = HN_CLAIM_NEW};
    if (opt->resume) {
        if (hn_identity_check_resume(ckpt, cfg, info->name, hash, err) ||
            hn_checkpoint_resume(ckpt, cfg, &r->model, r->opt_m, r->opt_v, pos, resumed, err))
            return HN_ERR;
        if (*resumed && pos->step >= total_steps) {
            /* its last checkpoint is its last step: there is nothing left to train, and
             * claiming it would only rewrite a finished run's record */
            res->skipped = 1;
            snprintf(res->status, sizeof res->status, "finished");
            snprintf(res->note, sizeof res->note,
                     "%.100s is already finished: its newest checkpoint in %.200s is its last step (%ld of "
                     "train.steps = %ld), so there is nothing to resume. hnet show %.100s shows the run; "
                     "without --resume, hnet run trains a new one",
                     info->name, ckpt->run_dir, (long)pos->step, total_steps, info->name);
            return HN_OK;
        }
        if (*resumed) {
            if (hn_results_claim_run(r->db, pos->run_uuid, pos->run_id, hash, pos->step, &r->run_id, err))
                return hn_fail_prefix(err, "resuming from %s", ckpt->run_dir);
            return hn_results_run_uuid(r->db, r->run_id, r->run_uuid, err);
        }
    } else if (opt->claim) {
        char uuid[33];
        hn_identity_checkpoint_uuid(ckpt->run_dir, uuid);
        if (hn_results_claim_config(r->db, info, uuid, opt->force, &c, err)) return HN_ERR;
        res->run_id = c.run_id;
        if (c.action == HN_CLAIM_FINISHED || c.action == HN_CLAIM_ACTIVE) {
            res->skipped = 1;
            snprintf(res->status, sizeof res->status, "%s",
                     c.action == HN_CLAIM_FINISHED ? "finished" : "running");
            snprintf(res->owner, sizeof res->owner, "%s", c.owner);
            return HN_OK;
        }
        r->run_id = c.run_id;
        if (hn_results_run_uuid(r->db, r->run_id, r->run_uuid, err)) return HN_ERR;
        if (c.action == HN_CLAIM_RESUME) {
            int rc = hn_checkpoint_resume(ckpt, cfg, &r->model, r->opt_m, r->opt_v, pos, resumed, err);
            if (!rc && (!*resumed || strcmp(pos->run_uuid, r->run_uuid)))
                rc = hn_fail(err, "the checkpoints in %s changed while run %lld was being claimed",
                             ckpt->run_dir, (long long)r->run_id);
            if (!rc) rc = hn_results_rewind_run(r->db, r->run_id, pos->step, err);
            if (rc) finish_run(r, "failed", err->msg);
            return rc;
        }
    }
    if (set_aside_old_checkpoints(ckpt, err)) return HN_ERR;
    if (c.run_id == 0 && hn_results_begin_run(r->db, info, &r->run_id, err)) return HN_ERR;
    return hn_results_run_uuid(r->db, r->run_id, r->run_uuid, err);
}

/* Rank 0 died: its deputy (the next rank on its host, so on the same disk) opens
 * results.db to record why, in its stead. */
static void stand_in_for_lead(run_state *r, const run_settings *s) {
    hn_dist *d = r->dist;
    if (r->lead || r->db || !d->deputy || d->failure != HN_DIST_PEER_GONE || d->gone_rank != 0 ||
        r->run_id <= 0 || access(s->db_path, F_OK) != 0)
        return;
    hn_error e;
    if (hn_results_open(s->db_path, &r->db, &e))
        fprintf(stderr, "hnet (rank %d): could not record the end of run %lld in rank 0's stead: %s\n",
                d->rank, (long long)r->run_id, e.msg);
}

static int sum_over_ranks(void *ctx, double *v, int n, hn_error *err) {
    return hn_dist_sum_f64(ctx, v, n, err);
}

/* Everything before the run is claimed, on every rank: settings, corpus, model, buffers.
 * Rank 0 alone loads init's weights (the others receive them with the broadcast). */
static int prepare(run_state *r, run_settings *s, hn_init *init, double *mult, const cJSON *cfg,
                   const hn_registry *reg, const hn_train_options *opt, hn_error *err) {
    hn_dist *d = r->dist;
    if (read_settings(s, cfg, opt, err)) return HN_ERR;
    const hn_backend *be = hn_backend_get(s->device);
    if (!be) {
        const char *why = hn_backend_why_unavailable(s->device);
        return hn_fail(err, "device '%s' is not available here (cpu always is; cuda needs a build "
                            "with nvcc and a CUDA GPU at run time)%s%s", s->device, *why ? ": " : "", why);
    }
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    if (s->batch < d->world)
        return hn_fail(err, "train.batch = %d sequences cannot be shared by %d processes (each needs "
                            "one at least): use a batch of %d or more, or fewer processes",
                       s->batch, d->world, d->world);
    hn_batch_part(s->batch, d->rank, d->world, &r->first, &r->count);
    r->share = (double)r->count / (double)s->batch;
    r->group = (hn_batch_group){.sum = sum_over_ranks, .ctx = d, .share = r->share};

    /* on the cpu, a memory need the machine cannot meet is refused before allocating (the
     * estimate is the host's; a device's memory is the device's business) */
    if (be->kind == HN_DEVICE_CPU && hn_experiment_memory_check(cfg, reg, err)) {
        const cJSON *file = cJSON_GetObjectItem(cfg, "file");
        return cJSON_IsString(file) ? hn_fail_prefix(err, "%s", file->valuestring) : HN_ERR;
    }
    if (hn_corpus_load(section(cfg, "data"), &r->corpus, err) ||
        hn_corpus_require(&r->corpus, (size_t)s->seq_len + 1, err) ||
        hn_data_stream_open(&r->data, &r->corpus, section(cfg, "data"), s->seq_len, s->eval_bytes,
                            err))
        return HN_ERR;
    if (hn_model_build(&r->model, section(cfg, "model"), reg, be, s->seed, err))
        return hn_fail_prefix(err, "building the model");
    if (hn_data_stream_is_tokens(&r->data) &&
        (size_t)r->model.vocab < hn_tokenizer_vocab_size(r->data.tokens.tokenizer))
        return hn_fail(err, "model.vocab is %d, smaller than the tokenizer's %zu tokens",
                       r->model.vocab, hn_tokenizer_vocab_size(r->data.tokens.tokenizer));
    hn_model_set_group(&r->model, &r->group);
    if (r->model.n_stages > 15) return hn_fail(err, "model: at most 15 stages are supported");
    if (hn_lr_multipliers(cfg, r->model.n_stages, mult, err)) return HN_ERR;
    /* loaded before the run claims its checkpoint folder (which may be init's own, set
     * aside for a new run); a resumed run then takes the weights of its checkpoint */
    if (hn_init_settings(cfg, r->model.n_stages + 1, init, err) ||
        (init->has && r->lead && hn_init_load(init, &r->model, err)))
        return HN_ERR;
    /* positions per sequence: bytes, or tokens */
    size_t T = (size_t)(s->batch > s->eval_batch ? s->batch : s->eval_batch) * (size_t)r->data.seq_len;
    r->tok = malloc(T * sizeof(int32_t));
    r->tgt = malloc(T * sizeof(int32_t));
    r->zero = s->zero;
    r->shard_off = 0;
    r->shard_len = r->model.params.total;
    if (r->zero) hn_dist_shard(r->model.params.total, d->world, d->rank, &r->shard_off, &r->shard_len);
    /* ZeRO-1: rank 0 holds the whole moments until they are dealt out (it loads them from
     * a checkpoint); the other ranks only ever hold their shard */
    size_t moments = r->zero && !r->lead ? (r->shard_len ? r->shard_len : 1) : r->model.params.total;
    r->opt_m = be->alloc(moments * sizeof(float));
    r->opt_v = be->alloc(moments * sizeof(float));
    if (!r->tok || !r->tgt || !r->opt_m || !r->opt_v)
        return hn_fail(err, "out of memory for the optimizer state");
    return HN_OK;
}

/* Whether every rank prepared: one that failed alone would leave the others waiting in the
 * first collective. The lowest failing rank reports its failure, the others keep quiet. */
static int agree_ready(run_state *r, int failed, hn_train_result *res, hn_error *err) {
    hn_dist *d = r->dist;
    int64_t v = failed ? d->world - d->rank : 0;
    hn_error e2;
    if (hn_dist_max_i64(d, &v, 1, &e2)) {
        *err = e2;
        res->failed_alone = 1;
        return HN_ERR;
    }
    if (v == 0) return HN_OK;
    int reporter = (int)(d->world - v);
    res->quiet_failure = reporter != d->rank;
    if (!failed) hn_fail(err, "rank %d could not start", reporter);
    return HN_ERR;
}

/* Rank 0 claimed the run (or refused to): every rank learns the outcome and where the run
 * stands, then takes rank 0's weights and moments (its init or checkpoint, and the same
 * bits everywhere whatever each rank's build did). */
typedef struct start_outcome {
    int32_t rc, skipped, resumed;
    int64_t run_id;
    hn_ckpt_train pos;
    hn_error err;
} start_outcome;

/* ZeRO-1: rank 0's moments of the whole array (a checkpoint's, or zero) dealt out to the
 * ranks' shards; rank 0 then keeps its shard alone (the other ranks allocated theirs). */
static int deal_out_moments(run_state *r, hn_error *err) {
    const hn_backend *be = r->model.be;
    size_t n = r->model.params.total;
    float *m = r->opt_m, *v = r->opt_v;
    if (r->lead) {
        size_t bytes = (r->shard_len ? r->shard_len : 1) * sizeof(float);
        m = be->alloc(bytes);
        v = be->alloc(bytes);
        if (!m || !v) {
            if (m) be->free(m);
            if (v) be->free(v);
            return hn_fail(err, "rank 0: out of %s memory for its shard of the optimizer state",
                           be->name);
        }
    }
    int rc = hn_dist_scatter_floats(r->dist, be, r->opt_m, m, n, err) ||
             hn_dist_scatter_floats(r->dist, be, r->opt_v, v, n, err);
    if (r->lead) {
        be->free(r->opt_m);
        be->free(r->opt_v);
        r->opt_m = m;
        r->opt_v = v;
    }
    return rc ? HN_ERR : HN_OK;
}

static int share_start(run_state *r, int *rc, int *resumed, hn_ckpt_train *pos,
                       hn_train_result *res, hn_error *err) {
    hn_dist *d = r->dist;
    if (d->world == 1) return HN_OK;
    start_outcome o;
    memset(&o, 0, sizeof o);
    if (r->lead) {
        o = (start_outcome){.rc = *rc, .skipped = res->skipped, .resumed = *resumed,
                            .run_id = r->run_id, .pos = *pos};
        if (*rc) o.err = *err;
    }
    hn_error e2;
    if (hn_dist_broadcast(d, &o, sizeof o, &e2)) {
        *err = e2;
        res->failed_alone = 1;
        return HN_ERR;
    }
    if (!r->lead) {
        *rc = o.rc;
        res->skipped = o.skipped;
        *resumed = o.resumed;
        r->run_id = o.run_id;
        *pos = o.pos;
        if (o.rc) {
            *err = o.err;
            res->quiet_failure = 1; /* rank 0 reports it */
        }
    }
    if (*rc || res->skipped) return HN_OK;
    const hn_backend *be = r->model.be;
    size_t n = r->model.params.total;
    if (hn_dist_broadcast_floats(d, be, r->model.params.values, n, &e2) ||
        (r->zero ? deal_out_moments(r, &e2)
                 : hn_dist_broadcast_floats(d, be, r->opt_m, n, &e2) ||
                       hn_dist_broadcast_floats(d, be, r->opt_v, n, &e2))) {
        *err = e2;
        res->failed_alone = 1;
        return HN_ERR;
    }
    return HN_OK;
}

/* The device path's norm of the last update (step_stats.h), read (wait: waiting for it
 * here) and checked: a non-finite one fails the run at its step, which then is not
 * counted as done (prev_bpb: the train BPB of the step before it), as the host path
 * fails before counting it. *norm gets it; nothing pending leaves *norm alone. */
static int settle_norm(run_state *r, int wait, double bytes_per_step, double prev_bpb,
                       double *norm, hn_train_result *res, hn_error *err) {
    long step;
    double lr, n;
    if (!hn_step_stats_take(&r->stats, wait, &n, &step, &lr)) return HN_OK;
    *norm = n;
    if (isfinite(n)) return HN_OK;
    res->steps_done = step - 1;
    res->bytes_seen = llround((double)(step - 1) * bytes_per_step);
    res->final_train_bpb = prev_bpb;
    r->agreed_failure = 1; /* every rank has the same norm */
    return norm_failure(n, step, lr, err);
}

int hn_train(const cJSON *cfg, const hn_registry *reg, const hn_train_options *opt,
             hn_train_result *res, hn_error *err) {
    memset(res, 0, sizeof *res);
    snprintf(res->status, sizeof res->status, "failed");
    run_state r;
    memset(&r, 0, sizeof r);
    r.dist = opt->dist ? opt->dist : hn_dist_single();
    r.dist->stop = opt->stop;
    r.lead = r.dist->rank == 0;
    int quiet = opt->quiet || !r.lead;
    run_settings s;
    hn_init init;
    double mult[17];
    int prepared = prepare(&r, &s, &init, mult, cfg, reg, opt, err);
    const cJSON *name = cJSON_GetObjectItem(cfg, "name");
    snprintf(res->name, sizeof res->name, "%s", cJSON_IsString(name) ? name->valuestring : "run");
    if (agree_ready(&r, prepared != HN_OK, res, err)) {
        release(&r);
        return HN_ERR;
    }
    const hn_backend *be = r.model.be;
    /* every rank ready: NCCL over MPI for a run on cuda (a rank that cannot start it says
     * why; the others wait in vain, so the job is ended: failed_alone) */
    if (hn_dist_bind(r.dist, be, err)) {
        res->failed_alone = 1;
        release(&r);
        return HN_ERR;
    }
    if (!quiet && (!strcmp(r.dist->backend, "nccl") || r.dist->even_alone))
        fprintf(stderr, "%s: communicator %s: %d process%s (%s)%s\n", s.name, r.dist->backend,
                r.dist->world, r.dist->world == 1 ? "" : "es", r.dist->how,
                r.dist->even_alone ? ", its collectives run alone too (HNET_COMM=mpi)" : "");
    /* the buckets of the gradient start as the backward makes them final */
    if (hn_grad_overlap_open(&r.overlap, r.dist, &r.model, &init, r.share, r.zero, err)) {
        res->quiet_failure = !r.lead; /* the same environment on every rank */
        release(&r);
        return HN_ERR;
    }
    if (hn_step_stats_open(&r.stats, be, r.zero, err)) {
        res->quiet_failure = !r.lead; /* the same environment on every rank */
        release(&r);
        return HN_ERR;
    }
    if (!quiet && r.overlap.on)
        fprintf(stderr, "%s: the gradient's all-reduce overlaps the backward (%d bucket%s; "
                        "HNET_DIST_OVERLAP=0 runs it after)\n",
                s.name, r.overlap.buckets.n_buckets, r.overlap.buckets.n_buckets == 1 ? "" : "s");
    res->n_params = hn_model_param_count(&r.model);
    const int L = r.data.seq_len; /* positions per sequence: bytes, or tokens */

    char *config_text = cJSON_PrintUnformatted(cfg);
    char host[256] = "", hash[17];
    gethostname(host, sizeof host - 1);
    hn_results_config_hash(config_text ? config_text : "", hash);
    hn_run_info info = {.name = s.name, .experiment_file = opt->experiment_file,
                        .experiment_text = opt->experiment_text, .config_json = config_text,
                        .git_commit = opt->git_commit, .host = host, .device = be->name,
                        .seed = (int64_t)s.seed, .n_params = res->n_params,
                        .world_size = r.dist->world};
    hn_ckpt_settings ckpt;
    hn_checkpoint_settings(cfg, s.name, &ckpt);
    hn_identity_checkpoint_dir(&ckpt, cfg, hash);
    ckpt.world_size = r.dist->world;
    hn_ckpt_train pos = {0};
    int resumed = 0, rc = HN_OK;
    if (r.lead) {
        rc = hn_results_open(s.db_path, &r.db, err);
        if (!rc) rc = claim_run(&r, cfg, &info, hash, &ckpt, opt, &pos, s.steps, &resumed, res, err);
    }
    free(config_text);
    if (share_start(&r, &rc, &resumed, &pos, res, err)) {
        finish_run(&r, "failed", err->msg);
        release(&r);
        return HN_ERR;
    }
    if (rc || res->skipped) {
        release(&r);
        return rc;
    }
    res->run_id = r.run_id;
    snprintf(res->db_path, sizeof res->db_path, "%s", s.db_path);

    if (ckpt.every > 0) snprintf(res->checkpoint_dir, sizeof res->checkpoint_dir, "%s", ckpt.run_dir);
    if (!quiet) /* where to find it while it trains: hnet show ID, the checkpoint folder */
        fprintf(stderr, "%s: run %lld%s in %s; checkpoints: %s\n", s.name, (long long)r.run_id,
                resumed ? " (resumed)" : "", s.db_path, ckpt.every > 0 ? ckpt.run_dir : "none");
    if (!quiet && r.dist->world > 1)
        fprintf(stderr, "%s: %d processes (%s); rank 0 trains %d of the %d sequences of each batch\n",
                s.name, r.dist->world, r.dist->how, r.count, s.batch);
    if (!quiet && r.zero)
        fprintf(stderr, "%s: ZeRO-1: rank 0 keeps the optimizer state of %zu of %zu parameter floats\n",
                s.name, r.shard_len, r.model.params.total);
    if (!quiet && hn_data_stream_is_tokens(&r.data))
        fprintf(stderr, "%s: %s tokens: %zu in the train split, %.3f bytes per token; sequences of "
                        "%d tokens (~%.0f bytes); validation: %zu tokens over the same %ld bytes as "
                        "byte-level models\n",
                s.name, hn_tokenizer_format(r.data.tokens.tokenizer), r.data.tokens.n_train,
                r.data.bytes_per_position, L, L * r.data.bytes_per_position, r.data.tokens.n_valid - 1,
                r.data.valid_bytes);
    res->n_params_active = hn_model_active_param_count(&r.model);
    if (!resumed) {
        record(&r, 0, 0, "train", "params_active", (double)res->n_params_active);
        if (hn_data_stream_is_tokens(&r.data)) { /* what turns tokens into bytes */
            record(&r, 0, 0, "train", "bytes_per_token", r.data.bytes_per_position);
            record(&r, 0, 0, "train", "seq_tokens", (double)L);
        }
    }

    hn_schedule sched;
    if (hn_schedule_from_json(&sched, section(cfg, "train"), s.steps, err)) {
        finish_run(&r, "failed", err->msg);
        res->quiet_failure = !r.lead; /* the same config on every rank */
        release(&r);
        return HN_ERR;
    }
    hn_dist *d = r.dist;
    hn_rng data_rng = resumed ? pos.data_rng : hn_rng_derive(s.seed, 0xda7a);
    /* bytes seen: positions seen times the bytes each stands for (a token model: the train
     * split's bytes per token) */
    double bytes_per_step = (double)s.batch * L * r.data.bytes_per_position;
    hn_progress progress;
    hn_progress_start(&progress, s.name, pos.step, s.steps, quiet);
    double t_start = now_seconds(), bpb_sum = pos.bpb_sum;
    long bpb_n = pos.bpb_n;
    const char *failure = NULL;
    int64_t stop = 0; /* the signal the ranks stopped for */

    double vbpb, bpic, flops_sum = pos.flops_sum, aux_sum = pos.aux_sum;
    long flops_n = pos.flops_n;
    double gnorm = 0, prev_bpb = 0; /* the last update's norm; the BPB of the step before */
    hn_boundary_score bsc[MAX_SCORED_STAGES];
    if (resumed) {
        res->first_valid_bpb = pos.first_valid_bpb;
        res->final_valid_bpb = vbpb = pos.final_valid_bpb;
        res->bpic = bpic = pos.bpic;
        res->final_train_bpb = pos.final_train_bpb;
        res->steps_done = pos.step;
        res->bytes_seen = llround((double)pos.step * bytes_per_step);
    } else {
        if (evaluate(&r.model, &r.data, &s, d, r.tok, r.tgt, &vbpb, &bpic, bsc, err)) goto fail;
        res->first_valid_bpb = res->final_valid_bpb = vbpb;
        record(&r, 0, 0, "valid", "bpb", vbpb);
        record(&r, 0, 0, "valid", "bpic", bpic);
    }

    for (long step = resumed ? pos.step : 0; step < s.steps; step++) {
        hn_rng rng_before = data_rng; /* where a step that is given up leaves the data */
        long part_bytes = hn_data_stream_train_part(&r.data, &data_rng, s.batch, r.first, r.count,
                                                    r.tok, r.tgt);
        hn_loss loss;
        /* the device path reads the losses after the backward is enqueued */
        if ((r.stats.on ? hn_model_forward_start : hn_model_forward)(&r.model, r.tok, r.tgt, r.count,
                                                                    L, &loss, err)) {
            hn_fail_prefix(err, "step %ld", step + 1);
            goto fail;
        }
        hn_checkpoint_test_stop(step + 1, d->rank);
        /* The backward is enqueued before the agreement, so a device runs it while the host
         * waits for the other ranks (a stop or a non-finite loss then discards its
         * gradient); with the overlap its buckets' sums start inside it. */
        hn_grad_overlap_begin(&r.overlap);
        if (hn_model_backward(&r.model, err)) goto fail;
        if (r.stats.on) {
            /* the step's one wait: the losses, and behind them the last update's norm */
            hn_model_forward_finish(&r.model, &loss);
            if (settle_norm(&r, 0, bytes_per_step, prev_bpb, &gnorm, res, err)) goto fail;
        }
        /* The step's one agreement, where the host has waited for the loss anyway: the global
         * batch's numbers (nats and the bytes the targets stand for summed, per-rank means
         * weighted by share: a world of one keeps its own; FLOPs per position times
         * positions per byte), and whether any rank was asked to stop (the ranks stop
         * together, at the same step: a signal reaches each at its own moment). */
        double g[4] = {loss.ce_nats, (double)part_bytes, loss.aux * r.share,
                       hn_model_flops_per_byte(&r.model) / r.data.bytes_per_position * r.share};
        stop = opt->stop ? *opt->stop : 0;
        if (hn_dist_sum_max(d, g, 4, &stop, 1, err) || hn_grad_overlap_end(&r.overlap, err)) {
            hn_fail_prefix(err, "step %ld", step + 1);
            goto fail;
        }
        if (stop) {
            /* this step leaves no trace: no update, the data stream as before it (the
             * forward changed nothing a checkpoint holds) */
            data_rng = rng_before;
            snprintf(res->status, sizeof res->status, "interrupted");
            /* a stop asked for (Ctrl-C) keeps the work since the last checkpoint */
            if (ckpt.every > 0 && step % ckpt.every != 0 && step > (resumed ? pos.step : 0)) {
                if (checkpoint_now(&r, &ckpt, cfg, s.name, step, data_rng, bpb_sum, flops_sum,
                                   aux_sum, bpb_n, flops_n, res, err))
                    goto fail;
            }
            break;
        }
        double bpb = g[0] / g[1] / LN2;
        if (!isfinite(bpb) || !isfinite(g[2])) {
            r.agreed_failure = 1;
            hn_fail(err, "the training loss became %s at step %ld (lr %.3g); the run stopped and is "
                         "recorded as failed — try a lower train.lr or a smaller train.grad_clip",
                    isnan(bpb) ? "NaN" : "infinite", step + 1, hn_schedule_lr(&sched, step));
            goto fail;
        }
        /* ZeRO-1: each rank gets the summed gradient of its shard alone */
        float *grads = r.model.params.grads;
        size_t total = r.model.params.total;
        if (!r.overlap.on) hn_init_zero_frozen_grads(&init, &r.model);
        if (r.overlap.on ? HN_OK
            : r.zero     ? hn_dist_reduce_scatter_grads(d, be, grads, total, r.share, err)
                         : hn_dist_average_grads(d, be, grads, total, r.share, err)) {
            hn_fail_prefix(err, "step %ld", step + 1);
            goto fail;
        }
        double lr = hn_schedule_lr(&sched, step);
        flops_sum += g[3];
        flops_n++;
        aux_sum += g[2];
        if (hn_checkpoint_test_nan_grad(step + 1) && r.shard_len)
            be->fill(grads + r.shard_off, NAN, 1);
        if (r.stats.on) { /* the device path: the clip there, the norm checked a step late */
            hn_step_stats_clip(&r.stats, grads, total, s.grad_clip);
        } else {
            if (!r.zero) gnorm = gradient_norm(&r.model);
            else if (sharded_gradient_norm(&r.model, d, r.shard_off, r.shard_len, &gnorm, err)) {
                hn_fail_prefix(err, "step %ld", step + 1);
                goto fail;
            }
            if (!isfinite(gnorm)) {
                /* an update with it would put NaN into every weight (and into checkpoints) */
                r.agreed_failure = 1;
                norm_failure(gnorm, step + 1, lr, err);
                goto fail;
            }
        }
        /* a failed kernel or allocation (e.g. out of device memory in a scratch buffer)
         * leaves garbage behind it: stop before the update touches the weights */
        const char *derr = r.model.be->device_error ? r.model.be->device_error() : NULL;
        if (derr) {
            hn_fail(err, "the %s device failed at step %ld (%s); the run stopped and is recorded "
                         "as failed, its weights untouched",
                    r.model.be->name, step + 1, derr);
            goto fail;
        }
        optimizer_step(&r.model, r.opt_m, r.opt_v, r.shard_off, r.shard_off + r.shard_len, step + 1,
                       lr, gnorm, r.stats.on ? r.stats.dev : NULL, mult, &init, &s);
        if (r.stats.on) hn_step_stats_send(&r.stats, step + 1, lr);
        /* ZeRO-1: every rank's updated shard of the weights to all */
        if (r.zero && hn_dist_all_gather_floats(d, be, r.model.params.values, total, err)) {
            hn_fail_prefix(err, "step %ld", step + 1);
            goto fail;
        }
        long done = step + 1, bytes = llround((double)done * bytes_per_step);
        bpb_sum += bpb;
        bpb_n++;
        prev_bpb = res->final_train_bpb;
        res->steps_done = done;
        res->bytes_seen = bytes;
        res->final_train_bpb = bpb;
        int logs = done % s.log_every == 0 || done == s.steps;
        int evals = done % s.eval_every == 0 || done == s.steps;
        int saves = ckpt.every > 0 && (done % ckpt.every == 0 || done == s.steps);
        /* the device path: what reports this step waits for its norm (and checks it) */
        if ((logs || evals || saves) &&
            settle_norm(&r, 1, bytes_per_step, prev_bpb, &gnorm, res, err))
            goto fail;
        if (logs) {
            /* the rate of this process (with its ranks): bytes trained since it started (or
             * resumed) */
            double elapsed = now_seconds() - t_start;
            double rate = ((double)bytes - (double)pos.step * bytes_per_step) / elapsed;
            record(&r, done, bytes, "train", "bpb", bpb_sum / (double)bpb_n);
            record(&r, done, bytes, "train", "lr", lr);
            record(&r, done, bytes, "train", "grad_norm", gnorm);
            record(&r, done, bytes, "train", "bytes_per_s", rate);
            res->flops_per_byte = flops_sum / (double)flops_n;
            record(&r, done, bytes, "train", "gflops_per_byte", res->flops_per_byte / 1e9);
            log_stage_metrics(&r, done, bytes, aux_sum / (double)bpb_n);
            log_layer_metrics(&r, done, bytes);
            flops_sum = aux_sum = 0;
            flops_n = 0;
            hn_stage_stats st[HN_PROGRESS_MAX_STAGES];
            double comp[HN_PROGRESS_MAX_STAGES];
            int S = hn_model_stage_stats(&r.model, st, HN_PROGRESS_MAX_STAGES);
            for (int q = 0; q < S; q++) comp[q] = st[q].compression;
            hn_progress_update(&progress, done, bytes, bpb_sum / (double)bpb_n, rate, comp, S);
            bpb_sum = 0;
            bpb_n = 0;
            if (flush(&r, err)) goto fail;
        }
        if (evals) {
            if (evaluate(&r.model, &r.data, &s, d, r.tok, r.tgt, &vbpb, &bpic, bsc, err)) {
                hn_fail_prefix(err, "step %ld", done);
                goto fail;
            }
            res->final_valid_bpb = vbpb;
            res->bpic = bpic;
            record(&r, done, bytes, "valid", "bpb", vbpb);
            record(&r, done, bytes, "valid", "bpic", bpic);
            log_boundary_score(&r, done, bytes, bsc, res);
            hn_progress_valid(&progress, done, vbpb);
            if (flush(&r, err)) goto fail;
        }
        if (saves) {
            if (checkpoint_now(&r, &ckpt, cfg, s.name, done, data_rng, bpb_sum, flops_sum, aux_sum,
                               bpb_n, flops_n, res, err))
                goto fail;
        }
        hn_checkpoint_test_kill(done);
    }
    /* the device path: nothing is left pending (the last step reports itself), checked */
    if (settle_norm(&r, 1, bytes_per_step, prev_bpb, &gnorm, res, err)) goto fail;
    res->seconds = now_seconds() - t_start;
    hn_progress_end(&progress);
    char why[160] = "";
    if (strcmp(res->status, "interrupted")) snprintf(res->status, sizeof res->status, "finished");
    else stop_reason((int)stop, r.dist->world, why, sizeof why);
    finish_run(&r, res->status, why[0] ? why : NULL);
    release(&r);
    return HN_OK;

fail:
    failure = err->msg;
    res->seconds = now_seconds() - t_start;
    hn_progress_end(&progress);
    /* a stop signal that came while the other ranks never arrived ends the run as a stop
     * does; a rank gone, or any failure of this rank's own, as a failure */
    snprintf(res->status, sizeof res->status, "%s", d->failure == HN_DIST_STOPPED ? "interrupted" : "failed");
    res->failed_alone = !r.agreed_failure;
    res->quiet_failure = r.agreed_failure && !r.lead;
    stand_in_for_lead(&r, &s);
    finish_run(&r, res->status, failure);
    release(&r);
    return HN_ERR;
}
