/* Finite-difference gradient checking for the CPU backend (float32).
 *
 * The test supplies loss(ctx): run the forward pass and reduce its outputs to one
 * scalar, typically sum(out * probe) with a fixed random probe (so every output
 * element matters). gradcheck_max_error perturbs entries of x by +-eps (central
 * differences), compares with the analytic gradient, and returns the worst error
 * |analytic - numeric| / max(|analytic|, |numeric|, floor).
 *
 * float32 forward passes limit precision: use eps around 1e-2..1e-3 and a tolerance
 * around 1e-2; the floor keeps near-zero gradients from dominating. */
#ifndef HN_TEST_GRADCHECK_H
#define HN_TEST_GRADCHECK_H

#include <stddef.h>

#include "check/gradcheck.h"
#include "core/rng.h"

/* The checker itself lives in the runtime (check/gradcheck.h), shared with the plugin
 * test kit; these are its names in the tests. */
typedef hn_gradcheck_loss_fn gradcheck_loss_fn;
typedef hn_gradcheck_opts gradcheck_opts;
static inline double gradcheck_max_error(float *x, const float *analytic, size_t n,
                                         gradcheck_loss_fn loss, void *ctx, gradcheck_opts opts) {
    return hn_gradcheck_max_error(x, analytic, n, loss, ctx, opts);
}

/* The check every gradient test makes, with teeth: the worst error over opts'
 * entries must be below tol, and the same check must reject the gradient scaled by 1.1
 * (error > 5 tol) and with its largest entry negated (error > 0.5), so a check that
 * passes anything is caught. Asserts through cmocka; opts.max_points should cover the
 * largest entry (0 = all). */
void gradcheck_assert(float *x, const float *analytic, size_t n, gradcheck_loss_fn loss,
                      void *ctx, gradcheck_opts opts, double tol);

/* Fills x with normal(0, std) values from rng. */
void fill_normal(float *x, size_t n, double std, hn_rng *rng);
/* n fresh floats (falloc) filled by fill_normal */
float *falloc_normal(size_t n, double std, hn_rng *rng);
/* Fills x with uniform [lo, hi) values. */
void fill_uniform(float *x, size_t n, double lo, double hi, hn_rng *rng);
/* sum_i a[i] * b[i] in double. */
double dot_f64(const float *a, const float *b, size_t n);
/* Largest |a[i]-b[i]| / max(|a[i]|,|b[i]|,floor). */
double max_rel_diff(const float *a, const float *b, size_t n, double floor);
/* Largest |a[i]-b[i]| over the largest |a[i]|: a difference at the tensor's scale, as
 * float32 rounding makes it (an entry much smaller than the terms it sums keeps their
 * absolute error, not its own relative one); 0 when a and b are both all zero. */
double max_scaled_diff(const float *a, const float *b, size_t n);

#endif
