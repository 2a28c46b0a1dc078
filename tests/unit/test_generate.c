/* Generation by stepping (model/generate.h) against the parallel forward: for an
 * isotropic model and 1- and 2-stage H-Nets (small, random weights, the real layer and
 * chunker plugins, attention windows shorter than the prompt, Mamba-2 with a short SSD
 * chunk), feeding a prompt byte by byte gives the next-byte distributions of the
 * parallel forward over the same prefix, and draws the same boundaries at every stage. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "model/generate.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "support/fixtures.h"
#include "support/gen_models.h"
#include "train/checkpoint.h"

#define LEN 48
#define TOL 2e-4

static hn_registry reg;

static int setup(void **state) {
    return registry_open(&reg);
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

static const char *PROMPT = "The cat sat, on the mat; then: it ran away fast!";

/* The model of cfg on the cpu, with every parameter random. */
static void build(hn_model *m, const cJSON *cfg, int expect_stages) {
    hn_error err;
    int rc = hn_model_build(m, cfg, &reg, hn_backend_cpu(), 11, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(m->n_stages, expect_stages);
    gen_randomise_zero_inits(m, 5);
}

/* Steps the prompt and compares with the parallel forward: distributions at every
 * position, boundaries of every stage, and the last row of forwards over shorter
 * prefixes. */
static void check_model(cJSON *cfg, int expect_stages) {
    hn_error err;
    hn_model m;
    build(&m, cfg, expect_stages);
    int32_t tok[LEN], tgt[LEN];
    for (int t = 0; t < LEN; t++) {
        tok[t] = (unsigned char)PROMPT[t];
        tgt[t] = (unsigned char)PROMPT[(t + 1) % LEN];
    }
    hn_loss loss;
    assert_int_equal(hn_model_forward(&m, tok, tgt, 1, LEN, &loss, &err), HN_OK);
    float *ref = malloc((size_t)LEN * 256 * sizeof *ref);
    memcpy(ref, m.logits, (size_t)LEN * 256 * sizeof *ref);
    /* boundaries of the parallel forward, per stage, in that stage's rows */
    int32_t bref[4][LEN];
    int K[4] = {0};
    hn_stage_download_plan(&m.backbone, m.be); /* a training forward leaves it on the device */
    const hn_stage *st = &m.backbone;
    for (int s = 0; s < expect_stages; s++, st = st->inner) {
        K[s] = (int)st->stats.outer_len;
        memcpy(bref[s], st->b_h, (size_t)K[s] * sizeof(int32_t));
    }

    hn_generator g;
    int rc = hn_generator_init(&g, &m, LEN, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    float logits[256];
    double worst = 0, shifted = 1e9;
    int row[4] = {0}, boundaries = 0;
    for (int t = 0; t < LEN; t++) {
        rc = hn_generator_step(&g, tok[t], logits, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, HN_OK);
        double d = gen_max_diff(logits, ref + (size_t)t * 256, 256);
        worst = d > worst ? d : worst;
        if (t + 1 < LEN) { /* the comparison can tell positions apart */
            double e = gen_max_diff(logits, ref + (size_t)(t + 1) * 256, 256);
            shifted = e < shifted ? e : shifted;
        }
        /* stage s saw this byte iff every stage above drew a boundary */
        for (int s = 0; s < expect_stages; s++) {
            if (s > 0 && !g.b[s - 1]) break;
            assert_true(row[s] < K[s]);
            if (g.b[s] != (bref[s][row[s]] != 0))
                fprintf(stderr, "stage %d row %d (byte %d): step b=%d, forward b=%d (p=%g)\n", s,
                        row[s], t, g.b[s], bref[s][row[s]], (double)g.p[s]);
            assert_int_equal(g.b[s], bref[s][row[s]] != 0);
            boundaries += g.b[s];
            row[s]++;
        }
    }
    for (int s = 0; s < expect_stages; s++) assert_int_equal(row[s], K[s]); /* every row seen */
    /* positions that reached each depth: every byte, then each stage's inner rows */
    assert_int_equal(g.reached[0], LEN);
    for (int s = 1; s < expect_stages; s++) assert_int_equal(g.reached[s], K[s]);
    if (expect_stages > 0) {
        long inner = 0;
        for (int k = 0; k < K[expect_stages - 1]; k++) inner += bref[expect_stages - 1][k] != 0;
        assert_int_equal(g.reached[expect_stages], inner);
    }
    printf("  %d stage(s): max |log p diff| %.2e over %d bytes (shifted by one: %.2e), %d "
           "boundaries\n", expect_stages, worst, LEN, shifted, boundaries);
    assert_true(worst < TOL);
    assert_true(shifted > 100 * TOL);
    if (expect_stages > 0) assert_true(boundaries > expect_stages && boundaries < LEN * expect_stages);

    /* forwards over shorter prefixes end in the same distribution */
    int prefixes[] = {1, 7, LEN / 2 + 3};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        int L = prefixes[i];
        assert_int_equal(hn_model_forward(&m, tok, tgt, 1, L, &loss, &err), HN_OK);
        assert_true(gen_max_diff(m.logits + (size_t)(L - 1) * 256, ref + (size_t)(L - 1) * 256, 256) < TOL);
    }
    /* past the sized length is an error, not an overflow */
    assert_int_equal(hn_generator_step(&g, 'x', logits, &err), HN_ERR);
    hn_generator_free(&g);
    free(ref);
    hn_model_free(&m);
    cJSON_Delete(cfg);
}

static void test_isotropic(void **state) {
    check_model(gen_isotropic(), 0);
}

static void test_one_stage_dc(void **state) {
    check_model(gen_one_stage(),
                1);
}

/* the ablation paths: linear routing, no STE, max pooling */
static void test_one_stage_dc_ablations(void **state) {
    check_model(gen_dc_linear_max(),
                1);
    check_model(gen_dc_mean_unsmoothed(),
                1);
}

static void test_two_stage_dc(void **state) {
    check_model(gen_two_stage(),
                2);
}

static void test_rule_chunkers(void **state) {
    check_model(gen_config("[\"m1\",[\"T1\"],\"m1\"]", "[32,48]", "[null,null]", "{\"plugin\":\"space\"}"), 1);
    check_model(gen_config("[\"m1\",[\"T1\",[\"m1\"],\"T1\"],\"m1\"]", "[32,32,32]", "[null,null,null]",
                       "{\"plugin\":\"pool\",\"k\":3}"),
                2);
}

/* A random isotropic byte LM saved as a checkpoint: the entropy model of the entropy
 * chunker (plugins/entropy), which needs no training to be stepped consistently. */
static void save_entropy_model(const char *path) {
    const char *cfg_json =
        "{\"seed\":3,\"data\":{\"seq_len\":64},\"model\":{\"kind\":\"isotropic\",\"vocab\":256,"
        "\"layout\":\"T1m1\",\"d\":32," GEN_LAYERS "}}";
    cJSON *cfg = cJSON_Parse(cfg_json);
    assert_non_null(cfg);
    hn_model lm;
    hn_error err;
    int rc = hn_model_build(&lm, cJSON_GetObjectItem(cfg, "model"), &reg, hn_backend_cpu(), 3, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(hn_checkpoint_save(path, &lm, NULL, NULL, cfg_json, "entropy-lm", NULL, &err), HN_OK);
    hn_model_free(&lm);
    cJSON_Delete(cfg);
}

/* The entropy chunker steps its entropy model byte by byte and draws the boundaries the
 * parallel forward drew (after that forward calibrated its threshold), by either rule. */
static void test_entropy_chunker(void **state) {
    char dir[128], path[256], chunker[512];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "hn_test_entropy"), 0);
    snprintf(path, sizeof path, "%s/lm.safetensors", dir);
    save_entropy_model(path);
    const char *rules[] = {"global", "relative"};
    for (int i = 0; i < 2; i++) {
        snprintf(chunker, sizeof chunker,
                 "{\"plugin\":\"entropy\",\"model\":\"%s\",\"ratio\":4,\"rule\":\"%s\"}", path,
                 rules[i]);
        check_model(gen_config("[\"m1\",[\"T1\"],\"m1\"]", "[32,48]", "[null,null]", chunker), 1);
    }
    tmpdir_remove(dir);
}

