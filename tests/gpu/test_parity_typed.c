/* CPU-vs-CUDA parity of the typed ops (backend.h "_t") over every mix of float32 and
 * bf16 views: the same bf16 bits on both sides as inputs, outputs compared as float32
 * (bf16 outputs widened). All-float32 products run in the fp32 matmul mode, where the
 * cuda result is float32 arithmetic; anything with a bf16 view runs on bf16 tensor cores
 * and is held to the bf16 tolerance. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "core/rng.h"
#include "parity.h"

static int setup(void **st) {
    (void)st;
    return parity_open();
}

static void matmul_case(int ta, int tb, hn_dtype da, hn_dtype db, hn_dtype dc, float beta) {
    hn_rng r = tb_fresh("matmul_t");
    int m = 67, n = 45, k = 129;
    /* a is a column slice of a wider buffer when it is bf16 (strided views) */
    int ar = ta ? k : m, ac = ta ? m : k, ald = da == HN_BF16 ? ac + 8 : ac;
    tbuf a = tb_normal(da, ar, ac, ald, &r), b = tb_normal(db, tb ? n : k, tb ? k : n, tb ? k : n, &r);
    tbuf c = tb_normal(dc, m, n, n, &r);
    int all_f32 = da == HN_F32 && db == HN_F32 && dc == HN_F32;
    hn_cuda_set_matmul_mode(all_f32 ? HN_CUDA_MATMUL_FP32 : HN_CUDA_MATMUL_BF16);
    hn_matmul_params pc = {tv(&a, 0), tv(&b, 0), tv(&c, 0), ta, tb, 0.75f, beta};
    hn_matmul_params pg = {tv(&a, 1), tv(&b, 1), tv(&c, 1), ta, tb, 0.75f, beta};
    assert_int_equal(P_CPU->matmul_t(P_CPU, &pc), 0);
    assert_int_equal(P_GPU->matmul_t(P_GPU, &pg), 0);
    char name[96];
    snprintf(name, sizeof name, "matmul_t %d%d a%d b%d c%d beta %.0f", ta, tb, da, db, dc, beta);
    /* bf16 inputs are the same bits on both sides; float32 inputs are rounded by the
     * cuda path only, and a bf16 c is one rounding of either result */
    assert_true(tb_err(&c, name) < (all_f32 ? 1e-5 : TOL_BF16));
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    tb_free(&a);
    tb_free(&b);
    tb_free(&c);
}

static void test_matmul_t(void **st) {
    (void)st;
    hn_dtype d[2] = {HN_F32, HN_BF16};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int i = 0; i < 8; i++) matmul_case(ta, tb, d[i & 1], d[(i >> 1) & 1], d[i >> 2], (float)(i & 1));
}

/* H = 150 runs the scalar kernels, H = 256 the eight-wide ones */
static void swiglu_case(hn_dtype dg, hn_dtype dh, hn_dtype dd, int accumulate, int H) {
    hn_rng r = tb_fresh("swiglu_t");
    int T = 300;
    tbuf gu = tb_normal(dg, T, 2 * H, 2 * H, &r), h = tb_normal(dh, T, H, H, &r);
    tbuf dhb = tb_normal(dh, T, H, H, &r), dgu = tb_normal(dd, T, 2 * H, 2 * H, &r);
    hn_swiglu_params pc = {tv(&gu, 0), tv(&h, 0), tv(&dhb, 0), tv(&dgu, 0), accumulate};
    hn_swiglu_params pg = {tv(&gu, 1), tv(&h, 1), tv(&dhb, 1), tv(&dgu, 1), accumulate};
    assert_int_equal(P_CPU->swiglu_forward_t(P_CPU, &pc), 0);
    assert_int_equal(P_GPU->swiglu_forward_t(P_GPU, &pg), 0);
    assert_int_equal(P_CPU->swiglu_backward_t(P_CPU, &pc), 0);
    assert_int_equal(P_GPU->swiglu_backward_t(P_GPU, &pg), 0);
    printf(" swiglu_t gu %d h %d dgu %d accumulate %d H %d\n", dg, dh, dd, accumulate, H);
    /* same inputs, same float32 arithmetic up to expf: a bf16 output may differ by one
     * rounding step where the float32 values straddle a rounding boundary */
    double tol = dh == HN_BF16 || dd == HN_BF16 ? 5e-3 : TOL_FP32;
    assert_true(tb_err(&h, "h") < tol);
    assert_true(tb_err(&dgu, "dgu") < tol);
    tb_free(&gu);
    tb_free(&h);
    tb_free(&dhb);
    tb_free(&dgu);
}

