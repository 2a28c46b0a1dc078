/* The cpu backend's core ops: forward results against naive float64 references,
 * finite-difference gradient checks for every backward (each also shown to reject a
 * corrupted gradient), accumulation semantics, and AdamW against the formula. */
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

static float *fdup(const float *x, size_t n) {
    float *p = falloc(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}

/* Checks the analytic gradient of x with finite differences over every entry, then
 * shows the check has teeth: the same gradient scaled by 1.1, and with its largest
 * entry negated, must both fail it. Linear ops use a large eps (no truncation error,
 * and float32 rounding of the outputs is divided by a larger step); smooth ops trade
 * truncation error (eps^2) against that rounding noise (1/eps). */
#define EPS_LINEAR 1e-1
#define EPS_SMOOTH 3e-2
/* swiglu gates near silu's minimum have a tiny slope but full curvature */
#define EPS_SWIGLU 1e-2
static void check_grad(float *x, const float *analytic, size_t n, gradcheck_loss_fn loss,
                       void *ctx, double eps, const char *what) {
    gradcheck_opts o = {.eps = eps, .floor = 1e-2, .max_points = n, .what = what};
    gradcheck_assert(x, analytic, n, loss, ctx, o, GRAD_TOL);
}

/* ------------------------------------------------------------------ memory */

static void test_memory(void **state) {
    (void)state;
    size_t sizes[] = {0, 1, 7 * sizeof(float), 1000, 4096 + 3};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        unsigned char *p = hn_cpu_alloc(sizes[s]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < sizes[s]; i++) assert_int_equal(p[i], 0);
        hn_cpu_free(p);
    }
    hn_rng rng;
    hn_rng_seed(&rng, 11);
    size_t n = 333;
    float *host = falloc(n), *back = falloc(n);
    fill_normal(host, n, 1.0, &rng);
    float *a = hn_cpu_alloc(n * sizeof(float)), *b = hn_cpu_alloc(n * sizeof(float));
    hn_cpu_upload(a, host, n * sizeof(float));
    hn_cpu_copy(b, a, n * sizeof(float));
    hn_cpu_sync();
    hn_cpu_download(back, b, n * sizeof(float));
    assert_memory_equal(back, host, n * sizeof(float));
    hn_cpu_zero(b, 10 * sizeof(float));
    hn_cpu_download(back, b, n * sizeof(float));
    for (size_t i = 0; i < n; i++) assert_true(back[i] == (i < 10 ? 0.0f : host[i]));
    hn_cpu_free(a);
    hn_cpu_free(b);
    hn_cpu_free(NULL);
    free(host);
    free(back);
}

/* ------------------------------------------------------------------ matmul */

/* element (i, j) of op(X) where op(X) is [rows, cols] and X is stored transposed if t */
static double op_at(const float *x, int t, int rows, int cols, int i, int j) {
    return t ? x[(size_t)j * rows + i] : x[(size_t)i * cols + j];
}

static void test_matmul_forward(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 1);
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {37, 29, 41}, {64, 3, 130}, {5, 8, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                float *a = falloc((size_t)m * k), *b = falloc((size_t)k * n);
                float *c = falloc((size_t)m * n), *c0 = falloc((size_t)m * n);
                fill_normal(a, (size_t)m * k, 1.0, &rng);
                fill_normal(b, (size_t)k * n, 1.0, &rng);
                fill_normal(c0, (size_t)m * n, 1.0, &rng);
                memcpy(c, c0, (size_t)m * n * sizeof(float));
                float alpha = 0.75f, beta = ta ? 0.5f : 0.0f;
                hn_cpu_matmul(ta, tb, m, n, k, alpha, a, b, beta, c);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double ref = 0;
                        for (int l = 0; l < k; l++)
                            ref += op_at(a, ta, m, k, i, l) * op_at(b, tb, k, n, l, j);
                        ref = alpha * ref + beta * c0[(size_t)i * n + j];
                        double got = c[(size_t)i * n + j];
                        assert_true(fabs(got - ref) <= 1e-5 * (1 + sqrt((double)k)) * (1 + fabs(ref)));
                    }
                free(a);
                free(b);
                free(c);
                free(c0);
            }
}

