/* The cpu backend's typed ops (backend.h "_t"): on float32 views they are the v1 ops bit
 * for bit (so the cpu stays the same reference); a bf16 input is read exactly widened,
 * a bf16 output is the float32 result rounded once (to nearest even); shapes that do
 * not fit are refused; accumulate/overwrite semantics as documented. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

static const hn_backend *be;

static int setup(void **state) {
    (void)state;
    be = hn_backend_cpu();
    return 0;
}

static float *normal(size_t n, hn_rng *r) { return falloc_normal(n, 1.0, r); }

static uint16_t *to_bf16(const float *x, size_t n) {
    uint16_t *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = hn_bf16_from_f32(x[i]);
    return p;
}

static void test_bf16_rounding(void **state) {
    (void)state;
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even (1.0) */
    assert_int_equal(hn_bf16_from_f32(1.0f + 0x1.0p-8f), hn_bf16_from_f32(1.0f));
    assert_true(hn_bf16_to_f32(hn_bf16_from_f32(1.0f + 0x1.8p-8f)) == 1.0f + 0x1.0p-7f);
    assert_true(isnan(hn_bf16_to_f32(hn_bf16_from_f32(NAN))));
    assert_true(isinf(hn_bf16_to_f32(hn_bf16_from_f32(INFINITY))));
    float x = 3.14159f, back = hn_bf16_to_f32(hn_bf16_from_f32(x));
    assert_true(fabsf(back - x) <= x * 0x1.0p-8f);
}

static void test_matmul_t_matches_v1(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 11);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int m = 13, n = 7, k = 9;
            float *a = normal((size_t)m * k, &r), *b = normal((size_t)k * n, &r);
            float *c1 = normal((size_t)m * n, &r), *c2 = falloc((size_t)m * n);
            memcpy(c2, c1, (size_t)m * n * sizeof(float));
            be->matmul(ta, tb, m, n, k, 0.5f, a, b, 1.0f, c1);
            hn_matmul_params p = {.a = hn_tensor_f32(a, ta ? k : m, ta ? m : k),
                                  .b = hn_tensor_f32(b, tb ? n : k, tb ? k : n),
                                  .c = hn_tensor_f32(c2, m, n), .trans_a = ta, .trans_b = tb,
                                  .alpha = 0.5f, .beta = 1.0f};
            assert_int_equal(be->matmul_t(be, &p), 0);
            assert_memory_equal(c1, c2, (size_t)m * n * sizeof(float));
            free(a);
            free(b);
            free(c1);
            free(c2);
        }
}

/* bf16 inputs are widened exactly; a bf16 output is the float32 result rounded once;
 * a column slice (ld > cols) reads only its columns */
static void test_matmul_t_bf16(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 12);
    int m = 10, n = 6, k = 8, wide = 12;
    float *a = normal((size_t)m * wide, &r), *b = normal((size_t)n * k, &r);
    uint16_t *a16 = to_bf16(a, (size_t)m * wide), *b16 = to_bf16(b, (size_t)n * k);
    float *aw = falloc((size_t)m * k), *bw = falloc((size_t)n * k);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++) aw[i * k + j] = hn_bf16_to_f32(a16[i * wide + 2 + j]);
    for (int i = 0; i < n * k; i++) bw[i] = hn_bf16_to_f32(b16[i]);
    float *ref = falloc((size_t)m * n), *out = falloc((size_t)m * n);
    uint16_t *out16 = malloc((size_t)m * n * sizeof *out16);
    be->matmul(0, 1, m, n, k, 1.0f, aw, bw, 0.0f, ref);
    hn_tensor av = hn_tensor_cols(hn_tensor_of(a16, HN_BF16, m, wide), 2, k);
    hn_matmul_params p = {.a = av, .b = hn_tensor_of(b16, HN_BF16, n, k),
                          .c = hn_tensor_f32(out, m, n), .trans_b = 1, .alpha = 1.0f};
    assert_int_equal(be->matmul_t(be, &p), 0);
    assert_memory_equal(out, ref, (size_t)m * n * sizeof(float));
    p.c = hn_tensor_of(out16, HN_BF16, m, n);
    assert_int_equal(be->matmul_t(be, &p), 0);
    for (int i = 0; i < m * n; i++) assert_int_equal(out16[i], hn_bf16_from_f32(ref[i]));
    /* shapes that do not fit are refused */
    p.c = hn_tensor_f32(out, m, n + 1);
    assert_int_equal(be->matmul_t(be, &p), -1);
    free(a);
    free(b);
    free(a16);
    free(b16);
    free(aw);
    free(bw);
    free(ref);
    free(out);
    free(out16);
}