static void test_swiglu_t(void **st) {
    (void)st;
    for (int H = 150; H <= 256; H += 106) {
        swiglu_case(HN_F32, HN_F32, HN_F32, 1, H);
        swiglu_case(HN_BF16, HN_BF16, HN_BF16, 0, H);
        swiglu_case(HN_BF16, HN_F32, HN_F32, 1, H);
        swiglu_case(HN_F32, HN_BF16, HN_BF16, 0, H);
    }
}

/* 130 columns (row stride 133) run the scalar kernel, 136 (stride 144) the eight-wide one */
static void convert_case(int cols, int ld) {
    hn_rng r = tb_fresh("convert");
    int rows = 77;
    tbuf x = tb_normal(HN_F32, rows, cols, ld, &r), y = tb_normal(HN_BF16, rows, cols, cols, &r);
    tbuf z = tb_normal(HN_F32, rows, cols, cols, &r);
    assert_int_equal(P_CPU->convert(P_CPU, tv(&y, 0), tv(&x, 0)), 0);
    assert_int_equal(P_GPU->convert(P_GPU, tv(&y, 1), tv(&x, 1)), 0);
    assert_int_equal(P_CPU->convert(P_CPU, tv(&z, 0), tv(&y, 0)), 0);
    assert_int_equal(P_GPU->convert(P_GPU, tv(&z, 1), tv(&y, 1)), 0);
    printf(" convert cols %d ld %d\n", cols, ld);
    assert_true(tb_err(&y, "convert to bf16 (bit-exact)") == 0);
    assert_true(tb_err(&z, "convert back (bit-exact)") == 0);
    tb_free(&x);
    tb_free(&y);
    tb_free(&z);
}

static void test_convert(void **st) {
    (void)st;
    convert_case(130, 133);
    convert_case(136, 144);
}

/* ---- rope: both kernel sets (cfg.rope_tiles: 0 the old kernels, 1 the tiles), each shape
 * in float32 and bf16, against the cpu over the whole buffer (columns outside the view
 * must stay as they were) by relative error and element by element ---- */
static const char *const ROPE_SET[2] = {"old", "tiles"};
/* positions to 1199: a float32 angle (pos * frequency rounded to float) would be ~7e-5
 * rad off, beyond the float32 elementwise bound */
static const int ROPE_LENS[] = {37, 1, 130, 1200};

/* float32 within 4e-6 (cos and sin within a float ulp of the cpu's, inputs below ~5);
 * bf16 within one bf16 step (the float32 results straddling a rounding) */
static long rope_off(const tbuf *t, const char *name) {
    return t->dtype == HN_BF16 ? tb_off_cols(t, 0, t->cols, 1.0 / 128, 1e-5, name)
                               : tb_off_cols(t, 0, t->cols, 0, 4e-6, name);
}

typedef struct rope_shape {
    int heads, hd, rot, c0, cols, ld; /* the view: columns [c0, c0 + cols) of rows of ld */
    const char *what;
} rope_shape;

/* in place: the view is heads x hd wide */
static const rope_shape ROPE_IN[] = {
    {3, 16, 8, 48, 48, 144, "k of a qkv row, 4 frequencies (a column an access)"},
    {12, 64, 32, 0, 768, 1152, "q and k as one call, I1's head dim and rot_dim (8 columns an access)"},
    {3, 12, 6, 36, 36, 108, "3 frequencies"},
    {2, 128, 128, 0, 256, 384, "every dim rotated"},
    {3, 64, 32, 2, 192, 200, "a view at column 2 (not 16-byte aligned)"},
    {1, 2056, 2056, 0, 2056, 2056, "1028 frequencies (beyond the tiles: the old kernel)"},
};

