/* CPU-vs-CUDA parity of the typed Mamba-2 ops (ops_ssm.h "_t") over the mixes of
 * float32 and bf16 views the mamba2 layer uses and their float32 forms: the convolution
 * reading a bf16 column slice and writing its input gradient there, the SSD with a bf16
 * dt_raw slice and a bf16 y (written by the tensor-core kernels themselves, or rounded
 * from float32 scratch by the other kernels), the gated RMSNorm reading and writing bf16.
 * Same bf16 bits on both sides as inputs; float32 gradient views start from random values
 * (they are accumulated), bf16 ones are overwritten. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/ops_ssm.h"
#include "parity.h"

#define TOL_ROUND 5e-3 /* a bf16 output: one rounding step where float32 results straddle one */
/* gradient buffers start from values of this size: float32 ones are added into (an op
 * that wrote over them would be off by about this much), yet the gradients dominate */
#define GSTART 0.3

static const int LENS[] = {37, 1, 64, 130, 5, 91};
#define NS 6

static int setup(void **st) {
    (void)st;
    return parity_open();
}

static double tol_for(hn_dtype d) { return d == HN_BF16 ? TOL_ROUND : TOL_FP32; }

/* The comparison sees a planted error in one bf16 element, and the ops refuse views
 * whose shapes do not fit (on both backends). */
static void test_detects_errors(void **st) {
    (void)st;
    hn_rng r = tb_fresh("planted");
    tbuf a = tb_normal(HN_BF16, 50, 40, 48, &r);
    assert_true(tb_err(&a, "identical") == 0);
    ((uint16_t *)a.c)[48 * 7 + 3] = hn_bf16_from_f32(100.0f); /* one element off */
    assert_true(tb_err(&a, "planted") > 1e-2);
    pseqs s;
    pseqs_make(&s, LENS, NS);
    int T = s.c.total;
    tbuf x = tb_normal(HN_BF16, T, 24, 24, &r), o = tb_normal(HN_F32, T - 1, 24, 24, &r);
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        float w[24 * 4] = {0}, b[24] = {0}; /* never read: the shapes are refused first */
        hn_conv1d_params cp = {.x = tv(&x, g), .out = tv(&o, g), .w = w, .bias = b,
                               .seqs = g ? &s.g : &s.c, .K = 4};
        hn_gated_norm_params np = {.x = tv(&x, g), .z = tv(&x, g), .out = tv(&o, g), .w = w,
                                   .group_size = 8, .eps = 1e-5f};
        assert_int_equal(be->ssm->conv1d_forward_t(be, &cp), -1);
        assert_int_equal(be->ssm->gated_rmsnorm_forward_t(be, &np), -1);
    }
    assert_non_null(P_GPU->device_error()); /* the refusals were noted, then cleared */
    tb_free(&a);
    tb_free(&x);
    tb_free(&o);
    pseqs_free(&s);
}

/* convolution over C channels of a [T, ld] buffer (x the columns [off, off + C); off 4
 * with C a multiple of 4: the four-channel kernels, off 3: the one-channel ones); go_t is
 * the backward's dout (bf16 where the layer's xbc is) */