static void test_swiglu_t(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 13);
    int T = 9, H = 5;
    float *gu = normal((size_t)T * 2 * H, &r), *dh = normal((size_t)T * H, &r);
    float *h1 = falloc((size_t)T * H), *h2 = falloc((size_t)T * H);
    float *d1 = normal((size_t)T * 2 * H, &r), *d2 = falloc((size_t)T * 2 * H);
    memcpy(d2, d1, (size_t)T * 2 * H * sizeof(float));
    be->swiglu_forward(h1, gu, T, H);
    be->swiglu_backward(d1, dh, gu, T, H);
    hn_swiglu_params p = {.gu = hn_tensor_f32(gu, T, 2 * H), .h = hn_tensor_f32(h2, T, H),
                          .dh = hn_tensor_f32(dh, T, H), .dgu = hn_tensor_f32(d2, T, 2 * H),
                          .accumulate = 1};
    assert_int_equal(be->swiglu_forward_t(be, &p), 0);
    assert_int_equal(be->swiglu_backward_t(be, &p), 0);
    assert_memory_equal(h1, h2, (size_t)T * H * sizeof(float));
    assert_memory_equal(d1, d2, (size_t)T * 2 * H * sizeof(float)); /* accumulated alike */
    /* overwrite: the old contents do not matter */
    float *d3 = normal((size_t)T * 2 * H, &r), *d4 = falloc((size_t)T * 2 * H);
    p.dgu = hn_tensor_f32(d3, T, 2 * H);
    p.accumulate = 0;
    assert_int_equal(be->swiglu_backward_t(be, &p), 0);
    be->swiglu_backward(d4, dh, gu, T, H);
    assert_memory_equal(d3, d4, (size_t)T * 2 * H * sizeof(float));
    /* a bf16 output is the float32 value rounded; bf16 cannot accumulate */
    uint16_t *h16 = malloc((size_t)T * H * sizeof *h16);
    p.h = hn_tensor_of(h16, HN_BF16, T, H);
    assert_int_equal(be->swiglu_forward_t(be, &p), 0);
    for (int i = 0; i < T * H; i++) assert_int_equal(h16[i], hn_bf16_from_f32(h1[i]));
    uint16_t *dgu16 = malloc((size_t)T * 2 * H * sizeof *dgu16);
    p.dgu = hn_tensor_of(dgu16, HN_BF16, T, 2 * H);
    p.accumulate = 1;
    assert_int_equal(be->swiglu_backward_t(be, &p), -1);
    p.accumulate = 0;
    assert_int_equal(be->swiglu_backward_t(be, &p), 0);
    for (int i = 0; i < T * 2 * H; i++) assert_int_equal(dgu16[i], hn_bf16_from_f32(d4[i]));
    float *bufs[] = {gu, dh, h1, h2, d1, d2, d3, d4};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(h16);
    free(dgu16);
}

/* rope_to_t (rope_t with an output view): x only read; out gets every column, the rotated dims as
 * the in-place op makes them and the rest copied, rounded once when bf16 */
static void test_rope_t_out(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 15);
    int T = 6, heads = 2, hd = 8, cols = heads * hd + 3; /* 3 columns past the heads */
    size_t n = (size_t)T * cols;
    float *x = normal(n, &r), *x0 = falloc(n), *want = falloc(n), *out = falloc(n);
    memcpy(x0, x, n * sizeof(float));
    memcpy(want, x, n * sizeof(float));
    int32_t pos[6] = {0, 1, 2, 0, 5, 9};
    be->rope(want, cols, T, heads, hd, 6, pos, 10000.0f, 1);
    hn_rope_params p = {.x = hn_tensor_f32(x, T, cols), .heads = heads, .head_dim = hd,
                        .rot_dim = 6, .pos = pos, .theta = 10000.0f, .inverse = 1};
    assert_int_equal(be->rope_to_t(be, &p, hn_tensor_f32(out, T, cols)), 0);
    assert_memory_equal(out, want, n * sizeof(float));
    assert_memory_equal(x, x0, n * sizeof(float)); /* only read */
    uint16_t *o16 = malloc(n * sizeof *o16);
    hn_tensor o = hn_tensor_of(o16, HN_BF16, T, cols);
    assert_int_equal(be->rope_to_t(be, &p, o), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(o16[i], hn_bf16_from_f32(want[i]));
    o.rows = T - 1;
    assert_int_equal(be->rope_to_t(be, &p, o), -1); /* shapes differ */
    free(x);
    free(x0);
    free(want);
    free(out);
    free(o16);
}

/* rope_t as a layer plugin built for ABI 3 calls it: its hn_rope_params ends after
 * `inverse`, and whatever follows on its stack is not the backend's to read. Here that is
 * garbage bytes; the op must rotate x in place as ever. */
