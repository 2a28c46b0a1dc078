/* The cuda instance's sticky error: the first failing op is named (with the CUDA error)
 * and kept until read, whatever fails after it; reading clears it; another instance's
 * error is its own, and an instance keeps working after a refused request (an
 * out-of-memory scratch request does not poison the context). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"

static const hn_backend *g_a, *g_b;

static int setup(void **st) {
    (void)st;
    hn_cuda_config cfg;
    hn_cuda_config_default(&cfg);
    cfg.device = 0;
    cfg.matmul = HN_CUDA_MATMUL_BF16; /* products round float32 operands into scratch */
    g_a = hn_cuda_instance_create(&cfg);
    g_b = hn_cuda_instance_create(&cfg);
    if (!g_a || !g_b) {
        fprintf(stderr, "no CUDA instances: %s\n", hn_cuda_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **st) {
    (void)st;
    hn_cuda_instance_destroy(g_a);
    hn_cuda_instance_destroy(g_b);
    return 0;
}

/* A product whose bf16 copy of operand a ([2^21, 2^16]) asks the scratch for 256 GiB:
 * refused and noted before anything reads a or writes c. b ([2^16, 1]) is real: it is
 * rounded next (B_FLOATS floats), then the product gives up. */
#define B_FLOATS (1 << 16)
static void fail_matmul_out_of_memory(const hn_backend *be, float *a, float *b, float *c) {
    be->matmul(0, 0, 1 << 21, 1, B_FLOATS, 1.0f, a, b, 0.0f, c);
}

/* A typed product with a strided float32 operand beside a bf16 one: refused, noted. */
static int fail_matmul_t(const hn_backend *be, float *a, float *c) {
    hn_tensor a32 = {a, HN_F32, 4, 4, 8}; /* strided: ld 8 > cols 4 */
    hn_tensor b16 = {a, HN_BF16, 4, 4, 4};
    hn_tensor c32 = {c, HN_F32, 4, 4, 4};
    hn_matmul_params p = {a32, b16, c32, 0, 0, 1.0f, 0.0f};
    return be->matmul_t(be, &p);
}

static void test_first_failing_op_is_named_and_kept(void **st) {
    (void)st;
    float *a = g_a->alloc(1 << 16), *c = g_a->alloc(1 << 16);
    float *b = g_a->alloc(B_FLOATS * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_null(g_a->device_error());

    fail_matmul_out_of_memory(g_a, a, b, c);
    /* a later, different failure does not replace the first */
    assert_int_not_equal(fail_matmul_t(g_a, a, c), 0);
    /* and ops that work still work */
    g_a->fill(c, 2.0f, 16);
    float h[16];
    g_a->download(h, c, sizeof h);
    assert_true(h[0] == 2.0f && h[15] == 2.0f);

    const char *e = g_a->device_error();
    assert_non_null(e);
    printf("  first error: %s\n", e);
    assert_non_null(strstr(e, "matmul failed"));
    assert_non_null(strstr(e, "out of memory")); /* the CUDA error */
    assert_non_null(strstr(e, "scratch"));
    assert_null(strstr(e, "matmul_t"));
    /* read: cleared */
    assert_null(g_a->device_error());

    /* the next failure is the next one reported */
    assert_int_not_equal(fail_matmul_t(g_a, a, c), 0);
    e = g_a->device_error();
    assert_non_null(e);
    printf("  next error: %s\n", e);
    assert_non_null(strstr(e, "matmul_t failed"));
    assert_null(g_a->device_error());
    g_a->free(a);
    g_a->free(b);
    g_a->free(c);
}

static void test_errors_are_per_instance(void **st) {
    (void)st;
    float *a = g_a->alloc(1 << 16), *c = g_a->alloc(1 << 16);
    float *b = g_a->alloc(B_FLOATS * sizeof(float));
    float *bc = g_b->alloc(64);
    fail_matmul_out_of_memory(g_a, a, b, c);
    /* b saw nothing and works */
    assert_null(g_b->device_error());
    g_b->fill(bc, 3.0f, 16);
    float h[16];
    g_b->download(h, bc, sizeof h);
    assert_true(h[7] == 3.0f);
    assert_null(g_b->device_error());
    /* a still holds its own */
    const char *e = g_a->device_error();
    assert_non_null(e);
    assert_non_null(strstr(e, "matmul failed"));
    g_a->free(a);
    g_a->free(b);
    g_a->free(c);
    g_b->free(bc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_failing_op_is_named_and_kept),
        cmocka_unit_test(test_errors_are_per_instance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