static void test_rope_t(void **st) {
    (void)st;
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    assert_non_null(cfg);
    int was = cfg->rope_tiles;
    pseqs s;
    pseqs_make(&s, ROPE_LENS, 4);
    int T = s.c.total;
    for (int set = 0; set < 2; set++)
        for (size_t i = 0; i < sizeof ROPE_IN / sizeof *ROPE_IN; i++)
            for (int d = 0; d < 2; d++)
                for (int inv = 0; inv < 2; inv++) {
                    const rope_shape *sh = &ROPE_IN[i];
                    cfg->rope_tiles = set;
                    hn_rng r = tb_fresh("rope_t");
                    tbuf x = tb_normal(d ? HN_BF16 : HN_F32, T, sh->ld, sh->ld, &r);
                    hn_rope_params p[2];
                    for (int g = 0; g < 2; g++)
                        p[g] = (hn_rope_params){hn_tensor_cols(tv(&x, g), sh->c0, sh->cols), sh->heads,
                                                sh->hd, sh->rot, g ? s.pos.g : s.pos.c,
                                                inv ? 500.0f : 10000.0f, inv};
                    assert_int_equal(P_CPU->rope_t(P_CPU, &p[0]), 0);
                    assert_int_equal(P_GPU->rope_t(P_GPU, &p[1]), 0);
                    printf(" rope_t, %s kernels: %s, %s%s\n", ROPE_SET[set], sh->what,
                           d ? "bf16" : "f32", inv ? ", inverse" : "");
                    assert_true(tb_err(&x, "x, every column") < (d ? 5e-3 : TOL_FP32));
                    assert_int_equal(rope_off(&x, "x, element by element"), 0);
                    tb_free(&x);
                }
    cfg->rope_tiles = was;
    pseqs_free(&s);
}

/* out of place (rope_to_t, the attention backward's dqkv rotated back into the bf16 qkv
 * buffer): every column of the view written (out starts random), x left as it was */
static const rope_shape ROPE_OUT[] = {
    {3, 16, 8, 48, 48, 144, "k of a qkv row (a column an access)"},
    {6, 16, 8, 0, 144, 144, "a whole qkv row: q and k as 2 x 3 heads, v copied"},
    {12, 64, 32, 0, 1152, 1152, "a whole qkv row, I1's head dim and rot_dim (8 columns an access)"},
    {6, 64, 32, 0, 404, 404, "20 columns after the heads (not a multiple of 8)"},
    {3, 12, 6, 0, 40, 40, "3 frequencies of 6 dims a head, 4 columns after the heads"},
    {2, 128, 128, 0, 384, 384, "every dim of a head rotated"},
    {3, 64, 0, 0, 192, 192, "nothing rotated: a copy"},
    {1, 2056, 2056, 0, 2064, 2064, "1028 frequencies (beyond the tiles: the old kernels)"},
};

static void test_rope_t_out(void **st) {
    (void)st;
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    assert_non_null(cfg);
    int was = cfg->rope_tiles;
    pseqs s;
    pseqs_make(&s, ROPE_LENS, 4);
    int T = s.c.total;
    for (int set = 0; set < 2; set++)
        for (size_t i = 0; i < sizeof ROPE_OUT / sizeof *ROPE_OUT; i++)
            for (int d = 0; d < 4; d++) { /* x, out dtypes: f32 f32, f32 bf16, bf16 f32, bf16 bf16 */
                const rope_shape *sh = &ROPE_OUT[i];
                hn_dtype xd = d & 2 ? HN_BF16 : HN_F32, yd = d & 1 ? HN_BF16 : HN_F32;
                int inv = d != 3; /* the backward's inverse; the forward rotation bf16 to bf16 */
                cfg->rope_tiles = set;
                hn_rng r = tb_fresh("rope_t out");
                tbuf x = tb_normal(xd, T, sh->ld, sh->ld, &r), y = tb_normal(yd, T, sh->ld, sh->ld, &r);
                hn_rope_params p[2];
                for (int g = 0; g < 2; g++)
                    p[g] = (hn_rope_params){hn_tensor_cols(tv(&x, g), sh->c0, sh->cols), sh->heads,
                                            sh->hd, sh->rot, g ? s.pos.g : s.pos.c, 10000.0f, inv};
                assert_int_equal(P_CPU->rope_to_t(P_CPU, &p[0], hn_tensor_cols(tv(&y, 0), sh->c0, sh->cols)), 0);
                assert_int_equal(P_GPU->rope_to_t(P_GPU, &p[1], hn_tensor_cols(tv(&y, 1), sh->c0, sh->cols)), 0);
                printf(" rope_t out, %s kernels: %s, %s -> %s%s\n", ROPE_SET[set], sh->what,
                       xd == HN_BF16 ? "bf16" : "f32", yd == HN_BF16 ? "bf16" : "f32", inv ? ", inverse" : "");
                assert_true(tb_err(&y, "out, every column") < (yd == HN_BF16 ? 5e-3 : TOL_FP32));
                assert_int_equal(rope_off(&y, "out, element by element"), 0);
                assert_true(tb_err(&x, "x (only read)") == 0);
                tb_free(&x);
                tb_free(&y);
            }
    cfg->rope_tiles = was;
    pseqs_free(&s);
}

