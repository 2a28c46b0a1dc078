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
    /* S or dS carry, new dS, dt, cs, Gm, dGm, ds, ddt, u, v */
    return H * PN + PN + 2 * H * Q + 2 * Q * Q + 2 * Q + Q * P + V;
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

/* Gm[i, j] = C_i . B_j for j <= i < q (lower triangle, row stride Q). */
static void gram(float *Gm, const float *C, const float *B, int ld, int q, int N, int Q) {
    for (int i = 0; i < q; i++)
        for (int j = 0; j <= i; j++)
            Gm[i * Q + j] = dotf(C + (size_t)i * ld, B + (size_t)j * ld, N);
}

void hn_cpu_ssd_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                        const float *x, const float *B, const float *C, int ld,
                        const float *dt_raw, int ld_dt, const float *dt_bias,
                        const float *A_log, const float *D, const hn_seqs *seqs,
                        const hn_ssm_dims *d, float *ws) {
    const int H = d->heads, P = d->headdim, N = d->d_state, G = d->ngroups, Q = d->chunk;
    const int HG = H / G, HP = H * P;
    const size_t PN = (size_t)P * N, HPN = (size_t)H * PN;
    float *S = ws, *dt = S + HPN + PN, *cs = dt + (size_t)H * Q, *Gm = cs + (size_t)H * Q;
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
                gram(Gm, Cc, Bc, ld, q, N, Q);
                for (int h = g * HG; h < (g + 1) * HG; h++) {
                    const float *xh = x + (size_t)c0 * ld + h * P;
                    const float *dth = dt + h * Q, *csh = cs + h * Q;
                    float *Sh = S + h * PN, *yh = y + (size_t)c0 * HP + h * P;
                    for (int i = 0; i < q; i++) {
                        float *yi = yh + (size_t)i * HP;
                        const float *xi = xh + (size_t)i * ld, *Ci = Cc + (size_t)i * ld;
                        float e = expf(csh[i]);
                        for (int p = 0; p < P; p++) yi[p] = D[h] * xi[p] + e * dotf(Sh + p * N, Ci, N);
                        for (int j = 0; j <= i; j++) {
                            float coef = Gm[i * Q + j] * expf(csh[i] - csh[j]) * dth[j];
                            axpyf(yi, coef, xh + (size_t)j * ld, P);
                        }
                    }
                    float el = expf(csh[q - 1]);
                    for (size_t k = 0; k < PN; k++) Sh[k] *= el;
                    for (int j = 0; j < q; j++) {
                        float coef = expf(csh[q - 1] - csh[j]) * dth[j];
                        const float *xj = xh + (size_t)j * ld, *Bj = Bc + (size_t)j * ld;
                        for (int p = 0; p < P; p++) axpyf(Sh + p * N, coef * xj[p], Bj, N);
                    }
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
    const int HG = H / G, HP = H * P;
    const size_t PN = (size_t)P * N, HPN = (size_t)H * PN;
    float *dS = ws, *dSn = dS + HPN, *dt = dSn + PN, *cs = dt + (size_t)H * Q;
    float *Gm = cs + (size_t)H * Q, *dGm = Gm + (size_t)Q * Q, *ds = dGm + (size_t)Q * Q;
    float *ddt = ds + Q, *u = ddt + Q, *v = u + (size_t)Q * P;
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
                gram(Gm, Cc, Bc, ld, q, N, Q);
                for (int i = 0; i < q; i++) memset(dGm + i * Q, 0, (size_t)(i + 1) * sizeof *dGm);
                for (int h = g * HG; h < (g + 1) * HG; h++) {
                    const float *xh = x + (size_t)c0 * ld + h * P;
                    const float *dyh = dy + (size_t)c0 * HP + h * P;
                    float *dxh = dx + (size_t)c0 * ldd + h * P;
                    const float *dth = dt + h * Q, *csh = cs + h * Q, *S0h = S0 + h * PN;
                    float *dSh = dS + h * PN;
                    float A = -expf(A_log[h]), el = expf(csh[q - 1]);
                    memset(ds, 0, (size_t)q * sizeof *ds);
                    memset(ddt, 0, (size_t)q * sizeof *ddt);
                    memset(u, 0, (size_t)q * P * sizeof *u); /* u_j = dLoss / d(dt_j x_j) */
                    /* skip connection */
                    float dDh = 0;
                    for (int i = 0; i < q; i++) {
                        const float *dyi = dyh + (size_t)i * HP;
                        dDh += dotf(dyi, xh + (size_t)i * ld, P);
                        axpyf(dxh + (size_t)i * ldd, D[h], dyi, P);
                    }
                    dD[h] += dDh;
                    /* intra-chunk quadratic form */
                    for (int i = 0; i < q; i++) {
                        const float *dyi = dyh + (size_t)i * HP;
                        for (int j = 0; j <= i; j++) {
                            float L = expf(csh[i] - csh[j]);
                            float dM = dotf(dyi, xh + (size_t)j * ld, P) * dth[j];
                            float gl = Gm[i * Q + j] * L;
                            axpyf(u + (size_t)j * P, gl, dyi, P);
                            dGm[i * Q + j] += dM * L;
                            float t = dM * gl;
                            ds[i] += t;
                            ds[j] -= t;
                        }
                    }
                    /* contribution of the incoming state to y: exp(s_i) S0 C_i */
                    for (size_t e = 0; e < PN; e++) dSn[e] = el * dSh[e];
                    for (int i = 0; i < q; i++) {
                        const float *dyi = dyh + (size_t)i * HP, *Ci = Cc + (size_t)i * ld;
                        float e = expf(csh[i]);
                        memset(v, 0, (size_t)N * sizeof *v);
                        for (int p = 0; p < P; p++) axpyf(v, dyi[p], S0h + p * N, N);
                        axpyf(dCc + (size_t)i * ldd, e, v, N);
                        ds[i] += e * dotf(v, Ci, N);
                        for (int p = 0; p < P; p++) axpyf(dSn + p * N, e * dyi[p], Ci, N);
                    }
                    /* state passing: S_end = el S0 + sum_j w_j dt_j x_j B_j^T */
                    {
                        float t0 = 0;
                        for (size_t e = 0; e < PN; e++) t0 += dSh[e] * S0h[e];
                        ds[q - 1] += el * t0;
                    }
                    for (int j = 0; j < q; j++) {
                        const float *xj = xh + (size_t)j * ld, *Bj = Bc + (size_t)j * ld;
                        float w = expf(csh[q - 1] - csh[j]);
                        for (int p = 0; p < P; p++) v[p] = dotf(dSh + p * N, Bj, N);
                        axpyf(u + (size_t)j * P, w, v, P);
                        float t = w * dth[j] * dotf(xj, v, P);
                        ds[q - 1] += t;
                        ds[j] -= t;
                        float *dBj = dBc + (size_t)j * ldd;
                        for (int p = 0; p < P; p++) axpyf(dBj, w * dth[j] * xj[p], dSh + p * N, N);
                    }
                    memcpy(dSh, dSn, PN * sizeof *dSh);
                    /* u -> dx, ddt */
                    for (int j = 0; j < q; j++) {
                        const float *uj = u + (size_t)j * P;
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
                /* Gm_ij = C_i . B_j */
                for (int i = 0; i < q; i++)
                    for (int j = 0; j <= i; j++) {
                        float gm = dGm[i * Q + j];
                        axpyf(dCc + (size_t)i * ldd, gm, Bc + (size_t)j * ld, N);
                        axpyf(dBc + (size_t)j * ldd, gm, Cc + (size_t)i * ld, N);
                    }
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
