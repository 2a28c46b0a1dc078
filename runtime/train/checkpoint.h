/* Training checkpoints: safetensors files (model/safetensors.h) holding
 *   - every model parameter under its reference H-Net name (model/REFERENCE_NAMES.md),
 *     so the weights alone load into the PyTorch H-Net with strict=True (a missing
 *     `residual_proj.bias`, or its moments, as older hnet wrote them, loads as zero);
 *   - the AdamW moments as `optimizer.exp_avg.<name>` and `optimizer.exp_avg_sq.<name>`;
 *   - in __metadata__ (strings): format, the resolved config JSON, run name and run id,
 *     step, the data generator's state (data position), the logging-interval
 *     accumulators and the validation results so far (hex floats: exact), and the
 *     sha256 of the whole file (header and metadata included; model/safetensors.h).
 *
 * Format hnet-checkpoint/2 must carry that whole-file checksum; hnet-checkpoint/1 (older
 * hnet, whose checksum covers the data only) still loads; any other format is refused.
 * Every metadata value is range-checked when read (step within [0, train.steps], counts
 * within [0, step], sums finite, a valid generator state), so neither a damaged nor a
 * crafted file reaches the trainer with values it cannot use.
 * The schedule position is the step; initialisation randomness is not needed again.
 *
 * A run's checkpoints live in <checkpoint.dir>/<run name>/step-<8 digits>.safetensors;
 * the newest `keep` are kept. Loading takes the newest one that reads back intact and
 * loads, and says which ones it skipped and why. */
#ifndef HN_CHECKPOINT_H
#define HN_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "core/rng.h"
#include "model/model.h"
#include "model/safetensors.h"

#define HN_CHECKPOINT_FORMAT "hnet-checkpoint/2"
#define HN_CHECKPOINT_FORMAT_V1 "hnet-checkpoint/1" /* checksum of the data only */

/* f is an hnet checkpoint of a format this hnet reads, sealed as that format requires. */
int hn_checkpoint_check_format(const hn_safetensors *f, hn_error *err);

/* Where a run stands (everything a resumed run needs besides the tensors). */
typedef struct hn_ckpt_train {
    long step;
    int64_t run_id;
    char run_uuid[33];    /* runs.uuid of the run it belongs to ("" in older files) */
    char config_hash[17]; /* runs.config_hash of that run ("" in older files) */
    hn_rng data_rng;
    double bpb_sum, flops_sum, aux_sum; /* accumulators of the open logging interval */
    long bpb_n, flops_n;
    double first_valid_bpb, final_valid_bpb, bpic, final_train_bpb;
    int world_size;       /* processes training it (data parallel; 1 in older files) */
} hn_ckpt_train;

/* Writes a checkpoint atomically. opt_m/opt_v (device, params.total floats) and tr may
 * be NULL: a weights-only file. config_json: the resolved experiment config. */
int hn_checkpoint_save(const char *path, const hn_model *m, const float *opt_m,
                       const float *opt_v, const char *config_json, const char *run_name,
                       const hn_ckpt_train *tr, hn_error *err);

/* Copies the weights of f into the built model m (names and shapes must match). */
int hn_checkpoint_load_weights(const hn_safetensors *f, hn_model *m, hn_error *err);
/* Weights, AdamW moments and the training position. */
int hn_checkpoint_load_train(const hn_safetensors *f, hn_model *m, float *opt_m, float *opt_v,
                             hn_ckpt_train *tr, hn_error *err);

/* path: a checkpoint file, or a run's checkpoint folder (its newest file that loads). Builds
 * the model its stored config describes and loads the weights; *config receives the
 * resolved experiment config (caller deletes). */
int hn_checkpoint_open_model(const char *path, const hn_registry *reg, const hn_backend *be,
                             hn_model *m, cJSON **config, hn_error *err);

/* ---- a run's checkpoint folder ---- */
void hn_checkpoint_run_dir(char *out, size_t n, const char *dir, const char *run_name);
void hn_checkpoint_file(char *out, size_t n, const char *run_dir, long step);
/* Steps of the checkpoint files in run_dir, newest first; returns how many (<= max). */
int hn_checkpoint_list(const char *run_dir, long *steps, int max);
/* Deletes all but the newest keep files. */
void hn_checkpoint_prune(const char *run_dir, int keep);
/* Removes the temporary files (step-N.safetensors.tmp.PID) of writers that were killed:
 * those whose process is gone (or is this one, which writes one file at a time). */
void hn_checkpoint_remove_stale(const char *run_dir);
/* Opens the newest checkpoint of run_dir that reads back intact, telling `warn` about
 * each damaged one it passes over. Returns 1 (found, *out filled), 0 (none usable:
 * err says why when files existed), or -1 (error). */
int hn_checkpoint_latest(const char *run_dir, hn_safetensors *out, FILE *warn, hn_error *err);

/* ---- the trainer's use ---- */
typedef struct hn_ckpt_settings {
    long every; /* 0: no checkpoints */
    int keep;
    char run_dir[1024];
    int world_size; /* processes of this run (1 unless the trainer says otherwise): a
                     * checkpoint of another world size is refused on resume */
} hn_ckpt_settings;

/* From the resolved config's checkpoint section {every, dir, keep}. */
void hn_checkpoint_settings(const cJSON *cfg, const char *run_name, hn_ckpt_settings *cs);
/* Restores the newest good checkpoint of the run into m, opt_m, opt_v and tr; sets
 * *resumed (0: nothing to resume from, start afresh). One that reads back intact but does
 * not load (missing tensors, metadata out of range) is passed over, with a warning, for
 * the previous one; nothing is changed until one loads. Refuses a checkpoint whose
 * experiment (seed, data, model, train) differs from cfg, or that was written by another
 * number of processes than cs->world_size (the curve would not be the same to the bit).
 * Removes stale temporaries. */
int hn_checkpoint_resume(const hn_ckpt_settings *cs, const cJSON *cfg, hn_model *m, float *opt_m,
                         float *opt_v, hn_ckpt_train *tr, int *resumed, hn_error *err);
/* Writes the checkpoint of tr->step into the run folder and prunes old ones (and stale
 * temporaries). */
int hn_checkpoint_write(const hn_ckpt_settings *cs, const cJSON *cfg, const char *run_name,
                        const hn_model *m, const float *opt_m, const float *opt_v,
                        const hn_ckpt_train *tr, hn_error *err);
/* Test hook: when HNET_TEST_SIGKILL_AT_STEP equals step, the process kills itself with
 * SIGKILL (no cleanup at all), as a crash or an OOM killer would. */
void hn_checkpoint_test_kill(long step);
/* Test hook: HNET_TEST_SIGTERM_AFTER_FORWARD=STEP[@RANK] sends this process SIGTERM right
 * after the forward of step STEP (1-based), on every rank or on rank RANK only: a stop
 * that the ranks learn of after a forward, whose step must leave no trace. */
void hn_checkpoint_test_stop(long step, int rank);
/* Test hook: 1 when HNET_TEST_NAN_GRAD_AT_STEP equals step (1-based): the trainer puts a
 * NaN into that step's reduced gradient, whose norm must stop the run, weights untouched. */
int hn_checkpoint_test_nan_grad(long step);

#endif
