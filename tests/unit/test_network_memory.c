/* A training step's device memory (bench/MEMORY.md): the network makes the residual
 * after each attention sublayer again (layer_abi.h output_again) instead of keeping it,
 * so an isotropic "T4" model allocates four float32 [T, d] buffers fewer than with every
 * residual kept (hn_network.keep_resid), and one fewer again with the sublayers' input
 * gradient written over the model's spent dh (hn_network.dy_spare) than in a buffer of
 * its own; its loss and every gradient are the same to the bit. In float32 and with the
 * cpu's bf16 activation switch (the cuda dtypes: qkv, gu and normed bf16, the products'
 * gradients written over what the forward kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "model/model.h"
#include "support/fixtures.h"

static hn_registry reg;
static int setup(void **state) { return registry_open(&reg); }
static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

enum { D = 16, SEQS = 2, LEN = 24, T = SEQS * LEN };
static const char *ISOTROPIC =
    "{\"kind\":\"isotropic\",\"vocab\":256,\"layout\":\"T4\",\"d\":[16],"
    "\"mlp\":[{\"plugin\":\"swiglu\",\"hidden\":32}],"
    "\"layers\":{\"attention\":[{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4}]}}";

/* the cpu backend with its allocations counted: bytes in use and the peak */
#define MAX_BUFS 4096
static struct { void *p; size_t n; } bufs[MAX_BUFS];
static size_t in_use, peak;
static hn_backend counting;

static void *count_alloc(size_t n) {
    void *p = hn_backend_cpu()->alloc(n);
    for (int i = 0; p && i < MAX_BUFS; i++)
        if (!bufs[i].p) {
            bufs[i].p = p, bufs[i].n = n;
            in_use += n;
            if (in_use > peak) peak = in_use;
            break;
        }
    return p;
}
static void count_free(void *p) {
    for (int i = 0; p && i < MAX_BUFS; i++)
        if (bufs[i].p == p) {
            in_use -= bufs[i].n;
            bufs[i].p = NULL;
            break;
        }
    hn_backend_cpu()->free(p);
}

typedef struct step {
    size_t peak;
    double loss;
    float *grads;
    size_t n;
} step;

/* one forward and backward of the T4 model on fixed bytes */
static void run_step(int keep_resid, int dy_spare, step *out) {
    counting = *hn_backend_cpu();
    counting.alloc = count_alloc;
    counting.free = count_free;
    in_use = peak = 0;
    cJSON *cfg = cJSON_Parse(ISOTROPIC);
    hn_model m;
    hn_error err;
    int rc = hn_model_build(&m, cfg, &reg, &counting, 3, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    m.backbone.main.keep_resid = keep_resid;
    m.backbone.main.dy_spare = dy_spare;
    int32_t tok[T], tgt[T];
    for (int t = 0; t < T; t++) tok[t] = (t * 37 + 11) % 256, tgt[t] = (t * 53 + 7) % 256;
    hn_loss loss;
    assert_int_equal(hn_model_forward(&m, tok, tgt, SEQS, LEN, &loss, &err), HN_OK);
    hn_params_zero_grads(&m.params);
    rc = hn_model_backward(&m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    out->peak = peak;
    out->loss = loss.ce_nats;
    out->n = m.params.total;
    out->grads = malloc(out->n * sizeof(float));
    memcpy(out->grads, m.params.grads, out->n * sizeof(float));
    hn_model_free(&m);
    cJSON_Delete(cfg);
    assert_int_equal(in_use, 0);
}

static void same_step(const step *a, const step *b) {
    assert_true(a->loss == b->loss);
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->grads, b->grads, a->n * sizeof(float));
}

static void check(int bf16) {
    hn_cpu_set_stash_bf16(bf16);
    step kept, again, own_dnormed;
    run_step(1, 1, &kept);
    run_step(0, 1, &again);
    run_step(0, 0, &own_dnormed);
    hn_cpu_set_stash_bf16(0);
    size_t row_buffer = (size_t)T * D * sizeof(float);
    /* four attention sublayers: four float32 [T, d] residuals made again, not kept */
    assert_int_equal(kept.peak - again.peak, 4 * row_buffer);
    assert_int_equal(own_dnormed.peak - again.peak, row_buffer);
    same_step(&kept, &again);
    same_step(&own_dnormed, &again);
    free(kept.grads);
    free(again.grads);
    free(own_dnormed.grads);
}

static void test_residuals_made_again_f32(void **state) {
    (void)state;
    check(0);
}

static void test_residuals_made_again_bf16(void **state) {
    (void)state;
    check(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residuals_made_again_f32),
        cmocka_unit_test(test_residuals_made_again_bf16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
