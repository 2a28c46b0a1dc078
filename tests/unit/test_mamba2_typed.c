/* The cpu's typed Mamba-2 ops (ops_ssm.h "_t") keep the contract of their float32 forms:
 * on inputs that bf16 holds exactly, a bf16 output is the float32 op's output rounded
 * once, and the gradient rule holds (a float32 gradient view is added into, a bf16 one
 * written over). These ops are the reference of the cuda parity tests and the mamba2
 * layer's path on the cpu. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/ops_ssm.h"
#include "core/rng.h"

static const int LENS[] = {9, 1, 14, 5};
#define NSEQ 4

typedef struct seqs_buf {
    int32_t off[NSEQ + 1], pos[64];
    hn_seqs s;
} seqs_buf;

static void seqs_init(seqs_buf *b) {
    b->off[0] = 0;
    for (int i = 0; i < NSEQ; i++) {
        b->off[i + 1] = b->off[i] + LENS[i];
        for (int t = b->off[i]; t < b->off[i + 1]; t++) b->pos[t] = t - b->off[i];
    }
    b->s = (hn_seqs){NSEQ, b->off[NSEQ], 14, b->off, b->off, b->pos};
}

/* n normal values of standard deviation sd that bf16 holds exactly */
static float *bf16_exact(size_t n, double sd, hn_rng *r) {
    float *x = malloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = hn_bf16_to_f32(hn_bf16_from_f32((float)(sd * hn_rng_normal(r))));
    return x;
}

static uint16_t *to_bf16(const float *x, size_t n) {
    uint16_t *b = malloc((n + 1) * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) b[i] = hn_bf16_from_f32(x[i]);
    return b;
}

static float *copy(const float *x, size_t n) {
    float *c = malloc((n + 1) * sizeof(float));
    memcpy(c, x, n * sizeof(float));
    return c;
}

/* bf16 view b (row stride ld) equals the float32 block f (same stride) rounded once */
static void expect_rounded(const uint16_t *b, const float *f, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * ld + c;
            if (b[i] != hn_bf16_from_f32(f[i])) {
                printf("row %d col %d: %g, float32 %g\n", r, c, hn_bf16_to_f32(b[i]), f[i]);
                fail();
            }
        }
}

/* a bf16 gradient block b ([rows, ld]) whose columns [c0, c0 + cols) were written over:
 * there the rounded float32 gradient f, beside them its starting values init */
static void expect_written(const uint16_t *b, const float *f, const float *init, int rows, int ld,
                           int c0, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++) {
            size_t i = (size_t)r * ld + c;
            float want = c >= c0 && c < c0 + cols ? f[i] : init[i];
            if (b[i] != hn_bf16_from_f32(want)) {
                printf("row %d col %d: %g, expected %g\n", r, c, hn_bf16_to_f32(b[i]), want);
                fail();
            }
        }
}

/* two float32 blocks agree up to a sum's reordering */
static void expect_close(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= 1e-5f * (1.0f + fabsf(b[i])))) {
            printf("element %zu: %g, expected %g\n", i, a[i], b[i]);
            fail();
        }
}

/* x a column slice [3, 3 + C) of [T, ld] rows: bf16 out is the rounded float32 out; a
 * bf16 dx is written (its other columns kept), a float32 dx added into */
