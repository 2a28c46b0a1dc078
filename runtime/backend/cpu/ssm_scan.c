/* cpu chunked SSD scan of Mamba-2 (Dao & Gu 2024, "state space duality").
 *
 * Per head, inside one chunk of q rows with log-decays a_i = dt_i A and their running
 * sums s_i (within the chunk), the state entering the chunk S0 and Gm_ij = C_i . B_j:
 *   y_i   = D x_i + exp(s_i) S0 C_i + sum_{j<=i} Gm_ij exp(s_i - s_j) dt_j x_j
 *   S_end = exp(s_{q-1}) S0 + sum_j exp(s_{q-1} - s_j) dt_j x_j B_j^T
 * The first line is the quadratic (intra-chunk) form, the second the state passing
 * between chunks. Gm is shared by the heads of a group. The backward walks the chunks
 * of each sequence in reverse, carrying dS = dLoss/dS_end, and differentiates the two
 * lines above by hand; gradients of the running sums become gradients of a_i by a
 * reverse cumulative sum, then of dt (softplus) and A = -exp(A_log). */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "backend/cpu/ssm_ops.h"

static inline float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }
static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

static inline float dotf(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpyf(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

size_t hn_cpu_ssd_workspace_floats(const hn_ssm_dims *d) {
    size_t H = d->heads, P = d->headdim, N = d->d_state, Q = d->chunk;
    size_t PN = P * N, V = P > N ? P : N;
    /* S or dS carry, new dS, dt, cs, 4 [Q, Q] matrices, ds, ddt, 3 [Q, V] tiles */
    return H * PN + PN + 2 * H * Q + 4 * Q * Q + 2 * Q + 3 * Q * V;
}

/* dt[h, i] = softplus(raw + bias) and cs[h, i] = running sum of dt A, for q rows. */
static void chunk_decays(float *dt, float *cs, const float *dt_raw, int ld_dt,
                         const float *dt_bias, const float *A_log, int H, int Q, int q) {
    for (int h = 0; h < H; h++) {
        float A = -expf(A_log[h]), acc = 0;
        for (int i = 0; i < q; i++) {
            float v = softplus(dt_raw[(size_t)i * ld_dt + h] + dt_bias[h]);
            dt[h * Q + i] = v;
            acc += v * A;
            cs[h * Q + i] = acc;
        }
    }
}

/* Row-major C[m, n] = alpha op(A) op(B) + beta C with explicit leading dimensions. */
static inline void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a,
                        int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* GL[i, j] = Gm[i, j] exp(cs_i - cs_j) for j <= i, 0 above the diagonal. */
static void decay_mask(float *GL, const float *Gm, const float *cs, int q, int Q) {
    for (int i = 0; i < q; i++) {
        for (int j = 0; j <= i; j++) GL[i * Q + j] = Gm[i * Q + j] * expf(cs[i] - cs[j]);
        for (int j = i + 1; j < q; j++) GL[i * Q + j] = 0.0f;
    }
}

void hn_cpu_ssd_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                        const float *x, const float *B, const float *C, int ld,
                        const float *dt_raw, int ld_dt, const float *dt_bias,
                        const float *A_log, const float *D, const hn_seqs *seqs,
                        const hn_ssm_dims *d, float *ws) {
    const int H = d->heads, P = d->headdim, N = d->d_state, G = d->ngroups, Q = d->chunk;
    const int HG = H / G, HP = H * P, V = P > N ? P : N;
    const size_t PN = (size_t)P * N, HPN = (size_t)H * PN, QQ = (size_t)Q * Q;
    float *S = ws, *dt = S + HPN + PN, *cs = dt + (size_t)H * Q, *Gm = cs + (size_t)H * Q;
    float *M = Gm + QQ, *tile = M + QQ;
    size_t ci = 0;
    for (int s = 0; s < seqs->n; s++) {
        int o0 = seqs->offsets[s], o1 = seqs->offsets[s + 1];
        memset(S, 0, HPN * sizeof *S);
        for (int c0 = o0; c0 < o1; c0 += Q, ci++) {
            int q = o1 - c0 < Q ? o1 - c0 : Q;
            memcpy(chunk_states + ci * HPN, S, HPN * sizeof *S);
            chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, dt_bias, A_log, H, Q, q);
            for (int g = 0; g < G; g++) {
                const float *Bc = B + (size_t)c0 * ld + g * N, *Cc = C + (size_t)c0 * ld + g * N;
                gemm(0, 1, q, q, N, 1.0f, Cc, ld, Bc, ld, 0.0f, Gm, Q); /* C_i . B_j */
                for (int h = g * HG; h < (g + 1) * HG; h++) {
                    const float *xh = x + (size_t)c0 * ld + h * P;
                    const float *dth = dt + h * Q, *csh = cs + h * Q;
                    float *Sh = S + h * PN, *yh = y + (size_t)c0 * HP + h * P;
                    /* y = D x + (GL o dt_j) X + diag(exp cs) C S^T */
                    for (int i = 0; i < q; i++)
                        for (int p = 0; p < P; p++)
                            yh[(size_t)i * HP + p] = D[h] * xh[(size_t)i * ld + p];
                    decay_mask(M, Gm, csh, q, Q);
                    for (int i = 0; i < q; i++)
                        for (int j = 0; j <= i; j++) M[i * Q + j] *= dth[j];
                    gemm(0, 0, q, P, q, 1.0f, M, Q, xh, ld, 1.0f, yh, HP);
                    for (int i = 0; i < q; i++) {
                        float e = expf(csh[i]);
                        for (int n = 0; n < N; n++) tile[i * V + n] = e * Cc[(size_t)i * ld + n];
                    }
                    gemm(0, 1, q, P, N, 1.0f, tile, V, Sh, N, 1.0f, yh, HP);
                    /* S = exp(cs_last) S + X^T diag(exp(cs_last - cs_j) dt_j) B */
                    for (int j = 0; j < q; j++) {
                        float w = expf(csh[q - 1] - csh[j]) * dth[j];
                        for (int n = 0; n < N; n++) tile[j * V + n] = w * Bc[(size_t)j * ld + n];
                    }
                    gemm(1, 0, P, N, q, 1.0f, xh, ld, tile, V, expf(csh[q - 1]), Sh, N);
                }
            }
        }
        if (final_state) memcpy(final_state + (size_t)s * final_stride, S, HPN * sizeof *S);
    }
}