static void conv_case_go(const int *lens, int n, hn_dtype dx_t, hn_dtype dout_t, hn_dtype go_t, int C,
                         int K, int off) {
    hn_rng r = tb_fresh("conv_t");
    pseqs s;
    pseqs_make(&s, lens, n);
    int T = s.c.total, ld = C + (off % 4 ? 11 : 12);
    tbuf x = tb_normal(dx_t, T, ld, ld, &r), out = tb_normal(dout_t, T, C, C, &r);
    tbuf w = tb_scaled(HN_F32, C, K, K, 0.5, &r), b = tb_scaled(HN_F32, 1, C, C, 0.5, &r);
    tbuf go = tb_normal(go_t, T, C, C, &r), gx = tb_scaled(dx_t, T, ld, ld, GSTART, &r);
    tbuf gw = tb_scaled(HN_F32, C, K, K, GSTART, &r), gb = tb_scaled(HN_F32, 1, C, C, GSTART, &r);
    printf(" conv1d_t x/dx %d out %d dout %d C %d K %d x at column %d, %d sequences, T %d\n", dx_t,
           dout_t, go_t, C, K, off, n, T);
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        hn_conv1d_params p = {hn_tensor_cols(tv(&x, g), off, C), tv(&out, g), tv(&w, g).data,
                              tv(&b, g).data, g ? &s.g : &s.c, K, tv(&go, g),
                              hn_tensor_cols(tv(&gx, g), off, C), tv(&gw, g).data, tv(&gb, g).data};
        assert_int_equal(be->ssm->conv1d_forward_t(be, &p), 0);
        assert_int_equal(be->ssm->conv1d_backward_t(be, &p), 0);
    }
    assert_true(tb_err(&out, "out") < tol_for(dout_t));
    assert_true(tb_err_cols(&gx, off, C, "dx") < tol_for(dx_t));
    assert_true(tb_err(&gx, "dx and the columns beside it") < tol_for(dx_t));
    assert_true(tb_err(&gw, "dw") < TOL_FP32);
    assert_true(tb_err(&gb, "dbias") < TOL_FP32);
    tbuf *all[] = {&x, &out, &w, &b, &go, &gx, &gw, &gb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tb_free(all[i]);
    pseqs_free(&s);
}

static void conv_case_on(const int *lens, int n, hn_dtype dx_t, hn_dtype dout_t, int C, int K, int off) {
    conv_case_go(lens, n, dx_t, dout_t, HN_F32, C, K, off);
}

static void conv_case(hn_dtype dx_t, hn_dtype dout_t, int C, int K, int off) {
    conv_case_on(LENS, NS, dx_t, dout_t, C, K, off);
}

/* The window kernels tile rows by 32-row strips, 256-row blocks and 4- or 8-row load
 * batches, and channels by 32 groups of 1 or 4 a block: a sequence over several blocks
 * ending mid-strip (T not a multiple of any of them), hundreds of sequences of 1 to 5
 * positions (starts inside every window slot, and inside a load batch), channel counts
 * that leave a block's channel groups partly empty, and widths wider than a batch. */
static void conv_tile_cases(void) {
    enum { N_SHORT = 301 };
    int lens[N_SHORT + 2];
    lens[0] = 1000; /* 3 blocks and 29 of 32 rows of a strip */
    for (int i = 1; i <= N_SHORT; i++) lens[i] = 1 + (i * 7) % 5;
    lens[N_SHORT + 1] = 300;
    int n = N_SHORT + 2;
    conv_case_on(lens, n, HN_BF16, HN_F32, 132, 4, 4);  /* 33 groups of 4: a block of one */
    conv_case_on(lens, n, HN_BF16, HN_F32, 1152, 4, 4); /* H1's channels */
    conv_case_on(lens, n, HN_BF16, HN_BF16, 36, 8, 4);  /* K - 1 = 7 > the backward's batch of 4 */
    conv_case_on(lens, n, HN_F32, HN_F32, 37, 4, 3);    /* one channel a thread, 2 blocks */
    conv_case_on(lens, n, HN_BF16, HN_F32, 70, 2, 3);
    conv_case_on(lens, n, HN_BF16, HN_F32, 20, 11, 4);  /* the general kernels */
    int one[] = {1}, two_blocks[] = {257};
    conv_case_on(one, 1, HN_BF16, HN_F32, 64, 4, 4);        /* T = 1 */
    conv_case_on(two_blocks, 1, HN_BF16, HN_F32, 64, 4, 4); /* one row into a second block */
    /* starts at every offset into a load batch: the lean kernels' unmasked batches begin
     * exactly K-1 rows into a sequence */
    int offs[] = {6, 100, 7, 61, 5, 40, 3, 70, 1, 2, 9, 33, 300};
    int n_offs = (int)(sizeof offs / sizeof *offs);
    conv_case_on(offs, n_offs, HN_BF16, HN_F32, 1152, 4, 4);
    conv_case_on(offs, n_offs, HN_BF16, HN_F32, 100, 4, 4); /* channels not a multiple of 8 */
    conv_case_on(offs, n_offs, HN_BF16, HN_F32, 45, 3, 3);
    conv_case_on(offs, n_offs, HN_BF16, HN_BF16, 44, 6, 4);
}

static void test_conv1d_t_tiles(void **st) {
    (void)st;
    conv_tile_cases();
}

