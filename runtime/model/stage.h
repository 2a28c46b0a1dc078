/* An H-Net stage (paper Eq. 1-3, 5-9), recursively: encoder network -> chunker ->
 * downsample -> inner (another stage, or the innermost main network) -> dechunk
 * (smoothing EMA, causal expansion, confidence with STE) -> + Linear(x̂) residual ->
 * decoder network. An isotropic model is a single innermost stage: its main network.
 *
 * Parameter names follow the reference PyTorch H-Net: at stage prefix P,
 * P.encoder.*, P.routing_module.*, P.main_network.* (the inner stage, or for the
 * innermost stage its network P.main_network.layers.*), P.decoder.*,
 * P.residual_proj.weight and .bias, and P.pad_dimension on a stage wider than its parent.
 * The full table: runtime/model/REFERENCE_NAMES.md. */
#ifndef HN_STAGE_H
#define HN_STAGE_H

#include <cJSON.h>

#include "model/batch_group.h"
#include "model/network.h"
#include "plugin/registry.h"

typedef enum { HN_DOWNSAMPLE_SELECT, HN_DOWNSAMPLE_MEAN, HN_DOWNSAMPLE_MAX } hn_downsample;

/* What one stage did in the last forward pass (for metrics). */
typedef struct hn_stage_stats {
    long outer_len;     /* L^s: rows entering the chunker */
    long inner_len;     /* L^{s+1}: rows kept */
    double compression; /* L^{s+1} / L^s */
    double mean_p;      /* G */
    double ratio_loss;  /* Eq. 10 (0 for non-differentiable chunkers) */
} hn_stage_stats;

typedef struct hn_stage {
    int depth;
    int d, d_inner;
    int innermost;
    hn_network main;             /* innermost only */
    hn_network encoder, decoder; /* others */
    struct hn_stage *inner;

    const hn_chunker_plugin *chunker;
    void *chunker_self;
    cJSON *chunker_cfg;          /* this stage's chunker config (owned) */
    int chunker_first, chunker_n;
    int residual_param, residual_bias_param, pad_param; /* pad_param < 0: no widening */
    int residual_identity;       /* SpaceByte: plain skip x̂ instead of Linear(x̂) */
    int smoothing, ste;
    hn_downsample downsample;
    double ratio_target, alpha;
    int fixed_every; /* > 0: a boundary at every fixed_every-th position of each sequence,
                      * whatever p says (benchmarks time routing held at its target) */

    /* buffers (device unless _h), sized for cap rows */
    int cap;
    float *xhat, *p, *dp, *P, *dP, *x_sel, *x_in, *z, *z_n, *zbar, *dec_in;
    float *d_xhat, *d_dec_in, *d_zbar, *d_zn, *d_z, *d_xin, *d_xsel;
    int32_t *b, *idx, *chunk, *first, *argmax, *bytes_in, *pos_in;
    /* what the host reads back of the chunk plan, in one download: sum_p (a double)
     * followed by the inner offsets (n + 1 int32); plan_h is its host copy */
    void *plan, *plan_h;
    int32_t *offsets_in, *offsets_in_h; /* inside plan and plan_h */
    /* host copies of the rest of the plan (and p): filled by hn_stage_download_plan
     * (hn_model_forward's evaluations call it); other forwards leave them alone */
    int32_t *b_h, *idx_h, *chunk_h, *first_h, *bytes_in_h, *pos_in_h;
    float *p_h;
    hn_seqs inner_seqs;
    hn_stage_stats stats;       /* compression, mean_p, ratio_loss: of the whole batch */
    const hn_batch_group *group; /* training forward of a data-parallel run; else NULL */
    double ratio_denominator;   /* the ratio loss's dG/dp_t is 1/this (the batch's rows at
                                 * this stage, times this process's share) */
    const hn_param_store *store;
} hn_stage;

/* Builds the stage tree from model.layout (nested lists: 3 = encoder/inner/decoder,
 * 1 = main), model.d (one width per stage), model.chunker. */
int hn_stage_build(hn_stage *st, const cJSON *layout, int depth, const cJSON *model,
                   const hn_registry *reg, hn_param_store *store, const char *prefix,
                   hn_error *err);
void hn_stage_bind(hn_stage *st, const hn_param_store *store);
/* The network whose final norm makes this stage's output (its decoder, or its main
 * network when innermost): the model sets its want_out16 for the LM head. */
hn_network *hn_stage_output_network(hn_stage *st);
/* The network that reads the stage's x first (main or encoder): where a backward with dx
 * NULL leaves the input gradient (hn_network_input_grad_f32). */
hn_network *hn_stage_input_network(hn_stage *st);
void hn_stage_free(hn_stage *st, const hn_backend *be);

/* y = stage(x); bytes_dev (device, [T]) is the byte each row stands for. aux receives
 * the weighted ratio losses of this stage and the ones inside (alpha * L_ratio). The
 * chunks are planned on the device; the host reads back one small buffer per stage
 * (K, the inner offsets, the sum of p); the rest stays on the device
 * (hn_stage_download_plan brings it over). */
int hn_stage_forward(hn_stage *st, const hn_backend *be, const hn_seqs *seqs, const float *x,
                     const int32_t *bytes_dev, float *y, double *aux, hn_error *err);
/* The last forward's plan of this stage and the ones inside, onto the host: p_h, b_h,
 * chunk_h [outer rows] and idx_h, first_h, pos_in_h, bytes_in_h [inner rows]. For
 * inspection (boundary scores, tests), not for the training step. */
void hn_stage_download_plan(hn_stage *st, const hn_backend *be);
int hn_stage_backward(hn_stage *st, const hn_backend *be, const hn_seqs *seqs, const float *dy,
                      float *dx, hn_error *err);

/* Forward FLOPs (Appendix B) for the packing seqs of the last forward pass: inner stages
 * count at the lengths they realised then. */
double hn_stage_flops(const hn_stage *st, const hn_seqs *seqs);
/* Number of stages below and including this one that chunk (S). */
int hn_stage_count(const hn_stage *st);
/* stats[s] for s = 0..S-1; returns S. */
int hn_stage_stats_collect(const hn_stage *st, hn_stage_stats *stats, int max);
/* on: every chunking stage puts its boundaries at every round(N)-th position of each
 * sequence (N its ratio target) instead of where p > 0.5; off: learned again. */
void hn_stage_hold_routing(hn_stage *st, int on);
/* on: the networks of this stage and the ones inside run inference forwards
 * (model/network.h): the same outputs, nothing kept for a backward. */
void hn_stage_set_inference(hn_stage *st, int on);
/* The group this stage and the ones inside it sum their ratio-loss statistics over (NULL:
 * this process's batch is the whole batch). */
void hn_stage_set_group(hn_stage *st, const hn_batch_group *group);

#endif
