/* Finite-difference gradient checking (check/gradcheck.h). */
#include "check/gradcheck.h"

#include <math.h>
#include <stdio.h>

double hn_gradcheck_max_error(float *x, const float *analytic, size_t n, hn_gradcheck_loss_fn loss,
                              void *ctx, hn_gradcheck_opts o) {
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

double hn_gradcheck_noise_floor(double abs_terms, double eps, double tol) {
    return 0x1p-24 * abs_terms / (eps * tol);
}
