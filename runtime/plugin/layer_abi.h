/* The layer plugin ABI. A layer plugin is a residual sublayer y = x + f(norm(x)): the
 * runtime owns the RMSNorm and the residual stream; the plugin computes f. Mixers
 * (attention, mamba2) and MLPs (swiglu, moe) share this one interface.
 *
 * A plugin is a shared object exporting hn_plugin_entry (plugin/plugin.h), which hands
 * the runtime this table; its abi_version is HN_LAYER_ABI_VERSION. Fields are only
 * appended: a new one bumps the version and gets its size in registry.c's table, and
 * older tables still load (the fields they lack read as zero: optional hooks absent);
 * any other change of shape also raises the oldest version accepted there. What a plugin needs from
 * the runtime's core comes through the host API table (plugin/host_api.h).
 *
 * Lifecycle: create(args) -> describe_params -> (runtime allocates and initialises
 * parameters) -> bind -> forward/backward (many times) -> destroy.
 * Device access goes through ctx->be only (runtime/backend/backend.h). */
#ifndef HN_LAYER_ABI_H
#define HN_LAYER_ABI_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "plugin/config_view.h"

/* 2: the backend table grew (workspace, bf16 storage, fused loss, MoE ops) and the
 * optional tail hooks (aux_loss .. active_param_count) were added;
 * 3: plugin API v2 -- config through hn_config accessors, core through the host API;
 * 4: the typed hooks forward_t and backward_t appended, and hn_layer_ctx.inference (a
 *    version-3 plugin never reads the field and runs its normal forward, still right);
 * 5: the optional output_again appended (the network rebuilds a residual instead of
 *    keeping it; a version-4 plugin has none and its residuals stay kept);
 * 6: writes_dx appended, and hn_layer_ctx.write_dx (a plugin that sets writes_dx
 *    writes dx instead of adding to it when asked, so the network clears nothing for
 *    it; older plugins read as writes_dx = 0 and get a cleared dx as before) */
#define HN_LAYER_ABI_VERSION 6u

/* A block letter: a mixer plugin plus optionally an MLP. mlp == NULL: no MLP;
 * mlp == "*": the MLP the stage chooses (swiglu by default, or moe{...});
 * any other string: that MLP plugin by name. */
typedef struct hn_letter_def {
    char letter;
    const char *mixer;
    const char *mlp;
} hn_letter_def;

/* One config key the plugin accepts. type is one of "integer", "number", "boolean",
 * "string", "window" (a non-negative integer or the string "global"). default_json is a
 * JSON literal ("64", "\"global\"", "true") or NULL when the key is required. The
 * runtime validates user input against this list (with file:line) and fills defaults,
 * so create() can read every key without checking. */
typedef struct hn_config_key {
    const char *key;
    const char *type;
    const char *default_json;
    const char *help;
} hn_config_key;

typedef enum hn_init_kind {
    HN_INIT_ZEROS = 0,
    HN_INIT_ONES,
    HN_INIT_NORMAL,  /* normal(0, a) */
    HN_INIT_UNIFORM, /* uniform(a, b) */
    HN_INIT_CUSTOM,  /* plugin's init_custom() fills the values */
} hn_init_kind;

#define HN_PARAM_MAX_DIMS 4

/* One parameter tensor. The plugin fills name..weight_decay in describe_params; the
 * runtime fills value and grad (device pointers) before bind. Names follow the
 * reference PyTorch H-Net state dict, relative to the sublayer (e.g. "in_proj.weight";
 * the runtime prefixes "backbone.layers.3.mixer."). */
typedef struct hn_param {
    char name[96];
    int ndim;
    int64_t shape[HN_PARAM_MAX_DIMS];
    hn_init_kind init;
    float a, b;
    int weight_decay; /* 1: decayed by AdamW; 0: norms, biases, SSM scalars */
    float *value;
    float *grad;
} hn_param;

/* A weight matrix [rows, cols] with normal(0, std) init and weight decay (the shape
 * of every linear layer's weight). */
