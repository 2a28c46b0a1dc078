/* The cpu backend's typed RMSNorm ops (backend.h hn_rmsnorm_params): on float32 views
 * they are the v1 rmsnorm ops bit for bit (and the fused one is the v1 add followed by
 * the v1 norm), so a network on them trains as before; bf16 views are widened exactly
 * and rounded once; the fused op's gradients pass a finite-difference check (with
 * teeth: support/gradcheck.h); views that do not fit are refused. */
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
#include "support/fixtures.h"
#include "support/gradcheck.h"

enum { T = 7, D = 24 };
#define TD ((size_t)T * D)

static const hn_backend *be;

static int setup(void **state) {
    (void)state;
    be = hn_backend_cpu();
    return 0;
}

static float *normal(size_t n, hn_rng *r) { return falloc_normal(n, 1.0, r); }

static float *copy_of(const float *x, size_t n) {
    float *p = falloc(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}

static void test_forward_matches_v1(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 21);
    float *x = normal(TD, &r), *w = normal(D, &r), *y1 = falloc(TD), *y2 = falloc(TD);
    float *y3 = falloc(TD), *rs1 = falloc(T), *rs2 = falloc(T);
    be->rmsnorm_forward(y1, rs1, x, w, T, D, 1e-5f);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(x, T, D), .w = w, .rstd = rs2, .eps = 1e-5f,
                           .y = hn_tensor_f32(y2, T, D), .y2 = hn_tensor_f32(y3, T, D)};
    assert_int_equal(be->rmsnorm_forward_t(be, &p), 0);
    assert_memory_equal(y1, y2, TD * sizeof(float));
    assert_memory_equal(y1, y3, TD * sizeof(float));
    assert_memory_equal(rs1, rs2, T * sizeof(float));
    float *bufs[] = {x, w, y1, y2, y3, rs1, rs2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

/* the fused op is the network's former add then norm, bit for bit */
static void test_add_rmsnorm_matches_add_then_norm(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 22);
    float *res = normal(TD, &r), *br = normal(TD, &r), *w = normal(D, &r);
    float *sum1 = copy_of(br, TD), *res2 = copy_of(res, TD);
    float *y1 = falloc(TD), *y2 = falloc(TD), *rs1 = falloc(T), *rs2 = falloc(T);
    be->add(sum1, res, TD); /* what network.c did: the branch, then += the residual */
    be->rmsnorm_forward(y1, rs1, sum1, w, T, D, 1e-5f);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(res2, T, D), .branch = hn_tensor_f32(br, T, D),
                           .w = w, .rstd = rs2, .eps = 1e-5f, .y = hn_tensor_f32(y2, T, D)};
    assert_int_equal(be->add_rmsnorm_forward_t(be, &p), 0);
    assert_memory_equal(sum1, res2, TD * sizeof(float));
    assert_memory_equal(y1, y2, TD * sizeof(float));
    assert_memory_equal(rs1, rs2, T * sizeof(float));
    float *bufs[] = {res, br, w, sum1, res2, y1, y2, rs1, rs2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

/* bf16 outputs are the float32 values rounded once; a bf16 input or branch is read
 * widened; a column slice (ld > cols) is read and written only in its columns */
static void test_bf16_views(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 23);
    int wide = D + 8;
    float *x = normal(TD, &r), *w = normal(D, &r), *yf = falloc(TD), *rs = falloc(T);
    be->rmsnorm_forward(yf, rs, x, w, T, D, 1e-5f);
    uint16_t *y16 = calloc((size_t)T * wide, 2), *x16 = malloc(TD * 2);
    float *y2 = falloc(TD);
    hn_tensor yv = hn_tensor_of(y16, HN_BF16, T, wide);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(x, T, D), .w = w, .rstd = rs, .eps = 1e-5f,
                           .y = hn_tensor_cols(yv, 0, D), .y2 = hn_tensor_f32(y2, T, D)};
    assert_int_equal(be->rmsnorm_forward_t(be, &p), 0);
    for (int t = 0; t < T; t++)
        for (int d = 0; d < wide; d++)
            assert_int_equal(y16[(size_t)t * wide + d], d < D ? hn_bf16_from_f32(yf[(size_t)t * D + d]) : 0);
    assert_memory_equal(y2, yf, TD * sizeof(float));
    /* a bf16 input: the result of its widened float32 values */
    for (size_t i = 0; i < TD; i++) {
        x16[i] = hn_bf16_from_f32(x[i]);
        x[i] = hn_bf16_to_f32(x16[i]);
    }
    be->rmsnorm_forward(yf, rs, x, w, T, D, 1e-5f);
    p.x = hn_tensor_of(x16, HN_BF16, T, D);
    p.y = hn_tensor_f32(y2, T, D);
    p.y2 = (hn_tensor){0};
    assert_int_equal(be->rmsnorm_forward_t(be, &p), 0);
    assert_memory_equal(y2, yf, TD * sizeof(float));
    /* a bf16 branch added into the float32 residual */
    float *res = normal(TD, &r), *sum = copy_of(res, TD);
    be->add(sum, x, TD);
    be->rmsnorm_forward(yf, rs, sum, w, T, D, 1e-5f);
    p.branch = hn_tensor_of(x16, HN_BF16, T, D);
    p.x = hn_tensor_f32(res, T, D);
    assert_int_equal(be->add_rmsnorm_forward_t(be, &p), 0);
    assert_memory_equal(res, sum, TD * sizeof(float));
    assert_memory_equal(y2, yf, TD * sizeof(float));
    float *bufs[] = {x, w, yf, rs, y2, res, sum};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(y16);
    free(x16);
}

