/* One training step of a 1-stage and a 2-stage H-Net (Mamba-2 outer networks,
 * attention + SwiGLU inside, dc chunking) on the cpu and on the cuda backend from the
 * same seed and the same packed batch: the loss, the chunk boundaries, every
 * parameter's gradient and the parameters after one AdamW step must agree. Matrix
 * products run in fp32 here (the default bf16 tensor-core mode can flip a boundary
 * decision near p = 0.5, after which the two models differ by design); a second pass
 * in bf16 checks the loss to bf16 accuracy. A third test covers the space and pool
 * chunkers, dc's ablations (linear routing, no STE, mean pooling) and an MoE network. */
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
#include "lua/experiment.h"
#include "model/model.h"
#include "parity.h"
#include "plugin/registry.h"

static hn_registry reg;

static int setup(void **st) { return parity_open_plugins(&reg); }
static int teardown(void **st) {
    hn_registry_close(&reg);
    return 0;
}

#define NSEQ 4
#define LEN 96

static double rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void step_case(const char *file, hn_cuda_matmul_mode mode, int full) {
    hn_error err;
    cJSON *cfg = NULL;
    if (hn_experiment_load(file, NULL, &reg, &cfg, &err)) fail_msg("%s", err.msg);
    const cJSON *mc = cJSON_GetObjectItem(cfg, "model");
    hn_cuda_set_matmul_mode(mode);
    /* the strict check runs fp32 attention too; the bf16 one the default kernels */
    hn_cuda_set_attention_mode(mode == HN_CUDA_MATMUL_FP32 ? HN_CUDA_ATTENTION_FP32
                                                          : hn_cuda_attention_mode_env());
    hn_model mc_, mg;
    if (hn_model_build(&mc_, mc, &reg, P_CPU, 7, &err)) fail_msg("cpu: %s", err.msg);
    if (hn_model_build(&mg, mc, &reg, P_GPU, 7, &err)) fail_msg("cuda: %s", err.msg);
    assert_int_equal(mc_.params.total, mg.params.total);
    /* fresh random bytes with some structure (repeated words) so dc has work to do */
    hn_rng r = hn_rng_derive(99, mode);
    int32_t tok[NSEQ * LEN + 1];
    static const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat, ", "and ", "ran. "};
    int t = 0;
    while (t < NSEQ * LEN + 1) {
        const char *w = words[hn_rng_below(&r, 8)];
        for (; *w && t < NSEQ * LEN + 1; w++) tok[t++] = (uint8_t)*w;
    }
    hn_loss lc, lg;
    assert_int_equal(hn_model_forward(&mc_, tok, tok + 1, NSEQ, LEN, &lc, &err), HN_OK);
    assert_int_equal(hn_model_forward(&mg, tok, tok + 1, NSEQ, LEN, &lg, &err), HN_OK);
    double el = fabs(lg.ce_nats - lc.ce_nats) / fabs(lc.ce_nats);
    printf("  %s mode %d: loss cpu %.6f cuda %.6f (rel %.2e), aux cpu %.6f cuda %.6f\n", file,
           (int)mode, lc.ce_nats / lc.count, lg.ce_nats / lg.count, el, lc.aux, lg.aux);
    const char *cerr = hn_cuda_last_error();
    if (cerr[0]) fail_msg("CUDA: %s", cerr);
    /* the chunk boundaries of every stage */
    hn_stage_stats sc[8], sg[8];
    int S = hn_model_stage_stats(&mc_, sc, 8);
    assert_int_equal(S, hn_model_stage_stats(&mg, sg, 8));
    for (int s = 0; s < S; s++) {
        printf("  stage %d: %ld -> %ld (cpu) / %ld -> %ld (cuda)\n", s, (long)sc[s].outer_len, (long)sc[s].inner_len,
               (long)sg[s].outer_len, (long)sg[s].inner_len);
        if (full) assert_int_equal(sc[s].inner_len, sg[s].inner_len);
    }
    if (!full) {
        assert_true(el < TOL_BF16);
    } else {
        assert_true(el < TOL_FP32);
        hn_params_zero_grads(&mc_.params);
        hn_params_zero_grads(&mg.params);
        assert_int_equal(hn_model_backward(&mc_, &err), HN_OK);
        assert_int_equal(hn_model_backward(&mg, &err), HN_OK);
        size_t n = mc_.params.total;
        float *gg = malloc(n * sizeof(float)), *pg = malloc(n * sizeof(float));
        P_GPU->download(gg, mg.params.grads, n * sizeof(float));
        double worst = 0;
        const char *worst_name = "";
        for (int i = 0; i < mc_.params.n; i++) {
            hn_param_entry *e = &mc_.params.entries[i];
            double ei = rel(gg + e->offset, mc_.params.grads + e->offset, e->numel);
            if (ei > worst) {
                worst = ei;
                worst_name = e->p.name;
            }
        }
        double eall = rel(gg, mc_.params.grads, n);
        printf("  gradients: all %.2e, worst parameter %s %.2e (%d parameters)\n", eall, worst_name,
               worst, mc_.params.n);
        assert_true(eall < TOL_FP32);
        assert_true(worst < 2e-3); /* a near-zero gradient's relative error is larger */
        /* one AdamW step on both */
        float *m1 = P_CPU->alloc(n * 4), *v1 = P_CPU->alloc(n * 4);
        float *m2 = P_GPU->alloc(n * 4), *v2 = P_GPU->alloc(n * 4);
        P_CPU->adamw(mc_.params.values, mc_.params.grads, m1, v1, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f);
        P_GPU->adamw(mg.params.values, mg.params.grads, m2, v2, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f);
        P_GPU->download(pg, mg.params.values, n * sizeof(float));
        double ep = rel(pg, mc_.params.values, n);
        printf("  parameters after AdamW: %.2e\n", ep);
        assert_true(ep < TOL_FP32);
        P_CPU->free(m1);
        P_CPU->free(v1);
        P_GPU->free(m2);
        P_GPU->free(v2);
        free(gg);
        free(pg);
    }
    hn_model_free(&mc_);
    hn_model_free(&mg);
    cJSON_Delete(cfg);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    hn_cuda_set_attention_mode(hn_cuda_attention_mode_env());
}

static void test_hnet1_step(void **st) {
    step_case("tests/gpu/hnet1_parity.lua", HN_CUDA_MATMUL_FP32, 1);
    step_case("tests/gpu/hnet1_parity.lua", HN_CUDA_MATMUL_BF16, 0);
}
static void test_hnet2_step(void **st) {
    step_case("tests/gpu/hnet2_parity.lua", HN_CUDA_MATMUL_FP32, 1);
    step_case("tests/gpu/hnet2_parity.lua", HN_CUDA_MATMUL_BF16, 0);
}

/* the other chunkers and dc's ablations, and an MoE main network */
static void test_variants_step(void **st) {
    step_case("tests/gpu/dc_variants_parity.lua", HN_CUDA_MATMUL_FP32, 1);
    step_case("tests/gpu/space_parity.lua", HN_CUDA_MATMUL_FP32, 1);
    step_case("tests/gpu/pool_parity.lua", HN_CUDA_MATMUL_FP32, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hnet1_step), cmocka_unit_test(test_hnet2_step),
                                       cmocka_unit_test(test_variants_step)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