static void test_rope_t_reads_only_the_abi3_params(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 16);
    int T = 4, heads = 2, hd = 8, cols = heads * hd;
    size_t n = (size_t)T * cols;
    float *x = normal(n, &r), *want = falloc(n);
    memcpy(want, x, n * sizeof(float));
    int32_t pos[4] = {0, 1, 2, 3};
    be->rope(want, cols, T, heads, hd, 6, pos, 10000.0f, 0);
    struct abi3_rope { /* hn_rope_params as layer ABI 3 plugins were compiled with it */
        hn_tensor x;
        int heads, head_dim, rot_dim;
        const int32_t *pos;
        float theta;
        int inverse;
    } old = {hn_tensor_f32(x, T, cols), heads, hd, 6, pos, 10000.0f, 0};
    union {
        unsigned char bytes[sizeof(struct abi3_rope) + 256];
        hn_rope_params align; /* as aligned as the backend reads it */
    } stack;
    memset(stack.bytes, 0xab, sizeof stack.bytes); /* the caller's next locals */
    memcpy(stack.bytes, &old, sizeof old);
    assert_int_equal(be->rope_t(be, (const hn_rope_params *)stack.bytes), 0);
    assert_memory_equal(x, want, n * sizeof(float));
    free(x);
    free(want);
}

/* xent_fused_t: the float32 op bit for bit on float32 views; a bf16 dlogits is the
 * float32 one rounded once, bf16 logits are read widened */
static void test_xent_fused_t(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 16);
    int T = 5, V = 11;
    size_t n = (size_t)T * V;
    float *z = normal(n, &r), *d1 = falloc(n), *d2 = normal(n, &r), *l1 = falloc(T), *l2 = falloc(T);
    int32_t tgt[5] = {0, 10, 3, 3, 7};
    be->xent_fused(l1, d1, z, tgt, T, V, 0.25f);
    hn_xent_params p = {.logits = hn_tensor_f32(z, T, V), .target = tgt, .loss = l2,
                        .dlogits = hn_tensor_f32(d2, T, V), .scale = 0.25f};
    assert_int_equal(be->xent_fused_t(be, &p), 0);
    assert_memory_equal(d1, d2, n * sizeof(float)); /* overwritten, not accumulated */
    assert_memory_equal(l1, l2, T * sizeof(float));
    uint16_t *d16 = malloc(n * sizeof *d16), *z16 = malloc(n * sizeof *z16);
    p.dlogits = hn_tensor_of(d16, HN_BF16, T, V);
    assert_int_equal(be->xent_fused_t(be, &p), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(d16[i], hn_bf16_from_f32(d1[i]));
    for (size_t i = 0; i < n; i++) {
        z16[i] = hn_bf16_from_f32(z[i]);
        z[i] = hn_bf16_to_f32(z16[i]);
    }
    be->xent_fused(l1, d1, z, tgt, T, V, 0.25f);
    p.logits = hn_tensor_of(z16, HN_BF16, T, V);
    p.dlogits = hn_tensor_f32(d2, T, V);
    assert_int_equal(be->xent_fused_t(be, &p), 0);
    assert_memory_equal(d1, d2, n * sizeof(float));
    assert_memory_equal(l1, l2, T * sizeof(float));
    p.dlogits.cols = V - 1;
    assert_int_equal(be->xent_fused_t(be, &p), -1);
    float *bufs[] = {z, d1, d2, l1, l2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(d16);
    free(z16);
}

static void test_convert(void **state) {
    (void)state;
    hn_rng r;
    hn_rng_seed(&r, 14);
    int rows = 4, cols = 6;
    float *x = normal((size_t)rows * cols, &r), *back = falloc((size_t)rows * cols);
    uint16_t *b = malloc((size_t)rows * cols * sizeof *b);
    hn_tensor xf = hn_tensor_f32(x, rows, cols), xb = hn_tensor_of(b, HN_BF16, rows, cols);
    assert_int_equal(be->convert(be, xb, xf), 0);
    assert_int_equal(be->convert(be, hn_tensor_f32(back, rows, cols), xb), 0);
    for (int i = 0; i < rows * cols; i++) {
        assert_int_equal(b[i], hn_bf16_from_f32(x[i]));
        assert_true(back[i] == hn_bf16_to_f32(b[i]));
    }
    assert_int_equal(be->convert(be, hn_tensor_f32(back, rows, cols + 1), xb), -1);
    free(x);
    free(back);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_rounding),   cmocka_unit_test(test_matmul_t_matches_v1),
        cmocka_unit_test(test_matmul_t_bf16),   cmocka_unit_test(test_swiglu_t),
        cmocka_unit_test(test_convert),         cmocka_unit_test(test_rope_t_out),
        cmocka_unit_test(test_rope_t_reads_only_the_abi3_params),
        cmocka_unit_test(test_xent_fused_t),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
