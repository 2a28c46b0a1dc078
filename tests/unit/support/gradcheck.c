#include "gradcheck.h"
#include "fixtures.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

void fill_normal(float *x, size_t n, double std, hn_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * hn_rng_normal(rng));
}

float *falloc_normal(size_t n, double std, hn_rng *rng) {
    float *p = falloc(n);
    fill_normal(p, n, std, rng);
    return p;
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

double max_scaled_diff(const float *a, const float *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs(a[i]));
    }
    return diff == 0 ? 0 : scale > 0 ? diff / scale : INFINITY;
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
