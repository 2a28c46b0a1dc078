/* The cpu Mamba-2 ops (runtime/backend/ops_ssm.h) against independent float64
 * references: a naive per-position recurrence for the SSD scan, a direct causal
 * convolution, a direct gated RMSNorm. Backward ops are compared with central finite
 * differences of the float64 references (every input and parameter entry). Sizes are
 * small; packed sequences include lengths that are not multiples of the chunk size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/ops_ssm.h"
#include "support/gradcheck.h"

/* ------------------------------------------------------------------ helpers */

static hn_seqs make_seqs(int32_t *offsets, const int *lens, int n) {
    hn_seqs s = {0};
    offsets[0] = 0;
    int mx = 0;
    for (int i = 0; i < n; i++) {
        offsets[i + 1] = offsets[i] + lens[i];
        if (lens[i] > mx) mx = lens[i];
    }
    s.n = n;
    s.total = offsets[n];
    s.max_len = mx;
    s.offsets = offsets;
    s.offsets_dev = offsets;
    return s;
}

static double *to_f64(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double max_abs_f64(const double *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* max |a - r| / max|r| over a strided block of `rows` x `cols` (stride ld). */
static double scaled_err(const float *a, const double *r, int rows, int cols, int ld) {
    double num = 0, den = 1e-12;
    for (int t = 0; t < rows; t++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)t * ld + c;
            num = fmax(num, fabs(a[i] - r[i]));
            den = fmax(den, fabs(r[i]));
        }
    return num / den;
}

static double softplus_d(double v) { return v > 20 ? v : log1p(exp(v)); }
static double silu_d(double v) { return v / (1 + exp(-v)); }

/* ------------------------------------------------------------------ SSD reference */

typedef struct ssd_case {
    int H, P, N, G, ld, ld_dt;
    hn_seqs seqs;
    /* float32 inputs (what the op sees) */
    float *xbc, *dt, *dt_bias, *A_log, *D, *probe;
    /* float64 copies (what the reference sees and finite differences perturb) */
    double *xbc64, *dt64, *bias64, *alog64, *d64, *probe64;
} ssd_case;

/* y = naive per-position recurrence in float64; returns sum(y * probe). */
static double ssd_ref(const ssd_case *c, double *y_out) {
    int H = c->H, P = c->P, N = c->N, HG = H / c->G;
    double *S = calloc((size_t)H * P * N, sizeof *S), loss = 0;
    for (int s = 0; s < c->seqs.n; s++) {
        memset(S, 0, (size_t)H * P * N * sizeof *S);
        for (int t = c->seqs.offsets[s]; t < c->seqs.offsets[s + 1]; t++) {
            const double *row = c->xbc64 + (size_t)t * c->ld;
            for (int h = 0; h < H; h++) {
                int g = h / HG;
                const double *x = row + h * P, *B = row + H * P + g * N,
                             *C = row + H * P + c->G * N + g * N;
                double dt = softplus_d(c->dt64[(size_t)t * c->ld_dt + h] + c->bias64[h]);
                double a = exp(-exp(c->alog64[h]) * dt);
                for (int p = 0; p < P; p++) {
                    double *Sp = S + ((size_t)h * P + p) * N, y = c->d64[h] * x[p];
                    for (int n = 0; n < N; n++) {
                        Sp[n] = a * Sp[n] + dt * x[p] * B[n];
                        y += Sp[n] * C[n];
                    }
                    size_t yi = (size_t)t * H * P + h * P + p;
                    if (y_out) y_out[yi] = y;
                    loss += y * c->probe64[yi];
                }
            }
        }
    }
    free(S);
    return loss;
}

/* Central differences of the float64 reference loss for every entry of v. */
static void ssd_ref_grad(ssd_case *c, double *v, size_t n, double *g) {
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + eps;
        double up = ssd_ref(c, NULL);
        v[i] = saved - eps;
        double down = ssd_ref(c, NULL);
        v[i] = saved;
        g[i] = (up - down) / (2 * eps);
    }
}

