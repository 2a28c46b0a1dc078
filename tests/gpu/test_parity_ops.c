/* CPU-vs-CUDA parity of every op of the backend table and of its ssm and chunk
 * families, forward and backward, on fresh random inputs and packed sequences of
 * unequal lengths. Backward ops accumulate, so every gradient buffer starts from the
 * same random values on both sides. fp32 ops must agree to TOL_FP32 (relative L2),
 * bf16-tensor-core matrix products to TOL_BF16. */
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
#include "backend/ops_chunk.h"
#include "backend/ops_ssm.h"
#include "parity.h"

#define OK(t, tol) assert_true(tw_err(&(t), #t) < (tol))
#define BOTH(call_c, call_g) do { call_c; call_g; } while (0)

static const int LENS[] = {37, 1, 64, 130, 5, 91};
#define NS 6

static hn_rng fresh(const char *name) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return hn_rng_derive(0xC0DA, h);
}

static int setup(void **st) { return parity_open(); }

/* The comparison itself must be able to fail: a planted error is seen. */
static void test_detects_planted_error(void **st) {
    hn_rng r = fresh("planted");
    twin a = tw_normal(1000, 1, &r);
    assert_true(tw_err(&a, "identical") < 1e-12);
    a.c[17] += 1.0f;
    assert_true(tw_err(&a, "planted") > 1e-3);
    tw_free(&a);
}

static void matmul_case(int ta, int tb, int m, int n, int k, hn_cuda_matmul_mode mode, double tol) {
    hn_rng r = fresh("matmul");
    twin a = tw_normal((size_t)m * k, 1, &r), b = tw_normal((size_t)k * n, 1, &r);
    twin c = tw_normal((size_t)m * n, 1, &r);
    hn_cuda_set_matmul_mode(mode);
    P_CPU->matmul(ta, tb, m, n, k, 0.7f, a.c, b.c, 0.5f, c.c);
    P_GPU->matmul(ta, tb, m, n, k, 0.7f, a.g, b.g, 0.5f, c.g);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    char name[64];
    snprintf(name, sizeof name, "matmul %d%d mode %d", ta, tb, (int)mode);
    assert_true(tw_err(&c, name) < tol);
    tw_free(&a);
    tw_free(&b);
    tw_free(&c);
}

static void test_matmul(void **st) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            matmul_case(ta, tb, 67, 45, 129, HN_CUDA_MATMUL_FP32, 1e-5);
            matmul_case(ta, tb, 67, 45, 129, HN_CUDA_MATMUL_TF32, 5e-3);
            matmul_case(ta, tb, 67, 45, 129, HN_CUDA_MATMUL_BF16, TOL_BF16);
        }
}

/* bf16 weight copies (shadow.cu) stay equal to rounding the fp32 master weights: a
 * product whose weight lies in a registered parameter arena is bit-identical to the
 * same product with an unregistered copy of that weight, after AdamW updates, after an
 * upload into the arena, and after an add. */