static inline void hn_param_matrix(hn_param *p, const char *name, int64_t rows, int64_t cols,
                                   float std) {
    *p = (hn_param){.ndim = 2, .shape = {rows, cols}, .init = HN_INIT_NORMAL, .a = std,
                    .weight_decay = 1};
    snprintf(p->name, sizeof p->name, "%s", name);
}

/* What create() gets. cfg is the plugin's own section of the resolved config for this
 * stage, validated against config_keys with defaults filled in (never NULL). */
typedef struct hn_layer_args {
    int d_model;
    int stage;      /* 0 = outermost */
    int layer;      /* index of this sublayer in its network */
    int n_layers;   /* sublayers in its network (for residual-scaled init) */
    const hn_config *cfg; /* read with hn_config_number / _string / _bool */
} hn_layer_args;

/* Per-call context. seqs describes how the T rows of x are split into sequences.
 * inference (ABI 4): 1 when no backward follows this forward (evaluation, validation,
 * task scoring): the plugin may skip what only its backward reads (kept activations),
 * writing them to workspace slots instead, but must give the same y to the bit. The
 * runtime never calls backward after such a forward. Only appended fields may follow. */
typedef struct hn_layer_ctx {
    const hn_backend *be;
    const hn_seqs *seqs;
    int inference;
    /* ABI 6, backward only, and only for a plugin whose table sets writes_dx: 1 when dx
     * holds nothing to keep, so backward writes d f / dx over it (=) instead of adding */
    int write_dx;
} hn_layer_ctx;

/* A workspace slot (hn_backend.workspace) as a packed [rows, cols] view of dtype, for a
 * buffer that lives only inside one forward or backward call; data NULL when out of
 * memory. */
static inline hn_tensor hn_ws_tensor(const hn_backend *be, int slot, hn_dtype dtype, int rows,
                                     int cols) {
    size_t bytes = (size_t)rows * cols * hn_dtype_size(dtype);
    return hn_tensor_of(be->workspace(slot, bytes ? bytes : 1), dtype, rows, cols);
}

/* An activation an inference forward (hn_layer_ctx.inference) writes where its training
 * forward writes a kept one (hn_stash_tensor_begin): a workspace slot of the backend's
 * activation dtype, the same dtype the stash would have, so the same values follow. */
static inline hn_tensor hn_ws_activation(const hn_backend *be, int slot, int rows, int cols) {
    return hn_ws_tensor(be, slot, be->activation_dtype(be), rows, cols);
}

/* One named scalar of a layer's last forward pass (see hn_layer_plugin.metrics). */
typedef struct hn_layer_metric {
    char name[48];
    double value;
} hn_layer_metric;