static void ssd_case_init(ssd_case *c, int H, int P, int N, int G, const int *lens, int nseq,
                          int32_t *offsets, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->H = H, c->P = P, c->N = N, c->G = G;
    c->ld = H * P + 2 * G * N + 3; /* padded rows: the op must honour the stride */
    c->ld_dt = H + 2;
    c->seqs = make_seqs(offsets, lens, nseq);
    int T = c->seqs.total;
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    size_t nx = (size_t)T * c->ld, nd = (size_t)T * c->ld_dt;
    c->xbc = malloc(nx * sizeof(float));
    c->dt = malloc(nd * sizeof(float));
    c->dt_bias = malloc(H * sizeof(float));
    c->A_log = malloc(H * sizeof(float));
    c->D = malloc(H * sizeof(float));
    c->probe = malloc((size_t)T * H * P * sizeof(float));
    fill_normal(c->xbc, nx, 1.0, &rng);
    for (int t = 0; t < T; t++) /* B and C smaller, as after a SiLU of small projections */
        for (int k = H * P; k < H * P + 2 * G * N; k++) c->xbc[(size_t)t * c->ld + k] *= 0.5f;
    fill_normal(c->dt, nd, 0.5, &rng);
    fill_uniform(c->dt_bias, H, -3.0, 0.5, &rng);
    for (int h = 0; h < H; h++) c->A_log[h] = (float)log(0.5 + 3.5 * hn_rng_uniform(&rng));
    fill_uniform(c->D, H, 0.5, 1.5, &rng);
    fill_normal(c->probe, (size_t)T * H * P, 1.0, &rng);
    c->xbc64 = to_f64(c->xbc, nx);
    c->dt64 = to_f64(c->dt, nd);
    c->bias64 = to_f64(c->dt_bias, H);
    c->alog64 = to_f64(c->A_log, H);
    c->d64 = to_f64(c->D, H);
    c->probe64 = to_f64(c->probe, (size_t)T * H * P);
}

static void ssd_case_free(ssd_case *c) {
    free(c->xbc), free(c->dt), free(c->dt_bias), free(c->A_log), free(c->D), free(c->probe);
    free(c->xbc64), free(c->dt64), free(c->bias64), free(c->alog64), free(c->d64);
    free(c->probe64);
}

/* Runs the op's forward with chunk size Q; returns y (caller frees) and chunk states. */
static float *ssd_run_forward(const ssd_case *c, int Q, float **states_out, float **ws_out) {
    const hn_ops_ssm *ops = hn_backend_cpu()->ssm;
    hn_ssm_dims d = {c->H, c->P, c->N, c->G, Q};
    int T = c->seqs.total, HP = c->H * c->P;
    float *y = malloc((size_t)T * HP * sizeof *y);
    float *states = malloc((size_t)hn_ssd_n_chunks(&c->seqs, Q) * c->H * c->P * c->N * sizeof(float) + 4);
    float *ws = malloc(ops->ssd_workspace_floats(&d) * sizeof(float));
    ops->ssd_forward(y, states, NULL, 0, c->xbc, c->xbc + HP, c->xbc + HP + c->G * c->N, c->ld,
                     c->dt, c->ld_dt, c->dt_bias, c->A_log, c->D, &c->seqs, &d, ws);
    *states_out = states;
    *ws_out = ws;
    return y;
}

static void test_ssd_forward_matches_recurrence(void **state) {
    (void)state;
    const int lens[] = {37, 5, 64, 1};
    int32_t off[5];
    const int chunks[] = {1, 4, 16, 64, 100};
    for (int grp = 1; grp <= 2; grp++) {
        ssd_case c;
        ssd_case_init(&c, 4, 8, 8, grp, lens, 4, off, 11 + grp);
        int T = c.seqs.total, HP = c.H * c.P;
        double *yref = malloc((size_t)T * HP * sizeof *yref);
        ssd_ref(&c, yref);
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            float *states, *ws;
            float *y = ssd_run_forward(&c, chunks[k], &states, &ws);
            double e = scaled_err(y, yref, T, HP, HP);
            printf("ssd forward G=%d Q=%-3d scaled max err %.2e\n", grp, chunks[k], e);
            assert_true(e < 2e-5);
            free(y), free(states), free(ws);
        }
        /* the comparison can fail: a wrong decay is caught */
        c.A_log[0] += 0.05f;
        float *states, *ws;
        float *y = ssd_run_forward(&c, 16, &states, &ws);
        assert_true(scaled_err(y, yref, T, HP, HP) > 1e-3);
        free(y), free(states), free(ws);
        free(yref);
        ssd_case_free(&c);
    }
}

