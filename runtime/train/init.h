/* Fine-tuning: a run that starts from a checkpoint's weights (the experiment's
 * `init = checkpoint "PATH"` / `checkpoint { "PATH", freeze = { 0 } }`, recorded in its
 * config as init = {kind, path, freeze}) instead of its initialisation, with the listed
 * stages' parameters (parameter group s = stage s; the embedding and LM head are in
 * stage 0) frozen: no gradient in the norm and clipping, no update, no weight decay. */
#ifndef HN_TRAIN_INIT_H
#define HN_TRAIN_INIT_H

#include <cJSON.h>

#include "model/model.h"

#define HN_INIT_MAX_GROUPS 17

typedef struct hn_init {
    int has;                            /* the config has init */
    char path[1024];                    /* as written (relative: from the current directory) */
    char frozen[HN_INIT_MAX_GROUPS];    /* per parameter group */
    int n_frozen;
} hn_init;

/* Reads cfg's init for a model of n_groups parameter groups (stages 0..n_groups-1);
 * a frozen stage outside them is an error naming the key. */
int hn_init_settings(const cJSON *cfg, int n_groups, hn_init *out, hn_error *err);
/* Loads the weights of in->path (a .safetensors file or a checkpoint folder: its newest
 * intact file) into m, whose parameters must match the checkpoint's by name and shape. */
int hn_init_load(const hn_init *in, hn_model *m, hn_error *err);
/* Zeroes the gradients of the frozen groups (before the gradient norm). */
void hn_init_zero_frozen_grads(const hn_init *in, hn_model *m);

#endif