typedef struct {
    int ta, tb, m, n, k;
    float *a, *b, *c, *probe;
} mm_ctx;

static double mm_loss(void *p) {
    mm_ctx *x = p;
    hn_cpu_matmul(x->ta, x->tb, x->m, x->n, x->k, 1.0f, x->a, x->b, 0.0f, x->c);
    return dot_f64(x->c, x->probe, (size_t)x->m * x->n);
}

/* The backward of C = op(A) op(B) as layers write it, with the same matmul op
 * (beta = 1 accumulates): dop(A) = dC op(B)^T, dop(B) = op(A)^T dC. */
static void mm_backward(const mm_ctx *x, const float *dc, float *da, float *db) {
    int m = x->m, n = x->n, k = x->k;
    if (!x->ta) hn_cpu_matmul(0, !x->tb, m, k, n, 1.0f, dc, x->b, 1.0f, da);   /* [m,k] */
    else hn_cpu_matmul(x->tb, 1, k, m, n, 1.0f, x->b, dc, 1.0f, da);           /* [k,m] */
    if (!x->tb) hn_cpu_matmul(!x->ta, 0, k, n, m, 1.0f, x->a, dc, 1.0f, db);   /* [k,n] */
    else hn_cpu_matmul(1, x->ta, n, k, m, 1.0f, dc, x->a, 1.0f, db);           /* [n,k] */
}

static void test_matmul_grad(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 2);
    int shapes[][3] = {{7, 13, 5}, {9, 4, 11}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                mm_ctx x = {ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0, 0, 0, 0};
                size_t na = (size_t)x.m * x.k, nb = (size_t)x.k * x.n, nc = (size_t)x.m * x.n;
                x.a = falloc(na);
                x.b = falloc(nb);
                x.c = falloc(nc);
                x.probe = falloc(nc);
                fill_normal(x.a, na, 1.0, &rng);
                fill_normal(x.b, nb, 1.0, &rng);
                fill_normal(x.probe, nc, 1.0, &rng);
                float *da = falloc(na), *db = falloc(nb);
                mm_backward(&x, x.probe, da, db);
                check_grad(x.a, da, na, mm_loss, &x, EPS_LINEAR, ta ? "matmul dA (A^T)" : "matmul dA");
                check_grad(x.b, db, nb, mm_loss, &x, EPS_LINEAR, tb ? "matmul dB (B^T)" : "matmul dB");
                /* accumulation: a second backward doubles the gradients */
                float *da1 = fdup(da, na), *db1 = fdup(db, nb);
                mm_backward(&x, x.probe, da, db);
                for (size_t i = 0; i < na; i++)
                    assert_float_equal(da[i], 2 * da1[i], 1e-5 * (1 + fabsf(da1[i])));
                for (size_t i = 0; i < nb; i++)
                    assert_float_equal(db[i], 2 * db1[i], 1e-5 * (1 + fabsf(db1[i])));
                free(da1);
                free(db1);
                free(da);
                free(db);
                free(x.a);
                free(x.b);
                free(x.c);
                free(x.probe);
            }
}

/* ------------------------------------------------------------------ elementwise */

static void test_elementwise(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 3);
    size_t n = 1001;
    float *x = falloc(n), *y = falloc(n), *y0 = falloc(n);
    fill_normal(x, n, 1.0, &rng);
    fill_normal(y0, n, 1.0, &rng);

    hn_cpu_fill(y, 2.5f, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] == 2.5f);

    memcpy(y, y0, n * sizeof(float));
    hn_cpu_add(y, x, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] == y0[i] + x[i]);

    memcpy(y, y0, n * sizeof(float));
    hn_cpu_scale(y, -0.3f, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] == y0[i] * -0.3f);

    /* large values, so float accumulation would visibly drift */
    size_t big = 100000;
    float *z = falloc(big);
    fill_normal(z, big, 100.0, &rng);
    double ref = 0;
    for (size_t i = 0; i < big; i++) ref += (double)z[i] * z[i];
    assert_true(fabs(hn_cpu_sum_squares(z, big) - ref) <= 1e-12 * ref);
    assert_true(hn_cpu_sum_squares(z, 0) == 0.0);
    free(z);
    free(x);
    free(y);
    free(y0);
}