/* Gradients of the op vs finite differences of the float64 reference. */
static void check_ssd_backward(int G, int Q, const int *lens, int nseq, uint64_t seed) {
    const hn_ops_ssm *ops = hn_backend_cpu()->ssm;
    int32_t off[8];
    ssd_case c;
    ssd_case_init(&c, 4, 8, 8, G, lens, nseq, off, seed);
    int T = c.seqs.total, H = c.H, HP = H * c.P, GN = G * c.N;
    hn_ssm_dims d = {c.H, c.P, c.N, G, Q};
    float *states, *ws;
    float *y = ssd_run_forward(&c, Q, &states, &ws);
    size_t nx = (size_t)T * c.ld, nd = (size_t)T * c.ld_dt;
    float *gxbc = calloc(nx, sizeof *gxbc), *gdt = calloc(nd, sizeof *gdt);
    float *gbias = calloc(H, sizeof(float)), *galog = calloc(H, sizeof(float));
    float *gD = calloc(H, sizeof(float));
    ops->ssd_backward(gxbc, gxbc + HP, gxbc + HP + GN, c.ld, gdt, c.ld_dt, gbias, galog, gD,
                      c.probe, c.xbc, c.xbc + HP, c.xbc + HP + GN, c.ld, c.dt, c.ld_dt,
                      c.dt_bias, c.A_log, c.D, states, &c.seqs, &d, ws);
    double *rxbc = calloc(nx, sizeof *rxbc), *rdt = calloc(nd, sizeof *rdt);
    double rbias[8], ralog[8], rD[8];
    ssd_ref_grad(&c, c.xbc64, nx, rxbc);
    ssd_ref_grad(&c, c.dt64, nd, rdt);
    ssd_ref_grad(&c, c.bias64, H, rbias);
    ssd_ref_grad(&c, c.alog64, H, ralog);
    ssd_ref_grad(&c, c.d64, H, rD);
    /* padding columns of the strided rows must stay untouched (exactly zero) */
    for (int t = 0; t < T; t++)
        for (int k = HP + 2 * GN; k < c.ld; k++) assert_true(gxbc[(size_t)t * c.ld + k] == 0.0f);
    double ex = scaled_err(gxbc, rxbc, T, HP, c.ld);
    double eB = scaled_err(gxbc + HP, rxbc + HP, T, GN, c.ld);
    double eC = scaled_err(gxbc + HP + GN, rxbc + HP + GN, T, GN, c.ld);
    double edt = scaled_err(gdt, rdt, T, H, c.ld_dt);
    double eb = scaled_err(gbias, rbias, 1, H, H), ea = scaled_err(galog, ralog, 1, H, H);
    double eD = scaled_err(gD, rD, 1, H, H);
    printf("ssd backward G=%d Q=%-3d err x %.1e B %.1e C %.1e dt %.1e dt_bias %.1e A_log %.1e "
           "D %.1e\n", G, Q, ex, eB, eC, edt, eb, ea, eD);
    const double tol = 1e-4;
    assert_true(ex < tol && eB < tol && eC < tol && edt < tol);
    assert_true(eb < tol && ea < tol && eD < tol);
    /* negative control: a gradient off by 1% of its scale in one entry is detected */
    float saved = galog[1];
    galog[1] += (float)(0.01 * max_abs_f64(ralog, H));
    assert_true(scaled_err(galog, ralog, 1, H, H) > tol);
    galog[1] = saved;
    free(y), free(states), free(ws), free(gxbc), free(gdt), free(gbias), free(galog), free(gD);
    free(rxbc), free(rdt);
    ssd_case_free(&c);
}

