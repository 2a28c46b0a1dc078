#include "gradcheck.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

double gradcheck_max_error(float *x, const float *analytic, size_t n, gradcheck_loss_fn loss,
                           void *ctx, gradcheck_opts o) {
    double eps = o.eps > 0 ? o.eps : 1e-2;
    double floor = o.floor > 0 ? o.floor : 1e-2;
    size_t points = o.max_points ? o.max_points : n;
    if (points > n) points = n;
    double worst = 0;
    size_t worst_i = 0;
    double worst_a = 0, worst_num = 0;
    for (size_t p = 0; p < points; p++) {
        /* spread the checked entries evenly, including the first and last */
        size_t i = points == 1 ? 0 : (size_t)((double)p * (double)(n - 1) / (double)(points - 1));
        float saved = x[i];
        x[i] = (float)(saved + eps);
        double up = loss(ctx);
        x[i] = (float)(saved - eps);
        double down = loss(ctx);
        x[i] = saved;
        /* the realised perturbation may differ from eps after rounding to float */
        double h = (double)(float)(saved + eps) - (double)(float)(saved - eps);
        double numeric = (up - down) / h;
        double a = analytic[i];
        double denom = fmax(fmax(fabs(a), fabs(numeric)), floor);
        double err = fabs(a - numeric) / denom;
        if (err > worst) {
            worst = err;
            worst_i = i;
            worst_a = a;
            worst_num = numeric;
        }
    }
    loss(ctx); /* leave the forward state as it was for x */
    if (o.what)
        printf("gradcheck %-28s worst rel err %.2e at %zu (analytic %.6g, numeric %.6g)\n", o.what,
               worst, worst_i, worst_a, worst_num);
    return worst;
}

void fill_normal(float *x, size_t n, double std, hn_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * hn_rng_normal(rng));
}

void fill_uniform(float *x, size_t n, double lo, double hi, hn_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * hn_rng_uniform(rng));
}

double dot_f64(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

double max_rel_diff(const float *a, const float *b, size_t n, double floor) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double den = fmax(fmax(fabs(a[i]), fabs(b[i])), floor);
        if (d / den > worst) worst = d / den;
    }
    return worst;
}

void gradcheck_assert(float *x, const float *analytic, size_t n, gradcheck_loss_fn loss,
                      void *ctx, gradcheck_opts o, double tol) {
    assert_true(gradcheck_max_error(x, analytic, n, loss, ctx, o) < tol);
    o.what = NULL;
    float *bad = malloc((n ? n : 1) * sizeof *bad);
    assert_non_null(bad);
    size_t big = 0;
    for (size_t i = 0; i < n; i++) {
        bad[i] = 1.1f * analytic[i];
        if (fabsf(analytic[i]) > fabsf(analytic[big])) big = i;
    }
    assert_true(fabsf(analytic[big]) > 0.05f); /* the gradient is not trivially zero */
    assert_true(gradcheck_max_error(x, bad, n, loss, ctx, o) > 5 * tol);
    memcpy(bad, analytic, n * sizeof *bad);
    bad[big] = -bad[big];
    assert_true(gradcheck_max_error(x, bad, n, loss, ctx, o) > 0.5);
    free(bad);
}