static void test_backward_matches_v1(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 24);
    float *x = normal(TD, &r), *w = normal(D, &r), *dy = normal(TD, &r), *y = falloc(TD);
    float *rs = falloc(T), *dx1 = normal(TD, &r), *dx2 = copy_of(dx1, TD);
    float *dw1 = normal(D, &r), *dw2 = copy_of(dw1, D);
    be->rmsnorm_forward(y, rs, x, w, T, D, 1e-5f);
    be->rmsnorm_backward(dx1, dw1, dy, x, w, rs, T, D);
    uint16_t *dx16 = malloc(TD * 2);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(x, T, D), .w = w, .rstd = rs,
                           .dy = hn_tensor_f32(dy, T, D), .dx = hn_tensor_f32(dx2, T, D),
                           .dw = dw2, .dx2 = hn_tensor_of(dx16, HN_BF16, T, D)};
    assert_int_equal(be->rmsnorm_backward_t(be, &p), 0);
    assert_memory_equal(dx1, dx2, TD * sizeof(float)); /* accumulated alike */
    assert_memory_equal(dw1, dw2, D * sizeof(float));
    for (size_t i = 0; i < TD; i++) assert_int_equal(dx16[i], hn_bf16_from_f32(dx1[i]));
    /* a bf16 dy is read widened */
    uint16_t *dy16 = malloc(TD * 2);
    for (size_t i = 0; i < TD; i++) {
        dy16[i] = hn_bf16_from_f32(dy[i]);
        dy[i] = hn_bf16_to_f32(dy16[i]);
    }
    be->rmsnorm_backward(dx1, dw1, dy, x, w, rs, T, D);
    p.dy = hn_tensor_of(dy16, HN_BF16, T, D);
    p.dx2 = (hn_tensor){0};
    assert_int_equal(be->rmsnorm_backward_t(be, &p), 0);
    assert_memory_equal(dx1, dx2, TD * sizeof(float));
    assert_memory_equal(dw1, dw2, D * sizeof(float));
    float *bufs[] = {x, w, dy, y, rs, dx1, dx2, dw1, dw2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(dx16);
    free(dy16);
}

/* loss = sum(p1 * y) + sum(p2 * r) of the fused op, r = res + branch, y = rmsnorm(r) w */
typedef struct fused_case {
    float *res, *branch, *w, *p1, *p2;
    float *r, *y, *rstd;
} fused_case;

