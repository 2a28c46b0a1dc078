/* The step's statistics ops of the cpu backend (backend.h: grad_clip, adamw_clipped,
 * download_async): the clip is the host path's arithmetic to the bit (sum_squares, sqrt,
 * hn_grad_clip_scale), adamw_clipped is adamw with that scale, and a non-finite norm
 * leaves the weights and both moments untouched. (The cuda twins are checked against
 * these in tests/gpu/test_parity_grad_clip.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"

#define N 1000

static void fill(float *x, size_t n, uint64_t seed, float amp) {
    hn_rng r = hn_rng_derive(seed, 7);
    for (size_t i = 0; i < n; i++) x[i] = amp * (2.0f * (float)hn_rng_uniform(&r) - 1.0f);
}

static void test_scale_rule(void **state) {
    (void)state;
    assert_true(hn_grad_clip_scale(0.5, 1.0) == 1.0f);   /* under the limit */
    assert_true(hn_grad_clip_scale(1.0, 1.0) == 1.0f);   /* at it */
    assert_true(hn_grad_clip_scale(4.0, 1.0) == 0.25f);  /* over it */
    assert_true(hn_grad_clip_scale(4.0, 0.0) == 1.0f);   /* no clipping */
    assert_true(hn_grad_clip_scale(NAN, 1.0) == 1.0f);   /* skipped anyway */
    assert_true(hn_grad_clip_scale(3.0, 1.0) == (float)(1.0 / 3.0));
}

/* the clip as the trainer's host path computes it, to the bit, over and under the limit */
static void test_clip_is_host_arithmetic(void **state) {
    (void)state;
    const hn_backend *be = hn_backend_cpu();
    float *g = malloc(N * sizeof *g);
    fill(g, N, 1, 0.3f);
    double ss = be->sum_squares(g, N), norm = sqrt(ss);
    double limits[] = {0.0, 0.5 * norm, norm, 2.0 * norm};
    for (int i = 0; i < 4; i++) {
        hn_grad_clip c;
        memset(&c, 0xff, sizeof c);
        be->grad_clip(&c, g, N, limits[i]);
        assert_memory_equal(&c.sum_squares, &ss, sizeof ss);
        assert_memory_equal(&c.norm, &norm, sizeof norm);
        float want = (limits[i] > 0 && norm > limits[i]) ? (float)(limits[i] / norm) : 1.0f;
        assert_memory_equal(&c.scale, &want, sizeof want);
        assert_int_equal(c.skip, 0);
    }
    hn_grad_clip c;
    be->grad_clip(&c, g, 0, 1.0); /* nothing to sum */
    assert_true(c.sum_squares == 0 && c.norm == 0 && c.scale == 1.0f && !c.skip);
    free(g);
}

/* adamw_clipped applies adamw with c->scale; skip leaves p, m and v untouched */
static void test_adamw_clipped(void **state) {
    (void)state;
    const hn_backend *be = hn_backend_cpu();
    size_t bytes = N * sizeof(float);
    float *g = malloc(bytes), *p0 = malloc(bytes), *m0 = malloc(bytes), *v0 = malloc(bytes);
    float *p1 = malloc(bytes), *m1 = malloc(bytes), *v1 = malloc(bytes);
    float *p2 = malloc(bytes), *m2 = malloc(bytes), *v2 = malloc(bytes);
    fill(g, N, 2, 3.0f);
    fill(p0, N, 3, 1.0f);
    fill(m0, N, 4, 0.1f);
    for (size_t i = 0; i < N; i++) v0[i] = 0.01f * (float)(i % 7);
    hn_grad_clip c;
    be->grad_clip(&c, g, N, 1.0);
    assert_true(c.scale < 1.0f); /* clipped: the scale matters */
    memcpy(p1, p0, bytes), memcpy(m1, m0, bytes), memcpy(v1, v0, bytes);
    memcpy(p2, p0, bytes), memcpy(m2, m0, bytes), memcpy(v2, v0, bytes);
    be->adamw(p1, g, m1, v1, N, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, c.scale);
    be->adamw_clipped(p2, g, m2, v2, N, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, &c);
    assert_memory_equal(p1, p2, bytes);
    assert_memory_equal(m1, m2, bytes);
    assert_memory_equal(v1, v2, bytes);
    assert_memory_not_equal(p1, p0, bytes); /* the update did something */

    /* a NaN, then an infinity, in the gradient: skipped, nothing written */
    float bad[] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        g[N / 2] = bad[k];
        be->grad_clip(&c, g, N, 1.0);
        assert_int_equal(c.skip, 1);
        assert_true(k == 0 ? isnan(c.norm) : isinf(c.norm));
        memcpy(p2, p0, bytes), memcpy(m2, m0, bytes), memcpy(v2, v0, bytes);
        be->adamw_clipped(p2, g, m2, v2, N, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, &c);
        assert_memory_equal(p2, p0, bytes);
        assert_memory_equal(m2, m0, bytes);
        assert_memory_equal(v2, v0, bytes);
    }
    free(g), free(p0), free(m0), free(v0), free(p1), free(m1), free(v1), free(p2), free(m2), free(v2);
}

/* the cpu's asynchronous download is a copy done at once; the wait has nothing to do */
static void test_download_async(void **state) {
    (void)state;
    const hn_backend *be = hn_backend_cpu();
    float *src = be->alloc(N * sizeof(float)), *dst = be->alloc_host(N * sizeof(float));
    assert_non_null(src);
    assert_non_null(dst);
    fill(src, N, 5, 2.0f);
    be->download_async(dst, src, N * sizeof(float));
    be->download_wait();
    assert_memory_equal(dst, src, N * sizeof(float));
    be->free(src);
    be->free_host(dst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_rule),
        cmocka_unit_test(test_clip_is_host_arithmetic),
        cmocka_unit_test(test_adamw_clipped),
        cmocka_unit_test(test_download_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