typedef struct hn_layer_plugin {
    uint32_t abi_version;
    const char *name;    /* e.g. "attention"; also the Lua config section name */
    const char *version; /* plugin's own version string */
    const char *role;    /* "mixer" or "mlp" */
    const hn_letter_def *letters;
    int n_letters;
    const hn_config_key *config_keys;
    int n_config_keys;

    int (*create)(const hn_layer_args *args, void **self, hn_error *err);
    void (*destroy)(void *self, const hn_backend *be);

    int (*param_count)(void *self);
    void (*describe_params)(void *self, hn_param *params);
    /* Fills host memory for params with init == HN_INIT_CUSTOM; may be NULL otherwise. */
    void (*init_custom)(void *self, int index, float *host, size_t n, hn_rng *rng);
    /* The list of describe_params, same order, value/grad set (names now carry the
     * runtime's prefix). The plugin keeps the pointers, not the array. */
    void (*bind)(void *self, const hn_param *params);

    /* y = f(x) for the T = ctx->seqs->total rows of x ([T, d_model]); y is overwritten.
     * x's address stays valid until the matching backward and holds the same values
     * again when backward is called (the runtime reuses one input buffer for all
     * sublayers and recomputes it). Buffers kept from forward to backward are the
     * plugin's: allocate through ctx->be, size for the largest T seen, grow
     * geometrically, never per step. Buffers needed only within one call come from
     * ctx->be->workspace (shared by all layers). */
    int (*forward)(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                   hn_error *err);
    /* dx += d f / dx applied to dy (dx = ..., when ctx->write_dx: ABI 6); parameter grads
     * accumulate into hn_param.grad. */
    int (*backward)(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                    hn_error *err);

    /* Forward FLOPs for sequences of the given lengths (Appendix B of the paper:
     * 2 per multiply-accumulate). A training step counts 3x this. */
    double (*flops)(void *self, const int32_t *seq_lens, int n_seqs);

    /* Inference (may be NULL: the layer cannot step). Per-sequence state of
     * state_floats(max_len) floats; step advances n_seqs independent sequences by one
     * position each: x, y are [n_seqs, d_model]; state is [n_seqs, state_floats];
     * pos (device, [n_seqs]) is the position of the new row within its sequence;
     * pos < 0: that sequence does not advance in this call (batched generation steps an
     * inner network for all sequences when any reached it): leave its state as it is. */
    size_t (*state_floats)(void *self, int max_len);
    int (*step)(void *self, const hn_backend *be, const float *x, float *y, float *state,
                const int32_t *pos, int n_seqs, hn_error *err);

    /* ---- optional hooks (NULL: not provided) ---- */
    /* The auxiliary loss of the last forward, already weighted (e.g. MoE load balancing,
     * router z-loss); it is added to the training objective and backward includes its
     * gradient. */
    double (*aux_loss)(void *self);
    /* Named scalars of the last forward (expert utilisation, dropped tokens, ...);
     * returns how many were written (at most max). Logged per step to results.db. */
    int (*metrics)(void *self, hn_layer_metric *out, int max);
    /* Forward over ctx->seqs (one sequence per state row) that also leaves each
     * sequence's inference state as `step` would have after its last position, so
     * generation continues from a parallel prefill. */
    int (*prefill)(void *self, const hn_layer_ctx *ctx, const float *x, float *y, float *state,
                   hn_error *err);
    /* Parameters one token uses in a forward pass (NULL: all of them). A sparse layer
     * (MoE: the router and top_k of its experts) reports fewer than it holds. */
    int64_t (*active_param_count)(void *self);

    /* ---- typed hooks (ABI 4; NULL: the runtime calls forward and backward) ----
     * forward_t is forward with x a typed view ([T, d_model], float32 or the backend's
     * activation dtype: bf16 on cuda), so the layer's products read x as the runtime's
     * RMSNorm wrote it, with no rounding per call; x's memory is kept as forward's.
     * backward_t is backward with dy a typed view, likewise (a bf16 dy is the float32
     * gradient rounded once, for the layer's products). A layer with forward_t has
     * backward_t too. */
    int (*forward_t)(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y, hn_error *err);
    int (*backward_t)(void *self, const hn_layer_ctx *ctx, hn_tensor dy, float *dx,
                      hn_error *err);

    /* ---- ABI 5 (NULL: not provided) ----
     * y again, equal to the bit to what the last training forward wrote, made from what
     * that forward kept (x is not given), before the matching backward. A layer whose
     * output is cheap to make again offers it (attention: the out_proj product of its
     * kept output), and the runtime keeps one float32 residual buffer fewer for it: the
     * residual after the layer is made again from the one before (bench/MEMORY.md). */
    int (*output_again)(void *self, const hn_layer_ctx *ctx, float *y, hn_error *err);

    /* ---- ABI 6 (0: not provided) ----
     * 1: backward (and backward_t) honour ctx->write_dx, writing dx rather than adding to
     * it when it is set (its last product into dx with beta 0), so the network need not
     * clear the buffer before each sublayer's backward. `hnet plugins --check` checks
     * the claim (dx written over NaN equals dx added to zeros, to the bit). */
    int writes_dx;
} hn_layer_plugin;

#endif
