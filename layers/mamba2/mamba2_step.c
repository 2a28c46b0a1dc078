/* The mamba2 plugin's inference step: one new row for each of n sequences.
 *
 * Per-sequence state (state_floats floats): the convolution history [d_conv-1,
 * conv_dim] (the last inputs of x | B | C, oldest first), then the SSM state
 * [nheads, headdim, d_state]. Position 0 clears both, so states need no zeroing.
 * The same arithmetic as the parallel forward: stepping a sequence row by row
 * reproduces its outputs. */
#include "mamba2.h"

static size_t conv_floats(const hn_m2 *m) { return (size_t)(m->d_conv - 1) * m->conv_dim; }

size_t hn_m2_state_floats(void *self, int max_len) {
    hn_m2 *m = self;
    return conv_floats(m) + (size_t)m->nheads * m->headdim * m->d_state;
}

static int reserve_step(hn_m2 *m, const hn_backend *be, int n, hn_error *err) {
    if (m->be && m->be != be) hn_m2_release(m);
    m->be = be;
    if (n <= m->step_cap) return HN_OK;
    int cap = m->step_cap ? m->step_cap : 8;
    while (cap < n) cap *= 2;
    float **bufs[] = {&m->s_zx, &m->s_xbc, &m->s_y, &m->s_yn, &m->s_rstd};
    size_t widths[] = {(size_t)m->d_proj, (size_t)m->conv_dim, (size_t)m->d_inner,
                       (size_t)m->d_inner, (size_t)m->ngroups};
    for (int i = 0; i < 5; i++) {
        if (*bufs[i]) be->free(*bufs[i]);
        *bufs[i] = be->alloc((size_t)cap * widths[i] * sizeof(float));
        if (!*bufs[i]) return hn_fail(err, "mamba2: out of %s memory for stepping", be->name);
    }
    m->step_cap = cap;
    return HN_OK;
}

int hn_m2_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
               const int32_t *pos, int n, hn_error *err) {
    hn_m2 *m = self;
    if (!be->ssm)
        return hn_fail(err, "mamba2: the %s backend has no Mamba-2 ops (backend.ssm is NULL)",
                       be->name);
    if (n <= 0) return HN_OK;
    if (reserve_step(m, be, n, err)) return HN_ERR;
    const hn_ops_ssm *ssm = be->ssm;
    int di = m->d_inner, dp = m->d_proj, cd = m->conv_dim, gn = m->ngroups * m->d_state;
    size_t stride = hn_m2_state_floats(m, 0);
    be->matmul(0, 1, n, dp, m->d, 1.0f, x, m->w[M2_IN_PROJ], 0.0f, m->s_zx);
    ssm->conv1d_step(m->s_xbc, state, stride, m->s_zx + di, dp, m->w[M2_CONV_W],
                     m->w[M2_CONV_B], pos, n, cd, m->d_conv);
    ssm->ssd_step(m->s_y, state + conv_floats(m), stride, m->s_xbc, m->s_xbc + di,
                  m->s_xbc + di + gn, cd, m->s_zx + di + cd, dp, m->w[M2_DT_BIAS],
                  m->w[M2_A_LOG], m->w[M2_D], pos, n, &m->dims);
    ssm->gated_rmsnorm_forward(m->s_yn, m->s_rstd, m->s_y, m->s_zx, dp, m->w[M2_NORM_W], n, di,
                               di / m->ngroups, m->eps);
    be->matmul(0, 1, n, m->d, di, 1.0f, m->s_yn, m->w[M2_OUT_PROJ], 0.0f, y);
    return HN_OK;
}
