/* A byte language model: byte embedding (256) -> backbone -> LM head, trained with
 * cross-entropy reported in bits. The backbone is the model's hierarchy of stages
 * (model/stage.h); an isotropic model is a single innermost stage. */
#ifndef HN_MODEL_H
#define HN_MODEL_H

#include <cJSON.h>

#include "model/stage.h"
#include "model/params.h"
#include "plugin/registry.h"

typedef struct hn_model {
    const hn_backend *be;
    hn_param_store params;
    char kind[32];
    int vocab;
    int d; /* width of the outermost stage */
    int emb_param, head_param;
    hn_stage backbone;
    int n_stages;    /* S: stages that chunk (0 for isotropic models) */

    /* per-batch packing and buffers (device), sized for max_T rows */
    int max_T;
    int32_t *tok_dev, *tgt_dev, *offsets_dev, *pos_dev;
    int32_t *offsets_host;
    int max_seqs;
    hn_seqs seqs;
    float *x, *h, *logits, *loss, *dlogits, *dh; /* x, h and dh: one buffer (model.c) */
    hn_tensor dlogits_t; /* dlogits as the last training forward wrote it (its dtype) */
    float *loss_host;
    int no_grad; /* evaluation: an inference forward (no loss gradient, nothing kept for a
                  * backward: hn_model_backward refused), the same losses to the bit */
    int last_inference; /* the last forward was such a one */
    int grad_buffers;   /* dlogits and dh are allocated (a training forward ran) */
    const hn_batch_group *group; /* data-parallel training: the processes sharing each
                                  * training batch (NULL: one process) */
} hn_model;

/* The loss of one forward pass. */
typedef struct hn_loss {
    double ce_nats;  /* summed over predicted bytes */
    long count;      /* predicted bytes */
    double aux;      /* auxiliary losses added to the training objective (ratio loss) */
} hn_loss;

int hn_model_build(hn_model *m, const cJSON *model_cfg, const hn_registry *reg,
                   const hn_backend *be, uint64_t seed, hn_error *err);
/* hn_model_build less the parameters' memory: the structure is built (every plugin
 * has accepted its settings) and the parameters declared, none allocated. Free with
 * hn_model_free. */
int hn_model_plan(hn_model *m, const cJSON *model_cfg, const hn_registry *reg,
                  const hn_backend *be, hn_error *err);
void hn_model_free(hn_model *m);

/* Forward over n_seqs sequences of seq_len bytes each (tok/tgt host arrays of
 * n_seqs*seq_len); fills loss. */
int hn_model_forward(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                     int seq_len, hn_loss *loss, hn_error *err);
/* An evaluation's forward (no_grad required) that leaves the T = n_seqs*seq_len
 * per-token losses (nats) on the device at loss_dev instead of reading them back: a
 * batch of evaluations needs no host synchronisation but what chunking does. Sum them
 * with hn_model_sum_losses, as hn_model_forward does, for the same ce_nats. */
int hn_model_forward_to(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                        int seq_len, float *loss_dev, hn_error *err);
/* hn_model_forward in two halves, for a training step that enqueues its backward before
 * it waits: _start enqueues the forward and the copy of its per-token losses to the host
 * (download_async; loss gets count and aux, ce_nats is NaN until then); _finish waits for
 * that copy and sums the losses as hn_model_forward does (the same ce_nats, to the bit).
 * Between the two only enqueued work (hn_model_backward) may touch the model. */
int hn_model_forward_start(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                           int seq_len, hn_loss *loss, hn_error *err);
void hn_model_forward_finish(hn_model *m, hn_loss *loss);
/* The sum of n per-token losses in order, in double (hn_loss.ce_nats). */
double hn_model_sum_losses(const float *loss, long n);
/* Data-parallel training (model/batch_group.h): every training forward (not an
 * evaluation, whose batches the processes do not share) sums the ratio-loss statistics
 * over group. NULL: this process holds the whole batch. */
void hn_model_set_group(hn_model *m, const hn_batch_group *group);
/* Backward of the mean cross-entropy of the last forward (plus aux losses);
 * accumulates into the parameter gradients. */
int hn_model_backward(hn_model *m, hn_error *err);

/* Forward FLOPs per byte of the last forward pass, at the chunk lengths it realised
 * (Appendix B, embeddings and LM head included; a training step is 3x). */
double hn_model_flops_per_byte(const hn_model *m);
/* Per-stage chunking statistics of the last forward pass; returns S. */
int hn_model_stage_stats(const hn_model *m, hn_stage_stats *stats, int max);
long hn_model_param_count(const hn_model *m);
/* Routing held at each stage's target (hn_stage_hold_routing): for timing H-Nets at the
 * compression they are meant to reach, independent of what an untrained router does. */
void hn_model_hold_routing(hn_model *m, int on);

#endif