typedef struct {
    int rows, cols;
    float *y0, *b, *y, *probe;
} bias_ctx;

static double bias_loss(void *p) {
    bias_ctx *x = p;
    size_t n = (size_t)x->rows * x->cols;
    memcpy(x->y, x->y0, n * sizeof(float));
    hn_cpu_add_bias(x->y, x->b, x->rows, x->cols);
    return dot_f64(x->y, x->probe, n);
}

static void test_bias(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 4);
    int shapes[][2] = {{7, 13}, {1, 5}, {300, 260}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        bias_ctx x = {shapes[s][0], shapes[s][1], 0, 0, 0, 0};
        size_t n = (size_t)x.rows * x.cols;
        x.y0 = falloc(n);
        x.y = falloc(n);
        x.probe = falloc(n);
        x.b = falloc(x.cols);
        fill_normal(x.y0, n, 1.0, &rng);
        fill_normal(x.probe, n, 1.0, &rng);
        fill_normal(x.b, x.cols, 1.0, &rng);
        bias_loss(&x);
        for (int r = 0; r < x.rows; r++)
            for (int c = 0; c < x.cols; c++)
                assert_true(x.y[(size_t)r * x.cols + c] == x.y0[(size_t)r * x.cols + c] + x.b[c]);

        /* bias_backward against a double column sum, accumulating onto a prefilled db */
        float *db = falloc(x.cols), *db0 = falloc(x.cols);
        fill_normal(db0, x.cols, 1.0, &rng);
        memcpy(db, db0, x.cols * sizeof(float));
        hn_cpu_bias_backward(db, x.probe, x.rows, x.cols);
        for (int c = 0; c < x.cols; c++) {
            double ref = db0[c];
            for (int r = 0; r < x.rows; r++) ref += x.probe[(size_t)r * x.cols + c];
            assert_true(fabs(db[c] - ref) <= 1e-6 * (1 + fabs(ref)));
        }
        if (n <= 1000) {
            memset(db, 0, x.cols * sizeof(float));
            hn_cpu_bias_backward(db, x.probe, x.rows, x.cols);
            if (x.rows > 1) check_grad(x.b, db, x.cols, bias_loss, &x, EPS_LINEAR, "add_bias db");
            float *once = fdup(db, x.cols);
            hn_cpu_bias_backward(db, x.probe, x.rows, x.cols);
            for (int c = 0; c < x.cols; c++) assert_true(db[c] == 2 * once[c]);
            free(once);
        }
        free(db);
        free(db0);
        free(x.y0);
        free(x.y);
        free(x.probe);
        free(x.b);
    }
}

/* ------------------------------------------------------------------ embedding */

typedef struct {
    int T, D;
    const int32_t *tok;
    float *table, *out, *probe;
} emb_ctx;

static double emb_loss(void *p) {
    emb_ctx *x = p;
    hn_cpu_embedding_forward(x->out, x->table, x->tok, x->T, x->D);
    return dot_f64(x->out, x->probe, (size_t)x->T * x->D);
}

static void test_embedding(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 5);
    int shapes[][3] = {{7, 13, 5}, {20, 8, 256}, {1, 3, 1}}; /* T, D, vocab */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], D = shapes[s][1], V = shapes[s][2];
        int32_t *tok = calloc(T, sizeof(int32_t));
        for (int t = 0; t < T; t++) tok[t] = (int32_t)hn_rng_below(&rng, V);
        tok[T - 1] = tok[0]; /* a repeated token, so the scatter must add */
        emb_ctx x = {T, D, tok, falloc((size_t)V * D), falloc((size_t)T * D),
                     falloc((size_t)T * D)};
        fill_normal(x.table, (size_t)V * D, 1.0, &rng);
        fill_normal(x.probe, (size_t)T * D, 1.0, &rng);
        emb_loss(&x);
        for (int t = 0; t < T; t++)
            assert_memory_equal(x.out + (size_t)t * D, x.table + (size_t)tok[t] * D,
                                D * sizeof(float));
        float *dt = falloc((size_t)V * D);
        hn_cpu_embedding_backward(dt, x.probe, tok, T, D);
        check_grad(x.table, dt, (size_t)V * D, emb_loss, &x, EPS_LINEAR, "embedding dtable");
        float *once = fdup(dt, (size_t)V * D);
        hn_cpu_embedding_backward(dt, x.probe, tok, T, D);
        for (size_t i = 0; i < (size_t)V * D; i++)
            assert_float_equal(dt[i], 2 * once[i], 1e-6 * (1 + fabsf(once[i])));
        free(once);
        free(dt);
        free(x.table);
        free(x.out);
        free(x.probe);
        free(tok);
    }
}

