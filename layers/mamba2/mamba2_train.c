/* The mamba2 plugin's parallel forward and backward over packed sequences.
 *
 *   zxbcdt = x in_proj^T                       [T, d_proj] = z | xBC_in | dt
 *   xbc    = silu(conv1d(xBC_in))              [T, conv_dim] = x | B | C
 *   y      = SSD(x, B, C, dt; dt_bias, A_log, D)
 *   yn     = gated_rmsnorm(y, z; norm.weight)
 *   out    = yn out_proj^T
 * Column slices are passed with row strides, so nothing is copied apart. */
#include <stdlib.h>

#include "mamba2.h"

static void free_buf(const hn_backend *be, float **p) {
    if (*p) be->free(*p);
    *p = NULL;
}

void hn_m2_release(hn_m2 *m) {
    if (!m->be) return;
    float **bufs[] = {&m->rstd, &m->states, &m->ws, &m->s_zx, &m->s_xbc, &m->s_y, &m->s_yn,
                      &m->s_rstd};
    hn_stash_free(&m->zxbcdt);
    hn_stash_free(&m->y);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(m->be, bufs[i]);
    m->cap = m->cap_chunks = m->step_cap = 0;
    m->ws_floats = 0;
}

static int grow(const hn_backend *be, float **p, size_t floats, hn_error *err) {
    free_buf(be, p);
    *p = be->alloc((floats ? floats : 1) * sizeof(float));
    return *p ? HN_OK : hn_fail(err, "mamba2: out of %s memory (%zu floats)", be->name, floats);
}

/* Makes the training buffers hold T rows and n_chunks SSD chunks (geometric growth). */
static int reserve(hn_m2 *m, const hn_backend *be, int T, int n_chunks, hn_error *err) {
    if (m->be && m->be != be) hn_m2_release(m);
    m->be = be;
    if (T > m->cap) {
        int cap = m->cap ? m->cap : 64;
        while (cap < T) cap *= 2;
        size_t c = (size_t)cap;
        if (grow(be, &m->rstd, c * m->ngroups, err)) return HN_ERR;
        m->cap = cap;
    }
    if (n_chunks > m->cap_chunks) {
        int cap = m->cap_chunks ? m->cap_chunks : 4;
        while (cap < n_chunks) cap *= 2;
        size_t per = (size_t)m->nheads * m->headdim * m->d_state;
        if (grow(be, &m->states, (size_t)cap * per, err)) return HN_ERR;
        m->cap_chunks = cap;
    }
    size_t ws = be->ssm->ssd_workspace_floats(&m->dims);
    if (ws > m->ws_floats) {
        if (grow(be, &m->ws, ws, err)) return HN_ERR;
        m->ws_floats = ws;
    }
    return HN_OK;
}

static int check_backend(const hn_backend *be, hn_error *err) {
    const hn_ops_ssm *s = be->ssm;
    if (!s)
        return hn_fail(err, "mamba2: the %s backend has no Mamba-2 ops (backend.ssm is NULL)",
                       be->name);
    if (!s->conv1d_forward_t || !s->conv1d_backward_t || !s->ssd_forward_t ||
        !s->ssd_backward_t || !s->gated_rmsnorm_forward_t || !s->gated_rmsnorm_backward_t ||
        !be->matmul_t || !be->convert || !be->activation_dtype)
        return hn_fail(err, "mamba2: the %s backend lacks typed Mamba-2 ops (ops_ssm.h \"_t\")",
                       be->name);
    return HN_OK;
}

/* The ops' views of zxbcdt's slices (z, the convolution's input, dt) and of xbc. */
static hn_conv1d_params conv_params(const hn_m2 *m, const hn_seqs *seqs, hn_tensor zx,
                                    hn_tensor xbc) {
    hn_conv1d_params p = {.x = hn_tensor_cols(zx, m->d_inner, m->conv_dim), .out = xbc,
                          .w = m->w[M2_CONV_W], .bias = m->w[M2_CONV_B], .seqs = seqs,
                          .K = m->d_conv};
    return p;
}

static hn_ssd_params ssd_params(const hn_m2 *m, const hn_seqs *seqs, hn_tensor zx, hn_tensor xbc) {
    int di = m->d_inner, gn = m->ngroups * m->d_state;
    hn_ssd_params p = {.x = hn_tensor_cols(xbc, 0, di), .B = hn_tensor_cols(xbc, di, gn),
                       .C = hn_tensor_cols(xbc, di + gn, gn),
                       .dt_raw = hn_tensor_cols(zx, di + m->conv_dim, m->nheads),
                       .dt_bias = m->w[M2_DT_BIAS], .A_log = m->w[M2_A_LOG], .D = m->w[M2_D],
                       .seqs = seqs, .dims = &m->dims, .ws = m->ws, .chunk_states = m->states};
    return p;
}

