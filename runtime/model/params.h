/* The parameter store: every parameter of a model in one contiguous value buffer and
 * one contiguous gradient buffer on the device, with names, shapes, weight-decay flags
 * and parameter groups (per-stage learning-rate multipliers). Initialisation is
 * deterministic: each parameter draws from its own generator derived from
 * (seed, its index), so adding a parameter never shifts the values of another. */
#ifndef HN_PARAMS_H
#define HN_PARAMS_H

#include "plugin/layer_abi.h"

typedef void (*hn_init_custom_fn)(void *self, int index, float *host, size_t n, hn_rng *rng);

typedef struct hn_param_entry {
    hn_param p;       /* full name (e.g. "backbone.layers.0.mixer.Wqkv.weight"), shape, init */
    size_t offset;    /* in floats, into values/grads */
    size_t numel;
    int group;        /* parameter group (stage) for LR multipliers */
    /* HN_INIT_CUSTOM: init_custom(owner, owner_index, ...) fills the values */
    hn_init_custom_fn init_custom;
    void *owner;
    int owner_index;  /* index of this param within its owner's list */
} hn_param_entry;

/* Told that the gradients of entries [first, first + count) are final for this backward:
 * nothing adds to them again before the next. Data-parallel training starts a bucket's
 * all-reduce once every entry it covers is final (train/grad_overlap.h). */
typedef void (*hn_grads_done_fn)(void *ctx, int first, int count);

typedef struct hn_param_store {
    const hn_backend *be;
    hn_param_entry *entries;
    int n, cap;
    size_t total;     /* floats */
    float *values;    /* device */
    float *grads;     /* device */
    hn_grads_done_fn grads_done; /* NULL (one process): the backward's calls cost nothing */
    void *grads_ctx;
} hn_param_store;

/* The backward's report that entries [first, first + count) are final (see above). */
static inline void hn_params_grads_done(const hn_param_store *s, int first, int count) {
    if (s->grads_done && count > 0) s->grads_done(s->grads_ctx, first, count);
}

void hn_params_init(hn_param_store *s, const hn_backend *be);
void hn_params_free(hn_param_store *s);

/* Declares a parameter (before hn_params_allocate). Returns its index. The name is
 * prefix + p->name. */
int hn_params_declare(hn_param_store *s, const char *prefix, const hn_param *p, int group,
                      hn_init_custom_fn init_custom, void *owner, int owner_index);

/* Allocates the buffers, initialises every parameter from seed, uploads, and sets
 * entries[i].p.value/grad. Gradients start at zero. */
int hn_params_allocate(hn_param_store *s, uint64_t seed, hn_error *err);

/* Copies entries [first, first+count) (with value/grad set) into out, for a plugin's
 * bind(). */
void hn_params_slice(const hn_param_store *s, int first, int count, hn_param *out);

void hn_params_zero_grads(hn_param_store *s);
int hn_params_find(const hn_param_store *s, const char *name);

#endif