/* ------------------------------------------------------------------ rmsnorm */

typedef struct {
    int T, D;
    float eps;
    float *x, *w, *y, *rstd, *probe;
} rms_ctx;

static double rms_loss(void *p) {
    rms_ctx *c = p;
    hn_cpu_rmsnorm_forward(c->y, c->rstd, c->x, c->w, c->T, c->D, c->eps);
    return dot_f64(c->y, c->probe, (size_t)c->T * c->D);
}

static void test_rmsnorm(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 6);
    int shapes[][2] = {{7, 13}, {3, 1}, {2, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        rms_ctx c = {shapes[s][0], shapes[s][1], 1e-5f, 0, 0, 0, 0, 0};
        size_t n = (size_t)c.T * c.D;
        c.x = falloc(n);
        c.y = falloc(n);
        c.probe = falloc(n);
        c.w = falloc(c.D);
        c.rstd = falloc(c.T);
        fill_normal(c.x, n, 2.0, &rng);
        fill_normal(c.probe, n, 1.0, &rng);
        fill_uniform(c.w, c.D, 0.5, 1.5, &rng);
        rms_loss(&c);
        for (int t = 0; t < c.T; t++) {
            double ss = 0;
            for (int d = 0; d < c.D; d++) ss += (double)c.x[t * c.D + d] * c.x[t * c.D + d];
            double r = 1.0 / sqrt(ss / c.D + c.eps);
            assert_true(fabs(c.rstd[t] - r) <= 1e-6 * r);
            for (int d = 0; d < c.D; d++) {
                double ref = c.x[t * c.D + d] * r * c.w[d];
                assert_true(fabs(c.y[t * c.D + d] - ref) <= 1e-6 * (1 + fabs(ref)));
            }
        }
        float *dx = falloc(n), *dw = falloc(c.D);
        hn_cpu_rmsnorm_backward(dx, dw, c.probe, c.x, c.w, c.rstd, c.T, c.D);
        if (c.D > 1) check_grad(c.x, dx, n, rms_loss, &c, EPS_SMOOTH, "rmsnorm dx");
        check_grad(c.w, dw, c.D, rms_loss, &c, EPS_SMOOTH, "rmsnorm dw");
        float *dx1 = fdup(dx, n), *dw1 = fdup(dw, c.D);
        hn_cpu_rmsnorm_backward(dx, dw, c.probe, c.x, c.w, c.rstd, c.T, c.D);
        for (size_t i = 0; i < n; i++) assert_true(dx[i] == 2 * dx1[i]);
        for (int i = 0; i < c.D; i++) assert_true(dw[i] == 2 * dw1[i]);
        free(dx1);
        free(dw1);
        free(dx);
        free(dw);
        free(c.x);
        free(c.y);
        free(c.probe);
        free(c.w);
        free(c.rstd);
    }
}

/* ------------------------------------------------------------------ swiglu */

typedef struct {
    int T, H;
    float *gu, *h, *probe;
} swi_ctx;

static double swi_loss(void *p) {
    swi_ctx *c = p;
    hn_cpu_swiglu_forward(c->h, c->gu, c->T, c->H);
    return dot_f64(c->h, c->probe, (size_t)c->T * c->H);
}

