/* The device path of the step's statistics (runtime/train/step_stats.h) against the host
 * path: grad_clip's sum of squares as the cpu's and as cuda's own sum_squares (the same
 * reduction, read back), its norm, scale and skip exactly the host's arithmetic on that
 * sum; adamw_clipped exactly cuda's adamw with the host-computed scale, and close to the
 * cpu's; a NaN or an infinity in the gradient leaves weights and moments untouched; and
 * download_async copies in stream order, ready after download_wait. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/cuda/cuda_backend.h"
#include "parity.h"

static int setup(void **st) {
    (void)st;
    return parity_open();
}

static hn_grad_clip read_clip(const hn_grad_clip *dev) {
    hn_grad_clip c;
    P_GPU->download(&c, dev, sizeof c);
    return c;
}

/* sizes: one block, a tail, more blocks than the reduction's grid (1024 x 256) */
static const size_t SIZES[] = {1, 777, 300001, 3000017};

static void test_clip_matches_host(void **st) {
    (void)st;
    hn_grad_clip *dev = P_GPU->alloc(sizeof *dev);
    for (size_t k = 0; k < sizeof SIZES / sizeof *SIZES; k++) {
        size_t n = SIZES[k];
        hn_rng r = tb_fresh("grad_clip");
        twin g = tw_normal(n, 0.01, &r);
        double cpu = P_CPU->sum_squares(g.c, n), host_path = P_GPU->sum_squares(g.g, n);
        double norm = sqrt(cpu);
        double limits[] = {0.0, 0.5 * norm, 2.0 * norm};
        for (int i = 0; i < 3; i++) {
            P_GPU->grad_clip(dev, g.g, n, limits[i]);
            hn_grad_clip c = read_clip(dev);
            printf("  n %zu limit %.4g: sum of squares cpu %.17g cuda %.17g (sum_squares %.17g)\n",
                   n, limits[i], cpu, c.sum_squares, host_path);
            /* the atomics add in another order than the cpu: double rounding alone (of the
             * order of eps x sqrt(n), ~2e-13 here); a lost or doubled element moves it by
             * about 1 / n (>= 3e-7) */
            assert_true(fabs(c.sum_squares - cpu) <= 1e-10 * cpu);
            assert_true(fabs(c.sum_squares - host_path) <= 1e-10 * cpu);
            /* on the device's own sum, the host's arithmetic to the bit */
            double want_norm = sqrt(c.sum_squares);
            float want_scale = hn_grad_clip_scale(want_norm, limits[i]);
            assert_memory_equal(&c.norm, &want_norm, sizeof want_norm);
            assert_memory_equal(&c.scale, &want_scale, sizeof want_scale);
            assert_int_equal(c.skip, 0);
            if (i == 1) assert_true(c.scale < 1.0f); /* the clipping case clips */
        }
        tw_free(&g);
    }
    P_GPU->free(dev);
    assert_string_equal(hn_cuda_last_error(), "");
}

/* weights, moments and gradient on both sides */
typedef struct opt_case {
    twin p, m, v, g;
    size_t n;
} opt_case;
static opt_case opt_make(size_t n, const char *what) {
    hn_rng r = tb_fresh(what);
    opt_case o = {.p = tw_normal(n, 1, &r), .m = tw_normal(n, 0.01, &r),
                  .v = tw_uniform(n, 0.0, 1e-4, &r), .g = tw_normal(n, 0.05, &r), .n = n};
    return o;
}
static void opt_free(opt_case *o) {
    tw_free(&o->p), tw_free(&o->m), tw_free(&o->v), tw_free(&o->g);
}
static float *fetch(const float *dev, size_t n) {
    float *h = malloc(n * sizeof *h);
    P_GPU->download(h, dev, n * sizeof *h);
    return h;
}

#define ADAMW_ARGS 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.2f, 0.1f

