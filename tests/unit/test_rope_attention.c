/* cpu rotary embedding and sliding-window attention over packed sequences:
 * rope against a float64 formula and its own inverse; attention forward (out and lse)
 * against a naive float64 reference that builds each sequence's full masked score
 * matrix; finite-difference gradient checks of q, k and v (each also shown to reject a
 * corrupted gradient); accumulation into the gradient buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "support/gradcheck.h"
#include "support/fixtures.h"

#define GRAD_TOL 1e-2

/* ------------------------------------------------------------------ packed seqs */

typedef struct packed {
    hn_seqs s;
    int32_t offsets[16];
    int32_t pos[256];
} packed;

static void pack(packed *p, const int *lens, int n) {
    memset(p, 0, sizeof *p);
    p->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        p->offsets[i + 1] = p->offsets[i] + lens[i];
        for (int j = 0; j < lens[i]; j++) p->pos[p->offsets[i] + j] = j;
        if (lens[i] > p->s.max_len) p->s.max_len = lens[i];
    }
    p->s.n = n;
    p->s.total = p->offsets[n];
    p->s.offsets = p->offsets;
    p->s.offsets_dev = p->offsets;
    p->s.pos_dev = p->pos;
}

/* ------------------------------------------------------------------ rope */

enum { R_T = 7, R_HEADS = 3, R_HD = 10, R_ROT = 6, R_LD = 37 };

static void rope_ref(double *out, const float *x, const int32_t *pos, double theta) {
    int half = R_ROT / 2;
    for (int t = 0; t < R_T; t++)
        for (int c = 0; c < R_LD; c++) out[t * R_LD + c] = x[t * R_LD + c];
    for (int t = 0; t < R_T; t++)
        for (int h = 0; h < R_HEADS; h++)
            for (int i = 0; i < half; i++) {
                double ang = pos[t] * pow(theta, -2.0 * i / R_ROT);
                const float *r = x + t * R_LD + h * R_HD;
                double a = r[i], b = r[i + half];
                out[t * R_LD + h * R_HD + i] = a * cos(ang) - b * sin(ang);
                out[t * R_LD + h * R_HD + i + half] = a * sin(ang) + b * cos(ang);
            }
}

static void test_rope_matches_formula_and_inverts(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 11);
    size_t n = (size_t)R_T * R_LD;
    float *x = falloc(n), *y = falloc(n);
    int32_t pos[R_T];
    for (int t = 0; t < R_T; t++) pos[t] = (int32_t)hn_rng_below(&rng, 5000);
    pos[0] = 0; /* position 0 is the identity */
    fill_normal(x, n, 1.0, &rng);
    memcpy(y, x, n * sizeof(float));
    hn_cpu_rope(y, R_LD, R_T, R_HEADS, R_HD, R_ROT, pos, 10000.0f, 0);

    double *ref = malloc(n * sizeof(double));
    rope_ref(ref, x, pos, 10000.0);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(ref[i] - y[i]));
        moved = fmax(moved, fabs((double)x[i] - y[i]));
    }
    assert_true(worst < 1e-5);
    assert_true(moved > 0.1); /* the rotation did something */
    /* dims outside the rotated part of every head, and past the heads, are untouched */
    for (int t = 0; t < R_T; t++)
        for (int c = 0; c < R_LD; c++) {
            int in_rot = c < R_HEADS * R_HD && c % R_HD < R_ROT;
            if (!in_rot || t == 0) assert_true(x[t * R_LD + c] == y[t * R_LD + c]);
        }

    hn_cpu_rope(y, R_LD, R_T, R_HEADS, R_HD, R_ROT, pos, 10000.0f, 1);
    assert_true(max_rel_diff(x, y, n, 1.0) < 1e-5);
    free(ref);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ attention reference */

enum { A_HEADS = 2, A_HD = 4, A_D = A_HEADS * A_HD, A_LD = 3 * A_D + 1 };

/* Naive float64: per sequence and head, the full L x L score matrix with -inf outside
 * the causal window, a row softmax, then P V. */
