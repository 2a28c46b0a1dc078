/* Finite-difference gradient checking for the CPU backend (float32), shared by the unit
 * tests (tests/unit/support/gradcheck.h) and the plugin test kit (`hnet plugins --check`).
 *
 * The caller supplies loss(ctx): run the forward pass and reduce its outputs to one
 * scalar, typically sum(out * probe) with a fixed random probe (so every output
 * element matters). hn_gradcheck_max_error perturbs entries of x by +-eps (central
 * differences), compares with the analytic gradient, and returns the worst error
 * |analytic - numeric| / max(|analytic|, |numeric|, floor).
 *
 * float32 forward passes limit precision: use eps around 1e-2..1e-3 and a tolerance
 * around 1e-2; the floor keeps near-zero gradients from dominating. */
#ifndef HN_CHECK_GRADCHECK_H
#define HN_CHECK_GRADCHECK_H

#include <stddef.h>

typedef double (*hn_gradcheck_loss_fn)(void *ctx);

typedef struct hn_gradcheck_opts {
    double eps;        /* perturbation (default 1e-2) */
    double floor;      /* denominator floor (default 1e-2) */
    size_t max_points; /* entries checked, spread evenly over x (0 = all of them) */
    const char *what;  /* name printed with the worst entry (NULL: print nothing) */
} hn_gradcheck_opts;

/* Returns the worst relative error over the checked entries. x is restored. */
double hn_gradcheck_max_error(float *x, const float *analytic, size_t n, hn_gradcheck_loss_fn loss,
                              void *ctx, hn_gradcheck_opts opts);

/* The smallest gradient a check with step eps can hold to tol, given the float32 rounding
 * of a loss sum_i out_i * probe_i whose terms add up to abs_terms = sum_i |out_i * probe_i|:
 * the rounding moves the loss by up to about one unit roundoff of each term,
 * u * abs_terms (u = 2^-24; the plugin kit's losses differ between OpenBLAS's kernels by
 * 0.2 to 0.45 of it), so the central difference is uncertain by about u * abs_terms / eps,
 * and an entry smaller than that over tol is one whose relative error the rounding alone
 * can push past tol. Used as the floor (the larger of it and a fixed one), an entry below
 * it is held to that absolute error instead: the verdict is then the same on every CPU's
 * float32 rounding. */
double hn_gradcheck_noise_floor(double abs_terms, double eps, double tol);

#endif
