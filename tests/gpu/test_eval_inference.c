/* The inference forward on the GPU (model no_grad: nothing kept for a backward, the
 * losses read back once a queue, eval/loss_queue.h): hn_eval_bpb_range gives the BPB of
 * training forwards over the same windows (within the GPU's run-to-run noise: the cpu
 * holds them equal to the bit, tests/unit/test_inference_forward.c) for a 1-stage and a
 * 2-stage H-Net, and a backward after it is refused. Prints both paths' times. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backend/cuda/cuda_backend.h"
#include "eval/bpb.h"
#include "lua/experiment.h"
#include "parity.h"

static hn_registry reg;

static int setup(void **st) { return parity_open_plugins(&reg); }
static int teardown(void **st) {
    hn_registry_close(&reg);
    return 0;
}

#define LEN 256
#define BATCH 4
#define BYTES (6 * BATCH * LEN + 1)

static uint8_t text[BYTES];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double training_bpb(hn_model *m) {
    static int32_t tok[BATCH * LEN], tgt[BATCH * LEN];
    long windows = (BYTES - 1) / LEN, count = 0;
    double nats = 0;
    hn_error err;
    m->no_grad = 0;
    for (long w = 0; w < windows; w += BATCH) {
        for (int i = 0; i < BATCH; i++)
            for (int t = 0; t < LEN; t++) {
                tok[i * LEN + t] = text[(w + i) * LEN + t];
                tgt[i * LEN + t] = text[(w + i) * LEN + t + 1];
            }
        hn_loss loss;
        if (hn_model_forward(m, tok, tgt, BATCH, LEN, &loss, &err)) fail_msg("%s", err.msg);
        nats += loss.ce_nats;
        count += loss.count;
    }
    return nats / (double)count / log(2.0);
}

static void one_case(const char *file) {
    hn_error err;
    cJSON *cfg = NULL;
    if (hn_experiment_load(file, NULL, &reg, &cfg, &err)) fail_msg("%s", err.msg);
    hn_model m;
    if (hn_model_build(&m, cJSON_GetObjectItem(cfg, "model"), &reg, P_GPU, 7, &err))
        fail_msg("cuda: %s", err.msg);
    static const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat, ", "and ", "ran. "};
    hn_rng r = hn_rng_derive(3, 1);
    for (int t = 0; t < BYTES;)
        for (const char *w = words[hn_rng_below(&r, 8)]; *w && t < BYTES; w++) text[t++] = (uint8_t)*w;
    double t0 = now_s();
    double want = training_bpb(&m);
    double t1 = now_s();
    hn_eval_bpb got;
    if (hn_eval_bpb_range(&m, text, 0, BYTES, LEN, BATCH, 0, &got, &err)) fail_msg("%s", err.msg);
    double rel = fabs(got.bpb - want) / want;
    printf("  %s: training forwards %.6f bpb (%.1f ms), inference %.6f bpb (%.1f ms, first forward "
           "%.1f ms), rel %.2e\n", file, want, 1e3 * (t1 - t0), got.bpb, 1e3 * got.seconds,
           1e3 * got.first_seconds, rel);
    const char *cerr = hn_cuda_last_error();
    if (cerr[0]) fail_msg("CUDA: %s", cerr);
    assert_true(rel < 1e-4);
    assert_int_equal(hn_model_backward(&m, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "backward after an evaluation's forward"));
    hn_model_free(&m);
    cJSON_Delete(cfg);
}

static void test_hnet1(void **st) { one_case("tests/gpu/hnet1_parity.lua"); }
static void test_hnet2(void **st) { one_case("tests/gpu/hnet2_parity.lua"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hnet1),
        cmocka_unit_test(test_hnet2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