static void test_swiglu(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 7);
    int shapes[][2] = {{7, 13}, {1, 1}, {4, 37}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        swi_ctx c = {shapes[s][0], shapes[s][1], 0, 0, 0};
        size_t nh = (size_t)c.T * c.H, ng = 2 * nh;
        c.gu = falloc(ng);
        c.h = falloc(nh);
        c.probe = falloc(nh);
        fill_normal(c.gu, ng, 2.0, &rng);
        fill_normal(c.probe, nh, 1.0, &rng);
        swi_loss(&c);
        for (int t = 0; t < c.T; t++)
            for (int i = 0; i < c.H; i++) {
                double v = c.gu[(size_t)t * 2 * c.H + i], g = c.gu[(size_t)t * 2 * c.H + c.H + i];
                double ref = v * g / (1 + exp(-g));
                assert_true(fabs(c.h[(size_t)t * c.H + i] - ref) <= 1e-6 * (1 + fabs(ref)));
            }
        float *dgu = falloc(ng);
        hn_cpu_swiglu_backward(dgu, c.probe, c.gu, c.T, c.H);
        if (nh > 1) check_grad(c.gu, dgu, ng, swi_loss, &c, EPS_SWIGLU, "swiglu dgu");
        float *once = fdup(dgu, ng);
        hn_cpu_swiglu_backward(dgu, c.probe, c.gu, c.T, c.H);
        for (size_t i = 0; i < ng; i++) assert_true(dgu[i] == 2 * once[i]);
        free(once);
        free(dgu);
        free(c.gu);
        free(c.h);
        free(c.probe);
    }
    /* saturated gates stay finite: silu(-100) = 0, silu(100) = 100 */
    float gu[4] = {3.0f, 3.0f, -100.0f, 100.0f}, h[2], dh[2] = {1, 1}, dgu[4] = {0};
    hn_cpu_swiglu_forward(h, gu, 1, 2);
    hn_cpu_swiglu_backward(dgu, dh, gu, 1, 2);
    assert_float_equal(h[0], 0.0f, 1e-6);
    assert_float_equal(h[1], 300.0f, 1e-3);
    for (int i = 0; i < 4; i++) assert_true(isfinite(dgu[i]));
}

/* ------------------------------------------------------------------ xent */

typedef struct {
    int T, V;
    float scale;
    const int32_t *target;
    float *logits, *loss;
} xent_ctx;

static double xent_loss(void *p) {
    xent_ctx *c = p;
    hn_cpu_xent_forward(c->loss, c->logits, c->target, c->T, c->V);
    double s = 0;
    for (int t = 0; t < c->T; t++) s += c->loss[t];
    return c->scale * s;
}

static void test_xent(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 8);
    int shapes[][2] = {{7, 13}, {3, 2}, {5, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], V = shapes[s][1];
        int32_t *target = calloc(T, sizeof(int32_t));
        for (int t = 0; t < T; t++) target[t] = (int32_t)hn_rng_below(&rng, V);
        xent_ctx c = {T, V, 1.7f, target, falloc((size_t)T * V), falloc(T)};
        fill_normal(c.logits, (size_t)T * V, 3.0, &rng);
        xent_loss(&c);
        for (int t = 0; t < T; t++) {
            const float *z = c.logits + (size_t)t * V;
            double se = 0;
            for (int i = 0; i < V; i++) se += exp((double)z[i]);
            double ref = log(se) - z[target[t]];
            assert_true(fabs(c.loss[t] - ref) <= 1e-6 * (1 + ref));
        }
        float *dz = falloc((size_t)T * V);
        hn_cpu_xent_backward(dz, c.logits, target, T, V, c.scale);
        for (int t = 0; t < T; t++) { /* softmax - onehot sums to zero per row */
            double rs = 0;
            for (int i = 0; i < V; i++) rs += dz[(size_t)t * V + i];
            assert_true(fabs(rs) < 1e-5);
        }
        check_grad(c.logits, dz, (size_t)T * V, xent_loss, &c, EPS_SMOOTH, "xent dlogits");
        float *once = fdup(dz, (size_t)T * V);
        hn_cpu_xent_backward(dz, c.logits, target, T, V, c.scale);
        for (size_t i = 0; i < (size_t)T * V; i++) assert_true(dz[i] == 2 * once[i]);
        /* the fused op: the same loss, and the gradient overwritten (not accumulated) */
        float *fl = falloc(T);
        hn_cpu_xent_fused(fl, dz, c.logits, target, T, V, c.scale);
        for (size_t i = 0; i < (size_t)T * V; i++) assert_true(dz[i] == once[i]);
        for (int t = 0; t < T; t++) assert_true(fl[t] == c.loss[t]);
        free(fl);
        free(once);
        free(dz);
        free(c.logits);
        free(c.loss);
        free(target);
    }
    /* huge logits: no overflow; loss and gradient match the shifted double formula */
    float z[3] = {1e4f, 1e4f - 2.0f, -1e4f}, loss, dz[3] = {0};
    int32_t tg = 1;
    hn_cpu_xent_forward(&loss, z, &tg, 1, 3);
    double ref = log(1 + exp(-2.0)) + 2.0;
    assert_float_equal(loss, ref, 1e-5);
    hn_cpu_xent_backward(dz, z, &tg, 1, 3, 1.0f);
    double p1 = exp(-2.0) / (1 + exp(-2.0));
    assert_float_equal(dz[0], 1 - p1, 1e-6);
    assert_float_equal(dz[1], p1 - 1, 1e-6);
    assert_float_equal(dz[2], 0.0f, 1e-6);
}