static void attention_ref(double *out, double *lse, const float *q, const float *k,
                          const float *v, const packed *p, int window, double scale) {
    for (int s = 0; s < p->s.n; s++) {
        int s0 = p->offsets[s], L = p->offsets[s + 1] - s0;
        double *S = malloc((size_t)L * L * sizeof(double));
        for (int h = 0; h < A_HEADS; h++) {
            for (int i = 0; i < L; i++)
                for (int j = 0; j < L; j++) {
                    int allowed = j <= i && (window < 0 || i - j <= window);
                    double sc = 0;
                    for (int d = 0; d < A_HD; d++)
                        sc += (double)q[(s0 + i) * A_LD + h * A_HD + d] *
                              k[(s0 + j) * A_LD + h * A_HD + d];
                    S[i * L + j] = allowed ? sc * scale : -INFINITY;
                }
            for (int i = 0; i < L; i++) {
                double m = -INFINITY, z = 0;
                for (int j = 0; j < L; j++) m = fmax(m, S[i * L + j]);
                for (int j = 0; j < L; j++) z += exp(S[i * L + j] - m);
                lse[(s0 + i) * A_HEADS + h] = m + log(z);
                for (int d = 0; d < A_HD; d++) {
                    double o = 0;
                    for (int j = 0; j < L; j++)
                        o += exp(S[i * L + j] - m) / z * v[(s0 + j) * A_LD + h * A_HD + d];
                    out[(s0 + i) * A_D + h * A_HD + d] = o;
                }
            }
        }
        free(S);
    }
}

static const int LENS[] = {5, 1, 9};
#define N_SEQS 3

static void test_attention_forward_matches_reference(void **state) {
    (void)state;
    packed p;
    pack(&p, LENS, N_SEQS);
    int T = p.s.total;
    hn_rng rng;
    hn_rng_seed(&rng, 21);
    float *qkv = falloc((size_t)T * A_LD), *out = falloc((size_t)T * A_D);
    float *lse = falloc((size_t)T * A_HEADS);
    double *ro = malloc((size_t)T * A_D * sizeof(double));
    double *rl = malloc((size_t)T * A_HEADS * sizeof(double));
    fill_normal(qkv, (size_t)T * A_LD, 1.5, &rng);
    const float *q = qkv, *k = qkv + A_D, *v = qkv + 2 * A_D;
    double scale = 1.0 / sqrt(A_HD);
    int windows[] = {0, 2, 4, 8, 100, -1};
    double prev_err_vs_global = -1;
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        fill_normal(out, (size_t)T * A_D, 1.0, &rng); /* stale values must be overwritten */
        hn_cpu_attention_forward(out, lse, q, k, v, A_LD, &p.s, A_HEADS, A_HD, windows[w],
                                 (float)scale);
        attention_ref(ro, rl, q, k, v, &p, windows[w], scale);
        double eo = 0, el = 0;
        for (int i = 0; i < T * A_D; i++) eo = fmax(eo, fabs(ro[i] - out[i]));
        for (int i = 0; i < T * A_HEADS; i++) el = fmax(el, fabs(rl[i] - lse[i]));
        assert_true(eo < 1e-5);
        assert_true(el < 1e-5);
        if (windows[w] == 0) {
            /* window 0: every row sees only itself, so out is v */
            for (int t = 0; t < T; t++)
                for (int c = 0; c < A_D; c++)
                    assert_true(fabsf(out[t * A_D + c] - v[t * A_LD + c]) < 1e-6f);
        }
        /* the window really changes the answer (else this test could not tell) */
        if (windows[w] == 2) {
            attention_ref(ro, rl, q, k, v, &p, -1, scale);
            double d = 0;
            for (int i = 0; i < T * A_D; i++) d = fmax(d, fabs(ro[i] - out[i]));
            prev_err_vs_global = d;
        }
    }
    assert_true(prev_err_vs_global > 1e-2);
    free(qkv);
    free(out);
    free(lse);
    free(ro);
    free(rl);
}

/* ------------------------------------------------------------------ gradients */

typedef struct attn_case {
    packed p;
    int window;
    float scale;
    float *qkv, *out, *lse, *probe;
} attn_case;

static double attn_loss(void *ctx) {
    attn_case *c = ctx;
    int T = c->p.s.total;
    hn_cpu_attention_forward(c->out, c->lse, c->qkv, c->qkv + A_D, c->qkv + 2 * A_D, A_LD,
                             &c->p.s, A_HEADS, A_HD, c->window, c->scale);
    return dot_f64(c->out, c->probe, (size_t)T * A_D);
}

/* Checks every q, k, v entry, then that a corrupted gradient (x1.1, or its largest
 * entry negated) is rejected. Entries of qkv outside q, k, v (the padding column)
 * must have zero gradient. */