static hn_gated_norm_params norm_params(const hn_m2 *m, hn_tensor y, hn_tensor zx, hn_tensor yn) {
    hn_gated_norm_params p = {.x = y, .z = hn_tensor_cols(zx, 0, m->d_inner), .out = yn,
                              .w = m->w[M2_NORM_W], .rstd = m->rstd,
                              .group_size = m->d_inner / m->ngroups, .eps = m->eps};
    return p;
}

/* the dtype of xbc, the convolution's output: what the backend's SSD reads */
static hn_dtype xbc_dtype(const hn_backend *be) {
    return be->ssm->xbc_dtype ? be->ssm->xbc_dtype(be) : HN_F32;
}

/* zxbcdt and y are kept in the backend's activation dtype, written there by the ops
 * themselves (the in-projection, the SSD) and read as they are in backward; xbc is in
 * the dtype the SSD reads (float32, or bf16 where the backend says so) and, like yn,
 * made again in backward. */
int hn_m2_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *out,
                    hn_error *err) {
    hn_m2 *m = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total;
    if (check_backend(be, err)) return HN_ERR;
    m->x = x;
    m->T = T;
    if (T == 0) return HN_OK;
    if (reserve(m, be, T, hn_ssd_n_chunks(seqs, m->chunk), err)) return HN_ERR;
    const hn_ops_ssm *ssm = be->ssm;
    hn_dtype at = be->activation_dtype(be);
    int d = m->d, di = m->d_inner, dp = m->d_proj;
    hn_tensor xbc = hn_ws_tensor(be, HN_WS_LAYER0, xbc_dtype(be), T, m->conv_dim);
    hn_tensor yn = hn_ws_tensor(be, HN_WS_LAYER1, at, T, di);
    /* an inference forward keeps nothing: zxbcdt and y in workspace slots */
    int inf = ctx->inference;
    m->kept = !inf;
    hn_tensor zx = inf ? hn_ws_activation(be, HN_WS_LAYER2, T, dp)
                       : hn_stash_tensor_begin(&m->zxbcdt, be, T, dp);
    hn_tensor y = inf ? hn_ws_activation(be, HN_WS_LAYER3, T, di)
                      : hn_stash_tensor_begin(&m->y, be, T, di);
    if (!xbc.data || !yn.data || !zx.data || !y.data)
        return hn_fail(err, "mamba2: out of %s memory for %d rows", be->name, T);
    hn_matmul_params in = {.a = x, .b = hn_tensor_f32(m->w[M2_IN_PROJ], dp, d),
                           .c = zx, .trans_b = 1, .alpha = 1.0f};
    hn_conv1d_params cp = conv_params(m, seqs, zx, xbc);
    hn_ssd_params sp = ssd_params(m, seqs, zx, xbc);
    sp.y = y;
    hn_gated_norm_params np = norm_params(m, y, zx, yn);
    hn_matmul_params op = {.a = yn, .b = hn_tensor_f32(m->w[M2_OUT_PROJ], d, di),
                           .c = hn_tensor_f32(out, T, d), .trans_b = 1, .alpha = 1.0f};
    if (be->matmul_t(be, &in) || ssm->conv1d_forward_t(be, &cp) || ssm->ssd_forward_t(be, &sp) ||
        ssm->gated_rmsnorm_forward_t(be, &np) || be->matmul_t(be, &op))
        return hn_fail_op(err, be, "mamba2", "a forward op");
    return HN_OK;
}

int hn_m2_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *out,
                  hn_error *err) {
    return hn_m2_forward_t(self, ctx, hn_tensor_f32(x, ctx->seqs->total, ((hn_m2 *)self)->d),
                           out, err);
}

/* In the bf16 activation dtype dout is bf16 for its two products (rounded here once when
 * it comes as float32), the gradients the products read (dyn, dzxbcdt) are bf16 and each
 * op writes its own columns of dzxbcdt (so nothing is zeroed); dy (the gated norm writes
 * it) is float32, and dxbc (the SSD writes it whole) is in xbc's dtype. */