/* the window kernels (K <= 8) and the general ones, bf16 as the layer uses them */
static void conv_cases(void) {
    conv_case(HN_BF16, HN_F32, 70, 4, 3);
    conv_case(HN_BF16, HN_BF16, 130, 8, 3);
    conv_case(HN_F32, HN_F32, 70, 4, 3);
    conv_case(HN_BF16, HN_F32, 40, 11, 3);
    conv_case(HN_F32, HN_BF16, 33, 1, 3);
    conv_case(HN_BF16, HN_F32, 128, 4, 4); /* four channels a thread from here */
    conv_case(HN_BF16, HN_BF16, 64, 8, 4);
    conv_case(HN_F32, HN_F32, 72, 3, 4);
    conv_case(HN_F32, HN_BF16, 36, 1, 4);
}

/* every conv case on the kernels of one mode (hn_cuda_conv_mode) */
static void conv_cases_on(int mode) {
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    int was = cfg->conv;
    cfg->conv = mode;
    conv_cases();
    conv_tile_cases();
    /* the layer's dtypes with bf16 xbc: x, dx, out and dout bf16 (8-byte rows everywhere;
     * in lean4 the forward's own kernel at K <= 5: sequence starts at every offset into a
     * batch, T not a multiple of a strip, a block of one channel group at 132 channels, T =
     * 1), then the mode's own backward and forward shown run (lean2 has lean's arithmetic:
     * only this tells them apart) */
    int offs[] = {6, 100, 7, 61, 5, 40, 3, 70, 1, 2, 9, 33, 300}, one[] = {1};
    conv_case_go(offs, (int)(sizeof offs / sizeof *offs), HN_BF16, HN_BF16, HN_BF16, 132, 4, 4);
    conv_case_go(offs, (int)(sizeof offs / sizeof *offs), HN_BF16, HN_BF16, HN_BF16, 100, 5, 4);
    conv_case_go(offs, (int)(sizeof offs / sizeof *offs), HN_BF16, HN_BF16, HN_BF16, 64, 2, 4);
    conv_case_go(one, 1, HN_BF16, HN_BF16, HN_BF16, 64, 4, 4);
    conv_case_go(offs, (int)(sizeof offs / sizeof *offs), HN_BF16, HN_BF16, HN_BF16, 1152, 4, 4);
    conv_case_go(LENS, NS, HN_BF16, HN_BF16, HN_BF16, 36, 8, 4);
    conv_case_go(LENS, NS, HN_BF16, HN_BF16, HN_BF16, 1664, 4, 4);
    assert_string_equal(hn_cuda_conv_last_backward(), mode >= HN_CUDA_CONV_LEAN3   ? "lean3"
                                                      : mode == HN_CUDA_CONV_LEAN2 ? "lean2"
                                                      : mode == HN_CUDA_CONV_LEAN  ? "lean"
                                                                                   : "window");
    /* and the forward: lean4's own for bf16 x and out (k_conv_fwd_strip_bf16), lean's in
     * lean, lean2 and lean3 */
    assert_string_equal(hn_cuda_conv_last_forward(), mode == HN_CUDA_CONV_WINDOW ? "window"
                                                     : mode == HN_CUDA_CONV_LEAN4 ? "lean4"
                                                                                  : "lean");
    cfg->conv = was;
}

/* the sliding-window kernels (HNET_CUDA_CONV=window; the default is lean4) */
static void test_conv1d_t(void **st) {
    (void)st;
    conv_cases_on(HN_CUDA_CONV_WINDOW);
}

/* the same cases on the lean kernels (HNET_CUDA_CONV=lean) */
static void test_conv1d_t_lean(void **st) {
    (void)st;
    conv_cases_on(HN_CUDA_CONV_LEAN);
}

/* the same cases with lean2's backward (HNET_CUDA_CONV=lean2: rows staged through a
 * shared-memory ring; one channel a thread falls back to lean's) */
static void test_conv1d_t_lean2(void **st) {
    (void)st;
    conv_cases_on(HN_CUDA_CONV_LEAN2);
}

/* and with lean3's (bf16 x: the ring with its dtypes fixed at compile time; float32 x
 * falls back to lean2's) */