static void check_attention_grads(int window) {
    attn_case c;
    pack(&c.p, LENS, N_SEQS);
    int T = c.p.s.total;
    c.window = window;
    c.scale = (float)(1.0 / sqrt(A_HD));
    hn_rng rng;
    hn_rng_seed(&rng, 31 + (uint64_t)(window + 1));
    size_t n = (size_t)T * A_LD;
    c.qkv = falloc(n);
    c.out = falloc((size_t)T * A_D);
    c.lse = falloc((size_t)T * A_HEADS);
    c.probe = falloc((size_t)T * A_D);
    fill_normal(c.qkv, n, 1.0, &rng);
    fill_normal(c.probe, (size_t)T * A_D, 1.0, &rng);

    float *g = falloc(n);
    attn_loss(&c);
    hn_cpu_attention_backward(g, g + A_D, g + 2 * A_D, c.probe, c.qkv, c.qkv + A_D,
                              c.qkv + 2 * A_D, A_LD, c.out, c.lse, &c.p.s, A_HEADS, A_HD, window,
                              c.scale);
    for (int t = 0; t < T; t++) assert_true(g[(size_t)t * A_LD + 3 * A_D] == 0.0f);

    gradcheck_opts o = {.eps = 1e-2, .floor = 1e-2, .max_points = n, .what = "attention qkv"};
    gradcheck_assert(c.qkv, g, n, attn_loss, &c, o, GRAD_TOL);

    float *bad = falloc(n);
    /* backward accumulates: a second call doubles every gradient */
    memcpy(bad, g, n * sizeof(float));
    attn_loss(&c);
    hn_cpu_attention_backward(bad, bad + A_D, bad + 2 * A_D, c.probe, c.qkv, c.qkv + A_D,
                              c.qkv + 2 * A_D, A_LD, c.out, c.lse, &c.p.s, A_HEADS, A_HD, window,
                              c.scale);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(bad[i] - 2 * g[i]) <= 1e-5f * (1 + fabsf(g[i])));

    /* the typed op asked to overwrite: the same gradients over buffers holding NaN (so
     * nothing of what they held is read) */
    for (size_t i = 0; i < n; i++) bad[i] = NAN;
    hn_tensor x = hn_tensor_f32(c.qkv, T, A_LD), gb = hn_tensor_f32(bad, T, A_LD);
    hn_attention_params ap = {.q = hn_tensor_cols(x, 0, A_D), .k = hn_tensor_cols(x, A_D, A_D),
                              .v = hn_tensor_cols(x, 2 * A_D, A_D),
                              .out = hn_tensor_f32(c.out, T, A_D), .lse = c.lse, .seqs = &c.p.s,
                              .heads = A_HEADS, .head_dim = A_HD, .window = window,
                              .scale = c.scale, .dout = hn_tensor_f32(c.probe, T, A_D),
                              .dq = hn_tensor_cols(gb, 0, A_D), .dk = hn_tensor_cols(gb, A_D, A_D),
                              .dv = hn_tensor_cols(gb, 2 * A_D, A_D), .overwrite = 1};
    assert_int_equal(hn_cpu_attention_backward_t(NULL, &ap), 0);
    for (int t = 0; t < T; t++)
        assert_memory_equal(bad + (size_t)t * A_LD, g + (size_t)t * A_LD, 3 * A_D * sizeof(float));

    free(bad);
    free(g);
    free(c.qkv);
    free(c.out);
    free(c.lse);
    free(c.probe);
}

static void test_attention_grads_window2(void **state) { (void)state; check_attention_grads(2); }
static void test_attention_grads_window0(void **state) { (void)state; check_attention_grads(0); }
static void test_attention_grads_global(void **state) { (void)state; check_attention_grads(-1); }

/* rope's backward: <rope(x), g> = <x, rope^-1(g)> for any g (orthogonality) */
static void test_rope_inverse_is_adjoint(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 41);
    size_t n = (size_t)R_T * R_LD;
    float *x = falloc(n), *g = falloc(n);
    int32_t pos[R_T];
    for (int t = 0; t < R_T; t++) pos[t] = (int32_t)hn_rng_below(&rng, 300);
    fill_normal(x, n, 1.0, &rng);
    fill_normal(g, n, 1.0, &rng);
    double before_x_g = dot_f64(x, g, n);
    float *rx = falloc(n);
    memcpy(rx, x, n * sizeof(float));
    hn_cpu_rope(rx, R_LD, R_T, R_HEADS, R_HD, R_ROT, pos, 500.0f, 0);
    double lhs = dot_f64(rx, g, n);
    hn_cpu_rope(g, R_LD, R_T, R_HEADS, R_HD, R_ROT, pos, 500.0f, 1);
    double rhs = dot_f64(x, g, n);
    assert_true(fabs(lhs - rhs) < 1e-4 * (1 + fabs(lhs)));
    assert_true(fabs(lhs - before_x_g) > 1e-2); /* the rotation mattered */
    free(x);
    free(g);
    free(rx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_matches_formula_and_inverts),
        cmocka_unit_test(test_rope_inverse_is_adjoint),
        cmocka_unit_test(test_attention_forward_matches_reference),
        cmocka_unit_test(test_attention_grads_window2),
        cmocka_unit_test(test_attention_grads_window0),
        cmocka_unit_test(test_attention_grads_global),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