int hn_m2_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dout, float *dx,
                     hn_error *err) {
    hn_m2 *m = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total;
    if (check_backend(be, err)) return HN_ERR;
    if (T != m->T)
        return hn_fail(err, "mamba2: backward over %d rows after a forward over %d", T, m->T);
    if (!m->kept && T) return hn_fail(err, "mamba2: backward after an inference forward");
    if (T == 0) return HN_OK;
    const hn_ops_ssm *ssm = be->ssm;
    hn_dtype at = be->activation_dtype(be);
    int d = m->d, di = m->d_inner, dp = m->d_proj, cd = m->conv_dim, gn = m->ngroups * m->d_state;
    hn_tensor xbc = hn_ws_tensor(be, HN_WS_LAYER0, xbc_dtype(be), T, cd);
    hn_tensor yn = hn_ws_tensor(be, HN_WS_LAYER1, at, T, di);
    hn_tensor dyn = hn_ws_tensor(be, HN_WS_LAYER2, at, T, di);
    hn_tensor dy = hn_ws_tensor(be, HN_WS_LAYER3, HN_F32, T, di);
    hn_tensor dxbc = hn_ws_tensor(be, HN_WS_LAYER4, xbc_dtype(be), T, cd);
    hn_tensor dzx = hn_ws_tensor(be, HN_WS_LAYER5, at, T, dp);
    hn_tensor dot = dout;
    if (dout.dtype != at) dot = hn_ws_tensor(be, HN_WS_LAYER6, at, T, d);
    hn_tensor zx = hn_stash_tensor(&m->zxbcdt), y = hn_stash_tensor(&m->y);
    if (!xbc.data || !yn.data || !dyn.data || !dy.data || !dxbc.data || !dzx.data || !dot.data ||
        !zx.data || !y.data)
        return hn_fail(err, "mamba2: out of %s memory for %d rows of gradients", be->name, T);
    hn_conv1d_params cp = conv_params(m, seqs, zx, xbc);
    cp.dout = dxbc;
    cp.dx = hn_tensor_cols(dzx, di, cd);
    cp.dw = m->g[M2_CONV_W];
    cp.dbias = m->g[M2_CONV_B];
    hn_ssd_params sp = ssd_params(m, seqs, zx, xbc);
    sp.dy = dy;
    sp.dx = hn_tensor_cols(dxbc, 0, di);
    sp.dB = hn_tensor_cols(dxbc, di, gn);
    sp.dC = hn_tensor_cols(dxbc, di + gn, gn);
    sp.ddt_raw = hn_tensor_cols(dzx, di + cd, m->nheads);
    sp.ddt_bias = m->g[M2_DT_BIAS];
    sp.dA_log = m->g[M2_A_LOG];
    sp.dD = m->g[M2_D];
    sp.overwrite = 1; /* dxbc is written whole by it: no clearing pass before */
    hn_gated_norm_params np = norm_params(m, y, zx, yn);
    np.dout = dyn;
    np.dx = dy;
    np.dz = hn_tensor_cols(dzx, 0, di);
    np.dw = m->g[M2_NORM_W];
    np.overwrite = 1; /* dy is written whole by it (and dz's columns) */
    /* out_proj: dWo += dout^T yn, dyn = dout Wo; in_proj: dWi += dzx^T x, dx += dzx Wi */
    hn_matmul_params dwo = {.a = dot, .b = yn, .c = hn_tensor_f32(m->g[M2_OUT_PROJ], d, di),
                            .trans_a = 1, .alpha = 1.0f, .beta = 1.0f};
    hn_matmul_params dynp = {.a = dot, .b = hn_tensor_f32(m->w[M2_OUT_PROJ], d, di), .c = dyn,
                             .alpha = 1.0f};
    hn_matmul_params dwi = {.a = dzx, .b = m->x,
                            .c = hn_tensor_f32(m->g[M2_IN_PROJ], dp, d), .trans_a = 1,
                            .alpha = 1.0f, .beta = 1.0f};
    hn_matmul_params dxp = {.a = dzx, .b = hn_tensor_f32(m->w[M2_IN_PROJ], dp, d),
                            .c = hn_tensor_f32(dx, T, d), .alpha = 1.0f,
                            .beta = ctx->write_dx ? 0.0f : 1.0f};
    /* float32 gradient views are accumulated by the ops (ops_ssm.h), bf16 ones written */
    if (at == HN_F32) be->zero(dzx.data, (size_t)T * dp * sizeof(float));
    /* xbc and yn again, from the kept zxbcdt and y: the forward's values */
    if ((dout.dtype != at && be->convert(be, dot, dout)) ||
        ssm->conv1d_forward_t(be, &cp) || ssm->gated_rmsnorm_forward_t(be, &np) ||
        be->matmul_t(be, &dwo) || be->matmul_t(be, &dynp) ||
        ssm->gated_rmsnorm_backward_t(be, &np) || ssm->ssd_backward_t(be, &sp) ||
        ssm->conv1d_backward_t(be, &cp) || be->matmul_t(be, &dwi) || be->matmul_t(be, &dxp))
        return hn_fail_op(err, be, "mamba2", "a backward op");
    return HN_OK;
}

int hn_m2_backward(void *self, const hn_layer_ctx *ctx, const float *dout, float *dx,
                   hn_error *err) {
    return hn_m2_backward_t(self, ctx, hn_tensor_f32(dout, ctx->seqs->total, ((hn_m2 *)self)->d),
                            dx, err);
}