static void test_conv1d_t(void **st) {
    (void)st;
    const hn_backend *be = hn_backend_cpu();
    hn_rng r;
    hn_rng_seed(&r, 11);
    seqs_buf sb;
    seqs_init(&sb);
    int T = sb.s.total, C = 6, K = 4, ld = C + 5;
    size_t n = (size_t)T * ld;
    float *x = bf16_exact(n, 1, &r), *w = bf16_exact(C * K, 0.5, &r), *b = bf16_exact(C, 0.5, &r);
    float *dout = bf16_exact((size_t)T * C, 1, &r), *dx0 = bf16_exact(n, 1, &r);
    float *out = calloc((size_t)T * C, sizeof(float)), *dx = copy(dx0, n), *dz = calloc(n, sizeof(float));
    float dw[24] = {0}, db[6] = {0}, dw_t[24] = {0}, db_t[6] = {0};
    be->ssm->conv1d_forward(out, x + 3, ld, w, b, &sb.s, C, K);
    be->ssm->conv1d_backward(dx + 3, ld, dw, db, dout, x + 3, ld, w, b, &sb.s, C, K);
    be->ssm->conv1d_backward(dz + 3, ld, dw, db, dout, x + 3, ld, w, b, &sb.s, C, K);
    uint16_t *xb = to_bf16(x, n), *ob = calloc((size_t)T * C, 2), *gb = to_bf16(dx0, n);
    float *gf = copy(dx0, n);
    hn_conv1d_params p = {hn_tensor_cols(hn_tensor_of(xb, HN_BF16, T, ld), 3, C),
                          hn_tensor_of(ob, HN_BF16, T, C), w, b, &sb.s, K,
                          hn_tensor_f32(dout, T, C), hn_tensor_cols(hn_tensor_of(gb, HN_BF16, T, ld), 3, C),
                          dw_t, db_t};
    assert_int_equal(be->ssm->conv1d_forward_t(be, &p), 0);
    assert_int_equal(be->ssm->conv1d_backward_t(be, &p), 0);
    p.dx = hn_tensor_cols(hn_tensor_of(gf, HN_F32, T, ld), 3, C);
    assert_int_equal(be->ssm->conv1d_backward_t(be, &p), 0);
    expect_rounded(ob, out, T, C, C);
    expect_written(gb, dz, dx0, T, ld, 3, C);
    expect_close(gf, dx, n);
    expect_close(dw_t, dw, 24);
    expect_close(db_t, db, 6);
    free(x), free(w), free(b), free(dout), free(dx0), free(out), free(dx), free(dz);
    free(xb), free(ob), free(gb), free(gf);
}

/* y, z (a slice) and out bf16: out is the rounded float32 out; dz bf16 written, dx float32
 * added into */
static void test_gated_rmsnorm_t(void **st) {
    (void)st;
    const hn_backend *be = hn_backend_cpu();
    hn_rng r;
    hn_rng_seed(&r, 12);
    int T = 7, Dm = 12, gs = 6, ldz = Dm + 3;
    size_t n = (size_t)T * Dm, nz = (size_t)T * ldz;
    float *x = bf16_exact(n, 1, &r), *z = bf16_exact(nz, 1.5, &r), *w = bf16_exact(Dm, 1, &r);
    float *dout = bf16_exact(n, 1, &r), *dx0 = bf16_exact(n, 1, &r);
    float *out = calloc(n, sizeof(float)), *rs = calloc((size_t)T * 2, sizeof(float));
    float *dx = copy(dx0, n), *dz = calloc(nz, sizeof(float)), dw[12] = {0}, dw_t[12] = {0};
    be->ssm->gated_rmsnorm_forward(out, rs, x, z + 2, ldz, w, T, Dm, gs, 1e-5f);
    be->ssm->gated_rmsnorm_backward(dx, dz + 2, ldz, dw, dout, x, z + 2, ldz, w, rs, T, Dm, gs);
    uint16_t *xb = to_bf16(x, n), *zb = to_bf16(z, nz), *ob = calloc(n, 2), *gob = to_bf16(dout, n);
    float *gz0 = bf16_exact(nz, 1, &r);
    uint16_t *gzb = to_bf16(gz0, nz);
    float *gx = copy(dx0, n), *rs_t = calloc((size_t)T * 2, sizeof(float));
    hn_gated_norm_params p = {hn_tensor_of(xb, HN_BF16, T, Dm),
                              hn_tensor_cols(hn_tensor_of(zb, HN_BF16, T, ldz), 2, Dm),
                              hn_tensor_of(ob, HN_BF16, T, Dm), w, rs_t, gs, 1e-5f,
                              hn_tensor_of(gob, HN_BF16, T, Dm), hn_tensor_f32(gx, T, Dm),
                              hn_tensor_cols(hn_tensor_of(gzb, HN_BF16, T, ldz), 2, Dm), dw_t};
    assert_int_equal(be->ssm->gated_rmsnorm_forward_t(be, &p), 0);
    assert_int_equal(be->ssm->gated_rmsnorm_backward_t(be, &p), 0);
    expect_rounded(ob, out, T, Dm, Dm);
    expect_close(rs_t, rs, (size_t)T * 2);
    expect_close(gx, dx, n);
    expect_written(gzb, dz, gz0, T, ldz, 2, Dm);
    expect_close(dw_t, dw, 12);
    free(x), free(z), free(w), free(dout), free(dx0), free(out), free(rs), free(dx), free(dz);
    free(xb), free(zb), free(ob), free(gob), free(gzb), free(gx), free(rs_t), free(gz0);
}