static void test_conv1d_t_lean3(void **st) {
    (void)st;
    conv_cases_on(HN_CUDA_CONV_LEAN3);
}

/* and with lean4's forward (bf16 x and out: k_conv_fwd_strip_bf16) and lean3's backward */
static void test_conv1d_t_lean4(void **st) {
    (void)st;
    conv_cases_on(HN_CUDA_CONV_LEAN4);
}

/* the mode is taken: window and lean forwards agree with the cpu but not bit for bit
 * (the lean sigmoid rounds differently), and both runs write every element */
static void test_conv1d_lean_taken(void **st) {
    (void)st;
    hn_rng r = tb_fresh("conv_lean_taken");
    int lens[] = {700, 3, 1, 290};
    pseqs s;
    pseqs_make(&s, lens, 4);
    int T = s.c.total, C = 132, K = 4;
    tbuf x = tb_normal(HN_BF16, T, C, C, &r), out = tb_normal(HN_F32, T, C, C, &r);
    tbuf w = tb_scaled(HN_F32, C, K, K, 0.5, &r), b = tb_scaled(HN_F32, 1, C, C, 0.5, &r);
    size_t n = (size_t)T * C;
    float *got[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    assert_non_null(got[0]);
    assert_non_null(got[1]);
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    int was = cfg->conv;
    hn_conv1d_params pc = {.x = tv(&x, 0), .out = tv(&out, 0), .w = tv(&w, 0).data,
                           .bias = tv(&b, 0).data, .seqs = &s.c, .K = K};
    assert_int_equal(P_CPU->ssm->conv1d_forward_t(P_CPU, &pc), 0);
    for (int lean = 0; lean < 2; lean++) {
        cfg->conv = lean ? HN_CUDA_CONV_LEAN : HN_CUDA_CONV_WINDOW;
        P_GPU->zero(out.g, n * sizeof(float)); /* nothing left from the other mode */
        hn_conv1d_params pg = {.x = tv(&x, 1), .out = tv(&out, 1), .w = tv(&w, 1).data,
                               .bias = tv(&b, 1).data, .seqs = &s.g, .K = K};
        assert_int_equal(P_GPU->ssm->conv1d_forward_t(P_GPU, &pg), 0);
        assert_true(tb_err(&out, lean ? "out (lean)" : "out (window)") < TOL_FP32);
        P_GPU->download(got[lean], out.g, n * sizeof(float));
    }
    cfg->conv = was;
    assert_true(memcmp(got[0], got[1], n * sizeof(float)) != 0);
    free(got[0]);
    free(got[1]);
    tbuf *all[] = {&x, &out, &w, &b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tb_free(all[i]);
    pseqs_free(&s);
}

/* gated RMSNorm of Dm columns in groups of gs; z columns [off, off + Dm) of a wider row
 * (off 8: the 16-byte-aligned vec kernels where gs allows; off 5: the scalar ones) */
static void norm_case_t(hn_dtype act, int Dm, int gs, int off, int T) {
    hn_rng r = tb_fresh("gated_norm_t");
    int ldz = Dm + (off % 8 ? 37 : 40);
    tbuf x = tb_normal(act, T, Dm, Dm, &r), z = tb_scaled(act, T, ldz, ldz, 1.5, &r);
    tbuf w = tb_normal(HN_F32, 1, Dm, Dm, &r), out = tb_normal(act, T, Dm, Dm, &r);
    tbuf rs = tb_normal(HN_F32, T, Dm / gs, Dm / gs, &r), go = tb_normal(act, T, Dm, Dm, &r);
    tbuf gx = tb_scaled(HN_F32, T, Dm, Dm, GSTART, &r), gz = tb_scaled(act, T, ldz, ldz, GSTART, &r);
    tbuf gw = tb_scaled(HN_F32, 1, Dm, Dm, GSTART, &r);
    printf(" gated_rmsnorm_t activations %d Dm %d group %d z at column %d T %d rows kernels %d\n",
           act, Dm, gs, off, T, hn_cuda_config_of(P_GPU)->gated_norm_rows);
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        hn_gated_norm_params p = {tv(&x, g), hn_tensor_cols(tv(&z, g), off, Dm), tv(&out, g),
                                  tv(&w, g).data, tv(&rs, g).data, gs, 1e-5f, tv(&go, g),
                                  tv(&gx, g), hn_tensor_cols(tv(&gz, g), off, Dm), tv(&gw, g).data,
                                  0};
        assert_int_equal(be->ssm->gated_rmsnorm_forward_t(be, &p), 0);
        assert_int_equal(be->ssm->gated_rmsnorm_backward_t(be, &p), 0);
    }
    assert_true(tb_err(&out, "out") < tol_for(act));
    assert_true(tb_err(&rs, "rstd") < TOL_FP32);
    assert_true(tb_err(&gx, "dx (accumulated)") < TOL_FP32);
    assert_true(tb_err_cols(&gz, off, Dm, "dz") < tol_for(act));
    assert_true(tb_err(&gz, "dz and the columns beside it") < tol_for(act));
    assert_true(tb_err(&gw, "dw (strip sums)") < TOL_FP32);
    /* overwrite: dx and dz written over what they hold, NaN on the gpu (so a kernel that
     * read it or added to it fails the check); dw still accumulates */
    size_t nx = (size_t)T * Dm * sizeof(float), nz = (size_t)T * ldz * hn_dtype_size(act);
    unsigned char *nan = malloc(nx > nz ? nx : nz);
    memset(nan, 0xff, nx > nz ? nx : nz); /* all-ones: NaN in float32 and in bf16 */
    P_GPU->upload(gx.g, nan, nx);
    P_GPU->upload(gz.g, nan, nz);
    free(nan);
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        hn_gated_norm_params p = {tv(&x, g), hn_tensor_cols(tv(&z, g), off, Dm), tv(&out, g),
                                  tv(&w, g).data, tv(&rs, g).data, gs, 1e-5f, tv(&go, g),
                                  tv(&gx, g), hn_tensor_cols(tv(&gz, g), off, Dm), tv(&gw, g).data,
                                  1};
        assert_int_equal(be->ssm->gated_rmsnorm_backward_t(be, &p), 0);
    }
    assert_true(tb_err(&gx, "dx (written)") < TOL_FP32);
    assert_true(tb_err_cols(&gz, off, Dm, "dz (written)") < tol_for(act));
    tbuf *all[] = {&x, &z, &w, &out, &rs, &go, &gx, &gz, &gw};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tb_free(all[i]);
}