/* n sequences stepped together (each its own prompt, in lockstep) give each sequence
 * the logits it gets stepped alone, and the same per-stage counts: the inner stages
 * step every sequence when any reached them, the others at position -1, whose states
 * must not move. The sequences' logits differ from one another (else the comparison
 * could not tell a mix-up). */
#define NB 3
static void check_batch(cJSON *cfg, int expect_stages) {
    static const char *prompts[NB] = {"The cat sat, on the mat; then: it ran away fast!",
                                      "aaaa bbbb, cccc dddd; eeee: ffff gggg hhhh iiii.",
                                      "0123 4567 89ab cdef, The dog! sat... on 1 log ok"};
    hn_error err;
    hn_model m;
    build(&m, cfg, expect_stages);
    hn_generator batch, one[NB];
    assert_int_equal(hn_generator_init_batch(&batch, &m, NB, LEN, &err), HN_OK);
    for (int i = 0; i < NB; i++) assert_int_equal(hn_generator_init(&one[i], &m, LEN, &err), HN_OK);
    /* one byte for n sequences is refused */
    assert_int_equal(hn_generator_step(&batch, 'a', NULL, &err), HN_ERR);
    float lb[NB * 256], lo[NB][256];
    double worst = 0, apart = 1e9;
    for (int t = 0; t < LEN; t++) {
        int32_t bytes[NB];
        for (int i = 0; i < NB; i++) bytes[i] = (unsigned char)prompts[i][t];
        assert_int_equal(hn_generator_step_batch(&batch, bytes, lb, &err), HN_OK);
        for (int i = 0; i < NB; i++) {
            assert_int_equal(hn_generator_step(&one[i], bytes[i], lo[i], &err), HN_OK);
            double d = gen_max_diff(lb + i * 256, lo[i], 256);
            worst = d > worst ? d : worst;
            for (int s = 0; s < expect_stages; s++) /* the same boundaries, sequence by sequence */
                assert_int_equal(hn_generator_boundaries(&batch, s)[i],
                                 hn_generator_boundaries(&one[i], s)[0]);
        }
        double e = gen_max_diff(lo[0], lo[1], 256);
        apart = e < apart ? e : apart;
    }
    assert_null(hn_generator_boundaries(&batch, expect_stages)); /* the innermost: none */
    for (int s = 0; s <= expect_stages; s++) {
        long sum = 0;
        for (int i = 0; i < NB; i++) sum += one[i].reached[s];
        assert_int_equal(batch.reached[s], sum);
    }
    /* the sampler: the same seed draws what hn_sample_byte draws from the same logits */
    hn_rng r1, r2;
    hn_rng_seed(&r1, 9);
    hn_rng_seed(&r2, 9);
    int32_t drawn[NB];
    assert_int_equal(hn_generator_sample(&batch, 0.8, 0.9, &r1, drawn, &err), HN_OK);
    for (int i = 0; i < NB; i++) assert_int_equal(drawn[i], hn_sample_byte(lb + i * 256, 256, 0.8, 0.9, &r2));
    printf("  %d stage(s), %d sequences: max |log p diff| to stepping alone %.2e (sequences "
           "apart by at least %.2e); reached", expect_stages, NB, worst, apart);
    for (int s = 0; s <= expect_stages; s++) printf(" %ld", batch.reached[s]);
    printf("\n");
    assert_true(worst < 1e-5);
    assert_true(apart > 1e-3);
    if (expect_stages > 0) assert_true(batch.reached[1] < NB * LEN && batch.reached[1] > NB);
    hn_generator_free(&batch);
    for (int i = 0; i < NB; i++) hn_generator_free(&one[i]);
    hn_model_free(&m);
    cJSON_Delete(cfg);
}