/* x | B | C float32, dt_raw a bf16 slice, y bf16: y is the rounded float32 y; ddt_raw bf16
 * written, dx | dB | dC float32 added into */
static void test_ssd_t(void **st) {
    (void)st;
    const hn_backend *be = hn_backend_cpu();
    hn_rng r;
    hn_rng_seed(&r, 13);
    seqs_buf sb;
    seqs_init(&sb);
    hn_ssm_dims d = {.heads = 2, .headdim = 3, .d_state = 4, .ngroups = 1, .chunk = 4};
    int T = sb.s.total, H = 2, HP = 6, GN = 4, ld = HP + 2 * GN, ldz = H + 5;
    size_t n = (size_t)T * ld, nz = (size_t)T * ldz;
    float *xbc = bf16_exact(n, 1, &r), *zx = bf16_exact(nz, 1, &r), *dy = bf16_exact((size_t)T * HP, 1, &r);
    float *g0 = bf16_exact(n, 1, &r), bias[2] = {-2.0f, -1.0f}, alog[2] = {0.5f, 1.5f}, Dv[2] = {1.0f, -0.5f};
    float *ws = malloc(be->ssm->ssd_workspace_floats(&d) * sizeof(float));
    size_t ns = (size_t)hn_ssd_n_chunks(&sb.s, 4) * H * 3 * 4;
    float *cs = malloc(ns * sizeof(float)), *cs_t = malloc(ns * sizeof(float));
    float *y = malloc((size_t)T * HP * sizeof(float)), *g = copy(g0, n), *ddt = calloc(nz, sizeof(float));
    float gp[6] = {0}, gp_t[6] = {0};
    be->ssm->ssd_forward(y, cs, NULL, 0, xbc, xbc + HP, xbc + HP + GN, ld, zx + 4, ldz, bias, alog,
                         Dv, &sb.s, &d, ws);
    be->ssm->ssd_backward(g, g + HP, g + HP + GN, ld, ddt + 4, ldz, gp, gp + 2, gp + 4, dy, xbc,
                          xbc + HP, xbc + HP + GN, ld, zx + 4, ldz, bias, alog, Dv, cs, &sb.s, &d, ws);
    float *ddt0 = bf16_exact(nz, 1, &r);
    uint16_t *zb = to_bf16(zx, nz), *yb = calloc((size_t)T * HP, 2), *ddtb = to_bf16(ddt0, nz);
    float *g_t = copy(g0, n);
    hn_tensor xv = hn_tensor_f32(xbc, T, ld), gv = hn_tensor_f32(g_t, T, ld);
    hn_tensor zv = hn_tensor_of(zb, HN_BF16, T, ldz), dv = hn_tensor_of(ddtb, HN_BF16, T, ldz);
    hn_ssd_params p = {hn_tensor_cols(xv, 0, HP), hn_tensor_cols(xv, HP, GN), hn_tensor_cols(xv, HP + GN, GN),
                       hn_tensor_cols(zv, 4, H), bias, alog, Dv, &sb.s, &d, ws,
                       hn_tensor_of(yb, HN_BF16, T, HP), cs_t, hn_tensor_f32(dy, T, HP),
                       hn_tensor_cols(gv, 0, HP), hn_tensor_cols(gv, HP, GN),
                       hn_tensor_cols(gv, HP + GN, GN), hn_tensor_cols(dv, 4, H), gp_t, gp_t + 2, gp_t + 4};
    assert_int_equal(be->ssm->ssd_forward_t(be, &p), 0);
    assert_int_equal(be->ssm->ssd_backward_t(be, &p), 0);
    expect_rounded(yb, y, T, HP, HP);
    expect_close(cs_t, cs, ns);
    expect_close(g_t, g, n);
    expect_written(ddtb, ddt, ddt0, T, ldz, 4, H);
    expect_close(gp_t, gp, 6);
    free(xbc), free(zx), free(dy), free(g0), free(ws), free(cs), free(cs_t), free(y), free(g);
    free(ddt), free(zb), free(yb), free(ddtb), free(g_t), free(ddt0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv1d_t),
        cmocka_unit_test(test_gated_rmsnorm_t),
        cmocka_unit_test(test_ssd_t),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
