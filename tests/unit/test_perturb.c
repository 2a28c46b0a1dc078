/* The robustness suite: each perturbation against its definition (exact outputs where
 * it is deterministic, the rates and the shape of the output where it is random), its
 * seeding, a task's contexts perturbed and its continuations kept, and the robustness
 * score of Appendix D.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/perturb.h"

static char *perturb(const char *text, hn_perturbation p, uint64_t seed) {
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    char *out = hn_perturb_text(text, p, &rng);
    assert_non_null(out);
    return out;
}

/* n characters cycling through a..z so no two neighbours are equal (a repeat is visible) */
static char *alphabet(int n) {
    char *s = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++) s[i] = (char)('a' + i % 26);
    s[n] = 0;
    return s;
}

static void test_uppercase_and_antspeak(void **state) {
    char *u = perturb("Hello, w\xc3\xb6rld 42", HN_PERTURB_UPPERCASE, 1);
    assert_string_equal(u, "HELLO, W\xc3\xb6RLD 42"); /* ASCII letters only; UTF-8 intact */
    free(u);
    char *a = perturb("ab c\xc3\xa9", HN_PERTURB_ANTSPEAK, 1);
    assert_string_equal(a, "A B   C \xc3\xa9"); /* every character, the space too, one space apart */
    free(a);
    a = perturb("", HN_PERTURB_ANTSPEAK, 1);
    assert_string_equal(a, "");
    free(a);
    assert_int_equal(hn_perturb_parse("RandomCase"), HN_PERTURB_RANDOMCASE);
    assert_int_equal(hn_perturb_parse("noise"), -1);
    assert_string_equal(hn_perturb_name(HN_PERTURB_REPEAT), "repeat");
}

/* Drop: a subsequence of the input, about 10% of the characters gone; seeded. */
static void test_drop(void **state) {
    enum { N = 20000 };
    char *in = alphabet(N);
    char *out = perturb(in, HN_PERTURB_DROP, 3);
    size_t m = strlen(out), j = 0;
    for (size_t i = 0; i < N && j < m; i++)
        if (in[i] == out[j]) j++;
    assert_int_equal(j, m); /* a subsequence */
    double dropped = 1.0 - (double)m / N;
    assert_true(fabs(dropped - 0.1) < 0.01); /* sd is 0.002 */
    char *again = perturb(in, HN_PERTURB_DROP, 3), *other = perturb(in, HN_PERTURB_DROP, 4);
    assert_string_equal(again, out);
    assert_true(strcmp(other, out) != 0);
    free(in), free(out), free(again), free(other);
    /* multi-byte characters are dropped whole */
    char utf[3 * 200 + 1] = "";
    for (int i = 0; i < 200; i++) strcat(utf, "\xe2\x82\xac"); /* the euro sign */
    out = perturb(utf, HN_PERTURB_DROP, 5);
    assert_int_equal(strlen(out) % 3, 0);
    for (size_t i = 0; out[i]; i += 3) assert_memory_equal(out + i, "\xe2\x82\xac", 3);
    free(out);
}

/* RandomCase: the same text but for case; about half the letters upper-cased. */
static void test_randomcase(void **state) {
    enum { N = 20000 };
    char *in = alphabet(N);
    for (int i = 0; i < N; i += 3) in[i] = (char)toupper((unsigned char)in[i]);
    char *out = perturb(in, HN_PERTURB_RANDOMCASE, 7);
    assert_int_equal(strlen(out), N);
    int upper = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(tolower((unsigned char)out[i]), tolower((unsigned char)in[i]));
        upper += isupper((unsigned char)out[i]) != 0;
    }
    assert_true(fabs((double)upper / N - 0.5) < 0.02); /* sd 0.0035 */
    free(in), free(out);
}

/* Repeat: each character written once, or (about 20% of them) 2 to 4 times, each
 * count about equally often. */
static void test_repeat(void **state) {
    enum { N = 30000 };
    char *in = alphabet(N);
    char *out = perturb(in, HN_PERTURB_REPEAT, 11);
    int counts[6] = {0};
    size_t j = 0;
    for (int i = 0; i < N; i++) {
        int run = 0;
        while (out[j] == in[i]) j++, run++;
        assert_true(run >= 1 && run <= 4);
        counts[run]++;
    }
    assert_int_equal(out[j], 0); /* nothing else */
    double repeated = (double)(N - counts[1]) / N;
    assert_true(fabs(repeated - 0.2) < 0.015); /* sd 0.0023 */
    for (int r = 2; r <= 4; r++) assert_true(fabs(counts[r] / (double)(N - counts[1]) - 1.0 / 3) < 0.04);
    free(in), free(out);
}

/* A task's contexts are perturbed (shared ones alike), its continuations are not; the
 * same seed gives the same task. */
static void test_task_perturb(void **state) {
    hn_task t = {.n = 1, .kind = HN_TASK_CHOICE};
    hn_task_item it = {.n = 2, .gold = 0};
    char *ctx[2] = {strdup("the quick brown fox jumps over the lazy dog"), strdup("the quick brown fox jumps over the lazy dog")};
    char *cont[2] = {strdup(" sat"), strdup(" ran")};
    it.ctx = ctx, it.cont = cont;
    t.items = &it;
    hn_error err;
    assert_int_equal(hn_task_perturb(&t, HN_PERTURB_REPEAT, 9, &err), HN_OK);
    assert_string_equal(it.ctx[0], it.ctx[1]);
    assert_true(strlen(it.ctx[0]) > strlen("the quick brown fox jumps over the lazy dog"));
    assert_string_equal(it.cont[0], " sat");
    assert_string_equal(it.cont[1], " ran");
    char *first = strdup(it.ctx[0]);
    free(it.ctx[0]), free(it.ctx[1]);
    it.ctx[0] = strdup("the quick brown fox jumps over the lazy dog");
    it.ctx[1] = strdup("the quick brown fox jumps over the lazy dog");
    assert_int_equal(hn_task_perturb(&t, HN_PERTURB_REPEAT, 9, &err), HN_OK);
    assert_string_equal(it.ctx[0], first);
    free(first);
    for (int k = 0; k < 2; k++) free(it.ctx[k]), free(it.cont[k]);
}

/* Appendix D.1: 100 (perturbed - 0.25) / max(clean - 0.25, 0). */
static void test_robustness_score(void **state) {
    assert_true(fabs(hn_robustness_score(0.25, 0.60, 0.25) - 0.0) < 1e-12);
    assert_true(fabs(hn_robustness_score(0.60, 0.60, 0.25) - 100.0) < 1e-12);
    assert_true(fabs(hn_robustness_score(0.40, 0.65, 0.25) - 37.5) < 1e-12); /* 100 * 0.15 / 0.4 */
    assert_true(hn_robustness_score(0.20, 0.65, 0.25) < 0);                   /* below chance */
    assert_true(isnan(hn_robustness_score(0.30, 0.25, 0.25)));               /* max(clean - 0.25, 0) = 0 */
    assert_true(isnan(hn_robustness_score(0.30, 0.20, 0.25)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uppercase_and_antspeak),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_randomcase),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_task_perturb),
        cmocka_unit_test(test_robustness_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