static void test_weight_shadow(void **st) {
    hn_rng r = fresh("shadow");
    int m = 70, n = 96, k = 128;
    size_t nw = (size_t)n * k, arena_n = nw + 64;
    float *arena = P_GPU->alloc(arena_n * sizeof(float)), *plain = P_GPU->alloc(nw * sizeof(float));
    float *w = arena + 64; /* a weight inside the arena, not at its start */
    twin x = tw_normal((size_t)m * k, 1, &r), g = tw_normal(nw, 1, &r);
    twin mo = tw_zero(nw), vo = tw_zero(nw), mo2 = tw_zero(nw), vo2 = tw_zero(nw);
    float *host = malloc(nw * sizeof(float));
    for (size_t i = 0; i < nw; i++) host[i] = (float)hn_rng_normal(&r);
    P_GPU->upload(w, host, nw * sizeof(float));
    P_GPU->upload(plain, host, nw * sizeof(float));
    P_GPU->params_arena(arena, arena_n, 1);
    float *y1 = P_GPU->alloc((size_t)m * n * sizeof(float)), *y2 = P_GPU->alloc((size_t)m * n * sizeof(float));
    float *h1 = malloc((size_t)m * n * sizeof(float)), *h2 = malloc((size_t)m * n * sizeof(float));
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    for (int round = 0; round < 4; round++) {
        P_GPU->matmul(0, 1, m, n, k, 1.0f, x.g, w, 0.0f, y1);
        P_GPU->matmul(0, 1, m, n, k, 1.0f, x.g, plain, 0.0f, y2);
        P_GPU->download(h1, y1, (size_t)m * n * sizeof(float));
        P_GPU->download(h2, y2, (size_t)m * n * sizeof(float));
        assert_memory_equal(h1, h2, (size_t)m * n * sizeof(float));
        if (round == 0 || round == 1) { /* AdamW keeps the copy in step */
            P_GPU->adamw(w, g.g, mo.g, vo.g, nw, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f);
            P_GPU->adamw(plain, g.g, mo2.g, vo2.g, nw, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f);
        } else { /* any other write marks it stale */
            for (size_t i = 0; i < nw; i++) host[i] = (float)hn_rng_normal(&r);
            P_GPU->upload(w, host, nw * sizeof(float));
            P_GPU->upload(plain, host, nw * sizeof(float));
            P_GPU->add(w, g.g, nw);
            P_GPU->add(plain, g.g, nw);
        }
    }
    /* a planted difference in the master weights shows in the product */
    P_GPU->scale(w, 1.5f, nw);
    P_GPU->matmul(0, 1, m, n, k, 1.0f, x.g, w, 0.0f, y1);
    P_GPU->download(h1, y1, (size_t)m * n * sizeof(float));
    assert_true(memcmp(h1, h2, (size_t)m * n * sizeof(float)) != 0);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    P_GPU->params_arena(arena, arena_n, 0);
    assert_string_equal(hn_cuda_last_error(), "");
    P_GPU->free(arena);
    P_GPU->free(plain);
    P_GPU->free(y1);
    P_GPU->free(y2);
    free(host);
    free(h1);
    free(h2);
    twin *all[] = {&x, &g, &mo, &vo, &mo2, &vo2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
}

/* bf16 activation storage: the cuda packing rounds exactly as the cpu twin (to nearest,
 * ties to even) and unpacking is exact. */
static void test_bf16_pack(void **st) {
    hn_rng r = fresh("bf16");
    size_t n = 100003;
    twin x = tw_normal(n, 10, &r);
    for (size_t i = 0; i < n; i += 7) { /* exact ties: 9 significant bits */
        float v = (float)(int)(hn_rng_normal(&r) * 256) / 256.0f;
        x.c[i] = v;
    }
    P_GPU->upload(x.g, x.c, n * sizeof(float));
    uint16_t *hc = malloc(n * 2), *hg = malloc(n * 2), *dg = P_GPU->alloc(n * 2);
    P_CPU->pack_bf16(hc, x.c, n);
    P_GPU->pack_bf16(dg, x.g, n);
    P_GPU->download(hg, dg, n * 2);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += hc[i] != hg[i];
    printf("  bf16 pack: %zu of %zu differ\n", diff, n);
    assert_int_equal(diff, 0);
    twin back = tw_zero(n);
    P_CPU->unpack_bf16(back.c, hc, n);
    P_GPU->unpack_bf16(back.g, dg, n);
    assert_true(tw_err(&back, "bf16 unpack") == 0);
    assert_true(tw_err(&x, "unpacked") == 0); /* x untouched */
    free(hc);
    free(hg);
    P_GPU->free(dg);
    tw_free(&x);
    tw_free(&back);
}

static void test_elementwise(void **st) {
    hn_rng r = fresh("elementwise");
    size_t n = 10007;
    twin x = tw_normal(n, 1, &r), y = tw_normal(n, 1, &r);
    BOTH(P_CPU->add(y.c, x.c, n), P_GPU->add(y.g, x.g, n));
    BOTH(P_CPU->scale(y.c, 0.3f, n), P_GPU->scale(y.g, 0.3f, n));
    OK(y, TOL_FP32);
    double sc = P_CPU->sum_squares(x.c, n), sg = P_GPU->sum_squares(x.g, n);
    printf("  sum_squares cpu %.9g cuda %.9g\n", sc, sg);
    assert_true(fabs(sc - sg) <= 1e-9 * sc);
    BOTH(P_CPU->fill(x.c, 2.5f, 100), P_GPU->fill(x.g, 2.5f, 100));
    OK(x, TOL_FP32);
    int rows = 333, cols = 77;
    twin yb = tw_normal((size_t)rows * cols, 1, &r), b = tw_normal((size_t)cols, 1, &r);
    twin db = tw_normal((size_t)cols, 1, &r);
    BOTH(P_CPU->add_bias(yb.c, b.c, rows, cols), P_GPU->add_bias(yb.g, b.g, rows, cols));
    OK(yb, TOL_FP32);
    BOTH(P_CPU->bias_backward(db.c, yb.c, rows, cols), P_GPU->bias_backward(db.g, yb.g, rows, cols));
    OK(db, TOL_FP32);
    tw_free(&x);
    tw_free(&y);
    tw_free(&yb);
    tw_free(&b);
    tw_free(&db);
}

static void test_embedding(void **st) {
    hn_rng r = fresh("embedding");
    int T = 500, D = 48, V = 256;
    int32_t *tok = malloc(T * sizeof *tok);
    for (int t = 0; t < T; t++) tok[t] = (int32_t)hn_rng_below(&r, 40); /* many repeats */
    itwin tk = itw_from(tok, T);
    twin table = tw_normal((size_t)V * D, 1, &r), out = tw_zero((size_t)T * D);
    twin dout = tw_normal((size_t)T * D, 1, &r), dtab = tw_normal((size_t)V * D, 1, &r);
    BOTH(P_CPU->embedding_forward(out.c, table.c, tk.c, T, D),
         P_GPU->embedding_forward(out.g, table.g, tk.g, T, D));
    OK(out, TOL_FP32);
    BOTH(P_CPU->embedding_backward(dtab.c, dout.c, tk.c, T, D),
         P_GPU->embedding_backward(dtab.g, dout.g, tk.g, T, D));
    OK(dtab, TOL_FP32);
    free(tok);
    itw_free(&tk);
    tw_free(&table);
    tw_free(&out);
    tw_free(&dout);
    tw_free(&dtab);
}

static void test_rmsnorm_swiglu(void **st) {
    hn_rng r = fresh("rmsnorm");
    int T = 300, D = 200, H = 150;
    twin x = tw_normal((size_t)T * D, 2, &r), w = tw_normal(D, 1, &r), y = tw_zero((size_t)T * D);
    twin rstd = tw_zero(T), dy = tw_normal((size_t)T * D, 1, &r);
    twin dx = tw_normal((size_t)T * D, 1, &r), dw = tw_normal(D, 1, &r);
    BOTH(P_CPU->rmsnorm_forward(y.c, rstd.c, x.c, w.c, T, D, 1e-5f),
         P_GPU->rmsnorm_forward(y.g, rstd.g, x.g, w.g, T, D, 1e-5f));
    OK(y, TOL_FP32);
    OK(rstd, TOL_FP32);
    BOTH(P_CPU->rmsnorm_backward(dx.c, dw.c, dy.c, x.c, w.c, rstd.c, T, D),
         P_GPU->rmsnorm_backward(dx.g, dw.g, dy.g, x.g, w.g, rstd.g, T, D));
    OK(dx, TOL_FP32);
    OK(dw, TOL_FP32);
    twin gu = tw_normal((size_t)T * 2 * H, 2, &r), h = tw_zero((size_t)T * H);
    twin dh = tw_normal((size_t)T * H, 1, &r), dgu = tw_normal((size_t)T * 2 * H, 1, &r);
    BOTH(P_CPU->swiglu_forward(h.c, gu.c, T, H), P_GPU->swiglu_forward(h.g, gu.g, T, H));
    OK(h, TOL_FP32);
    BOTH(P_CPU->swiglu_backward(dgu.c, dh.c, gu.c, T, H), P_GPU->swiglu_backward(dgu.g, dh.g, gu.g, T, H));
    OK(dgu, TOL_FP32);
    twin *all[] = {&x, &w, &y, &rstd, &dy, &dx, &dw, &gu, &h, &dh, &dgu};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
}

static void test_rope(void **st) {
    hn_rng r = fresh("rope");
    pseqs s;
    pseqs_make(&s, LENS, NS);
    int T = s.c.total, heads = 3, hd = 16, ld = 3 * heads * hd;
    twin x = tw_normal((size_t)T * ld, 1, &r);
    BOTH(P_CPU->rope(x.c, ld, T, heads, hd, 8, s.pos.c, 10000.0f, 0),
         P_GPU->rope(x.g, ld, T, heads, hd, 8, s.pos.g, 10000.0f, 0));
    OK(x, TOL_FP32);
    BOTH(P_CPU->rope(x.c + heads * hd, ld, T, heads, hd, 16, s.pos.c, 500.0f, 1),
         P_GPU->rope(x.g + heads * hd, ld, T, heads, hd, 16, s.pos.g, 500.0f, 1));
    OK(x, TOL_FP32);
    tw_free(&x);
    pseqs_free(&s);
}

static void attention_case_lens(const int *lens, int n, int heads, int hd, int window,
                                hn_cuda_attention_mode mode, double tol) {
    hn_rng r = fresh(window < 0 ? "attention global" : "attention window");
    pseqs s;
    pseqs_make(&s, lens, n);
    int T = s.c.total, D = heads * hd, ld = 3 * D;
    float scale = 1.0f / sqrtf((float)hd);
    /* AUTO: the default kernels, or those HNET_CUDA_ATTENTION names (gpu-check runs the
     * test once per bf16 family) */
    if (mode == HN_CUDA_ATTENTION_AUTO) mode = hn_cuda_attention_mode_env();
    hn_cuda_set_attention_mode(mode);
    twin qkv = tw_normal((size_t)T * ld, 1.5, &r), out = tw_zero((size_t)T * D), lse = tw_zero((size_t)T * heads);
    BOTH(P_CPU->attention_forward(out.c, lse.c, qkv.c, qkv.c + D, qkv.c + 2 * D, ld, &s.c, heads, hd, window, scale),
         P_GPU->attention_forward(out.g, lse.g, qkv.g, qkv.g + D, qkv.g + 2 * D, ld, &s.g, heads, hd, window, scale));
    printf(" heads %d head_dim %d window %d mode %d\n", heads, hd, window, (int)mode);
    OK(out, tol);
    OK(lse, tol);
    twin dout = tw_normal((size_t)T * D, 1, &r), dqkv = tw_normal((size_t)T * ld, 1, &r);
    BOTH(P_CPU->attention_backward(dqkv.c, dqkv.c + D, dqkv.c + 2 * D, dout.c, qkv.c, qkv.c + D, qkv.c + 2 * D, ld, out.c, lse.c, &s.c, heads, hd, window, scale),
         P_GPU->attention_backward(dqkv.g, dqkv.g + D, dqkv.g + 2 * D, dout.g, qkv.g, qkv.g + D, qkv.g + 2 * D, ld, out.g, lse.g, &s.g, heads, hd, window, scale));
    OK(dqkv, tol);
    hn_cuda_set_attention_mode(hn_cuda_attention_mode_env());
    twin *all[] = {&qkv, &out, &lse, &dout, &dqkv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    pseqs_free(&s);
}

static void attention_case(int heads, int hd, int window, hn_cuda_attention_mode mode, double tol) {
    attention_case_lens(LENS, NS, heads, hd, window, mode, tol);
}

/* sequences longer than the kernels' tiles (64 and 128 rows), unaligned to them, with
 * windows that end inside a tile, cross several, or cover whole sequences */
static void test_attention_long(void **st) {
    static const int lens[] = {700, 1, 300, 129, 1100, 64};
    int n = (int)(sizeof lens / sizeof *lens);
    attention_case_lens(lens, n, 2, 64, -1, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case_lens(lens, n, 2, 64, 0, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case_lens(lens, n, 3, 64, 63, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case_lens(lens, n, 1, 64, 200, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case_lens(lens, n, 2, 64, 1023, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case_lens(lens, n, 2, 64, 200, HN_CUDA_ATTENTION_WMMA, TOL_BF16);
}

static void test_attention(void **st) {
    /* fp32 kernels: tiled (head_dim 16, 64) and warp-per-row (96, and forced) */
    attention_case(3, 16, -1, HN_CUDA_ATTENTION_FP32, TOL_FP32);
    attention_case(3, 16, 7, HN_CUDA_ATTENTION_FP32, TOL_FP32);
    attention_case(2, 64, 40, HN_CUDA_ATTENTION_FP32, TOL_FP32);
    attention_case(1, 96, -1, HN_CUDA_ATTENTION_FP32, TOL_FP32);
    attention_case(2, 32, 9, HN_CUDA_ATTENTION_WARP, TOL_FP32);
    /* bf16 tensor cores (head_dim 64) */
    attention_case(2, 64, 40, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case(3, 64, -1, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
    attention_case(1, 64, 0, HN_CUDA_ATTENTION_AUTO, TOL_BF16);
}

static void test_xent_adamw(void **st) {
    hn_rng r = fresh("xent");
    int T = 300, V = 256;
    int32_t *tg = malloc(T * sizeof *tg);
    for (int t = 0; t < T; t++) tg[t] = (int32_t)hn_rng_below(&r, V);
    itwin tgt = itw_from(tg, T);
    twin logits = tw_normal((size_t)T * V, 3, &r), loss = tw_zero(T), dl = tw_normal((size_t)T * V, 0.01, &r);
    BOTH(P_CPU->xent_forward(loss.c, logits.c, tgt.c, T, V), P_GPU->xent_forward(loss.g, logits.g, tgt.g, T, V));
    OK(loss, TOL_FP32);
    BOTH(P_CPU->xent_backward(dl.c, logits.c, tgt.c, T, V, 1.0f / T),
         P_GPU->xent_backward(dl.g, logits.g, tgt.g, T, V, 1.0f / T));
    OK(dl, TOL_FP32);
    twin fl = tw_zero(T), fd = tw_normal((size_t)T * V, 1, &r); /* fused: fd overwritten */
    BOTH(P_CPU->xent_fused(fl.c, fd.c, logits.c, tgt.c, T, V, 1.0f / T),
         P_GPU->xent_fused(fl.g, fd.g, logits.g, tgt.g, T, V, 1.0f / T));
    OK(fl, TOL_FP32);
    OK(fd, TOL_FP32);
    tw_free(&fl);
    tw_free(&fd);
    size_t n = 5000;
    twin p = tw_normal(n, 1, &r), g = tw_normal(n, 1, &r), m = tw_normal(n, 0.1, &r), v = tw_uniform(n, 0, 0.1, &r);
    for (int step = 1; step <= 3; step++)
        BOTH(P_CPU->adamw(p.c, g.c, m.c, v.c, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1 - powf(0.9f, step), 1 - powf(0.95f, step), 0.7f),
             P_GPU->adamw(p.g, g.g, m.g, v.g, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1 - powf(0.9f, step), 1 - powf(0.95f, step), 0.7f));
    OK(p, TOL_FP32);
    OK(m, TOL_FP32);
    OK(v, TOL_FP32);
    free(tg);
    itw_free(&tgt);
    twin *all[] = {&logits, &loss, &dl, &p, &g, &m, &v};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
}

/* ---- dynamic chunking ---- */

static void test_chunk_ops(void **st) {
    hn_rng r = fresh("chunk");
    const hn_ops_chunk *cc = P_CPU->chunk, *cg = P_GPU->chunk;
    pseqs s;
    pseqs_make(&s, LENS, NS);
    int T = s.c.total, D = 40, ld = 2 * D;
    twin qk = tw_normal((size_t)T * ld, 1, &r), p = tw_zero(T);
    BOTH(cc->cosine_routing_forward(p.c, qk.c, qk.c + D, ld, &s.c, D),
         cg->cosine_routing_forward(p.g, qk.g, qk.g + D, ld, &s.g, D));
    OK(p, TOL_FP32);
    twin dp = tw_normal(T, 1, &r), dqk = tw_normal((size_t)T * ld, 1, &r);
    BOTH(cc->cosine_routing_backward(dqk.c, dqk.c + D, dp.c, qk.c, qk.c + D, ld, &s.c, D),
         cg->cosine_routing_backward(dqk.g, dqk.g + D, dp.g, qk.g, qk.g + D, ld, &s.g, D));
    OK(dqk, TOL_FP32);
    /* the typed backward: dq and dk overwritten whole, float32 or bf16 (dc's operands) */
    for (int i = 0; i < 2; i++) {
        hn_dtype dt = i ? HN_BF16 : HN_F32;
        tbuf gq = tb_normal(dt, T, D, D, &r), gk = tb_normal(dt, T, D, D, &r);
        assert_int_equal(cc->cosine_routing_backward_t(tv(&gq, 0), tv(&gk, 0), dp.c, qk.c, qk.c + D, ld, &s.c, D), 0);
        assert_int_equal(cg->cosine_routing_backward_t(tv(&gq, 1), tv(&gk, 1), dp.g, qk.g, qk.g + D, ld, &s.g, D), 0);
        assert_true(tb_err(&gq, i ? "dq (typed bf16)" : "dq (typed f32)") < (i ? 5e-3 : TOL_FP32));
        assert_true(tb_err(&gk, i ? "dk (typed bf16)" : "dk (typed f32)") < (i ? 5e-3 : TOL_FP32));
        tb_free(&gq);
        tb_free(&gk);
    }
    itwin b = itw_from(s.pos_h, T); /* overwritten */
    for (int t = 0; t < T; t++) b.c[t] = hn_chunk_boundary(p.c[t]);
    /* a boundary plan from the cpu's decisions, as the stage builds it */
    int32_t *bh = b.c, *idx = malloc(T * 4), *first = malloc(T * 4), *chunk = malloc(T * 4);
    int32_t *offs_in = malloc((NS + 1) * 4);
    int K = 0;
    offs_in[0] = 0;
    for (int q = 0; q < NS; q++) {
        int k0 = K;
        for (int t = s.offsets[q]; t < s.offsets[q + 1]; t++) {
            if (bh[t] || t == s.offsets[q]) {
                bh[t] = 1;
                first[K] = K == k0 ? t : idx[K - 1] + 1;
                idx[K++] = t;
            }
            chunk[t] = K - 1;
        }
        offs_in[q + 1] = K;
    }
    P_GPU->upload(b.g, bh, T * 4);
    printf("  %d outer rows, %d boundaries\n", T, K);
    itwin ix = itw_from(idx, K), fi = itw_from(first, K), ch = itw_from(chunk, T);
    twin x = tw_normal((size_t)T * D, 1, &r), xs = tw_zero((size_t)K * D), dxs = tw_normal((size_t)K * D, 1, &r);
    twin dx = tw_normal((size_t)T * D, 1, &r);
    BOTH(cc->gather_rows(xs.c, x.c, ix.c, K, D), cg->gather_rows(xs.g, x.g, ix.g, K, D));
    OK(xs, TOL_FP32);
    BOTH(cc->gather_rows_backward(dx.c, dxs.c, ix.c, K, D), cg->gather_rows_backward(dx.g, dxs.g, ix.g, K, D));
    OK(dx, TOL_FP32);
    BOTH(cc->pool_mean_forward(xs.c, x.c, fi.c, ix.c, K, D), cg->pool_mean_forward(xs.g, x.g, fi.g, ix.g, K, D));
    OK(xs, TOL_FP32);
    BOTH(cc->pool_mean_backward(dx.c, dxs.c, fi.c, ix.c, K, D), cg->pool_mean_backward(dx.g, dxs.g, fi.g, ix.g, K, D));
    OK(dx, TOL_FP32);
    int32_t *zeros = calloc((size_t)K * D, 4);
    itwin am = itw_from(zeros, (size_t)K * D);
    BOTH(cc->pool_max_forward(xs.c, am.c, x.c, fi.c, ix.c, K, D), cg->pool_max_forward(xs.g, am.g, x.g, fi.g, ix.g, K, D));
    OK(xs, TOL_FP32);
    assert_true(itw_mismatch(&am, "pool_max argmax") == 0);
    BOTH(cc->pool_max_backward(dx.c, dxs.c, am.c, K, D), cg->pool_max_backward(dx.g, dxs.g, am.g, K, D));
    OK(dx, TOL_FP32);
    /* EMA over the inner sequences */
    itwin oin = itw_from(offs_in, NS + 1);
    int32_t *pin = malloc((size_t)K * 4);
    for (int q = 0; q < NS; q++)
        for (int k = offs_in[q]; k < offs_in[q + 1]; k++) pin[k] = k - offs_in[q];
    itwin pi = itw_from(pin, K);
    hn_seqs inc = {.n = NS, .total = K, .offsets = offs_in, .offsets_dev = oin.c, .pos_dev = pi.c};
    hn_seqs ing = {.n = NS, .total = K, .offsets = offs_in, .offsets_dev = oin.g, .pos_dev = pi.g};
    twin P = tw_uniform(K, 0.05, 1, &r), z = tw_normal((size_t)K * D, 1, &r), zbar = tw_zero((size_t)K * D);
    BOTH(cc->ema_forward(zbar.c, z.c, P.c, &inc, D), cg->ema_forward(zbar.g, z.g, P.g, &ing, D));
    OK(zbar, TOL_FP32);
    twin dzbar = tw_normal((size_t)K * D, 1, &r), dz = tw_normal((size_t)K * D, 1, &r), dP = tw_normal(K, 1, &r);
    BOTH(cc->ema_backward(dz.c, dP.c, dzbar.c, z.c, zbar.c, P.c, &inc, D),
         cg->ema_backward(dz.g, dP.g, dzbar.g, z.g, zbar.g, P.g, &ing, D));
    OK(dz, TOL_FP32);
    OK(dP, TOL_FP32);
    /* upsampling with and without the STE */
    for (int ste = 0; ste < 2; ste++) {
        twin up = tw_zero((size_t)T * D), dup = tw_normal((size_t)T * D, 1, &r);
        BOTH(cc->upsample_forward(up.c, zbar.c, ch.c, p.c, b.c, ste, T, D),
             cg->upsample_forward(up.g, zbar.g, ch.g, p.g, b.g, ste, T, D));
        OK(up, TOL_FP32);
        BOTH(cc->upsample_backward(dzbar.c, dp.c, dup.c, zbar.c, ch.c, p.c, b.c, ste, T, D),
             cg->upsample_backward(dzbar.g, dp.g, dup.g, zbar.g, ch.g, p.g, b.g, ste, T, D));
        OK(dzbar, TOL_FP32);
        OK(dp, TOL_FP32);
        tw_free(&up);
        tw_free(&dup);
    }
    /* width changes, linear routing, add_scalar */
    int D2 = 56;
    twin pad = tw_normal(D2 - D, 1, &r), wide = tw_zero((size_t)T * D2), dwide = tw_normal((size_t)T * D2, 1, &r);
    twin dpad = tw_normal(D2 - D, 1, &r), nar = tw_zero((size_t)T * D);
    BOTH(cc->widen_forward(wide.c, x.c, pad.c, T, D, D2), cg->widen_forward(wide.g, x.g, pad.g, T, D, D2));
    OK(wide, TOL_FP32);
    BOTH(cc->widen_backward(dx.c, dpad.c, dwide.c, T, D, D2), cg->widen_backward(dx.g, dpad.g, dwide.g, T, D, D2));
    OK(dx, TOL_FP32);
    OK(dpad, TOL_FP32);
    BOTH(cc->narrow_forward(nar.c, wide.c, T, D, D2), cg->narrow_forward(nar.g, wide.g, T, D, D2));
    OK(nar, TOL_FP32);
    BOTH(cc->narrow_backward(dwide.c, x.c, T, D, D2), cg->narrow_backward(dwide.g, x.g, T, D, D2));
    OK(dwide, TOL_FP32);
    twin logit = tw_normal(T, 2, &r), dlogit = tw_normal(T, 1, &r);
    BOTH(cc->sigmoid_routing_forward(p.c, logit.c, &s.c), cg->sigmoid_routing_forward(p.g, logit.g, &s.g));
    OK(p, TOL_FP32);
    BOTH(cc->sigmoid_routing_backward(dlogit.c, dp.c, p.c, &s.c), cg->sigmoid_routing_backward(dlogit.g, dp.g, p.g, &s.g));
    OK(dlogit, TOL_FP32);
    BOTH(cc->add_scalar(dlogit.c, 0.25f, T), cg->add_scalar(dlogit.g, 0.25f, T));
    OK(dlogit, TOL_FP32);
    twin *all[] = {&qk, &p, &dp, &dqk, &x, &xs, &dxs, &dx, &P, &z, &zbar, &dzbar, &dz, &dP,
                   &pad, &wide, &dwide, &dpad, &nar, &logit, &dlogit};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    itwin *ia[] = {&b, &ix, &fi, &ch, &am, &oin, &pi};
    for (size_t i = 0; i < sizeof ia / sizeof *ia; i++) itw_free(ia[i]);
    free(idx);
    free(first);
    free(chunk);
    free(offs_in);
    free(zeros);
    free(pin);
    pseqs_free(&s);
}

/* ---- Mamba-2 ---- */

/* convolution of width K over C channels (rows of stride ld), forward, backward, the
 * state after a prefill and one step from it */
static void conv_case(int C, int K, int ld) {
    hn_rng r = fresh("conv");
    const hn_ops_ssm *sc = P_CPU->ssm, *sg = P_GPU->ssm;
    pseqs s;
    pseqs_make(&s, LENS, NS);
    int T = s.c.total;
    printf(" conv C %d K %d\n", C, K);
    twin x = tw_normal((size_t)T * ld, 1, &r), w = tw_normal((size_t)C * K, 0.5, &r), bias = tw_normal(C, 0.5, &r);
    twin out = tw_zero((size_t)T * C), dout = tw_normal((size_t)T * C, 1, &r);
    twin dx = tw_normal((size_t)T * ld, 1, &r), dw = tw_normal((size_t)C * K, 1, &r), db = tw_normal(C, 1, &r);
    BOTH(sc->conv1d_forward(out.c, x.c, ld, w.c, bias.c, &s.c, C, K), sg->conv1d_forward(out.g, x.g, ld, w.g, bias.g, &s.g, C, K));
    OK(out, TOL_FP32);
    BOTH(sc->conv1d_backward(dx.c, ld, dw.c, db.c, dout.c, x.c, ld, w.c, bias.c, &s.c, C, K),
         sg->conv1d_backward(dx.g, ld, dw.g, db.g, dout.g, x.g, ld, w.g, bias.g, &s.g, C, K));
    OK(dx, TOL_FP32);
    OK(dw, TOL_FP32);
    OK(db, TOL_FP32);
    size_t stride = (size_t)(K - 1) * C + 5;
    twin cst = tw_normal(NS * stride, 1, &r);
    BOTH(sc->conv1d_state(cst.c, stride, x.c, ld, &s.c, C, K), sg->conv1d_state(cst.g, stride, x.g, ld, &s.g, C, K));
    OK(cst, TOL_FP32);
    int32_t posh[NS] = {3, 0, 7, 1, 0, 2};
    itwin pos = itw_from(posh, NS);
    twin so = tw_zero((size_t)NS * C);
    BOTH(sc->conv1d_step(so.c, cst.c, stride, x.c, ld, w.c, bias.c, pos.c, NS, C, K),
         sg->conv1d_step(so.g, cst.g, stride, x.g, ld, w.g, bias.g, pos.g, NS, C, K));
    OK(so, TOL_FP32);
    OK(cst, TOL_FP32);
    twin *all[] = {&x, &w, &bias, &out, &dout, &dx, &dw, &db, &cst, &so};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    itw_free(&pos);
    pseqs_free(&s);
}

/* gated RMSNorm over Dm columns in groups of gs, z a column slice of a wider row */
static void grms_case(int Dm, int gs, int ldz) {
    hn_rng r = fresh("grms");
    const hn_ops_ssm *sc = P_CPU->ssm, *sg = P_GPU->ssm;
    pseqs s;
    pseqs_make(&s, LENS, NS);
    int T = s.c.total;
    printf(" gated rmsnorm Dm %d group %d\n", Dm, gs);
    twin gx = tw_normal((size_t)T * Dm, 1, &r), z = tw_normal((size_t)T * ldz, 1.5, &r), gw = tw_normal(Dm, 1, &r);
    twin go = tw_zero((size_t)T * Dm), rs = tw_zero((size_t)T * (Dm / gs)), gdo = tw_normal((size_t)T * Dm, 1, &r);
    twin gdx = tw_normal((size_t)T * Dm, 1, &r), gdz = tw_normal((size_t)T * ldz, 1, &r), gdw = tw_normal(Dm, 1, &r);
    BOTH(sc->gated_rmsnorm_forward(go.c, rs.c, gx.c, z.c, ldz, gw.c, T, Dm, gs, 1e-5f),
         sg->gated_rmsnorm_forward(go.g, rs.g, gx.g, z.g, ldz, gw.g, T, Dm, gs, 1e-5f));
    OK(go, TOL_FP32);
    OK(rs, TOL_FP32);
    BOTH(sc->gated_rmsnorm_backward(gdx.c, gdz.c, ldz, gdw.c, gdo.c, gx.c, z.c, ldz, gw.c, rs.c, T, Dm, gs),
         sg->gated_rmsnorm_backward(gdx.g, gdz.g, ldz, gdw.g, gdo.g, gx.g, z.g, ldz, gw.g, rs.g, T, Dm, gs));
    OK(gdx, TOL_FP32);
    OK(gdz, TOL_FP32);
    OK(gdw, TOL_FP32);
    twin *all[] = {&gx, &z, &gw, &go, &rs, &gdo, &gdx, &gdz, &gdw};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    pseqs_free(&s);
}

/* The dechunk EMA on every cuda form (one thread a column walking each sequence;
 * segments of rows; the chunked scan: cfg.ema, hn_cuda_ema_mode) against the cpu:
 * sequences shorter than, equal to and longer than a segment's share of rows and the
 * scan's tiles (256 rows forward, 128 backward: lengths at and one past them), widths
 * that leave a block's columns partly empty, decays clamped at both ends (no dP there),
 * and small decays, whose carries reach across many tiles */
static void test_ema(void **st) {
    (void)st;
    hn_rng r = fresh("ema");
    const hn_ops_chunk *cc = P_CPU->chunk, *cg = P_GPU->chunk;
    static const int LENS_EMA[] = {1, 2, 15, 16, 17, 31, 300, 1366, 5, 128, 129, 256, 257, 700};
    static const char *const MODE[] = {"one thread a column", "segments", "scan"};
    int n = (int)(sizeof LENS_EMA / sizeof *LENS_EMA);
    pseqs s;
    pseqs_make(&s, LENS_EMA, n);
    int K = s.c.total;
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    assert_non_null(cfg);
    int was = cfg->ema;
    static const int WIDTHS[] = {40, 512, 33};
    for (size_t w = 0; w < sizeof WIDTHS / sizeof *WIDTHS; w++)
        for (int mode = 0; mode < 3; mode++)
            for (int small = 0; small < 2; small++) {
                int D = WIDTHS[w];
                cfg->ema = mode; /* HN_CUDA_EMA_COLUMN, _SEGMENTS, _SCAN */
                printf("  ema: %d rows, %d columns, %s, P in [0, %g]\n", K, D, MODE[mode],
                       small ? 0.02 : 1.0);
                twin P = tw_uniform(K, 0.0, small ? 0.02 : 1.0, &r), z = tw_normal((size_t)K * D, 1, &r);
                for (int k = 0; k < K; k += 7) P.c[k] = k % 2 ? 1.0f : 0.0f; /* clamped */
                P_GPU->upload(P.g, P.c, (size_t)K * sizeof(float));
                twin zbar = tw_zero((size_t)K * D);
                BOTH(cc->ema_forward(zbar.c, z.c, P.c, &s.c, D), cg->ema_forward(zbar.g, z.g, P.g, &s.g, D));
                OK(zbar, TOL_FP32);
                twin dzbar = tw_normal((size_t)K * D, 1, &r), dz = tw_normal((size_t)K * D, 1, &r);
                twin dP = tw_normal(K, 1, &r);
                BOTH(cc->ema_backward(dz.c, dP.c, dzbar.c, z.c, zbar.c, P.c, &s.c, D),
                     cg->ema_backward(dz.g, dP.g, dzbar.g, z.g, zbar.g, P.g, &s.g, D));
                OK(dz, TOL_FP32);
                OK(dP, TOL_FP32);
                twin *all[] = {&P, &z, &zbar, &dzbar, &dz, &dP};
                for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
            }
    cfg->ema = was;
    pseqs_free(&s);
}

/* the sliding-window convolution (K <= 8) and the general one (K = 11); the norm at
 * group sizes below, at and above a warp's multiples, the models' (1536) and a large one */
static void test_conv_norm(void **st) {
    hn_cuda_config *cfg = hn_cuda_config_of(P_GPU);
    int was = cfg->conv;
    /* the window kernels, then HNET_CUDA_CONV=lean's, lean2's and lean3's (whose backward
     * is lean2's on these float32 views) */
    const int modes[] = {HN_CUDA_CONV_WINDOW, HN_CUDA_CONV_LEAN, HN_CUDA_CONV_LEAN2, HN_CUDA_CONV_LEAN3};
    const char *names[] = {"window", "lean", "lean2", "lean2"};
    for (int m = 0; m < 4; m++) {
        cfg->conv = modes[m];
        printf(" conv kernels: mode %d (%s backward)\n", modes[m], names[m]);
        conv_case(70, 4, 90);
        conv_case(33, 1, 33);
        conv_case(130, 8, 131);
        conv_case(40, 11, 45);
        conv_case(64, 4, 96); /* four channels a thread */
        assert_string_equal(hn_cuda_conv_last_backward(), names[m]); /* the mode taken */
        conv_case(132, 2, 136);
    }
    cfg->conv = was;
    grms_case(64, 32, 100);
    grms_case(1536, 1536, 1600);
    grms_case(2000, 1000, 2003);
    grms_case(4200, 2100, 4200);
}

static double g_ssd_tol = TOL_FP32; /* bf16 tensor-core products inside the chunked scan: TOL_BF16 */

static void ssd_case_lens(int H, int P, int N, int G, int Q, const int *lens, int ns) {
    hn_rng r = fresh("ssd");
    const hn_ops_ssm *sc = P_CPU->ssm, *sg = P_GPU->ssm;
    pseqs s;
    pseqs_make(&s, lens, ns);
    hn_ssm_dims d = {.heads = H, .headdim = P, .d_state = N, .ngroups = G, .chunk = Q};
    printf(" ssd H %d P %d N %d G %d Q %d, %d sequences\n", H, P, N, G, Q, ns);
    int T = s.c.total, HP = H * P, GN = G * N, ld = HP + 2 * GN + 3, ldt = H + 2;
    int nch = hn_ssd_n_chunks(&s.c, Q);
    size_t HPN = (size_t)H * P * N;
    twin xbc = tw_normal((size_t)T * ld, 1, &r), dtr = tw_normal((size_t)T * ldt, 1, &r);
    twin dtb = tw_uniform(H, -4, -1, &r), alog = tw_uniform(H, 0, 2.5, &r), Dv = tw_normal(H, 1, &r);
    twin y = tw_zero((size_t)T * HP), cs = tw_zero((size_t)nch * HPN), fs = tw_zero((size_t)ns * HPN);
    float *ws = P_CPU->alloc(sc->ssd_workspace_floats(&d) * sizeof(float));
    float *wsg = P_GPU->alloc(sg->ssd_workspace_floats(&d) * sizeof(float));
    BOTH(sc->ssd_forward(y.c, cs.c, fs.c, HPN, xbc.c, xbc.c + HP, xbc.c + HP + GN, ld, dtr.c, ldt, dtb.c, alog.c, Dv.c, &s.c, &d, ws),
         sg->ssd_forward(y.g, cs.g, fs.g, HPN, xbc.g, xbc.g + HP, xbc.g + HP + GN, ld, dtr.g, ldt, dtb.g, alog.g, Dv.g, &s.g, &d, wsg));
    OK(y, g_ssd_tol);
    OK(cs, g_ssd_tol);
    OK(fs, g_ssd_tol);
    twin dy = tw_normal((size_t)T * HP, 1, &r), dxbc = tw_normal((size_t)T * ld, 1, &r), ddt = tw_normal((size_t)T * ldt, 1, &r);
    twin ddtb = tw_normal(H, 1, &r), dalog = tw_normal(H, 1, &r), dD = tw_normal(H, 1, &r);
    BOTH(sc->ssd_backward(dxbc.c, dxbc.c + HP, dxbc.c + HP + GN, ld, ddt.c, ldt, ddtb.c, dalog.c, dD.c, dy.c, xbc.c, xbc.c + HP, xbc.c + HP + GN, ld, dtr.c, ldt, dtb.c, alog.c, Dv.c, cs.c, &s.c, &d, ws),
         sg->ssd_backward(dxbc.g, dxbc.g + HP, dxbc.g + HP + GN, ld, ddt.g, ldt, ddtb.g, dalog.g, dD.g, dy.g, xbc.g, xbc.g + HP, xbc.g + HP + GN, ld, dtr.g, ldt, dtb.g, alog.g, Dv.g, cs.g, &s.g, &d, wsg));
    OK(dxbc, g_ssd_tol);
    OK(ddt, g_ssd_tol);
    OK(ddtb, g_ssd_tol);
    OK(dalog, g_ssd_tol);
    OK(dD, g_ssd_tol);
    /* one inference step from the final states (of the first NS sequences) */
    int32_t posh[NS] = {5, 0, 9, 2, 1, 0};
    assert_true(ns >= NS);
    itwin pos = itw_from(posh, NS);
    twin ys = tw_zero((size_t)NS * HP);
    BOTH(sc->ssd_step(ys.c, fs.c, HPN, xbc.c, xbc.c + HP, xbc.c + HP + GN, ld, dtr.c, ldt, dtb.c, alog.c, Dv.c, pos.c, NS, &d),
         sg->ssd_step(ys.g, fs.g, HPN, xbc.g, xbc.g + HP, xbc.g + HP + GN, ld, dtr.g, ldt, dtb.g, alog.g, Dv.g, pos.g, NS, &d));
    OK(ys, g_ssd_tol);
    OK(fs, g_ssd_tol);
    twin *all[] = {&xbc, &dtr, &dtb, &alog, &Dv, &y, &cs, &fs, &dy, &dxbc, &ddt, &ddtb, &dalog, &dD, &ys};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    itw_free(&pos);
    P_CPU->free(ws);
    P_GPU->free(wsg);
    pseqs_free(&s);
}

static void ssd_case(int H, int P, int N, int G, int Q) { ssd_case_lens(H, P, N, G, Q, LENS, NS); }

/* both implementations of the cuda scan: chunked (default) and the row recurrence */
static void test_ssd(void **st) {
    static const int LONG[] = {700, 1, 513, 256, 37, 300, 9};
    for (int mode = 0; mode < 2; mode++) {
        hn_cuda_set_ssd_mode(mode ? HN_CUDA_SSD_SCAN : HN_CUDA_SSD_CHUNKED);
        printf("ssd %s\n", mode ? "scan" : "chunked");
        ssd_case(4, 8, 16, 2, 16);
        ssd_case(2, 16, 64, 1, 32);
        ssd_case(3, 5, 24, 3, 7);
        ssd_case(2, 64, 64, 1, 64);
        ssd_case_lens(3, 64, 64, 1, 256, LONG, 7); /* the models' shape: chunks of 256 */
        ssd_case_lens(4, 32, 48, 2, 100, LONG, 7);
        /* ~460 chunks of 4 rows: more than the 512 / H blocks per head the chunked scan
         * launches, so blocks stride over several chunks each */
        ssd_case_lens(8, 16, 32, 2, 4, LONG, 7);
    }
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_CHUNKED);
    /* the bf16 matmul mode puts the chunked scan's products on the tensor cores */
    printf("ssd chunked, bf16 products\n");
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    g_ssd_tol = TOL_BF16;
    ssd_case(3, 5, 24, 3, 7);
    ssd_case_lens(3, 64, 64, 1, 256, LONG, 7);
    ssd_case_lens(4, 32, 48, 2, 100, LONG, 7);
    /* the fused tensor-core kernels (headdim = d_state = 64): one and several tiles per
     * chunk, partial tiles and chunks, groups, chunks of 300 rows (five tiles) and of 7 */
    printf("ssd mma\n");
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_MMA);
    ssd_case(2, 64, 64, 1, 64);
    assert_string_equal(hn_cuda_ssd_last_impl(), "mma"); /* no silent fallback */
    ssd_case_lens(3, 64, 64, 1, 256, LONG, 7);
    ssd_case_lens(4, 64, 64, 2, 100, LONG, 7);
    ssd_case_lens(2, 64, 64, 1, 300, LONG, 7);
    ssd_case_lens(4, 64, 64, 4, 7, LONG, 7);
    assert_string_equal(hn_cuda_ssd_last_impl(), "mma");
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_AUTO);
    g_ssd_tol = TOL_FP32;
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detects_planted_error), cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_weight_shadow),         cmocka_unit_test(test_bf16_pack),
        cmocka_unit_test(test_elementwise),           cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rmsnorm_swiglu),        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention),             cmocka_unit_test(test_attention_long),
        cmocka_unit_test(test_xent_adamw),
        cmocka_unit_test(test_chunk_ops),             cmocka_unit_test(test_ema),
        cmocka_unit_test(test_conv_norm),
        cmocka_unit_test(test_ssd),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
