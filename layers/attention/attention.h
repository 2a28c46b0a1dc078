/* Internal to the attention plugin: the instance and the functions its files share. */
#ifndef HN_LAYER_ATTENTION_H
#define HN_LAYER_ATTENTION_H

#include "plugin/plugin.h"

#define HN_INTERNAL __attribute__((visibility("hidden")))

typedef struct hn_attn {
    int d, heads, head_dim, rot_dim;
    int window;            /* < 0: global */
    float theta, scale;    /* rope base; softmax scale 1/sqrt(head_dim) */
    float std_in, std_out; /* init std of Wqkv and of the residual-scaled out_proj */

    const float *wqkv, *wo; /* [3D, D], [D, D] */
    float *gwqkv, *gwo;

    /* work buffers (device), rows = cap; allocated from `be` */
    const hn_backend *be;
    int cap;
    float *lse;  /* [cap, heads] */
    /* kept for backward, in bf16 when the backend stores activations so */
    hn_stash qkv_s; /* [T, 3D] projections, q and k rotated */
    hn_stash att_s; /* [T, D] attention output before out_proj */

    hn_tensor x;    /* forward input (float32 or bf16), valid until the matching backward */
    int T;          /* rows of the last forward */
    int kept;       /* qkv and att hold the last training forward's (not an inference
                     * forward's, and not yet spent by its backward) */

    int step_len; /* max_len of the last state_floats call: sizes the kv ring */
} hn_attn;

/* Makes the work buffers hold at least T rows (geometric growth). */
HN_INTERNAL int hn_attn_reserve(hn_attn *a, const hn_backend *be, int T, hn_error *err);
HN_INTERNAL void hn_attn_release(hn_attn *a);

HN_INTERNAL int hn_attn_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                                hn_error *err);
HN_INTERNAL int hn_attn_backward(void *self, const hn_layer_ctx *ctx, const float *dy,
                                 float *dx, hn_error *err);
/* the typed hooks (layer_abi.h): x and dy as the network's norms wrote them */
HN_INTERNAL int hn_attn_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y,
                                  hn_error *err);
HN_INTERNAL int hn_attn_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dy,
                                   float *dx, hn_error *err);

/* layer_abi.h output_again: out_proj of the kept attention output */
HN_INTERNAL int hn_attn_output_again(void *self, const hn_layer_ctx *ctx, float *y, hn_error *err);

HN_INTERNAL size_t hn_attn_state_floats(void *self, int max_len);
HN_INTERNAL int hn_attn_step(void *self, const hn_backend *be, const float *x, float *y,
                             float *state, const int32_t *pos, int n_seqs, hn_error *err);

#endif