static void test_ssd_backward_matches_reference(void **state) {
    (void)state;
    const int packed[] = {37, 5, 24};
    check_ssd_backward(1, 4, packed, 3, 21);
    check_ssd_backward(2, 16, packed, 3, 22);
    check_ssd_backward(2, 64, packed, 3, 23);
    const int odd[] = {13};
    check_ssd_backward(1, 5, odd, 1, 24);
}

/* ------------------------------------------------------------------ conv1d */

typedef struct conv_case {
    int C, K, ld;
    hn_seqs seqs;
    float *x, *w, *b, *probe;
    double *x64, *w64, *b64, *probe64;
} conv_case;

static double conv_ref(const conv_case *c, double *out) {
    double loss = 0;
    for (int s = 0; s < c->seqs.n; s++) {
        int t0 = c->seqs.offsets[s];
        for (int t = t0; t < c->seqs.offsets[s + 1]; t++)
            for (int ch = 0; ch < c->C; ch++) {
                double p = c->b64[ch];
                for (int k = 0; k < c->K; k++) {
                    int r = t - (c->K - 1) + k;
                    if (r >= t0) p += c->w64[ch * c->K + k] * c->x64[(size_t)r * c->ld + ch];
                }
                double o = silu_d(p);
                if (out) out[(size_t)t * c->C + ch] = o;
                loss += o * c->probe64[(size_t)t * c->C + ch];
            }
    }
    return loss;
}

static void conv_ref_grad(conv_case *c, double *v, size_t n, double *g) {
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + eps;
        double up = conv_ref(c, NULL);
        v[i] = saved - eps;
        double down = conv_ref(c, NULL);
        v[i] = saved;
        g[i] = (up - down) / (2 * eps);
    }
}

static void test_conv1d_matches_reference(void **state) {
    (void)state;
    const hn_ops_ssm *ops = hn_backend_cpu()->ssm;
    const int lens[] = {9, 1, 2, 14};
    int32_t off[5];
    conv_case c = {.C = 6, .K = 4, .ld = 9};
    c.seqs = make_seqs(off, lens, 4);
    int T = c.seqs.total, C = c.C, K = c.K;
    hn_rng rng;
    hn_rng_seed(&rng, 5);
    size_t nx = (size_t)T * c.ld;
    c.x = malloc(nx * 4), c.w = malloc(C * K * 4), c.b = malloc(C * 4);
    c.probe = malloc((size_t)T * C * 4);
    fill_normal(c.x, nx, 1.0, &rng);
    fill_uniform(c.w, C * K, -0.5, 0.5, &rng);
    fill_uniform(c.b, C, -0.5, 0.5, &rng);
    fill_normal(c.probe, (size_t)T * C, 1.0, &rng);
    c.x64 = to_f64(c.x, nx), c.w64 = to_f64(c.w, C * K), c.b64 = to_f64(c.b, C);
    c.probe64 = to_f64(c.probe, (size_t)T * C);

    float *out = malloc((size_t)T * C * 4);
    double *oref = malloc((size_t)T * C * 8);
    ops->conv1d_forward(out, c.x, c.ld, c.w, c.b, &c.seqs, C, K);
    conv_ref(&c, oref);
    double ef = scaled_err(out, oref, T, C, C);
    assert_true(ef < 1e-6);

    float *gx = calloc(nx, 4), *gw = calloc(C * K, 4), *gb = calloc(C, 4);
    ops->conv1d_backward(gx, c.ld, gw, gb, c.probe, c.x, c.ld, c.w, c.b, &c.seqs, C, K);
    double *rx = malloc(nx * 8), *rw = malloc(C * K * 8), *rb = malloc(C * 8);
    conv_ref_grad(&c, c.x64, nx, rx);
    conv_ref_grad(&c, c.w64, C * K, rw);
    conv_ref_grad(&c, c.b64, C, rb);
    double ex = scaled_err(gx, rx, T, C, c.ld), ew = scaled_err(gw, rw, 1, C * K, C * K);
    double eb = scaled_err(gb, rb, 1, C, C);
    printf("conv1d forward %.1e backward x %.1e w %.1e b %.1e\n", ef, ex, ew, eb);
    assert_true(ex < 1e-5 && ew < 1e-5 && eb < 1e-5);
    /* backward accumulates: a second call doubles the gradient */
    ops->conv1d_backward(gx, c.ld, gw, gb, c.probe, c.x, c.ld, c.w, c.b, &c.seqs, C, K);
    for (int i = 0; i < C * K; i++) rw[i] *= 2;
    assert_true(scaled_err(gw, rw, 1, C * K, C * K) < 1e-5);
    /* negative control: ignoring the sequence boundaries changes the output */
    int one[] = {T};
    int32_t off1[2];
    hn_seqs whole = make_seqs(off1, one, 1);
    ops->conv1d_forward(out, c.x, c.ld, c.w, c.b, &whole, C, K);
    assert_true(scaled_err(out, oref, T, C, C) > 1e-3);

    free(c.x), free(c.w), free(c.b), free(c.probe), free(c.x64), free(c.w64), free(c.b64);
    free(c.probe64), free(out), free(oref), free(gx), free(gw), free(gb), free(rx), free(rw);
    free(rb);
}