static void test_batch(void **state) {
    check_batch(gen_isotropic(), 0);
    check_batch(gen_two_stage(),
                2);
    /* the ablation paths: linear routing, no STE, max / mean pooling, no smoothing */
    check_batch(gen_dc_linear_max(),
                1);
    check_batch(gen_dc_mean_unsmoothed(),
                1);
    check_batch(gen_config("[\"m1\",[\"T1\",[\"m1\"],\"T1\"],\"m1\"]", "[32,32,32]", "[null,null,null]",
                       "{\"plugin\":\"space\"}"),
                2);
}

/* Bad sizes are refused with a message, not an allocation of nothing. */
static void test_refusals(void **state) {
    hn_error err;
    hn_model m;
    cJSON *cfg = gen_config("[\"T1\"]", "32", "null", NULL);
    assert_int_equal(hn_model_build(&m, cfg, &reg, hn_backend_cpu(), 1, &err), HN_OK);
    hn_generator g;
    assert_int_equal(hn_generator_init_batch(&g, &m, 0, 8, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "sequences"));
    assert_int_equal(hn_generator_init_batch(&g, &m, 2, 0, &err), HN_ERR);
    assert_int_equal(hn_generator_init_batch(&g, &m, 2, 4, &err), HN_OK);
    int32_t out[2];
    hn_rng rng;
    hn_rng_seed(&rng, 1);
    assert_int_equal(hn_generator_sample(&g, 1.0, 1.0, &rng, out, &err), HN_ERR); /* no logits yet */
    int32_t bad[2] = {'a', 300};
    assert_int_equal(hn_generator_step_batch(&g, bad, NULL, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "out of range"));
    hn_generator_free(&g);
    hn_model_free(&m);
    cJSON_Delete(cfg);
}