static void norm_case(hn_dtype act, int Dm, int gs, int off) { norm_case_t(act, Dm, gs, off, 300); }

static void gated_norm_cases(void) {
    norm_case(HN_BF16, 64, 32, 5);
    norm_case(HN_BF16, 1536, 1536, 5);
    norm_case(HN_F32, 2000, 1000, 5);
    norm_case(HN_BF16, 4200, 2100, 5);
    norm_case(HN_BF16, 9000, 9000, 5); /* wider than the fused backward's shared memory */
    norm_case(HN_BF16, 1536, 1536, 8); /* the vec kernels from here */
    norm_case(HN_BF16, 64, 32, 8);
    norm_case(HN_F32, 2000, 1000, 8);
    norm_case(HN_BF16, 4096, 2048, 8);
    norm_case(HN_BF16, 8192, 8192, 8);
}

/* both kernel sets (HNET_CUDA_NORM=rows or not). The rows kernels' shapes (forward /
 * backward): 1024 (H1) 4 eight-wide chunks a thread, one warp a row / 2 warps, 2 chunks;
 * 1536 (M1) 2 warps, 3 chunks / 4 warps, 2 chunks (a quarter of the threads idle in the
 * second); 1000 (not a multiple of 256) and groups of 32 in one warp; offset 5 one column a
 * chunk where the group allows (64, 32, 200), else the old kernels; 8192 too wide (old). */
static void test_gated_rmsnorm_t(void **st) {
    (void)st;
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    assert_non_null(cfg);
    int was = cfg->gated_norm_rows;
    for (int rows = 0; rows < 2; rows++) {
        cfg->gated_norm_rows = rows;
        gated_norm_cases();
        norm_case(HN_BF16, 1024, 1024, 8);
        norm_case(HN_BF16, 3072, 1536, 8);
        norm_case(HN_BF16, 1000, 1000, 8);
        norm_case(HN_F32, 300, 300, 5); /* rows forward, old backward (too wide at one column) */
        norm_case(HN_BF16, 200, 200, 5);
        norm_case_t(HN_BF16, 1536, 1536, 8, 1);
        norm_case_t(HN_BF16, 100, 100, 5, 1);
        norm_case_t(HN_BF16, 1024, 1024, 8, 20011); /* several rows a backward team */
    }
    cfg->gated_norm_rows = was;
}

