/* The alignment score of chunk boundaries against known word starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "train/boundary_score.h"

/* "ab cd e": word starts at 0, 3, 6; the separators before them are 2 and 5. */
static const uint8_t WS[8] = {1, 0, 0, 1, 0, 0, 1, 0};

static void test_counts(void **state) {
    /* boundaries at 0 (ignored), 2 (separator: aligned), 4 (inside a word), 6 (start) */
    const int32_t b[7] = {1, 0, 1, 0, 1, 0, 1};
    hn_boundary_score sc = {0};
    hn_boundary_score_add(&sc, b, WS, 7);
    assert_int_equal(sc.boundaries, 3);
    assert_int_equal(sc.aligned_boundaries, 2);
    assert_int_equal(sc.words, 2);        /* 3 and 6 (0 is row 0) */
    assert_int_equal(sc.words_found, 2);  /* 3 via its separator 2, 6 directly */
    assert_int_equal(sc.positions, 6);
    assert_int_equal(sc.aligned_positions, 4); /* 2, 3, 5, 6 */
    assert_true(hn_boundary_precision(&sc) > 0.66 && hn_boundary_precision(&sc) < 0.67);
    assert_true(hn_boundary_recall(&sc) == 1.0);
    assert_true(hn_boundary_chance(&sc) > 0.66 && hn_boundary_chance(&sc) < 0.67);
}

static void test_misaligned(void **state) {
    const int32_t b[7] = {1, 1, 0, 0, 1, 0, 0}; /* only inside words */
    hn_boundary_score sc = {0};
    hn_boundary_score_add(&sc, b, WS, 7);
    assert_true(hn_boundary_precision(&sc) == 0.0);
    assert_true(hn_boundary_recall(&sc) == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_counts), cmocka_unit_test(test_misaligned)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