/* ------------------------------------------------------------------ gated RMSNorm */

typedef struct norm_case {
    int T, Dm, gs, ld_z;
    double eps;
    double *x, *z, *w, *probe;
} norm_case;

static double norm_ref(const norm_case *c, double *out) {
    double loss = 0;
    for (int t = 0; t < c->T; t++)
        for (int g0 = 0; g0 < c->Dm; g0 += c->gs) {
            double ss = 0;
            for (int k = g0; k < g0 + c->gs; k++) {
                double v = c->x[t * c->Dm + k] * silu_d(c->z[t * c->ld_z + k]);
                ss += v * v;
            }
            double r = 1 / sqrt(ss / c->gs + c->eps);
            for (int k = g0; k < g0 + c->gs; k++) {
                double o = c->x[t * c->Dm + k] * silu_d(c->z[t * c->ld_z + k]) * r * c->w[k];
                if (out) out[t * c->Dm + k] = o;
                loss += o * c->probe[t * c->Dm + k];
            }
        }
    return loss;
}

static void norm_ref_grad(norm_case *c, double *v, size_t n, double *g) {
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + 1e-6;
        double up = norm_ref(c, NULL);
        v[i] = saved - 1e-6;
        double down = norm_ref(c, NULL);
        v[i] = saved;
        g[i] = (up - down) / 2e-6;
    }
}

static void test_gated_rmsnorm_matches_reference(void **state) {
    (void)state;
    const hn_ops_ssm *ops = hn_backend_cpu()->ssm;
    const int T = 7, Dm = 12, ld_z = 15;
    hn_rng rng;
    hn_rng_seed(&rng, 9);
    for (int gs = 4; gs <= 12; gs += 8) {
        float x[7 * 12], z[7 * 15], w[12], probe[7 * 12], out[7 * 12], rstd[7 * 3];
        fill_normal(x, T * Dm, 1.0, &rng);
        fill_normal(z, T * ld_z, 1.5, &rng);
        fill_uniform(w, Dm, 0.5, 1.5, &rng);
        fill_normal(probe, T * Dm, 1.0, &rng);
        norm_case c = {T, Dm, gs, ld_z, 1e-5, to_f64(x, T * Dm), to_f64(z, T * ld_z),
                       to_f64(w, Dm), to_f64(probe, T * Dm)};
        double oref[7 * 12];
        norm_ref(&c, oref);
        ops->gated_rmsnorm_forward(out, rstd, x, z, ld_z, w, T, Dm, gs, 1e-5f);
        double ef = scaled_err(out, oref, T, Dm, Dm);
        float gx[7 * 12] = {0}, gz[7 * 15] = {0}, gw[12] = {0};
        ops->gated_rmsnorm_backward(gx, gz, ld_z, gw, probe, x, z, ld_z, w, rstd, T, Dm, gs);
        double rx[7 * 12], rz[7 * 15], rw[12];
        norm_ref_grad(&c, c.x, T * Dm, rx);
        norm_ref_grad(&c, c.z, T * ld_z, rz);
        norm_ref_grad(&c, c.w, Dm, rw);
        double ex = scaled_err(gx, rx, T, Dm, Dm), ez = scaled_err(gz, rz, T, ld_z, ld_z);
        double ew = scaled_err(gw, rw, 1, Dm, Dm);
        printf("gated rmsnorm group %d: forward %.1e backward x %.1e z %.1e w %.1e\n", gs, ef,
               ex, ez, ew);
        assert_true(ef < 1e-6 && ex < 1e-5 && ez < 1e-5 && ew < 1e-5);
        gz[3] += 0.01f * (float)max_abs_f64(rz, T * ld_z); /* negative control */
        assert_true(scaled_err(gz, rz, T, ld_z, ld_z) > 1e-5);
        free(c.x), free(c.z), free(c.w), free(c.probe);
    }
}