/* SSD over x | B | C float32 slices of one buffer, dt_raw a slice of a wider row (as in
 * the in-projection's output) and y of dtype act; ddt_raw of dtype act likewise */
/* xt: the dtype of x, B, C and of dx, dB, dC (HNET_CUDA_XBC=bf16 makes both bf16) */
static void ssd_case_x(hn_dtype act, hn_dtype xt, int pad, int H, int P, int N, int G, int Q, double tol) {
    hn_rng r = tb_fresh("ssd_t");
    static const int LONG[] = {700, 1, 513, 256, 37, 300, 9};
    pseqs s;
    pseqs_make(&s, LONG, 7);
    hn_ssm_dims d = {.heads = H, .headdim = P, .d_state = N, .ngroups = G, .chunk = Q};
    int T = s.c.total, HP = H * P, GN = G * N, ld = HP + 2 * GN + pad, ldz = H + 40;
    size_t HPN = (size_t)H * P * N;
    int nch = hn_ssd_n_chunks(&s.c, Q);
    tbuf xbc = tb_normal(xt, T, ld, ld, &r), zx = tb_normal(act, T, ldz, ldz, &r);
    tbuf y = tb_normal(act, T, HP, HP, &r), cs = tb_normal(HN_F32, nch, (int)HPN, (int)HPN, &r);
    tbuf dy = tb_normal(HN_F32, T, HP, HP, &r), dxbc = tb_scaled(xt, T, ld, ld, GSTART, &r);
    double gtol = xt == HN_BF16 && tol < TOL_ROUND ? TOL_ROUND : tol; /* bf16 gradients: one rounding */
    tbuf dzx = tb_scaled(act, T, ldz, ldz, GSTART, &r), pv[3], gv[3];
    for (int i = 0; i < 3; i++) pv[i] = tb_normal(HN_F32, 1, H, H, &r);
    for (int i = 0; i < 3; i++) gv[i] = tb_scaled(HN_F32, 1, H, H, GSTART, &r);
    float *pc = pv[0].c, *pg = pv[0].g; /* dt_bias in [-4, -1], A_log in [0, 2.5] */
    for (int h = 0; h < H; h++) {
        pc[h] = -4.0f + 3.0f * (float)hn_rng_uniform(&r);
        ((float *)pv[1].c)[h] = 2.5f * (float)hn_rng_uniform(&r);
    }
    P_GPU->upload(pg, pc, H * sizeof(float));
    P_GPU->upload(pv[1].g, pv[1].c, H * sizeof(float));
    float *ws_c = P_CPU->alloc(P_CPU->ssm->ssd_workspace_floats(&d) * sizeof(float));
    float *ws_g = P_GPU->alloc(P_GPU->ssm->ssd_workspace_floats(&d) * sizeof(float));
    printf(" ssd_t activations %d x, B, C %d (row stride %d) H %d P %d N %d G %d Q %d\n", act, xt, ld, H,
           P, N, G, Q);
    hn_ssd_params ps[2];
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        hn_tensor xv = tv(&xbc, g), dv = tv(&dxbc, g);
        hn_ssd_params p = (hn_ssd_params){hn_tensor_cols(xv, 0, HP), hn_tensor_cols(xv, HP, GN),
                           hn_tensor_cols(xv, HP + GN, GN), hn_tensor_cols(tv(&zx, g), 7, H),
                           tv(&pv[0], g).data, tv(&pv[1], g).data, tv(&pv[2], g).data,
                           g ? &s.g : &s.c, &d, g ? ws_g : ws_c, tv(&y, g), tv(&cs, g).data,
                           tv(&dy, g), hn_tensor_cols(dv, 0, HP), hn_tensor_cols(dv, HP, GN),
                           hn_tensor_cols(dv, HP + GN, GN), hn_tensor_cols(tv(&dzx, g), 7, H),
                           tv(&gv[0], g).data, tv(&gv[1], g).data, tv(&gv[2], g).data, 0};
        ps[g] = p;
        assert_int_equal(be->ssm->ssd_forward_t(be, &p), 0);
        assert_int_equal(be->ssm->ssd_backward_t(be, &p), 0);
    }
    printf("  (cuda kernels: %s)\n", hn_cuda_ssd_last_impl());
    assert_true(tb_err(&y, "y") < tol);
    assert_true(tb_err(&cs, "chunk_states") < tol);
    assert_true(tb_err_cols(&dxbc, 0, HP, "dx (accumulated; bf16: written)") < gtol);
    assert_true(tb_err_cols(&dxbc, HP, GN, "dB (accumulated; bf16: written)") < gtol);
    assert_true(tb_err_cols(&dxbc, HP + GN, GN, "dC (accumulated; bf16: written)") < gtol);
    assert_true(tb_err_cols(&dzx, 7, H, "ddt_raw") < tol);
    assert_true(tb_err(&dzx, "ddt_raw and the columns beside it") < tol);
    assert_true(tb_err(&gv[0], "ddt_bias") < tol);
    /* dA_log sums every position's decay gradient (about 1800 per head here, of both
     * signs): with bf16 x, B, C as well, one draw of this case cancels to a few percent of
     * the terms' size (2.6e-2 measured on the H200), so its bound is twice tol; a wrong
     * load or store of x, B, C shows in y, dx, dB, dC above at tol */
    double atol = xt == HN_BF16 && tol >= TOL_BF16 ? 2 * tol : tol;
    assert_true(tb_err(&gv[1], "dA_log") < atol);
    assert_true(tb_err(&gv[2], "dD") < tol);
    /* overwrite: dx, dB, dC written over what dxbc holds, NaN on the gpu (so a kernel
     * that read it or added to it fails the check) */
    size_t nd = (size_t)T * ld, es = hn_dtype_size(xt);
    unsigned char *nan = malloc(nd * es);
    for (size_t i = 0; i < nd; i++) {
        if (xt == HN_BF16) ((uint16_t *)nan)[i] = 0x7fc0;
        else ((float *)nan)[i] = NAN;
    }
    P_GPU->upload(dxbc.g, nan, nd * es);
    free(nan);
    for (int g = 0; g < 2; g++) {
        const hn_backend *be = g ? P_GPU : P_CPU;
        ps[g].overwrite = 1;
        assert_int_equal(be->ssm->ssd_backward_t(be, &ps[g]), 0);
    }
    assert_true(tb_err_cols(&dxbc, 0, HP, "dx (written)") < gtol);
    assert_true(tb_err_cols(&dxbc, HP, GN, "dB (written)") < gtol);
    assert_true(tb_err_cols(&dxbc, HP + GN, GN, "dC (written)") < gtol);
    tbuf *all[] = {&xbc, &zx, &y, &cs, &dy, &dxbc, &dzx, &pv[0], &pv[1], &pv[2], &gv[0], &gv[1], &gv[2]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tb_free(all[i]);
    P_CPU->free(ws_c);
    P_GPU->free(ws_g);
    pseqs_free(&s);
}