static void test_adamw_clipped_is_adamw(void **st) {
    (void)st;
    size_t n = 100003;
    opt_case a = opt_make(n, "adamw_clipped"), b = opt_make(n, "adamw_clipped");
    hn_grad_clip *dev = P_GPU->alloc(sizeof *dev);
    P_GPU->grad_clip(dev, a.g.g, n, 1.0);
    hn_grad_clip c = read_clip(dev);
    assert_true(c.scale < 1.0f);
    /* a: the device path; b: the host path (cuda's adamw with the scale read back) */
    P_GPU->adamw_clipped(a.p.g, a.g.g, a.m.g, a.v.g, n, ADAMW_ARGS, dev);
    P_GPU->adamw(b.p.g, b.g.g, b.m.g, b.v.g, n, ADAMW_ARGS, hn_grad_clip_scale(c.norm, 1.0));
    twin *da[] = {&a.p, &a.m, &a.v}, *db[] = {&b.p, &b.m, &b.v};
    for (int i = 0; i < 3; i++) {
        float *x = fetch(da[i]->g, n), *y = fetch(db[i]->g, n);
        assert_memory_equal(x, y, n * sizeof *x);
        free(x), free(y);
    }
    /* and the cpu's adamw with the cpu's scale, to float rounding */
    P_CPU->adamw(a.p.c, a.g.c, a.m.c, a.v.c, n, ADAMW_ARGS,
                 hn_grad_clip_scale(sqrt(P_CPU->sum_squares(a.g.c, n)), 1.0));
    assert_true(tw_err(&a.p, "p") < TOL_FP32);
    assert_true(tw_err(&a.m, "m") < TOL_FP32);
    assert_true(tw_err(&a.v, "v") < TOL_FP32);
    /* the update did something: the comparison above is not of untouched buffers */
    float *p0 = malloc(n * sizeof *p0), *p1 = fetch(a.p.g, n);
    opt_case fresh = opt_make(n, "adamw_clipped");
    memcpy(p0, fresh.p.c, n * sizeof *p0);
    assert_memory_not_equal(p0, p1, n * sizeof *p0);
    free(p0), free(p1);
    opt_free(&fresh), opt_free(&a), opt_free(&b);
    P_GPU->free(dev);
    assert_string_equal(hn_cuda_last_error(), "");
}

/* a non-finite gradient: skip set, nothing written (as the host path refuses the update) */
static void test_skip_leaves_state(void **st) {
    (void)st;
    size_t n = 65537;
    float bad[] = {NAN, INFINITY, -INFINITY};
    hn_grad_clip *dev = P_GPU->alloc(sizeof *dev);
    for (int k = 0; k < 3; k++) {
        opt_case a = opt_make(n, "skip");
        P_GPU->upload(a.g.g + n / 3, &bad[k], sizeof(float));
        P_GPU->grad_clip(dev, a.g.g, n, 1.0);
        hn_grad_clip c = read_clip(dev);
        printf("  gradient with %g: norm %g, skip %d\n", bad[k], c.norm, c.skip);
        assert_int_equal(c.skip, 1);
        assert_false(isfinite(c.norm));
        P_GPU->adamw_clipped(a.p.g, a.g.g, a.m.g, a.v.g, n, ADAMW_ARGS, dev);
        twin *t[] = {&a.p, &a.m, &a.v};
        for (int i = 0; i < 3; i++) {
            float *x = fetch(t[i]->g, n);
            assert_memory_equal(x, t[i]->c, n * sizeof *x); /* the cpu twin: as before */
            free(x);
        }
        opt_free(&a);
    }
    P_GPU->free(dev);
    assert_string_equal(hn_cuda_last_error(), "");
}

/* download_async reads in stream order (not what is written after it), and its data is
 * there after download_wait; several before one wait all land */
static void test_download_async(void **st) {
    (void)st;
    size_t n = 1 << 20;
    hn_rng r = tb_fresh("download_async");
    twin a = tw_normal(n, 1, &r), b = tw_normal(n, 1, &r);
    float *ha = P_GPU->alloc_host(n * sizeof(float)), *hb = P_GPU->alloc_host(n * sizeof(float));
    assert_non_null(ha);
    assert_non_null(hb);
    P_GPU->download_async(ha, a.g, n * sizeof(float));
    P_GPU->fill(a.g, 7.0f, n); /* enqueued after the copy: not in it */
    P_GPU->download_async(hb, b.g, n * sizeof(float));
    P_GPU->download_wait();
    assert_memory_equal(ha, a.c, n * sizeof(float));
    assert_memory_equal(hb, b.c, n * sizeof(float));
    P_GPU->free_host(ha);
    P_GPU->free_host(hb);
    tw_free(&a), tw_free(&b);
    assert_string_equal(hn_cuda_last_error(), "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_matches_host),
        cmocka_unit_test(test_adamw_clipped_is_adamw),
        cmocka_unit_test(test_skip_leaves_state),
        cmocka_unit_test(test_download_async),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