/* ------------------------------------------------------------------ stepping */

/* conv -> SSD over a prefix of each sequence in parallel, hand the states to the step
 * ops, step through the rest: the outputs equal the parallel forward over the whole
 * sequences. Also: stepping everything from position 0. */
static void test_step_continues_parallel_forward(void **state) {
    (void)state;
    const hn_ops_ssm *ops = hn_backend_cpu()->ssm;
    const int H = 4, P = 8, N = 8, G = 2, K = 4, Q = 8;
    const int HP = H * P, GN = G * N, Cc = HP + 2 * GN, ld_in = Cc + H; /* [xBC | dt] */
    const int lens[] = {21, 3, 30};
    const int pre[] = {10, 0, 17};
    int32_t off[4], offp[4];
    hn_seqs seqs = make_seqs(off, lens, 3), seqp = make_seqs(offp, pre, 3);
    int T = seqs.total;
    hn_ssm_dims d = {H, P, N, G, Q};
    hn_rng rng;
    hn_rng_seed(&rng, 77);
    float *in = malloc((size_t)T * ld_in * 4), *w = malloc(Cc * K * 4), *b = malloc(Cc * 4);
    float bias[4], alog[4], D[4];
    fill_normal(in, (size_t)T * ld_in, 1.0, &rng);
    fill_uniform(w, Cc * K, -0.5, 0.5, &rng);
    fill_uniform(b, Cc, -0.5, 0.5, &rng);
    fill_uniform(bias, H, -3, 0, &rng);
    for (int h = 0; h < H; h++) alog[h] = (float)log(1 + 3 * hn_rng_uniform(&rng));
    fill_uniform(D, H, 0.5, 1.5, &rng);
    float *ws = malloc(ops->ssd_workspace_floats(&d) * 4);

    /* the parallel forward over everything */
    float *xbc = malloc((size_t)T * Cc * 4), *y = malloc((size_t)T * HP * 4);
    float *states = malloc((size_t)hn_ssd_n_chunks(&seqs, Q) * H * P * N * 4);
    ops->conv1d_forward(xbc, in, ld_in, w, b, &seqs, Cc, K);
    ops->ssd_forward(y, states, NULL, 0, xbc, xbc + HP, xbc + HP + GN, Cc, in + Cc, ld_in,
                     bias, alog, D, &seqs, &d, ws);

    /* prefix in parallel: gather the prefix rows into their own packed tensor */
    size_t stride = (size_t)Cc * (K - 1) + (size_t)H * P * N + 5; /* conv | ssm | slack */
    float *st = calloc(3 * stride, 4);
    float *pin = malloc((size_t)(seqp.total + 1) * ld_in * 4);
    for (int s = 0; s < 3; s++)
        memcpy(pin + (size_t)offp[s] * ld_in, in + (size_t)off[s] * ld_in,
               (size_t)pre[s] * ld_in * 4);
    float *pxbc = malloc((size_t)(seqp.total + 1) * Cc * 4), *py = malloc((size_t)(seqp.total + 1) * HP * 4);
    float *pstates = malloc((size_t)(hn_ssd_n_chunks(&seqp, Q) + 1) * H * P * N * 4);
    ops->conv1d_forward(pxbc, pin, ld_in, w, b, &seqp, Cc, K);
    ops->ssd_forward(py, pstates, st + (size_t)Cc * (K - 1), stride, pxbc, pxbc + HP,
                     pxbc + HP + GN, Cc, pin + Cc, ld_in, bias, alog, D, &seqp, &d, ws);
    ops->conv1d_state(st, stride, pin, ld_in, &seqp, Cc, K);

    /* step the rest of each sequence, one sequence at a time, and compare */
    float ox[80], oy[80];
    double worst = 0, scale = 0;
    for (int s = 0; s < 3; s++)
        for (int t = pre[s]; t < lens[s]; t++) {
            int32_t pos = t;
            const float *row = in + (size_t)(off[s] + t) * ld_in;
            float *ss = st + s * stride;
            ops->conv1d_step(ox, ss, stride, row, ld_in, w, b, &pos, 1, Cc, K);
            ops->ssd_step(oy, ss + (size_t)Cc * (K - 1), stride, ox, ox + HP, ox + HP + GN, Cc,
                          row + Cc, ld_in, bias, alog, D, &pos, 1, &d);
            const float *yr = y + (size_t)(off[s] + t) * HP;
            for (int k = 0; k < HP; k++) {
                worst = fmax(worst, fabs(oy[k] - yr[k]));
                scale = fmax(scale, fabs(yr[k]));
            }
        }
    printf("step after prefill: scaled max err %.2e\n", worst / scale);
    assert_true(worst / scale < 1e-5);

    /* all three sequences stepped together from position 0 (garbage state is cleared) */
    for (size_t i = 0; i < 3 * stride; i++) st[i] = 1e3f;
    float rows_in[3 * 80], oxs[3 * 80], oys[3 * 80];
    worst = 0;
    for (int t = 0; t < 3; t++) { /* the shortest sequence has 3 rows */
        int32_t pos[3] = {t, t, t};
        for (int s = 0; s < 3; s++)
            memcpy(rows_in + s * ld_in, in + (size_t)(off[s] + t) * ld_in, ld_in * 4);
        ops->conv1d_step(oxs, st, stride, rows_in, ld_in, w, b, pos, 3, Cc, K);
        ops->ssd_step(oys, st + (size_t)Cc * (K - 1), stride, oxs, oxs + HP, oxs + HP + GN, Cc,
                      rows_in + Cc, ld_in, bias, alog, D, pos, 3, &d);
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < HP; k++)
                worst = fmax(worst, fabs(oys[s * HP + k] - y[(size_t)(off[s] + t) * HP + k]));
    }
    assert_true(worst / scale < 1e-5);

    /* negative control: a step that forgets the prefill state disagrees */
    memset(st, 0, 3 * stride * 4);
    {
        int32_t pos = pre[0];
        const float *row = in + (size_t)(off[0] + pre[0]) * ld_in;
        ops->conv1d_step(ox, st, stride, row, ld_in, w, b, &pos, 1, Cc, K);
        ops->ssd_step(oy, st + (size_t)Cc * (K - 1), stride, ox, ox + HP, ox + HP + GN, Cc,
                      row + Cc, ld_in, bias, alog, D, &pos, 1, &d);
        double e = 0;
        for (int k = 0; k < HP; k++) e = fmax(e, fabs(oy[k] - y[(size_t)(off[0] + pre[0]) * HP + k]));
        assert_true(e / scale > 1e-3);
    }
    free(in), free(w), free(b), free(ws), free(xbc), free(y), free(states), free(st);
    free(pin), free(pxbc), free(py), free(pstates);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssd_forward_matches_recurrence),
        cmocka_unit_test(test_ssd_backward_matches_reference),
        cmocka_unit_test(test_conv1d_matches_reference),
        cmocka_unit_test(test_gated_rmsnorm_matches_reference),
        cmocka_unit_test(test_step_continues_parallel_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