static void ssd_case(hn_dtype act, int H, int P, int N, int G, int Q, double tol) {
    ssd_case_x(act, HN_F32, 3, H, P, N, G, Q, tol);
}

static void test_ssd_t(void **st) {
    (void)st;
    /* the tensor-core kernels (headdim = d_state = 64): y written in bf16 by them */
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_MMA);
    ssd_case(HN_BF16, 3, 64, 64, 1, 256, TOL_BF16);
    assert_string_equal(hn_cuda_ssd_last_impl(), "mma");
    ssd_case(HN_BF16, 4, 64, 64, 2, 100, TOL_BF16);
    ssd_case(HN_F32, 2, 64, 64, 1, 300, TOL_BF16);
    /* the float32 chunked kernels: a bf16 y rounded from scratch */
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_CHUNKED);
    ssd_case(HN_BF16, 4, 32, 48, 2, 100, TOL_ROUND);
    assert_string_equal(hn_cuda_ssd_last_impl(), "chunked");
    ssd_case(HN_F32, 3, 5, 24, 3, 7, TOL_FP32);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_AUTO);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
}

/* x, B, C and dx, dB, dC in bf16 (HNET_CUDA_XBC=bf16: the mamba2 layer's conv output and
 * its gradient): read and written as they are by the tensor-core kernels (16-byte-aligned
 * rows: 8-byte loads; an odd row stride: one element at a time), widened and rounded
 * around the float32 ones; the cpu widens the same bf16 values and rounds its gradients
 * once. bf16 gradients are written (NaN before: nothing read); mixed dtypes refused. */