/* xent_fused_t: float32 or bf16 logits, dlogits float32 or bf16 (the LM head's) */
static void test_xent_fused_t(void **st) {
    (void)st;
    hn_rng r = tb_fresh("xent_fused_t");
    int T = 301, V = 256;
    int32_t *tgt = malloc((size_t)T * sizeof *tgt);
    for (int t = 0; t < T; t++) tgt[t] = (int32_t)((t * 37 + 11) % V);
    itwin target = itw_from(tgt, (size_t)T);
    for (int i = 0; i < 4; i++) {
        hn_dtype dz = i & 1 ? HN_BF16 : HN_F32, dd = i & 2 ? HN_BF16 : HN_F32;
        tbuf z = tb_scaled(dz, T, V, V, 3.0, &r), d = tb_normal(dd, T, V, V, &r);
        twin loss = tw_zero((size_t)T);
        hn_xent_params pc = {tv(&z, 0), target.c, loss.c, tv(&d, 0), 1.0f / T};
        hn_xent_params pg = {tv(&z, 1), target.g, loss.g, tv(&d, 1), 1.0f / T};
        assert_int_equal(P_CPU->xent_fused_t(P_CPU, &pc), 0);
        assert_int_equal(P_GPU->xent_fused_t(P_GPU, &pg), 0);
        printf(" xent_fused_t logits %d dlogits %d\n", dz, dd);
        assert_true(tw_err(&loss, "loss") < TOL_FP32);
        assert_true(tb_err(&d, "dlogits (overwritten)") < (dd == HN_BF16 ? 5e-3 : TOL_FP32));
        tb_free(&z);
        tb_free(&d);
        tw_free(&loss);
    }
    itw_free(&target);
    free(tgt);
}

/* attention_t: q, k, v slices of one qkv buffer (bf16 on the mma path at head_dim 64,
 * float32 or other widths through the fallback), out and dout float32 or bf16 */
static int g_expect_cudnn; /* the case must run on cuDNN (test_attention_t_cudnn) */

/* in the cudnn mode, that cuDNN ran the call just made (not the fallback kernels) */
static void check_cudnn_ran(const char *what) {
    if (!g_expect_cudnn) return;
    const char *why = hn_cuda_attention_cudnn_why();
    if (why[0]) printf("  %s: cudnn did not run: %s\n", what, why);
    else if (!strcmp(what, "backward")) printf("  cudnn gradients: %s\n", hn_cuda_attention_cudnn_grads());
    assert_string_equal(why, "");
}