/* ------------------------------------------------------------------ adamw */

typedef struct {
    double lr, b1, b2, eps, wd, gs;
} adam_hp;

/* The formula, in double: decoupled decay, then the bias-corrected Adam step. */
static void adamw_ref(double *p, const float *g, double *m, double *v, size_t n, adam_hp h,
                      int step) {
    double bc1 = 1 - pow(h.b1, step), bc2 = 1 - pow(h.b2, step);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * h.gs;
        m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
        v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
        p[i] -= h.lr * h.wd * p[i];
        p[i] -= h.lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + h.eps);
    }
}

static void test_adamw(void **state) {
    (void)state;
    hn_rng rng;
    hn_rng_seed(&rng, 9);
    size_t n = 257;
    adam_hp h = {1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5};
    float *p = falloc(n), *g = falloc(n), *m = falloc(n), *v = falloc(n), *p0 = falloc(n);
    double *rp = calloc(n, sizeof(double)), *rm = calloc(n, sizeof(double)),
           *rv = calloc(n, sizeof(double));
    fill_normal(p, n, 1.0, &rng);
    memcpy(p0, p, n * sizeof(float));
    for (size_t i = 0; i < n; i++) rp[i] = p[i];
    for (int step = 1; step <= 2; step++) {
        fill_normal(g, n, step == 1 ? 1.0 : 0.01, &rng);
        hn_cpu_adamw(p, g, m, v, n, (float)h.lr, (float)h.b1, (float)h.b2, (float)h.eps,
                     (float)h.wd, (float)(1 - pow(h.b1, step)), (float)(1 - pow(h.b2, step)),
                     (float)h.gs);
        adamw_ref(rp, g, rm, rv, n, h, step);
        for (size_t i = 0; i < n; i++) {
            assert_true(fabs(p[i] - rp[i]) <= 1e-6 * (1 + fabs(rp[i])));
            assert_true(fabs(m[i] - rm[i]) <= 1e-5 * (1e-3 + fabs(rm[i])));
            assert_true(fabs(v[i] - rv[i]) <= 1e-5 * (1e-6 + fabs(rv[i])));
        }
    }
    /* the comparison is meaningful: parameters moved by ~lr, far above the tolerance */
    double moved = 0;
    for (size_t i = 0; i < n; i++) moved += fabs(p[i] - p0[i]);
    assert_true(moved / n > 5e-3);

    /* weight decay alone: with g = 0 and fresh moments, p shrinks by (1 - lr*wd) */
    float q[2] = {2.0f, -4.0f}, zg[2] = {0}, zm[2] = {0}, zv[2] = {0};
    hn_cpu_adamw(q, zg, zm, zv, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 0.1f, 0.001f, 1.0f);
    assert_float_equal(q[0], 2.0f * 0.95f, 1e-6);
    assert_float_equal(q[1], -4.0f * 0.95f, 1e-6);
    free(p);
    free(g);
    free(m);
    free(v);
    free(p0);
    free(rp);
    free(rm);
    free(rv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),        cmocka_unit_test(test_matmul_forward),
        cmocka_unit_test(test_matmul_grad),   cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_bias),          cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_xent),          cmocka_unit_test(test_adamw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