static double fused_loss(void *ctx) {
    fused_case *c = ctx;
    memcpy(c->r, c->res, TD * sizeof(float));
    hn_rmsnorm_params p = {.x = hn_tensor_f32(c->r, T, D), .branch = hn_tensor_f32(c->branch, T, D),
                           .w = c->w, .rstd = c->rstd, .eps = 1e-5f, .y = hn_tensor_f32(c->y, T, D)};
    assert_int_equal(be->add_rmsnorm_forward_t(be, &p), 0);
    return dot_f64(c->p1, c->y, TD) + dot_f64(c->p2, c->r, TD);
}

/* Its backward as the network runs it: dr starts as the gradient passed through the
 * residual (p2), rmsnorm_backward_t adds the norm's; res and branch both get dr. */
static void test_add_rmsnorm_gradients(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 25);
    fused_case c = {.res = normal(TD, &r), .branch = normal(TD, &r), .w = normal(D, &r),
                    .p1 = normal(TD, &r), .p2 = normal(TD, &r), .r = falloc(TD), .y = falloc(TD),
                    .rstd = falloc(T)};
    fused_loss(&c);
    float *dr = copy_of(c.p2, TD), *dw = falloc(D);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(c.r, T, D), .w = c.w, .rstd = c.rstd,
                           .dy = hn_tensor_f32(c.p1, T, D), .dx = hn_tensor_f32(dr, T, D), .dw = dw};
    assert_int_equal(be->rmsnorm_backward_t(be, &p), 0);
    gradcheck_opts o = {.eps = 1e-2, .floor = 1e-2, .max_points = 0, .what = "add_rmsnorm d res"};
    gradcheck_assert(c.res, dr, TD, fused_loss, &c, o, 1e-2);
    o.what = "add_rmsnorm d branch";
    gradcheck_assert(c.branch, dr, TD, fused_loss, &c, o, 1e-2);
    o.what = "add_rmsnorm d w";
    gradcheck_assert(c.w, dw, D, fused_loss, &c, o, 1e-2);
    float *bufs[] = {c.res, c.branch, c.w, c.p1, c.p2, c.r, c.y, c.rstd, dr, dw};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

static void test_refuses_views_that_do_not_fit(void **state) {
    (void)state;
    float *x = falloc(TD), *y = falloc(TD), *w = falloc(D), *rs = falloc(T), *dw = falloc(D);
    uint16_t *h = malloc(TD * 2);
    hn_rmsnorm_params p = {.x = hn_tensor_f32(x, T, D), .w = w, .rstd = rs, .eps = 1e-5f,
                           .y = hn_tensor_f32(y, T, D + 1)};
    assert_int_equal(be->rmsnorm_forward_t(be, &p), -1); /* y's shape */
    p.y = hn_tensor_f32(y, T, D);
    p.y2 = hn_tensor_f32(y, T - 1, D);
    assert_int_equal(be->rmsnorm_forward_t(be, &p), -1); /* y2's shape */
    p.y2 = (hn_tensor){0};
    assert_int_equal(be->add_rmsnorm_forward_t(be, &p), -1); /* no branch */
    p.branch = hn_tensor_f32(y, T, D);
    p.x = hn_tensor_of(h, HN_BF16, T, D);
    assert_int_equal(be->add_rmsnorm_forward_t(be, &p), -1); /* the residual is float32 */
    p.w = NULL;
    assert_int_equal(be->rmsnorm_forward_t(be, &p), -1);
    p = (hn_rmsnorm_params){.x = hn_tensor_f32(x, T, D), .w = w, .rstd = rs, .dw = dw,
                            .dy = hn_tensor_f32(y, T, D), .dx = hn_tensor_of(h, HN_BF16, T, D)};
    assert_int_equal(be->rmsnorm_backward_t(be, &p), -1); /* dx accumulates: float32 */
    p.dx = hn_tensor_f32(y, T, D);
    p.dw = NULL;
    assert_int_equal(be->rmsnorm_backward_t(be, &p), -1);
    float *bufs[] = {x, y, w, rs, dw};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_v1),
        cmocka_unit_test(test_add_rmsnorm_matches_add_then_norm),
        cmocka_unit_test(test_bf16_views),
        cmocka_unit_test(test_backward_matches_v1),
        cmocka_unit_test(test_add_rmsnorm_gradients),
        cmocka_unit_test(test_refuses_views_that_do_not_fit),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
