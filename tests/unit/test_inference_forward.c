/* The inference forward (model no_grad: hn_layer_ctx.inference, eval/loss_queue): the
 * BPB of hn_eval_bpb_range equals, to the bit, the one the training forward gives on the
 * same windows in the same batches (the same products), for an isotropic model and a
 * 2-stage H-Net, also after training forwards ran; in batches of another size it equals
 * it to float32 rounding (the products' sums split differently: not the same bits with
 * every BLAS). It keeps nothing for a backward (no gradient buffers, two residual
 * buffers a network), and a backward after it is refused with a message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/bpb.h"
#include "support/fixtures.h"

static hn_registry reg;

static int setup(void **state) { return registry_open(&reg); }
static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

#define MAMBA "\"mamba2\":{\"d_state\":8,\"headdim\":8,\"chunk_size\":8}"
static const char *ISOTROPIC =
    "{\"kind\":\"isotropic\",\"vocab\":256,\"layout\":\"m1T1\",\"d\":[16],"
    "\"mlp\":[{\"plugin\":\"swiglu\",\"hidden\":32}],\"layers\":{" MAMBA ","
    "\"attention\":[{\"heads\":2,\"window\":5,\"rotary_dim\":4}]}}";
static const char *TWO_STAGE =
    "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":[\"m1\",[\"m1\",[\"T1\"],\"m1\"],\"m1\"],"
    "\"d\":[16,24,32],\"mlp\":[null,null,{\"plugin\":\"swiglu\",\"hidden\":32}],\"layers\":{" MAMBA ","
    "\"attention\":[{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4}]},"
    "\"chunker\":{\"plugin\":\"dc\",\"ratio\":[2,2]}}";

static void build(hn_model *m, const char *json) {
    cJSON *cfg = cJSON_Parse(json);
    assert_non_null(cfg);
    hn_error err;
    int rc = hn_model_build(m, cfg, &reg, hn_backend_cpu(), 11, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    cJSON_Delete(cfg);
}

static uint8_t text[3000];
static void make_text(void) {
    const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "We ", "saw ", "it\n"};
    uint32_t s = 5;
    for (size_t i = 0; i < sizeof text;) {
        s = s * 1103515245u + 12345u;
        for (const char *w = words[(s >> 16) % 9]; *w && i < sizeof text; w++) text[i++] = (uint8_t)*w;
    }
}

/* The smallest distance of a boundary probability from the 0.5 that decides it, over
 * every chunking stage of m's last forward (1 when none chunks). */
static double boundary_margin(hn_model *m, double margin) {
    hn_stage_download_plan(&m->backbone, m->be);
    for (const hn_stage *st = &m->backbone; st && !st->innermost; st = st->inner)
        for (long t = 0; t < (long)st->stats.outer_len; t++) margin = fmin(margin, fabs(st->p_h[t] - 0.5));
    return margin;
}

/* The trainer's validation before the inference forward: training forwards, ce_nats
 * summed per batch. *margin: boundary_margin over the forwards. */
static double training_bpb(hn_model *m, int L, int B, long bytes, double *margin) {
    long windows = (bytes - 1) / L, count = 0;
    double nats = 0;
    *margin = 1;
    int32_t *tok = malloc((size_t)B * L * sizeof *tok), *tgt = malloc((size_t)B * L * sizeof *tgt);
    m->no_grad = 0;
    for (long w = 0; w < windows; w += B) {
        int n = (int)(windows - w < B ? windows - w : B);
        for (int i = 0; i < n; i++)
            for (int t = 0; t < L; t++) {
                tok[i * L + t] = text[(w + i) * L + t];
                tgt[i * L + t] = text[(w + i) * L + t + 1];
            }
        hn_loss loss;
        hn_error err;
        assert_int_equal(hn_model_forward(m, tok, tgt, n, L, &loss, &err), HN_OK);
        *margin = boundary_margin(m, *margin);
        nats += loss.ce_nats;
        count += loss.count;
    }
    free(tok), free(tgt);
    return nats / (double)count / log(2.0);
}

static void same_bpb(const char *json) {
    make_text();
    hn_model m;
    build(&m, json);
    hn_error err;
    hn_eval_bpb got;
    int L = 64, B = 3;
    long bytes = 1000; /* 15 windows: 5 forwards, the last full */
    assert_int_equal(hn_eval_bpb_range(&m, text, 0, sizeof text, L, B, bytes, &got, &err), HN_OK);
    double margin;
    double want = training_bpb(&m, L, B, bytes, &margin);
    assert_memory_equal(&got.bpb, &want, sizeof want);
    assert_true(got.bpb > 1 && got.bpb < 12);
    assert_int_equal(got.first_bytes, (long)B * L);
    assert_true(got.first_seconds <= got.seconds);
    /* and again after training forwards ran (buffers now the training ones) */
    assert_int_equal(hn_eval_bpb_range(&m, text, 0, sizeof text, L, B, bytes, &got, &err), HN_OK);
    assert_memory_equal(&got.bpb, &want, sizeof want);
    /* Batches of 4 windows: every window's products are those of batches of 3 with more
     * rows, whose sums OpenBLAS may split otherwise (its Haswell kernels do: a row's bits
     * depend on the rows around it), so each loss may differ by float32 rounding, a few
     * units in the last place of its ~5.5 nats (measured: 3e-10 of the BPB). 2^-20 of the
     * BPB (about 10 such units of every loss, all one way) bounds that with room; one target
     * byte off by one bit moves it by 1e-5 to 6e-5. No boundary is near enough its 0.5
     * (7e-3 the nearest) for that rounding to move it: it would change the lengths. */
    assert_true(margin > 1e-3);
    assert_int_equal(hn_eval_bpb_range(&m, text, 0, sizeof text, L, 4, bytes, &got, &err), HN_OK);
    assert_true(fabs(got.bpb - want) <= 0x1p-20 * want);
    hn_model_free(&m);
}

static void test_isotropic_same_bpb(void **state) { same_bpb(ISOTROPIC); }
static void test_two_stage_same_bpb(void **state) { same_bpb(TWO_STAGE); }

static void forward(hn_model *m, int no_grad, int rc_want) {
    int32_t tok[2 * 32], tgt[2 * 32];
    for (int t = 0; t < 64; t++) tok[t] = text[t], tgt[t] = text[t + 1];
    hn_loss loss;
    hn_error err;
    m->no_grad = no_grad;
    int rc = hn_model_forward(m, tok, tgt, 2, 32, &loss, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, rc_want);
}

/* An evaluation allocates no gradient buffers and two residual buffers a network; a
 * backward after it is refused; a training forward then allows it again. */
static void test_keeps_nothing(void **state) {
    make_text();
    hn_model m;
    build(&m, TWO_STAGE);
    forward(&m, 1, HN_OK);
    assert_null(m.dlogits);
    assert_null(m.dh);
    const hn_network *enc = &m.backbone.inner->inner->main; /* T1 and its swiglu */
    assert_true(enc->n_sub >= 2);
    assert_non_null(enc->resid[1]);
    assert_null(enc->resid[2]);
    assert_null(enc->d_resid);
    hn_error err;
    assert_int_equal(hn_model_backward(&m, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "backward after an evaluation's forward"));
    forward(&m, 0, HN_OK);
    assert_non_null(m.dlogits);
    assert_non_null(enc->resid[2]);
    assert_int_equal(hn_model_backward(&m, &err), HN_OK);
    hn_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isotropic_same_bpb),
        cmocka_unit_test(test_two_stage_same_bpb),
        cmocka_unit_test(test_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