static void test_ssd_t_bf16_xbc(void **st) {
    (void)st;
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_MMA);
    ssd_case_x(HN_BF16, HN_BF16, 0, 3, 64, 64, 1, 256, TOL_BF16);
    assert_string_equal(hn_cuda_ssd_last_impl(), "mma");
    ssd_case_x(HN_BF16, HN_BF16, 3, 4, 64, 64, 2, 100, TOL_BF16);
    ssd_case_x(HN_F32, HN_BF16, 8, 2, 64, 64, 1, 300, TOL_BF16);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_CHUNKED);
    ssd_case_x(HN_BF16, HN_BF16, 0, 4, 32, 48, 2, 100, TOL_ROUND);
    assert_string_equal(hn_cuda_ssd_last_impl(), "chunked");
    ssd_case_x(HN_F32, HN_BF16, 3, 3, 5, 24, 3, 7, TOL_FP32);
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_AUTO);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    /* a bf16 x beside float32 B and C */
    hn_rng r = tb_fresh("ssd_mixed");
    static const int L[] = {70};
    pseqs s;
    pseqs_make(&s, L, 1);
    hn_ssm_dims d = {.heads = 2, .headdim = 64, .d_state = 64, .ngroups = 1, .chunk = 64};
    tbuf x = tb_normal(HN_BF16, 70, 128, 128, &r), bc = tb_normal(HN_F32, 70, 128, 128, &r);
    tbuf y = tb_normal(HN_F32, 70, 128, 128, &r), dt = tb_normal(HN_F32, 70, 2, 2, &r);
    hn_ssd_params p = {.x = tv(&x, 1), .B = hn_tensor_cols(tv(&bc, 1), 0, 64),
                       .C = hn_tensor_cols(tv(&bc, 1), 64, 64), .dt_raw = tv(&dt, 1), .seqs = &s.g,
                       .dims = &d, .y = tv(&y, 1)};
    assert_int_equal(P_GPU->ssm->ssd_forward_t(P_GPU, &p), -1);
    assert_non_null(P_GPU->device_error()); /* the refusal was noted */
    tbuf *all[] = {&x, &bc, &y, &dt};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tb_free(all[i]);
    pseqs_free(&s);
}

/* the layer's side: the cuda backend asks for a bf16 conv output only when configured to
 * and activations are bf16 */
static void test_xbc_dtype(void **st) {
    (void)st;
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    int was = cfg->xbc_bf16;
    assert_non_null(P_GPU->ssm->xbc_dtype);
    assert_null(P_CPU->ssm->xbc_dtype);
    cfg->xbc_bf16 = 0;
    assert_int_equal(P_GPU->ssm->xbc_dtype(P_GPU), HN_F32);
    cfg->xbc_bf16 = 1;
    assert_int_equal(P_GPU->ssm->xbc_dtype(P_GPU), P_GPU->activation_dtype(P_GPU));
    cfg->xbc_bf16 = was;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detects_errors),
        cmocka_unit_test(test_conv1d_t),
        cmocka_unit_test(test_conv1d_t_tiles),
        cmocka_unit_test(test_conv1d_t_lean),
        cmocka_unit_test(test_conv1d_t_lean2),
        cmocka_unit_test(test_conv1d_t_lean3),
        cmocka_unit_test(test_conv1d_t_lean4),
        cmocka_unit_test(test_conv1d_lean_taken),
        cmocka_unit_test(test_gated_rmsnorm_t),
        cmocka_unit_test(test_ssd_t),
        cmocka_unit_test(test_ssd_t_bf16_xbc),
        cmocka_unit_test(test_xbc_dtype),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
