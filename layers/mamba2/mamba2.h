/* Internal to the mamba2 plugin: the instance and the functions its files share. */
#ifndef HN_LAYER_MAMBA2_H
#define HN_LAYER_MAMBA2_H

#include "backend/ops_ssm.h"
#include "plugin/plugin.h"

#define HN_INTERNAL __attribute__((visibility("hidden")))

/* Parameter indices, in describe_params order. */
enum {
    M2_IN_PROJ = 0, /* [d_proj, d]: rows z | x | B | C | dt */
    M2_CONV_W,      /* [conv_dim, 1, d_conv] */
    M2_CONV_B,      /* [conv_dim] */
    M2_DT_BIAS,     /* [nheads] */
    M2_A_LOG,       /* [nheads] */
    M2_D,           /* [nheads] */
    M2_NORM_W,      /* [d_inner] */
    M2_OUT_PROJ,    /* [d, d_inner] */
    M2_N_PARAMS
};

typedef struct hn_m2 {
    int d, d_inner, nheads, headdim, d_state, ngroups, d_conv, chunk;
    int conv_dim; /* d_inner + 2 ngroups d_state: the channels of x | B | C */
    int d_proj;   /* 2 d_inner + 2 ngroups d_state + nheads */
    float dt_min, dt_max, dt_floor, eps;
    float std_in, std_out; /* init std of in_proj and of the residual-scaled out_proj */
    hn_ssm_dims dims;

    const float *w[M2_N_PARAMS]; /* parameter values (device) */
    float *g[M2_N_PARAMS];       /* parameter gradients (device) */

    /* training work buffers (device) for cap rows / cap_chunks SSD chunks */
    const hn_backend *be;
    int cap, cap_chunks;
    size_t ws_floats;
    hn_stash zxbcdt; /* [T, d_proj] input projection, kept (bf16 when the backend says so) */
    hn_stash y;      /* [T, d_inner] SSD output, kept likewise */
    float *rstd;    /* [cap, ngroups] */
    float *states;  /* [cap_chunks, nheads, headdim, d_state] */
    float *ws;      /* SSD scratch */
    /* the convolution output xbc, the gated-norm output yn and all gradient buffers
     * are recomputed / made in the backend's shared workspace (be->workspace) */

    hn_tensor x;    /* forward input (float32 or bf16), valid until the matching backward */
    int T;
    int kept; /* the last forward kept zxbcdt and y (not an inference forward) */

    /* inference work buffers, separate so that stepping never clobbers a forward */
    int step_cap;
    float *s_zx, *s_xbc, *s_y, *s_yn, *s_rstd;
} hn_m2;

HN_INTERNAL void hn_m2_release(hn_m2 *m);
HN_INTERNAL int hn_m2_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                              hn_error *err);
HN_INTERNAL int hn_m2_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                               hn_error *err);
/* the typed hooks (layer_abi.h): x and dy as the network's norms wrote them */
HN_INTERNAL int hn_m2_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y,
                                hn_error *err);
HN_INTERNAL int hn_m2_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dy, float *dx,
                                 hn_error *err);
HN_INTERNAL size_t hn_m2_state_floats(void *self, int max_len);
HN_INTERNAL int hn_m2_step(void *self, const hn_backend *be, const float *x, float *y,
                           float *state, const int32_t *pos, int n_seqs, hn_error *err);

#endif
