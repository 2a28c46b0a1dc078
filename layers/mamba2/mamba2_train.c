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
    if (!be->ssm)
        return hn_fail(err, "mamba2: the %s backend has no Mamba-2 ops (backend.ssm is NULL)",
                       be->name);
    return HN_OK;
}

int hn_m2_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *out,
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
    int di = m->d_inner, dp = m->d_proj, cd = m->conv_dim, gn = m->ngroups * m->d_state;
    /* xbc and yn are cheap to recompute, so they live in the shared workspace and only
     * zxbcdt, y and rstd are kept for backward */
    float *xbc = be->workspace(HN_WS_LAYER0, (size_t)T * cd * sizeof(float));
    float *yn = be->workspace(HN_WS_LAYER1, (size_t)T * di * sizeof(float));
    float *zx = hn_stash_begin(&m->zxbcdt, be, HN_WS_LAYER6, (size_t)T * dp);
    float *y = hn_stash_begin(&m->y, be, HN_WS_LAYER7, (size_t)T * di);
    if (!xbc || !yn || !zx || !y)
        return hn_fail(err, "mamba2: out of %s memory for %d rows", be->name, T);
    be->matmul(0, 1, T, dp, m->d, 1.0f, x, m->w[M2_IN_PROJ], 0.0f, zx);
    ssm->conv1d_forward(xbc, zx + di, dp, m->w[M2_CONV_W], m->w[M2_CONV_B], seqs, cd,
                        m->d_conv);
    ssm->ssd_forward(y, m->states, NULL, 0, xbc, xbc + di, xbc + di + gn, cd,
                     zx + di + cd, dp, m->w[M2_DT_BIAS], m->w[M2_A_LOG], m->w[M2_D],
                     seqs, &m->dims, m->ws);
    ssm->gated_rmsnorm_forward(yn, m->rstd, y, zx, dp, m->w[M2_NORM_W], T, di,
                               di / m->ngroups, m->eps);
    be->matmul(0, 1, T, m->d, di, 1.0f, yn, m->w[M2_OUT_PROJ], 0.0f, out);
    hn_stash_end(&m->zxbcdt);
    hn_stash_end(&m->y);
    return HN_OK;
}

int hn_m2_backward(void *self, const hn_layer_ctx *ctx, const float *dout, float *dx,
                   hn_error *err) {
    hn_m2 *m = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total;
    if (check_backend(be, err)) return HN_ERR;
    if (T != m->T)
        return hn_fail(err, "mamba2: backward over %d rows after a forward over %d", T, m->T);
    if (T == 0) return HN_OK;
    const hn_ops_ssm *ssm = be->ssm;
    int di = m->d_inner, dp = m->d_proj, cd = m->conv_dim, gn = m->ngroups * m->d_state;
    size_t f = sizeof(float);
    float *xbc = be->workspace(HN_WS_LAYER0, (size_t)T * cd * f);
    float *yn = be->workspace(HN_WS_LAYER1, (size_t)T * di * f);
    float *dyn = be->workspace(HN_WS_LAYER2, (size_t)T * di * f);
    float *dy = be->workspace(HN_WS_LAYER3, (size_t)T * di * f);
    float *dxbc = be->workspace(HN_WS_LAYER4, (size_t)T * cd * f);
    float *dzxbcdt = be->workspace(HN_WS_LAYER5, (size_t)T * dp * f);
    const float *zx = hn_stash_get(&m->zxbcdt, HN_WS_LAYER6),
                *y = hn_stash_get(&m->y, HN_WS_LAYER7);
    if (!xbc || !yn || !dyn || !dy || !dxbc || !dzxbcdt || !zx || !y)
        return hn_fail(err, "mamba2: out of %s memory for %d rows of gradients", be->name, T);
    /* the forward's xbc and yn again (the same values in float32 mode; in bf16 mode
     * recomputed from the rounded zx and y, while m->states hold the fp32 forward's) */
    ssm->conv1d_forward(xbc, zx + di, dp, m->w[M2_CONV_W], m->w[M2_CONV_B], seqs, cd,
                        m->d_conv);
    ssm->gated_rmsnorm_forward(yn, m->rstd, y, zx, dp, m->w[M2_NORM_W], T, di,
                               di / m->ngroups, m->eps);
    /* out_proj */
    be->matmul(0, 0, T, di, m->d, 1.0f, dout, m->w[M2_OUT_PROJ], 0.0f, dyn);
    be->matmul(1, 0, m->d, di, T, 1.0f, dout, yn, 1.0f, m->g[M2_OUT_PROJ]);
    be->zero(dzxbcdt, (size_t)T * dp * f);
    be->zero(dy, (size_t)T * di * f);
    be->zero(dxbc, (size_t)T * cd * f);
    ssm->gated_rmsnorm_backward(dy, dzxbcdt, dp, m->g[M2_NORM_W], dyn, y, zx, dp,
                                m->w[M2_NORM_W], m->rstd, T, di, di / m->ngroups);
    ssm->ssd_backward(dxbc, dxbc + di, dxbc + di + gn, cd, dzxbcdt + di + cd, dp,
                      m->g[M2_DT_BIAS], m->g[M2_A_LOG], m->g[M2_D], dy, xbc, xbc + di,
                      xbc + di + gn, cd, zx + di + cd, dp, m->w[M2_DT_BIAS],
                      m->w[M2_A_LOG], m->w[M2_D], m->states, seqs, &m->dims, m->ws);
    ssm->conv1d_backward(dzxbcdt + di, dp, m->g[M2_CONV_W], m->g[M2_CONV_B], dxbc,
                         zx + di, dp, m->w[M2_CONV_W], m->w[M2_CONV_B], seqs, cd,
                         m->d_conv);
    /* in_proj */
    be->matmul(1, 0, dp, m->d, T, 1.0f, dzxbcdt, m->x, 1.0f, m->g[M2_IN_PROJ]);
    be->matmul(0, 0, T, m->d, dp, 1.0f, dzxbcdt, m->w[M2_IN_PROJ], 1.0f, dx);
    return HN_OK;
}
