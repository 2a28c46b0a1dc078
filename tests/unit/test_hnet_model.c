/* Whole-model tests of the H-Net stage recursion (model/stage.c) with the real plugins:
 * finite-difference gradient checks through a 2-stage model (the chunk boundaries are
 * held fixed: a perturbation that flips a boundary decision is detected and skipped),
 * the per-stage statistics, and the parameter naming of the reference H-Net. */
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
#include "backend/cpu/cpu_ops.h"
#include "support/gradcheck.h"
#include "core/phase.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "support/fixtures.h"

#define NSEQ 2
#define LEN 24

static hn_registry reg;

static int setup(void **state) {
    if (registry_open(&reg)) return -1;
    if (!hn_registry_find_chunker(&reg, "dc")) {
        fprintf(stderr, "the dc chunker plugin is not built (build/plugins/dc.so)\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

/* A 2-stage H-Net small enough for finite differences. */
static cJSON *two_stage_config(const char *extra_chunker_json) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"kind\":\"hnet\",\"vocab\":256,\"norm_eps\":1e-5,"
             "\"layout\":[\"T1\",[\"T1\",[\"T1\"],\"T1\"],\"T1\"],"
             "\"d\":[16,16,24],"
             "\"mlp\":[null,{\"plugin\":\"swiglu\",\"hidden\":32},{\"plugin\":\"swiglu\",\"hidden\":40}],"
             "\"layers\":{\"attention\":[{\"heads\":2,\"window\":5,\"rotary_dim\":4},"
             "{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4},"
             "{\"heads\":3,\"window\":\"global\",\"rotary_dim\":4}]},"
             "\"chunker\":{\"plugin\":\"dc\",\"ratio\":[2,2]%s}}",
             extra_chunker_json ? extra_chunker_json : "");
    cJSON *cfg = cJSON_Parse(json);
    assert_non_null(cfg);
    return cfg;
}

typedef struct fixture {
    hn_model m;
    int32_t tok[NSEQ * LEN], tgt[NSEQ * LEN];
    int32_t boundaries[2][NSEQ * LEN]; /* b of stages 0 and 1 in the reference forward */
    int K[2];
    int flipped;                       /* a forward saw different boundaries */
} fixture;

static void record_boundaries(fixture *f, int32_t out[2][NSEQ * LEN], int *K) {
    hn_stage_download_plan(&f->m.backbone, f->m.be); /* a training forward leaves it on the device */
    const hn_stage *st = &f->m.backbone;
    for (int s = 0; s < 2; s++, st = st->inner) {
        K[s] = st->inner_seqs.total;
        memcpy(out[s], st->b_h, (size_t)st->stats.outer_len * sizeof(int32_t));
    }
}

static double model_loss(void *ctx) {
    fixture *f = ctx;
    hn_loss loss;
    hn_error err;
    assert_int_equal(hn_model_forward(&f->m, f->tok, f->tgt, NSEQ, LEN, &loss, &err), HN_OK);
    int32_t b[2][NSEQ * LEN];
    int K[2];
    record_boundaries(f, b, K);
    if (K[0] != f->K[0] || K[1] != f->K[1] || memcmp(b[0], f->boundaries[0], sizeof b[0]) ||
        memcmp(b[1], f->boundaries[1], (size_t)K[0] * sizeof(int32_t)))
        f->flipped = 1;
    return loss.ce_nats / (double)loss.count + loss.aux;
}

static void build(fixture *f, cJSON *cfg, uint64_t seed) {
    hn_error err;
    memset(f, 0, sizeof *f);
    int rc = hn_model_build(&f->m, cfg, &reg, hn_backend_cpu(), seed, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    hn_rng rng;
    hn_rng_seed(&rng, seed + 99);
    /* words and spaces, so the routing has something to react to */
    const char *text = "the cat sat on a mat; a dog ran far. we saw it!";
    size_t n = strlen(text);
    for (int i = 0; i < NSEQ * LEN; i++) {
        f->tok[i] = (unsigned char)text[(i * 7 + hn_rng_below(&rng, 3)) % n];
        f->tgt[i] = (unsigned char)text[(i * 7 + 5) % n];
    }
}

/* Scales every parameter so gradients are large enough for float32 differences, and
 * gives the routing projections and the residual projections random values (they start
 * at identity and zero). */
static void randomise_params(fixture *f, uint64_t seed) {
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    hn_param_store *ps = &f->m.params;
    for (int i = 0; i < ps->n; i++) {
        hn_param_entry *e = &ps->entries[i];
        const char *nm = e->p.name;
        if (strstr(nm, "residual_proj") || strstr(nm, "pad_dimension"))
            fill_normal(e->p.value, e->numel, 0.3, &rng);
        else if (strstr(nm, "q_proj_layer") || strstr(nm, "k_proj_layer"))
            for (size_t j = 0; j < e->numel; j++) e->p.value[j] += (float)(0.3 * hn_rng_normal(&rng));
        else if (strstr(nm, "norm"))
            for (size_t j = 0; j < e->numel; j++) e->p.value[j] = (float)(1 + 0.2 * hn_rng_normal(&rng));
        else
            fill_normal(e->p.value, e->numel, 0.3, &rng);
    }
}

static void reference_forward_backward(fixture *f) {
    hn_error err;
    f->flipped = 0;
    model_loss(f);
    record_boundaries(f, f->boundaries, f->K);
    hn_params_zero_grads(&f->m.params);
    assert_int_equal(hn_model_backward(&f->m, &err), HN_OK);
}

/* Gradient check of every parameter tensor, a few entries each, skipping perturbations
 * that flip a boundary. Returns the worst error over all tensors. */
static double check_all_params(fixture *f, int *checked) {
    hn_param_store *ps = &f->m.params;
    float *analytic = malloc(ps->total * sizeof(float));
    memcpy(analytic, ps->grads, ps->total * sizeof(float));
    double worst = 0;
    *checked = 0;
    for (int i = 0; i < ps->n; i++) {
        hn_param_entry *e = &ps->entries[i];
        size_t stride = e->numel > 6 ? e->numel / 6 : 1;
        for (size_t j = 0; j < e->numel; j += stride) {
            float *x = e->p.value + j;
            const float *a = analytic + e->offset + j;
            f->flipped = 0;
            double err = gradcheck_max_error(x, a, 1, model_loss, f,
                                             (gradcheck_opts){.eps = 3e-3, .floor = 2e-3, .max_points = 1});
            if (f->flipped) continue; /* a boundary moved: the loss is not smooth here */
            (*checked)++;
            if (err > worst) {
                worst = err;
                if (err > 0.05) printf("  %s[%zu]: rel err %.3g\n", e->p.name, j, err);
            }
        }
    }
    free(analytic);
    return worst;
}

static void run_gradcheck(const char *chunker_extra, const char *what) {
    fixture *f = calloc(1, sizeof *f);
    cJSON *cfg = two_stage_config(chunker_extra);
    build(f, cfg, 11);
    randomise_params(f, 12);
    reference_forward_backward(f);
    int checked;
    double worst = check_all_params(f, &checked);
    /* teeth: the same check rejects a gradient that is 20% off */
    hn_param_entry *res = &f->m.params.entries[hn_params_find(&f->m.params, "backbone.residual_proj.weight")];
    size_t big = 0;
    for (size_t j = 0; j < res->numel; j++)
        if (fabsf(res->p.grad[j]) > fabsf(res->p.grad[big])) big = j;
    float wrong = res->p.grad[big] * 1.2f;
    double caught = gradcheck_max_error(res->p.value + big, &wrong, 1, model_loss, f,
                                        (gradcheck_opts){.eps = 3e-3, .floor = 2e-3, .max_points = 1});
    assert_true(caught > 0.1);
    printf("2-stage H-Net (%s): %d entries checked over %d tensors, worst rel err %.3g, "
           "inner lengths %d -> %d -> %d\n",
           what, checked, f->m.params.n, worst, NSEQ * LEN, f->K[0], f->K[1]);
    assert_true(checked > 3 * f->m.params.n); /* most perturbations keep the boundaries */
    /* the residual projection's bias (the reference's nn.Linear has one) trains */
    int bias = hn_params_find(&f->m.params, "backbone.main_network.residual_proj.bias");
    assert_true(bias >= 0);
    double gnorm = 0;
    for (size_t j = 0; j < f->m.params.entries[bias].numel; j++)
        gnorm += fabs(f->m.params.entries[bias].p.grad[j]);
    assert_true(gnorm > 0);
    assert_true(worst < 0.05);
    hn_model_free(&f->m);
    cJSON_Delete(cfg);
    free(f);
}

static void test_gradcheck_two_stage_no_ste(void **state) {
    /* without the STE the upsampler multiplies by c_t itself, so the whole loss is a
     * smooth function of every parameter while the boundaries stay put */
    run_gradcheck(",\"ste\":false", "no STE");
}

static void test_gradcheck_two_stage_mean_pool_no_smoothing(void **state) {
    run_gradcheck(",\"ste\":false,\"smoothing\":false,\"downsample\":\"mean\"", "mean pooling, no smoothing");
}

/* (max pooling is checked at the op level: a perturbation can move a row's argmax,
 * which this whole-model check would not notice the way it notices boundary flips) */
static void test_gradcheck_two_stage_linear_routing(void **state) {
    run_gradcheck(",\"ste\":false,\"routing\":\"linear\"", "linear routing");
}

/* With the STE the confidence's forward value is 1, so finite differences cannot see the
 * gradient it passes to the router (the op-level test in test_chunk_ops checks that
 * gradient against its formula). Here: with the ratio loss off, the router still learns,
 * through the STE alone. */
static void test_ste_passes_gradient_to_router(void **state) {
    fixture *f = calloc(1, sizeof *f);
    /* no ratio loss and no smoothing (whose backward also reaches the router): the
     * only path left is the confidence weight, which is 1 in the forward under the STE */
    cJSON *cfg = two_stage_config(",\"alpha\":0,\"smoothing\":false");
    build(f, cfg, 21);
    randomise_params(f, 22);
    reference_forward_backward(f);
    int q = hn_params_find(&f->m.params, "backbone.routing_module.q_proj_layer.weight");
    assert_true(q >= 0);
    hn_param_entry *e = &f->m.params.entries[q];
    double norm = 0;
    for (size_t j = 0; j < e->numel; j++) norm += (double)e->p.grad[j] * e->p.grad[j];
    printf("router gradient norm through the STE alone: %.3g\n", sqrt(norm));
    assert_true(norm > 0);
    hn_model_free(&f->m);
    cJSON_Delete(cfg);
    free(f);
}

static void test_stage_stats_and_names(void **state) {
    fixture *f = calloc(1, sizeof *f);
    cJSON *cfg = two_stage_config(NULL);
    build(f, cfg, 31);
    hn_loss loss;
    hn_error err;
    assert_int_equal(hn_model_forward(&f->m, f->tok, f->tgt, NSEQ, LEN, &loss, &err), HN_OK);
    hn_stage_stats st[4];
    assert_int_equal(hn_model_stage_stats(&f->m, st, 4), 2);
    assert_int_equal(st[0].outer_len, NSEQ * LEN);
    assert_int_equal(st[1].outer_len, st[0].inner_len);
    assert_true(st[0].inner_len >= NSEQ && st[0].inner_len <= NSEQ * LEN);
    assert_true(st[1].inner_len >= NSEQ && st[1].inner_len <= st[0].inner_len);
    assert_true(loss.aux > 0);
    const char *names[] = {
        "embeddings.weight",
        "backbone.encoder.layers.0.norm1.weight",
        "backbone.encoder.layers.0.mixer.Wqkv.weight",
        "backbone.encoder.rmsnorm.weight",
        "backbone.routing_module.q_proj_layer.weight",
        "backbone.routing_module.k_proj_layer.weight",
        "backbone.main_network.encoder.layers.0.mlp.fc1.weight",
        "backbone.main_network.main_network.main_network.layers.0.mixer.out_proj.weight",
        "backbone.main_network.main_network.main_network.rmsnorm.weight",
        "backbone.main_network.main_network.pad_dimension",
        "backbone.main_network.residual_proj.weight",
        "backbone.decoder.layers.0.mixer.Wqkv.weight",
        "backbone.residual_proj.weight",
        "backbone.residual_proj.bias",
        "backbone.main_network.residual_proj.bias",
        "lm_head.weight",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (hn_params_find(&f->m.params, names[i]) < 0) printf("missing parameter %s\n", names[i]);
        assert_true(hn_params_find(&f->m.params, names[i]) >= 0);
    }
    /* stage 0 -> 1 has no widening (16 -> 16) */
    assert_true(hn_params_find(&f->m.params, "backbone.main_network.pad_dimension") < 0);
    hn_model_free(&f->m);
    cJSON_Delete(cfg);
    free(f);
}

static int g_syncs;
static void counting_sync(void) { g_syncs++; }

/* The step split hnet bench prints: every part of a 2-stage step gets booked to its own
 * (phase, stage), a sync at each boundary, and nothing is booked while it is off. */
static void test_phase_split(void **state) {
    fixture *f = calloc(1, sizeof *f);
    cJSON *cfg = two_stage_config(NULL);
    build(f, cfg, 37);
    hn_loss loss;
    hn_error err;
    hn_phase_enable(counting_sync);
    assert_int_equal(hn_model_forward(&f->m, f->tok, f->tgt, NSEQ, LEN, &loss, &err), HN_OK);
    hn_params_zero_grads(&f->m.params);
    assert_int_equal(hn_model_backward(&f->m, &err), HN_OK);
    for (int s = 0; s < 2; s++)
        for (int p = HN_PHASE_ENCODER; p <= HN_PHASE_DECODER; p++)
            if (p != HN_PHASE_MAIN) assert_true(hn_phase_ms((hn_phase_kind)p, s) > 0);
    assert_true(hn_phase_ms(HN_PHASE_MAIN, 2) > 0);
    assert_true(hn_phase_ms(HN_PHASE_MAIN, 0) == 0); /* only the innermost stage has one */
    assert_true(hn_phase_ms(HN_PHASE_HEAD, 0) > 0);
    assert_true(g_syncs >= 2 * (2 * 4 + 1));
    double enc = hn_phase_ms(HN_PHASE_ENCODER, 0);
    hn_phase_enable(NULL);
    assert_true(hn_phase_ms(HN_PHASE_ENCODER, 0) == enc); /* off keeps the totals */
    int before = g_syncs;
    assert_int_equal(hn_model_forward(&f->m, f->tok, f->tgt, NSEQ, LEN, &loss, &err), HN_OK);
    assert_int_equal(g_syncs, before);
    hn_model_free(&f->m);
    cJSON_Delete(cfg);
    free(f);
}


static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* The whole step on bf16 activations (the cpu's switch for what cuda does): the norms
 * hand bf16 copies to the LM head (out16), the routing and residual projections (the
 * encoder's out16) and the residual projection's backward (the decoder's din16), the
 * loss writes bf16 dlogits; loss and every gradient stay within bf16 rounding of the
 * float32 step, and differ from it (the bf16 path ran). Routing held, so both steps
 * chunk alike. */
static void test_bf16_activations_whole_model(void **state) {
    (void)state;
    static fixture f;
    cJSON *cfg = two_stage_config(NULL);
    float *g32 = NULL;
    double loss32 = 0;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        hn_cpu_set_stash_bf16(bf16);
        build(&f, cfg, 41);
        randomise_params(&f, 42);
        hn_model_hold_routing(&f.m, 1);
        reference_forward_backward(&f);
        double loss = model_loss(&f);
        hn_cpu_set_stash_bf16(0);
        size_t P = f.m.params.total;
        hn_stage *outer = &f.m.backbone;
        if (!bf16) {
            g32 = malloc(P * sizeof(float));
            memcpy(g32, f.m.params.grads, P * sizeof(float));
            loss32 = loss;
            assert_null(outer->decoder.out16);
            assert_null(outer->encoder.out16);
        } else {
            assert_non_null(outer->decoder.out16);   /* the LM head's operand */
            assert_non_null(outer->encoder.out16);   /* routing, residual projection */
            assert_non_null(outer->decoder.d_resid16);
            double eg = rel_l2(f.m.params.grads, g32, P);
            for (int i = 0; getenv("HN_TEST_VERBOSE") && i < f.m.params.n; i++) {
                hn_param_entry *e = &f.m.params.entries[i];
                printf("  %-50s %.2e\n", e->p.name,
                       rel_l2(f.m.params.grads + e->offset, g32 + e->offset, e->numel));
            }
            printf("bf16 activations, whole model: parameter gradients %.2e\n", eg);
            assert_true(eg > 0 && eg < 5e-2);
            printf("bf16 activations, whole model: loss %.6f (float32 %.6f)\n", loss, loss32);
            assert_true(loss != loss32 && fabs(loss - loss32) < 1e-2 * fabs(loss32));
        }
        hn_model_free(&f.m);
    }
    free(g32);
    cJSON_Delete(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_split),
        cmocka_unit_test(test_bf16_activations_whole_model),
        cmocka_unit_test(test_stage_stats_and_names),
        cmocka_unit_test(test_gradcheck_two_stage_no_ste),
        cmocka_unit_test(test_gradcheck_two_stage_mean_pool_no_smoothing),
        cmocka_unit_test(test_gradcheck_two_stage_linear_routing),
        cmocka_unit_test(test_ste_passes_gradient_to_router),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
