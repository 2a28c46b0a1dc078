/* The typed product (matmul_t) on cuBLASLt (HNET_CUDA_MATMUL_ALGO=lt and lt-tuned)
 * against the cpu twin: every mix of float32 and bf16 views, transposes, a strided
 * operand, beta 0 and 1, in the bf16 matmul mode (all-float32 views too: their operands
 * are rounded to bf16, so every case is held to the bf16 tolerance). Then what tuning
 * must not change: the tuned first call of a shape (which times the candidates into a
 * scratch output) writes the same result as one untuned call, a beta = 1 product
 * accumulates into c exactly once however many runs tuning made, and a shape whose row
 * count moved within its bucket reuses the timed algorithm instead of timing again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "core/rng.h"
#include "parity.h"

static hn_cuda_config *cfg;

static int setup(void **st) {
    (void)st;
    if (parity_open()) return -1;
    cfg = hn_cuda_config_of(P_GPU);
    if (!cfg) {
        fprintf(stderr, "the cuda backend is no instance's table\n");
        return -1;
    }
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    if (cfg) cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_GEMMEX;
    return 0;
}

/* one product of m x n x k on both backends under the current matmul_algo; c's relative
 * error against the cpu (c kept for the caller when keep is not NULL) */
static double product(int ta, int tb, hn_dtype da, hn_dtype db, hn_dtype dc, float beta, int m,
                      int n, int k, const char *seed, tbuf *keep) {
    hn_rng r = tb_fresh(seed);
    /* a is a column slice of a wider buffer when it is bf16 (a strided view) */
    int ar = ta ? k : m, ac = ta ? m : k, ald = da == HN_BF16 ? ac + 8 : ac;
    tbuf a = tb_normal(da, ar, ac, ald, &r), b = tb_normal(db, tb ? n : k, tb ? k : n, tb ? k : n, &r);
    /* c of order 3 against a product of order sqrt(k) * 0.75: one accumulation too many
     * is far outside the tolerance */
    tbuf c = tb_scaled(dc, m, n, n, 3.0, &r);
    hn_matmul_params pc = {tv(&a, 0), tv(&b, 0), tv(&c, 0), ta, tb, 0.75f, beta};
    hn_matmul_params pg = {tv(&a, 1), tv(&b, 1), tv(&c, 1), ta, tb, 0.75f, beta};
    assert_int_equal(P_CPU->matmul_t(P_CPU, &pc), 0);
    assert_int_equal(P_GPU->matmul_t(P_GPU, &pg), 0);
    char name[128];
    snprintf(name, sizeof name, "matmul_t algo %d %dx%dx%d t%d%d a%d b%d c%d beta %.0f",
             cfg->matmul_algo, m, n, k, ta, tb, da, db, dc, beta);
    double e = tb_err(&c, name);
    tb_free(&a);
    tb_free(&b);
    if (keep) *keep = c;
    else tb_free(&c);
    return e;
}

static void every_mix(hn_cuda_matmul_algo algo) {
    cfg->matmul_algo = algo;
    hn_cuda_lt_forget(P_GPU);
    hn_dtype d[2] = {HN_F32, HN_BF16};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int i = 0; i < 8; i++) {
                /* odd sizes (no aligned leading dimension) and a larger aligned shape */
                assert_true(product(ta, tb, d[i & 1], d[(i >> 1) & 1], d[i >> 2], (float)(i & 1),
                                    67, 45, 129, "matmul lt", NULL) < TOL_BF16);
                assert_true(product(ta, tb, d[i & 1], d[(i >> 1) & 1], d[i >> 2], (float)(i & 1),
                                    384, 256, 1024, "matmul lt big", NULL) < TOL_BF16);
            }
    hn_cuda_lt_stats st;
    hn_cuda_lt_stats_of(P_GPU, &st);
    printf(" cuBLASLt: %d shapes, %d timed in %.0f ms, %ld fallbacks\n", st.shapes, st.tuned,
           st.tune_ms, st.fallbacks);
    /* the products ran on cuBLASLt (a fallback to cublasGemmEx tests nothing here): the
     * aligned shapes at least, the odd ones (leading dimensions of 45, 129, 137) if it
     * has kernels for them */
    assert_true(st.shapes > 0);
    assert_true(st.fallbacks <= 16 * 8 / 2);
    if (algo == HN_CUDA_MATMUL_ALGO_LT_TUNED) assert_true(st.tuned > 0);
    else assert_int_equal(st.tuned, 0);
    cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_GEMMEX;
}