static void attention_t_case(hn_dtype dq, hn_dtype dout, int hd, int window) {
    hn_rng r = tb_fresh("attention_t");
    static const int lens[] = {300, 1, 129, 64, 77};
    pseqs s;
    pseqs_make(&s, lens, 5);
    int T = s.c.total, heads = 2, D = heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    tbuf qkv = tb_normal(dq, T, 3 * D, 3 * D, &r), out = tb_normal(dout, T, D, D, &r);
    tbuf go = tb_normal(dout, T, D, D, &r), g = tb_normal(HN_F32, T, 3 * D, 3 * D, &r);
    tbuf lse = tb_normal(HN_F32, T, heads, heads, &r);
    hn_attention_params p[2];
    for (int i = 0; i < 2; i++) {
        hn_tensor x = tv(&qkv, i), gr = tv(&g, i);
        p[i] = (hn_attention_params){hn_tensor_cols(x, 0, D), hn_tensor_cols(x, D, D),
                                     hn_tensor_cols(x, 2 * D, D), tv(&out, i),
                                     i ? lse.g : lse.c, i ? &s.g : &s.c, heads, hd, window, scale,
                                     tv(&go, i), hn_tensor_cols(gr, 0, D), hn_tensor_cols(gr, D, D),
                                     hn_tensor_cols(gr, 2 * D, D), 0};
    }
    assert_int_equal(P_CPU->attention_forward_t(P_CPU, &p[0]), 0);
    assert_int_equal(P_GPU->attention_forward_t(P_GPU, &p[1]), 0);
    check_cudnn_ran("forward");
    printf(" attention_t qkv %d out/dout %d head_dim %d window %d\n", dq, dout, hd, window);
    assert_true(tb_err(&out, "out") < TOL_BF16);
    assert_true(tb_err(&lse, "lse") < TOL_BF16);
    /* the backward reads the cpu's out on both sides, so its error is the backward's own */
    size_t ob = (size_t)T * D * hn_dtype_size(dout);
    P_GPU->upload(out.g, out.c, ob);
    P_GPU->upload(lse.g, lse.c, (size_t)T * heads * sizeof(float));
    assert_int_equal(P_CPU->attention_backward_t(P_CPU, &p[0]), 0);
    assert_int_equal(P_GPU->attention_backward_t(P_GPU, &p[1]), 0);
    check_cudnn_ran("backward");
    assert_true(tb_err(&g, "dqkv (accumulated)") < TOL_BF16);
    /* overwrite: the gradients written over what the buffer holds, which on the gpu is
     * NaN now, so a kernel that read it (or added to it) fails the check */
    size_t gn = (size_t)T * 3 * D;
    float *nan = malloc(gn * sizeof *nan);
    for (size_t i = 0; i < gn; i++) nan[i] = NAN;
    P_GPU->upload(g.g, nan, gn * sizeof *nan);
    free(nan);
    for (int i = 0; i < 2; i++) p[i].overwrite = 1;
    assert_int_equal(P_CPU->attention_backward_t(P_CPU, &p[0]), 0);
    assert_int_equal(P_GPU->attention_backward_t(P_GPU, &p[1]), 0);
    assert_true(tb_err(&g, "dqkv (written)") < TOL_BF16);
    if (dq == HN_BF16 && dout == HN_BF16) {
        /* bf16 gradients (written): natively where attention_grads_bf16 says so, else
         * rounded from a float32 backward; checked against the cpu's float32 ones */
        tbuf gb = tb_normal(HN_BF16, T, 3 * D, 3 * D, &r);
        hn_attention_params pb = p[1];
        hn_tensor v = tv(&gb, 1);
        pb.dq = hn_tensor_cols(v, 0, D);
        pb.dk = hn_tensor_cols(v, D, D);
        pb.dv = hn_tensor_cols(v, 2 * D, D);
        int native = P_GPU->attention_grads_bf16(P_GPU, &pb);
        assert_int_equal(P_GPU->attention_backward_t(P_GPU, &pb), 0);
        if (g_expect_cudnn) assert_int_equal(native, 1);
        check_cudnn_ran("backward");
        assert_int_equal(P_GPU->convert(P_GPU, tv(&g, 1), v), 0);
        printf("  bf16 gradients %s\n", native ? "native" : "rounded from float32");
        assert_true(tb_err(&g, "dqkv (bf16, written)") < TOL_BF16);
        tb_free(&gb);
    }
    tb_free(&qkv);
    tb_free(&out);
    tb_free(&go);
    tb_free(&g);
    tb_free(&lse);
    pseqs_free(&s);
}

/* hnet's own kernels (the warpgroup ones on Hopper; AUTO would send the backward to
 * cuDNN there: test_attention_t_cudnn) unless HNET_CUDA_ATTENTION picks others */
