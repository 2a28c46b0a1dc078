/* The chunker plugin ABI (plugins/): given the encoder outputs of a stage, produce the
 * boundary probabilities p_t in [0, 1], and in backward the gradient back to the encoder
 * outputs and the chunker's own parameters. The stage derives b_t = p_t > 0.5, so a
 * hard rule (space, pool) returns p in {0, 1} and is not differentiable.
 *
 * A chunker is a shared object exporting hn_plugin_entry (plugin/plugin.h).
 * Parameters work as for layer plugins (layer_abi.h): describe, runtime allocates, bind. */
#ifndef HN_CHUNKER_ABI_H
#define HN_CHUNKER_ABI_H

#include "plugin/layer_abi.h"

/* 2: the backend table (reached through ctx) grew; 3: plugin API v2 (hn_config) */
#define HN_CHUNKER_ABI_VERSION 3u

typedef struct hn_chunker_args {
    int d_model;
    int stage;
    const hn_config *cfg; /* the chunker section, validated against config_keys, defaults filled */
} hn_chunker_args;

typedef struct hn_chunker_ctx {
    const hn_backend *be;
    const hn_seqs *seqs;
    /* the byte each row stands for (device, [T]): the input byte at stage 0, the byte at
     * the boundary position at deeper stages; used by rule-based chunkers */
    const int32_t *bytes;
    /* forward only: x again in the backend's activation dtype (bf16 on cuda), the same
     * values rounded once by the encoder's final norm, for the chunker's products to
     * read as they are; data NULL when there is none (float32 activations) */
    hn_tensor x_typed;
} hn_chunker_ctx;

typedef struct hn_chunker_plugin {
    uint32_t abi_version;
    const char *name;
    const char *version;
    const hn_config_key *config_keys;
    int n_config_keys;
    int differentiable; /* 0: p is a hard 0/1 rule; backward adds nothing */

    int (*create)(const hn_chunker_args *args, void **self, hn_error *err);
    void (*destroy)(void *self, const hn_backend *be);
    int (*param_count)(void *self);
    void (*describe_params)(void *self, hn_param *params);
    void (*init_custom)(void *self, int index, float *host, size_t n, hn_rng *rng);
    void (*bind)(void *self, const hn_param *params);

    /* p[t] for the T = ctx->seqs->total rows of x [T, d_model]; p = 1 at every sequence
     * start. x stays valid until the matching backward. */
    int (*forward)(void *self, const hn_chunker_ctx *ctx, const float *x, float *p, hn_error *err);
    /* dx += dp/dx^T dp; parameter grads accumulate. */
    int (*backward)(void *self, const hn_chunker_ctx *ctx, const float *dp, float *dx,
                    hn_error *err);
    double (*flops)(void *self, int T);

    /* ---- optional (NULL: the chunker cannot step, so generation refuses the model) ----
     * Inference (the routing step of Section 2.4): p for one new row of each of n
     * sequences. x [n, d_model] (device): the encoder outputs of the new rows; bytes and
     * pos (host, [n]): the byte each row stands for and its position in its sequence;
     * state (device, [n, step_state_floats]): what the rule keeps of earlier rows (dc:
     * the previous row; space: the previous byte; pool: nothing) -- position 0 resets
     * it, so it needs no zeroing. p (device, [n]) is overwritten; p = 1 at position 0.
     * pos[i] < 0: sequence i does not advance in this call (batched generation steps
     * an inner stage for all sequences when any reached it): leave its state and p[i]. */
    size_t (*step_state_floats)(void *self);
    int (*step)(void *self, const hn_backend *be, const float *x, const int32_t *bytes,
                const int32_t *pos, float *state, float *p, int n, hn_error *err);
} hn_chunker_plugin;

#endif