void hn_cpu_ssd_backward(float *dx, float *dB, float *dC, int ldd, float *ddt_raw, int ld_ddt,
                         float *ddt_bias, float *dA_log, float *dD, const float *dy,
                         const float *x, const float *B, const float *C, int ld,
                         const float *dt_raw, int ld_dt, const float *dt_bias,
                         const float *A_log, const float *D, const float *chunk_states,
                         const hn_seqs *seqs, const hn_ssm_dims *d, float *ws) {
    const int H = d->heads, P = d->headdim, N = d->d_state, G = d->ngroups, Q = d->chunk;
    const int HG = H / G, HP = H * P, V = P > N ? P : N;
    const size_t PN = (size_t)P * N, HPN = (size_t)H * PN, QQ = (size_t)Q * Q;
    float *dS = ws, *dSn = dS + HPN, *dt = dSn + PN, *cs = dt + (size_t)H * Q;
    float *Gm = cs + (size_t)H * Q, *GL = Gm + QQ, *dGm = GL + QQ, *dM = dGm + QQ;
    float *ds = dM + QQ, *ddt = ds + Q, *u = ddt + Q, *t1 = u + (size_t)Q * V;
    float *t2 = t1 + (size_t)Q * V;
    size_t ci0 = 0;
    for (int s = 0; s < seqs->n; s++) {
        int o0 = seqs->offsets[s], o1 = seqs->offsets[s + 1];
        int nch = (o1 - o0 + Q - 1) / Q;
        memset(dS, 0, HPN * sizeof *dS); /* the final state feeds nothing */
        for (int k = nch - 1; k >= 0; k--) {
            int c0 = o0 + k * Q, q = o1 - c0 < Q ? o1 - c0 : Q;
            const float *S0 = chunk_states + (ci0 + k) * HPN;
            chunk_decays(dt, cs, dt_raw + (size_t)c0 * ld_dt, ld_dt, dt_bias, A_log, H, Q, q);
            for (int g = 0; g < G; g++) {
                const float *Bc = B + (size_t)c0 * ld + g * N, *Cc = C + (size_t)c0 * ld + g * N;
                float *dBc = dB + (size_t)c0 * ldd + g * N, *dCc = dC + (size_t)c0 * ldd + g * N;
                gemm(0, 1, q, q, N, 1.0f, Cc, ld, Bc, ld, 0.0f, Gm, Q);
                for (int i = 0; i < q; i++) memset(dGm + i * Q, 0, (size_t)q * sizeof *dGm);
                for (int h = g * HG; h < (g + 1) * HG; h++) {
                    const float *xh = x + (size_t)c0 * ld + h * P;
                    const float *dyh = dy + (size_t)c0 * HP + h * P;
                    float *dxh = dx + (size_t)c0 * ldd + h * P;
                    const float *dth = dt + h * Q, *csh = cs + h * Q, *S0h = S0 + h * PN;
                    float *dSh = dS + h * PN;
                    float A = -expf(A_log[h]), el = expf(csh[q - 1]);
                    memset(ds, 0, (size_t)q * sizeof *ds);
                    memset(ddt, 0, (size_t)q * sizeof *ddt);
                    /* skip connection */
                    float dDh = 0;
                    for (int i = 0; i < q; i++) {
                        const float *dyi = dyh + (size_t)i * HP;
                        dDh += dotf(dyi, xh + (size_t)i * ld, P);
                        axpyf(dxh + (size_t)i * ldd, D[h], dyi, P);
                    }
                    dD[h] += dDh;
                    /* intra-chunk: y_i += sum_j GL_ij dt_j x_j; u_j = dLoss/d(dt_j x_j) */
                    decay_mask(GL, Gm, csh, q, Q);
                    gemm(1, 0, q, P, q, 1.0f, GL, Q, dyh, HP, 0.0f, u, V);
                    gemm(0, 1, q, q, P, 1.0f, dyh, HP, xh, ld, 0.0f, dM, Q); /* dy_i . x_j */
                    for (int i = 0; i < q; i++)
                        for (int j = 0; j <= i; j++) {
                            float dm = dM[i * Q + j] * dth[j];
                            dGm[i * Q + j] += dm * expf(csh[i] - csh[j]);
                            float t = dm * GL[i * Q + j];
                            ds[i] += t;
                            ds[j] -= t;
                        }
                    /* the incoming state's term exp(cs_i) S0 C_i */
                    gemm(0, 0, q, N, P, 1.0f, dyh, HP, S0h, N, 0.0f, t1, V); /* S0^T dy_i */
                    for (int i = 0; i < q; i++) {
                        float e = expf(csh[i]);
                        const float *vi = t1 + (size_t)i * V, *Ci = Cc + (size_t)i * ld;
                        axpyf(dCc + (size_t)i * ldd, e, vi, N);
                        ds[i] += e * dotf(vi, Ci, N);
                        for (int p = 0; p < P; p++) t2[(size_t)i * V + p] = e * dyh[(size_t)i * HP + p];
                    }
                    for (size_t e = 0; e < PN; e++) dSn[e] = el * dSh[e];
                    gemm(1, 0, P, N, q, 1.0f, t2, V, Cc, ld, 1.0f, dSn, N);
                    /* state passing: S_end = el S0 + sum_j w_j dt_j x_j B_j^T */
                    {
                        float t0 = 0;
                        for (size_t e = 0; e < PN; e++) t0 += dSh[e] * S0h[e];
                        ds[q - 1] += el * t0;
                    }
                    gemm(0, 1, q, P, N, 1.0f, Bc, ld, dSh, N, 0.0f, t1, V); /* dS B_j */
                    gemm(0, 0, q, N, P, 1.0f, xh, ld, dSh, N, 0.0f, t2, V); /* dS^T x_j */
                    for (int j = 0; j < q; j++) {
                        const float *xj = xh + (size_t)j * ld, *rj = t1 + (size_t)j * V;
                        float w = expf(csh[q - 1] - csh[j]);
                        axpyf(u + (size_t)j * V, w, rj, P);
                        float t = w * dth[j] * dotf(xj, rj, P);
                        ds[q - 1] += t;
                        ds[j] -= t;
                        axpyf(dBc + (size_t)j * ldd, w * dth[j], t2 + (size_t)j * V, N);
                    }
                    memcpy(dSh, dSn, PN * sizeof *dSh);
                    /* u -> dx, ddt */
                    for (int j = 0; j < q; j++) {
                        const float *uj = u + (size_t)j * V;
                        axpyf(dxh + (size_t)j * ldd, dth[j], uj, P);
                        ddt[j] += dotf(xh + (size_t)j * ld, uj, P);
                    }
                    /* running sums -> a_i = dt_i A -> dt, A; softplus -> raw dt, bias */
                    float acc = 0, dA = 0, dbias = 0;
                    for (int i = q - 1; i >= 0; i--) {
                        acc += ds[i];
                        ddt[i] += acc * A;
                        dA += acc * dth[i];
                    }
                    for (int i = 0; i < q; i++) {
                        float gr = ddt[i] * sigmoid(dt_raw[(size_t)(c0 + i) * ld_dt + h] + dt_bias[h]);
                        ddt_raw[(size_t)(c0 + i) * ld_ddt + h] += gr;
                        dbias += gr;
                    }
                    ddt_bias[h] += dbias;
                    dA_log[h] += dA * A;
                }
                /* Gm_ij = C_i . B_j (dGm is zero above the diagonal) */
                gemm(0, 0, q, N, q, 1.0f, dGm, Q, Bc, ld, 1.0f, dCc, ldd);
                gemm(1, 0, q, N, q, 1.0f, dGm, Q, Cc, ld, 1.0f, dBc, ldd);
            }
        }
        ci0 += (size_t)nch;
    }
}

