/* A network: a stack of residual sublayers built from a layout string ("T1m4"), each
 * y = x + f(RMSNorm(x)), closed by a final RMSNorm. Encoder, decoder and main networks
 * of every stage are networks; so is the backbone of an isotropic model.
 *
 * Parameter names follow the reference H-Net: PREFIX.layers.B.norm1.weight,
 * PREFIX.layers.B.mixer.*, PREFIX.layers.B.norm2.weight, PREFIX.layers.B.mlp.*,
 * PREFIX.rmsnorm.weight. */
#ifndef HN_NETWORK_H
#define HN_NETWORK_H

#include <cJSON.h>

#include "model/layer.h"
#include "plugin/registry.h"

#define HN_NETWORK_FINAL_AT_START 4

typedef struct hn_sublayer {
    hn_layer layer;
    int norm_param; /* index of its pre-norm weight in the store */
} hn_sublayer;

typedef struct hn_network {
    int d;
    float eps;
    int n_blocks;
    int n_sub;
    hn_sublayer *subs;
    int final_norm_param;
    const hn_param_store *store;
    /* Entries whose gradients are final when this network's backward starts, reported
     * then (hn_params_grads_done): an encoder's stage computes its routing, residual
     * projection and pad gradients before the encoder's backward (set by
     * hn_model_build; ranges of count 0 are unused) */
    struct { int first, count; } final_at_start[HN_NETWORK_FINAL_AT_START];

    /* activations, sized for max_T rows (grown geometrically, never per step) */
    int max_T;
    int full;       /* the training set below is allocated (else an inference forward's) */
    float **resid;  /* n_sub + 1 [T, d]: the residual stream before each sublayer */
    /* again[k] (training): resid[k] has no buffer of its own. Sublayer k-1 can make its
     * output again (layer_abi.h output_again), so resid[k] lives in resid[k+1]'s buffer
     * until sublayer k has added its branch (which the forward writes into d_resid,
     * unused until the backward, and adds to resid[k] in place), and the backward makes
     * it again there once resid[k+1] is spent: one float32 [T, d] buffer fewer for each. */
    unsigned char *again;
    int keep_resid; /* set by the owner: keep every residual (no output_again) */
    float *normed;  /* [T, d] the current sublayer's pre-norm output (its input), in the
                     * widest input dtype of the sublayers; recomputed before its
                     * backward, at the same address */
    float **rstd;   /* n_sub + 1 buffers [T]: the last is the final norm's */
    float *d_resid; /* [T, d] */
    float *d_normed;/* [T, d] the current sublayer's input gradient (dy_spare: none) */
    void *d_resid16;/* [T, d] bf16: d_resid rounded once by the norm's backward, the dy of
                     * a typed sublayer's products (bf16 activation dtype only) */
    double aux;     /* sum of the sublayers' auxiliary losses in the last forward */
    /* Set by the owner before the first forward: the final norm also writes its output
     * in the backend's activation dtype when that is not float32 (out16), for the
     * owner's products (LM head, routing, residual projection) to read as it is. */
    int want_out16;
    void *out16;    /* [T, d] bf16 (want_out16 and a bf16 activation dtype; else NULL):
                     * normed's buffer, free once the last sublayer has read it and until
                     * the backward makes the last pre-norm again */
    /* Likewise for the backward: the gradient it adds into dx, rounded once into
     * d_resid16 by the first pre-norm's backward, for the owner's products */
    int want_din16;
    /* Set by the owner before the first forward: the dy it gives the backward is its
     * scratch, which the backward may write over once the final norm's backward has read
     * it: it serves as d_normed, so the network allocates none. */
    int dy_spare;
    int inference;  /* set by the caller: forwards keep nothing for a backward (below) */
    int last_inference; /* the last forward was one: backward is refused */
} hn_network;

/* Builds the sublayers of `layout` (e.g. "T1m4") at width d for stage `stage`.
 * model is the resolved model config: its "layers" section gives each mixer plugin's
 * per-stage config and "mlp" the per-stage MLP choice. */
int hn_network_build(hn_network *net, const char *layout, int d, int stage, const cJSON *model,
                     const hn_registry *reg, hn_param_store *store, const char *prefix,
                     int group, hn_error *err);
/* After hn_params_allocate. */
void hn_network_bind(hn_network *net, const hn_param_store *store);
void hn_network_free(hn_network *net, const hn_backend *be);

/* y = RMSNorm(stack(x)), x and y [T, d] with T = seqs->total. With net->inference the
 * residual stream alternates between two buffers instead of keeping one per sublayer,
 * and the sublayers are told (hn_layer_ctx.inference): the same y, nothing kept. */
int hn_network_forward(hn_network *net, const hn_backend *be, const hn_seqs *seqs,
                       const float *x, float *y, hn_error *err);
/* The final norm's output of the last forward as the backend's activation dtype wrote
 * it: out16 when the network made one, else y (float32) as given to the forward. */
hn_tensor hn_network_output(const hn_network *net, const float *y, int T);
/* The gradient the last backward added into dx, in the activation dtype: d_resid16 when
 * the network made it (want_din16, bf16 activations), else dx itself (float32; equal to
 * what was added when dx was zero before, as the owner's products assume). */
hn_tensor hn_network_input_grad(const hn_network *net, const float *dx, int T);
/* dx += d/dx of the last forward applied to dy; parameter gradients accumulate. dx NULL:
 * the gradient is left in the network, read with hn_network_input_grad_f32 (until its
 * next forward or backward: a forward that makes residuals again writes there), instead
 * of added into a buffer of the owner's. With net->dy_spare the backward also uses dy's
 * memory as its scratch once it has read it: the caller's dy is spent afterwards. */
int hn_network_backward(hn_network *net, const hn_backend *be, const hn_seqs *seqs,
                        const float *dy, float *dx, hn_error *err);
/* [T, d] float32: the input gradient of the last backward (its d_resid) */
const float *hn_network_input_grad_f32(const hn_network *net);
/* Forward FLOPs for sequences of these lengths (sum over sublayers). */
double hn_network_flops(const hn_network *net, const int32_t *lens, int n);

/* Parses one layout string into (letter, count) runs; returns the number of runs or
 * HN_ERR with a message naming the bad character. */
int hn_layout_parse(const char *layout, char *letters, int *counts, int max_runs, hn_error *err);

#endif
