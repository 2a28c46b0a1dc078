/* CPU-vs-CUDA parity of the chunk plan (hn_ops_chunk.plan): every output entry for
 * entry, sum_p to float64 rounding, on packings of one tile, several tiles (1024 rows
 * each), the BENCH.md batch (8 x 8192) and more than 1024 tiles (the scan's second
 * round); p random with values of exactly 1/2, all boundaries, none but the sequence
 * starts, fixed_every; with and without bytes. */
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
#include "backend/ops_chunk.h"
#include "parity.h"

static int setup(void **st) { return parity_open(); }

typedef enum { P_RANDOM, P_ALL, P_NONE } p_kind;

static itwin garbage(size_t n) {
    int32_t *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (int32_t)0x5a5a5a5a;
    itwin t = itw_from(h, n);
    free(h);
    return t;
}

static void plan_case(const char *name, const int *lens, int n, p_kind kind, int fixed_every,
                      int with_bytes) {
    pseqs s;
    pseqs_make(&s, lens, n);
    int T = s.c.total;
    hn_rng r = tb_fresh(name);
    twin p = tw_zero((size_t)T);
    int32_t *bytes_h = malloc((size_t)T * sizeof *bytes_h);
    for (int t = 0; t < T; t++) {
        double u = hn_rng_uniform(&r);
        p.c[t] = kind == P_ALL ? 0.5f + 0.5f * (float)u + 1e-3f
               : kind == P_NONE ? 0.5f * (float)u
               : hn_rng_below(&r, 5) == 0 ? 0.5f : (float)u;
        bytes_h[t] = (int32_t)hn_rng_below(&r, 256);
    }
    P_GPU->upload(p.g, p.c, (size_t)T * sizeof(float));
    itwin bytes = itw_from(bytes_h, (size_t)T);
    itwin b = garbage(T), chunk = garbage(T), idx = garbage(T), first = garbage(T);
    itwin pos_in = garbage(T), bytes_in = garbage(T), offs = garbage((size_t)n + 1);
    double sum_c = 0, sum_g = 0, *sum_dev = P_GPU->alloc(sizeof(double));

    hn_chunk_plan_params pc = {.seqs = &s.c, .p = p.c, .bytes = with_bytes ? bytes.c : NULL,
                               .fixed_every = fixed_every, .b = b.c, .chunk = chunk.c,
                               .idx = idx.c, .first = first.c, .pos_in = pos_in.c,
                               .bytes_in = bytes_in.c, .offsets_in = offs.c, .sum_p = &sum_c};
    hn_chunk_plan_params pg = {.seqs = &s.g, .p = p.g, .bytes = with_bytes ? bytes.g : NULL,
                               .fixed_every = fixed_every, .b = b.g, .chunk = chunk.g,
                               .idx = idx.g, .first = first.g, .pos_in = pos_in.g,
                               .bytes_in = bytes_in.g, .offsets_in = offs.g, .sum_p = sum_dev};
    assert_int_equal(P_CPU->chunk->plan(&pc), 0);
    assert_int_equal(P_GPU->chunk->plan(&pg), 0);
    P_GPU->download(&sum_g, sum_dev, sizeof sum_g);
    int K = offs.c[n];
    printf("%s: T %d, K %d\n", name, T, K);
    /* entries past K are the op's to leave alone: compare the first K */
    idx.n = first.n = pos_in.n = bytes_in.n = (size_t)K;
    assert_true(itw_mismatch(&offs, "offsets_in") == 0);
    assert_true(itw_mismatch(&b, "b") == 0);
    assert_true(itw_mismatch(&chunk, "chunk") == 0);
    assert_true(itw_mismatch(&idx, "idx") == 0);
    assert_true(itw_mismatch(&first, "first") == 0);
    assert_true(itw_mismatch(&pos_in, "pos_in") == 0);
    assert_true(itw_mismatch(&bytes_in, "bytes_in (untouched without bytes)") == 0);
    printf("  sum_p %.17g (cpu) %.17g (cuda)\n", sum_c, sum_g);
    assert_true(fabs(sum_g - sum_c) <= 1e-12 * (fabs(sum_c) + 1));
    assert_null(P_GPU->device_error());

    idx.n = first.n = pos_in.n = bytes_in.n = (size_t)T;
    itwin *all[] = {&bytes, &b, &chunk, &idx, &first, &pos_in, &bytes_in, &offs};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) itw_free(all[i]);
    tw_free(&p);
    P_GPU->free(sum_dev);
    free(bytes_h);
    pseqs_free(&s);
}

static const int SMALL[] = {37, 1, 64, 130, 5, 91, 1, 2};
static const int TILES[] = {37, 1, 1300, 5, 3000, 1, 2, 1023, 1024, 1025};

static void test_small(void **st) {
    plan_case("small random", SMALL, 8, P_RANDOM, 0, 1);
    plan_case("small all", SMALL, 8, P_ALL, 0, 1);
    plan_case("small none", SMALL, 8, P_NONE, 0, 1);
    plan_case("small fixed 3", SMALL, 8, P_RANDOM, 3, 1);
    plan_case("small no bytes", SMALL, 8, P_RANDOM, 0, 0);
    const int one[] = {1};
    plan_case("one row", one, 1, P_RANDOM, 0, 1);
}

static void test_tiles(void **st) {
    plan_case("tiles random", TILES, 10, P_RANDOM, 0, 1);
    plan_case("tiles all", TILES, 10, P_ALL, 0, 1);
    plan_case("tiles none", TILES, 10, P_NONE, 0, 1);
    plan_case("tiles fixed 1", TILES, 10, P_NONE, 1, 1);
    plan_case("tiles fixed 5", TILES, 10, P_RANDOM, 5, 1);
}

static void test_bench_batch(void **st) {
    const int b8[] = {8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192};
    plan_case("8 x 8192 random", b8, 8, P_RANDOM, 0, 1);
    plan_case("8 x 8192 fixed 6", b8, 8, P_RANDOM, 6, 1);
}

static void test_two_scan_rounds(void **st) {
    const int big[] = {700000, 1, 500000}; /* > 1024 tiles */
    plan_case("1.2M rows random", big, 3, P_RANDOM, 0, 1);
    plan_case("1.2M rows all", big, 3, P_ALL, 0, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_tiles),
        cmocka_unit_test(test_bench_batch),
        cmocka_unit_test(test_two_scan_rounds),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