void hn_cpu_ssd_step(float *y, float *ssm_state, size_t stride, const float *x, const float *B,
                     const float *C, int ld, const float *dt_raw, int ld_dt,
                     const float *dt_bias, const float *A_log, const float *D,
                     const int32_t *pos, int n, const hn_ssm_dims *d) {
    const int H = d->heads, P = d->headdim, N = d->d_state, HG = H / d->ngroups;
    const size_t PN = (size_t)P * N;
    for (int i = 0; i < n; i++) {
        float *S = ssm_state + (size_t)i * stride;
        if (pos[i] < 0) { /* not advancing now */
            memset(y + (size_t)i * H * P, 0, (size_t)H * P * sizeof *y);
            continue;
        }
        if (pos[i] == 0) memset(S, 0, (size_t)H * PN * sizeof *S);
        for (int h = 0; h < H; h++) {
            int g = h / HG;
            const float *xi = x + (size_t)i * ld + h * P;
            const float *Bi = B + (size_t)i * ld + g * N, *Ci = C + (size_t)i * ld + g * N;
            float dt = softplus(dt_raw[(size_t)i * ld_dt + h] + dt_bias[h]);
            float a = expf(-expf(A_log[h]) * dt);
            float *Sh = S + h * PN, *yi = y + (size_t)i * H * P + h * P;
            for (int p = 0; p < P; p++) {
                float *Sp = Sh + p * N, wx = dt * xi[p];
                for (int k = 0; k < N; k++) Sp[k] = a * Sp[k] + wx * Bi[k];
                yi[p] = dotf(Sp, Ci, N) + D[h] * xi[p];
            }
        }
    }
}
