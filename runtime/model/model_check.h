/* Checks of a resolved experiment that need the plugins, run while the experiment file
 * loads (so that the message gets the file, line and key path of the setting): a trial
 * build of the model, and an estimate of the memory a training run needs. */
#ifndef HN_MODEL_CHECK_H
#define HN_MODEL_CHECK_H

#include <cJSON.h>

#include "core/error.h"
#include "plugin/registry.h"

/* Builds model (a resolved "model" section) without allocating its parameters: every
 * plugin sees its settings and may refuse them; the message starts with the key path
 * (path.attention, path.mlp[2], ...). A model whose chunker plugin is not loaded is not
 * checked (the run reports it). */
int hn_model_check(const cJSON *model, const hn_registry *reg, const char *path, hn_error *err);

/* A rough upper estimate of a training run's memory (parameters, gradients and AdamW
 * state in fp32; the kept activations of batch x seq_len rows in every sublayer; the
 * logits), refused when above this machine's memory (its RAM; on cuda, too, as a
 * stand-in for the GPU's). */
int hn_experiment_memory_check(const cJSON *experiment, const hn_registry *reg, hn_error *err);

/* The estimate itself, in bytes (0 when the model does not build). */
double hn_experiment_memory_estimate(const cJSON *experiment, const hn_registry *reg,
                                     double *param_bytes, double *activation_bytes);

#endif