static void test_lt(void **st) {
    (void)st;
    every_mix(HN_CUDA_MATMUL_ALGO_LT);
}

static void test_lt_tuned(void **st) {
    (void)st;
    every_mix(HN_CUDA_MATMUL_ALGO_LT_TUNED);
}

/* widened gpu copy of a tbuf's c (rows x ld float32 values) */
static float *gpu_values(const tbuf *t) {
    size_t n = (size_t)t->rows * t->ld;
    float *out = malloc(n * sizeof(float));
    assert_non_null(out);
    if (t->dtype == HN_F32) {
        P_GPU->download(out, t->g, n * sizeof(float));
        return out;
    }
    uint16_t *raw = malloc(n * sizeof(uint16_t));
    assert_non_null(raw);
    P_GPU->download(raw, t->g, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) out[i] = hn_bf16_to_f32(raw[i]);
    free(raw);
    return out;
}

static double rel(const float *x, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return num == num && den > 0 ? sqrt(num / den) : INFINITY;
}

/* the first (tuning) call against one untuned call on the same inputs, and against the
 * cpu: a beta = 1 product with bf16 and float32 outputs */
static void test_tuning_leaves_result(void **st) {
    (void)st;
    hn_dtype outs[2] = {HN_F32, HN_BF16};
    for (int o = 0; o < 2; o++)
        for (int beta = 0; beta < 2; beta++) {
            hn_cuda_lt_forget(P_GPU);
            cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_LT_TUNED;
            tbuf tuned, plain;
            /* the cpu check holds c to one accumulation of the product */
            assert_true(product(1, 0, HN_BF16, HN_BF16, outs[o], (float)beta, 512, 640, 2048,
                                "matmul lt tuning", &tuned) < TOL_BF16);
            hn_cuda_lt_stats s;
            hn_cuda_lt_stats_of(P_GPU, &s);
            assert_int_equal(s.tuned, 1);
            cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_LT;
            assert_true(product(1, 0, HN_BF16, HN_BF16, outs[o], (float)beta, 512, 640, 2048,
                                "matmul lt tuning", &plain) < TOL_BF16);
            float *x = gpu_values(&tuned), *y = gpu_values(&plain);
            double d = rel(x, y, (size_t)tuned.rows * tuned.ld);
            printf(" tuned vs untuned, c %s, beta %d: %.2e (tuning took %.1f ms)\n",
                   o ? "bf16" : "f32", beta, d, s.tune_ms);
            /* different algorithms: summation order only (a bf16 c: one rounding) */
            assert_true(d < (outs[o] == HN_BF16 ? 1e-2 : 1e-4));
            free(x);
            free(y);
            tb_free(&tuned);
            tb_free(&plain);
        }
    cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_GEMMEX;
}

/* an inner stage's row count moves from step to step: a shape within the bucket of a
 * timed one borrows its algorithm (nothing timed again), and is still right */
static void test_moved_rows_borrow(void **st) {
    (void)st;
    hn_cuda_lt_forget(P_GPU);
    cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_LT_TUNED;
    int rows[3] = {1800, 1811, 1900};
    for (int i = 0; i < 3; i++)
        assert_true(product(0, 1, HN_BF16, HN_F32, HN_BF16, 0.0f, rows[i], 768, 768,
                            "matmul lt rows", NULL) < TOL_BF16);
    hn_cuda_lt_stats s;
    hn_cuda_lt_stats_of(P_GPU, &s);
    printf(" rows 1800, 1811, 1900: %d shapes, %d timed\n", s.shapes, s.tuned);
    assert_int_equal(s.shapes, 3);
    assert_int_equal(s.tuned, 1);
    cfg->matmul_algo = HN_CUDA_MATMUL_ALGO_GEMMEX;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lt),
        cmocka_unit_test(test_lt_tuned),
        cmocka_unit_test(test_tuning_leaves_result),
        cmocka_unit_test(test_moved_rows_borrow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