/* Nucleus sampling: greedy at temperature 0, the softmax at top_p = 1, and only the
 * smallest set reaching top_p otherwise. */
static void test_sampling(void **state) {
    float logits[4] = {(float)log(0.4), (float)log(0.3), (float)log(0.2), (float)log(0.1)};
    hn_rng rng;
    hn_rng_seed(&rng, 3);
    assert_int_equal(hn_sample_byte(logits, 4, 0.0, 1.0, &rng), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(hn_sample_byte(logits, 4, 1.0, 1e-6, &rng), 0);
    int count[4] = {0}, N = 40000;
    for (int i = 0; i < N; i++) count[hn_sample_byte(logits, 4, 1.0, 1.0, &rng)]++;
    const double want[4] = {0.4, 0.3, 0.2, 0.1};
    for (int k = 0; k < 4; k++) assert_true(fabs((double)count[k] / N - want[k]) < 0.01);
    memset(count, 0, sizeof count);
    for (int i = 0; i < N; i++) count[hn_sample_byte(logits, 4, 1.0, 0.5, &rng)]++;
    assert_int_equal(count[2] + count[3], 0); /* 0.4 + 0.3 already reaches 0.5 */
    assert_true(fabs((double)count[0] / N - 4.0 / 7.0) < 0.01);
    /* a higher temperature flattens */
    memset(count, 0, sizeof count);
    for (int i = 0; i < N; i++) count[hn_sample_byte(logits, 4, 100.0, 1.0, &rng)]++;
    assert_true(fabs((double)count[3] / N - 0.25) < 0.02);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_isotropic),
        cmocka_unit_test(test_one_stage_dc),
        cmocka_unit_test(test_one_stage_dc_ablations),
        cmocka_unit_test(test_two_stage_dc),
        cmocka_unit_test(test_rule_chunkers),
        cmocka_unit_test(test_entropy_chunker),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