static void test_attention_t(void **st) {
    (void)st;
    hn_cuda_attention_mode env = hn_cuda_attention_mode_env();
    hn_cuda_set_attention_mode(env == HN_CUDA_ATTENTION_AUTO ? HN_CUDA_ATTENTION_WGMMA : env);
    attention_t_case(HN_BF16, HN_BF16, 64, -1);
    attention_t_case(HN_BF16, HN_F32, 64, 100);
    attention_t_case(HN_BF16, HN_BF16, 64, 0);
    attention_t_case(HN_F32, HN_F32, 64, 63);
    attention_t_case(HN_BF16, HN_BF16, 32, 50); /* fallback: float32 kernels on copies */
    attention_t_case(HN_F32, HN_BF16, 16, -1);
    hn_cuda_set_attention_mode(env);
}

/* the same cases on cuDNN's fused attention (HNET_CUDA_ATTENTION=cudnn): packed sequences
 * of unequal lengths with a length-1 one, global and windowed, head widths 64 and 128;
 * each call must have run on cuDNN. Skipped where libcudnn.so.9 is not installed. */
static void test_attention_t_cudnn(void **st) {
    (void)st;
    hn_cuda_set_attention_mode(HN_CUDA_ATTENTION_CUDNN);
    attention_t_case(HN_BF16, HN_BF16, 64, -1); /* opens the library */
    const char *why = hn_cuda_attention_cudnn_why();
    if (strstr(why, "not found")) {
        printf("  skipped: %s\n", why);
        hn_cuda_set_attention_mode(hn_cuda_attention_mode_env());
        skip();
    }
    g_expect_cudnn = 1;
    attention_t_case(HN_BF16, HN_BF16, 64, -1);
    attention_t_case(HN_BF16, HN_BF16, 64, 100);
    attention_t_case(HN_BF16, HN_BF16, 64, 0);
    attention_t_case(HN_BF16, HN_BF16, 128, 37);
    g_expect_cudnn = 0;
    hn_cuda_set_attention_mode(hn_cuda_attention_mode_env());
}

/* the typed RMSNorm ops: x float32 or bf16 (the fused op's residual float32, its branch
 * either), y and the optional y2 in any dtype (y a column slice of a wider buffer), the
 * backward's dy either, dx float32 with an optional bf16 copy. D = 512 runs the
 * eight-wide kernels, D = 100 the scalar ones. */
static void rmsnorm_t_case(int fused, hn_dtype dx_in, hn_dtype dy_out, int with_y2, int D, int T) {
    hn_rng r = tb_fresh("rmsnorm_t");
    int yld = D + 8;
    tbuf x = tb_normal(fused ? HN_F32 : dx_in, T, D, D, &r);
    tbuf br = tb_normal(dx_in, T, D, D, &r), y = tb_normal(dy_out, T, D, yld, &r);
    tbuf y2 = tb_normal(dy_out == HN_BF16 ? HN_F32 : HN_BF16, T, D, D, &r);
    tbuf dy = tb_normal(dy_out, T, D, D, &r), dx = tb_normal(HN_F32, T, D, D, &r);
    tbuf dx2 = tb_normal(HN_BF16, T, D, D, &r);
    twin w = tw_normal((size_t)D, 1.0, &r), rstd = tw_zero((size_t)T), dw = tw_normal((size_t)D, 1.0, &r);
    hn_rmsnorm_params p[2];
    for (int i = 0; i < 2; i++)
        p[i] = (hn_rmsnorm_params){.x = tv(&x, i), .branch = fused ? tv(&br, i) : (hn_tensor){0},
                                   .w = i ? w.g : w.c, .rstd = i ? rstd.g : rstd.c, .eps = 1e-5f,
                                   .y = hn_tensor_cols(tv(&y, i), 0, D),
                                   .y2 = with_y2 ? tv(&y2, i) : (hn_tensor){0}, .dy = tv(&dy, i),
                                   .dx = tv(&dx, i), .dw = i ? dw.g : dw.c,
                                   .dx2 = with_y2 ? tv(&dx2, i) : (hn_tensor){0}};
    if (fused) {
        assert_int_equal(P_CPU->add_rmsnorm_forward_t(P_CPU, &p[0]), 0);
        assert_int_equal(P_GPU->add_rmsnorm_forward_t(P_GPU, &p[1]), 0);
    } else {
        assert_int_equal(P_CPU->rmsnorm_forward_t(P_CPU, &p[0]), 0);
        assert_int_equal(P_GPU->rmsnorm_forward_t(P_GPU, &p[1]), 0);
    }
    printf(" %s x/branch %d y/dy %d y2/dx2 %d D %d T %d rows kernels %d\n",
           fused ? "add_rmsnorm_t" : "rmsnorm_t", dx_in, dy_out, with_y2, D, T,
           hn_cuda_config_of(P_GPU)->norm_rows);
    /* same inputs, same float32 arithmetic: a bf16 output may differ by one rounding step */
    double tol = dy_out == HN_BF16 || with_y2 ? 5e-3 : TOL_FP32;
    if (fused) assert_true(tb_err(&x, "residual x + branch") < TOL_FP32);
    assert_true(tw_err(&rstd, "rstd") < TOL_FP32);
    assert_true(tb_err_cols(&y, 0, D, "y") < tol);
    if (with_y2) assert_true(tb_err(&y2, "y2") < tol);
    /* the backward on the cpu's x and rstd on both sides: its error is its own */
    P_GPU->upload(x.g, x.c, (size_t)T * D * hn_dtype_size(x.dtype));
    P_GPU->upload(rstd.g, rstd.c, (size_t)T * sizeof(float));
    assert_int_equal(P_CPU->rmsnorm_backward_t(P_CPU, &p[0]), 0);
    assert_int_equal(P_GPU->rmsnorm_backward_t(P_GPU, &p[1]), 0);
    assert_true(tb_err(&dx, "dx (accumulated)") < TOL_FP32);
    assert_true(tw_err(&dw, "dw (accumulated)") < TOL_FP32);
    if (with_y2) assert_true(tb_err(&dx2, "dx2 (dx rounded)") < 5e-3);
    tbuf *bufs[] = {&x, &br, &y, &y2, &dy, &dx, &dx2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tb_free(bufs[i]);
    tw_free(&w);
    tw_free(&rstd);
    tw_free(&dw);
}

/* both kernel sets (HNET_CUDA_NORM=rows or not). The rows kernels' shapes: 512 and 768
 * (I1, H1) one warp a row, 2 and 3 eight-wide chunks a thread; 1000 (not a multiple of
 * 256) 4 chunks forward, 2 warps a row backward; 3000 4 warps a row; 100 and 300 (not
 * multiples of 8) one column a chunk; 5000 too wide (the old kernels in either mode). */
static void test_rmsnorm_t(void **st) {
    (void)st;
    static const int widths[] = {100, 512, 768, 1000, 300, 3000, 5000};
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    assert_non_null(cfg);
    int was = cfg->norm_rows;
    for (int rows = 0; rows < 2; rows++) {
        cfg->norm_rows = rows;
        for (size_t d = 0; d < sizeof widths / sizeof *widths; d++)
            for (int fused = 0; fused < 2; fused++)
                for (int i = 0; i < 8; i++)
                    rmsnorm_t_case(fused, i & 1 ? HN_BF16 : HN_F32, i & 2 ? HN_BF16 : HN_F32,
                                   i >> 2, widths[d], 203);
        for (int fused = 0; fused < 2; fused++) { /* one row: a team alone in its block */
            rmsnorm_t_case(fused, HN_F32, HN_BF16, 1, 768, 1);
            rmsnorm_t_case(fused, HN_BF16, HN_F32, 0, 300, 1);
        }
        /* enough rows that a rows backward team sums dw over several rows (~10 on an H200) */
        rmsnorm_t_case(1, HN_F32, HN_BF16, 1, 768, 20011);
        rmsnorm_t_case(0, HN_F32, HN_BF16, 1, 1000, 20011);
    }
    cfg->norm_rows = was;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_t),
        cmocka_unit_test(test_swiglu_t),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_rope_t),
        cmocka_unit_test(test_rope_t_out),
        cmocka_unit_test(test_xent_fused_t),
        cmocka_unit_test(test_attention_t),
        cmocka_unit_test(test_attention_t_cudnn),
        cmocka_unit_test(test_rmsnorm_t),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
