/* CPU-vs-CUDA parity of the Mixture-of-Experts op family (be->moe, ops_moe.h) and of the
 * whole moe layer plugin. Each op runs on fresh random inputs on both backends (T = 1000
 * rows, E = 8 experts, k = 2; dropless and capacity_factor 1 so pairs are dropped;
 * renormalised weights and raw ones; logits rounded to multiples of 1/4 so ties are
 * common and the tie rule is exercised). Integer outputs (top-k, slots, expert-sorted
 * tokens, counts) must match exactly; floats to TOL_MOE (relative L2). Backward ops
 * accumulate, so every gradient buffer starts from the same random values on both
 * sides. The layer test compares y, dx, every parameter gradient, the aux loss and the
 * metrics, with fp32 matrix products (TOL_FP32) and once with bf16 ones (TOL_BF16). */
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
#include "plugin/config.h"
#include "backend/ops_chunk.h"
#include "backend/ops_moe.h"
#include "model/layer.h"
#include "model/params.h"
#include "parity.h"
#include "plugin/registry.h"

#define TOL_MOE 1e-5
#define OK(t, tol) assert_true(tw_err(&(t), #t) < (tol))
#define SAME(t) assert_true(itw_mismatch(&(t), #t) == 0)
#define BOTH(call_c, call_g) do { call_c; call_g; } while (0)

static hn_registry reg;

static hn_rng fresh(const char *name, uint64_t salt) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return hn_rng_derive(0x30E + salt, h);
}

static int setup(void **st) {
    hn_error err;
    if (parity_open()) return -1;
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    hn_registry_init(&reg);
    if (hn_registry_load_default(&reg, &err) || !hn_registry_find(&reg, "moe")) {
        fprintf(stderr, "loading plugins (build/layers/moe.so): %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **st) {
    hn_registry_close(&reg);
    return 0;
}

/* zero-filled int twins */
static itwin itw_zero(size_t n) {
    int32_t *z = calloc(n + 1, sizeof(int32_t));
    itwin t = itw_from(z, n);
    free(z);
    return t;
}

/* relative difference of the cuda copy of n doubles against the cpu copy */
static double dbl_err(const double *c, const double *g_dev, size_t n, const char *name) {
    double *h = malloc(n * sizeof(double));
    P_GPU->download(h, g_dev, n * sizeof(double));
    double num = 0, den = 0;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(h[i]) || !isfinite(c[i])) nan = 1;
        num += (h[i] - c[i]) * (h[i] - c[i]);
        den += c[i] * c[i];
    }
    free(h);
    double e = nan ? INFINITY : (den > 0 ? sqrt(num / den) : sqrt(num));
    printf("  %-34s rel err %.3e\n", name, e);
    return e;
}

/* ---- the ops ---- */

typedef struct routed {
    int T, E, k, A;
    twin logits, p, lse, w, row_w;
    itwin top, slot, row_tok, counts;
    double *sums_c, *sums_g;
} routed;

/* Random logits (expert 0 favoured, so a capacity drops pairs), routed on both
 * backends; quant rounds the logits to multiples of 1/4 (ties). */
static void route_both(routed *r, int T, int E, int k, int renorm, int capacity, int quant,
                       hn_rng *rng) {
    r->T = T;
    r->E = E;
    r->k = k;
    size_t TE = (size_t)T * E, Tk = (size_t)T * k;
    r->logits = tw_normal(TE, 1.5, rng);
    for (size_t i = 0; i < TE; i++) {
        float v = r->logits.c[i] + (i % E == 0 ? 0.8f : 0.0f);
        r->logits.c[i] = quant ? floorf(v * 4.0f) / 4.0f : v;
    }
    P_GPU->upload(r->logits.g, r->logits.c, TE * sizeof(float));
    r->p = tw_zero(TE);
    r->lse = tw_zero(T);
    r->w = tw_zero(Tk);
    r->row_w = tw_zero(Tk);
    r->top = itw_zero(Tk);
    r->slot = itw_zero(Tk);
    r->row_tok = itw_zero(Tk);
    r->counts = itw_zero(HN_MOE_COUNTS(E));
    r->sums_c = P_CPU->alloc(HN_MOE_SUMS(E) * sizeof(double));
    r->sums_g = P_GPU->alloc(HN_MOE_SUMS(E) * sizeof(double));
    const hn_ops_moe *mc = P_CPU->moe, *mg = P_GPU->moe;
    BOTH(mc->route(r->p.c, r->lse.c, r->top.c, r->w.c, r->slot.c, r->row_tok.c, r->row_w.c,
                   r->counts.c, r->sums_c, r->logits.c, T, E, k, renorm, capacity),
         mg->route(r->p.g, r->lse.g, r->top.g, r->w.g, r->slot.g, r->row_tok.g, r->row_w.g,
                   r->counts.g, r->sums_g, r->logits.g, T, E, k, renorm, capacity));
    r->A = r->counts.c[E];
}

static void routed_free(routed *r) {
    twin *f[] = {&r->logits, &r->p, &r->lse, &r->w, &r->row_w};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) tw_free(f[i]);
    itwin *n[] = {&r->top, &r->slot, &r->row_tok, &r->counts};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++) itw_free(n[i]);
    P_CPU->free(r->sums_c);
    P_GPU->free(r->sums_g);
}

/* The comparisons themselves must be able to fail: planted errors are seen. */
static void test_detects_planted_error(void **st) {
    hn_rng r = fresh("planted", 0);
    twin a = tw_normal(1000, 1, &r);
    assert_true(tw_err(&a, "identical") < 1e-12);
    a.c[17] += 1e-2f;
    assert_true(tw_err(&a, "planted float") > TOL_MOE);
    tw_free(&a);
    routed q;
    route_both(&q, 300, 8, 2, 1, 300, 0, &r);
    SAME(q.top);
    q.top.c[5] = (q.top.c[5] + 1) % 8;
    assert_true(itw_mismatch(&q.top, "planted top") == 1);
    routed_free(&q);
}

static void ops_case(int capacity_factor_x4, int renorm, int quant) {
    hn_rng rng = fresh("moe ops", (uint64_t)(capacity_factor_x4 * 4 + renorm * 2 + quant));
    const int T = 1000, E = 8, k = 2, D = 67;
    int capacity = capacity_factor_x4 ? (int)ceil(capacity_factor_x4 / 4.0 * T * k / E) : T;
    routed r;
    route_both(&r, T, E, k, renorm, capacity, quant, &rng);
    const hn_ops_moe *mc = P_CPU->moe, *mg = P_GPU->moe;
    int A = r.A, dropped = r.counts.c[2 * E + 1];
    int ties = 0;
    for (int t = 0; t < T; t++) { /* the k-th choice ties with a later one */
        const float *l = r.logits.c + (size_t)t * E;
        int last = r.top.c[(size_t)t * k + k - 1];
        for (int e = 0; e < E; e++) {
            int chosen = 0;
            for (int j = 0; j < k; j++) chosen |= r.top.c[(size_t)t * k + j] == e;
            if (!chosen && l[e] == l[last]) ties++;
        }
    }
    printf(" T %d E %d k %d capacity %d renormalize %d quantised %d: %d rows, %d dropped, "
           "%d tied choices\n", T, E, k, capacity, renorm, quant, A, dropped, ties);
    assert_int_equal(A + dropped, T * k);
    if (capacity < T) assert_true(dropped > 0);
    else assert_int_equal(dropped, 0);
    if (quant) assert_true(ties > 0);
    SAME(r.counts);
    SAME(r.top);
    SAME(r.slot);
    SAME(r.row_tok);
    OK(r.p, TOL_MOE);
    OK(r.lse, TOL_MOE);
    OK(r.w, TOL_MOE);
    OK(r.row_w, TOL_MOE);
    assert_true(dbl_err(r.sums_c, r.sums_g, HN_MOE_SUMS(E), "sums (P, lse^2)") < 1e-12);

    /* dispatch forward */
    twin x = tw_normal((size_t)T * D, 1, &rng), xs = tw_zero((size_t)A * D);
    twin ys = tw_normal((size_t)A * D, 1, &rng), y = tw_normal((size_t)T * D, 1, &rng);
    BOTH(P_CPU->chunk->gather_rows(xs.c, x.c, r.row_tok.c, A, D),
         P_GPU->chunk->gather_rows(xs.g, x.g, r.row_tok.g, A, D));
    OK(xs, TOL_MOE);
    BOTH(mc->combine(y.c, ys.c, r.w.c, r.slot.c, T, k, D),
         mg->combine(y.g, ys.g, r.w.g, r.slot.g, T, k, D));
    OK(y, TOL_MOE);
    /* dispatch backward, accumulating into random buffers */
    twin dy = tw_normal((size_t)T * D, 1, &rng), dys = tw_normal((size_t)A * D, 1, &rng);
    twin dw = tw_normal((size_t)T * k, 1, &rng);
    BOTH(mc->combine_backward(dys.c, dw.c, dy.c, ys.c, r.slot.c, r.row_tok.c, r.row_w.c, T, k, A, D),
         mg->combine_backward(dys.g, dw.g, dy.g, ys.g, r.slot.g, r.row_tok.g, r.row_w.g, T, k, A, D));
    OK(dys, TOL_MOE);
    OK(dw, TOL_MOE);
    twin dx = tw_normal((size_t)T * D, 1, &rng);
    BOTH(mc->gather_backward(dx.c, dys.c, r.slot.c, T, k, D),
         mg->gather_backward(dx.g, dys.g, r.slot.g, T, k, D));
    OK(dx, TOL_MOE);
    /* routing backward, with both auxiliary losses */
    twin dl = tw_normal((size_t)T * E, 0.1, &rng);
    BOTH(mc->route_backward(dl.c, dw.c, r.p.c, r.lse.c, r.top.c, r.w.c, r.counts.c, T, E, k, renorm, 0.05, 0.01),
         mg->route_backward(dl.g, dw.g, r.p.g, r.lse.g, r.top.g, r.w.g, r.counts.g, T, E, k, renorm, 0.05, 0.01));
    OK(dl, TOL_MOE);
    twin *all[] = {&x, &xs, &ys, &y, &dy, &dys, &dw, &dx, &dl};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    routed_free(&r);
}

static void test_ops_dropless(void **st) {
    ops_case(0, 1, 0);
    ops_case(0, 0, 0);
    ops_case(0, 1, 1);
}

static void test_ops_capacity(void **st) {
    ops_case(4, 1, 0);
    ops_case(4, 0, 1);
    ops_case(3, 1, 1);
}

/* many experts, k = E, one row */
static void test_ops_shapes(void **st) {
    hn_rng rng = fresh("shapes", 0);
    int shapes[][3] = {{1, 256, 3}, {257, 256, 1}, {33, 5, 5}, {5000, 3, 1}, {1, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int T = shapes[s][0], E = shapes[s][1], k = shapes[s][2];
        routed r;
        route_both(&r, T, E, k, 1, (T * k + E - 1) / E, 1, &rng);
        printf(" T %d E %d k %d: %d rows\n", T, E, k, r.A);
        SAME(r.counts);
        SAME(r.top);
        SAME(r.slot);
        SAME(r.row_tok);
        OK(r.p, TOL_MOE);
        OK(r.w, TOL_MOE);
        assert_true(dbl_err(r.sums_c, r.sums_g, HN_MOE_SUMS(E), "sums") < 1e-12);
        routed_free(&r);
    }
}

/* ---- the whole layer ---- */

typedef struct side {
    const hn_backend *be;
    hn_param_store store;
    hn_layer layer;
} side;

static void side_open(side *s, const hn_backend *be, const cJSON *cfg, int d) {
    hn_error err = {{0}};
    memset(s, 0, sizeof *s);
    s->be = be;
    hn_layer_args args = {.d_model = d, .stage = 0, .layer = 0, .n_layers = 4, .cfg = hn_config_view(cfg)};
    hn_params_init(&s->store, be);
    if (hn_layer_create(&s->layer, hn_registry_find(&reg, "moe"), &args, &s->store, "mlp.", 0,
                        &err))
        fail_msg("%s", err.msg);
    if (hn_params_allocate(&s->store, 1, &err)) fail_msg("%s", err.msg);
    hn_layer_bind(&s->layer, &s->store);
}

static void side_close(side *s) {
    hn_layer_destroy(&s->layer, s->be);
    hn_params_free(&s->store);
}

/* the smallest gap among the first k+1 logits of row t, in double */
static double margin(const float *wr, const float *x, int E, int D, int k) {
    double l[HN_MOE_MAX_EXPERTS];
    for (int e = 0; e < E; e++) {
        l[e] = 0;
        for (int i = 0; i < D; i++) l[e] += (double)wr[(size_t)e * D + i] * x[i];
    }
    for (int i = 1; i < E; i++) /* descending */
        for (int j = i; j > 0 && l[j] > l[j - 1]; j--) {
            double v = l[j];
            l[j] = l[j - 1];
            l[j - 1] = v;
        }
    double m = INFINITY;
    for (int j = 0; j < k && j + 1 < E; j++) m = fmin(m, l[j] - l[j + 1]);
    return m;
}

static void layer_case(double cf, int renorm, hn_cuda_matmul_mode mode, double tol) {
    hn_rng rng = fresh("moe layer", (uint64_t)(cf * 8 + renorm * 2 + (int)mode * 32));
    const int D = 64, E = 8, k = 2;
    const int lens[] = {400, 37, 563};
    char text[256];
    snprintf(text, sizeof text,
             "{\"experts\": %d, \"top_k\": %d, \"hidden\": 96, \"renormalize\": %s, "
             "\"capacity_factor\": %g, \"balance_weight\": 0.05, \"z_loss_weight\": 0.01}",
             E, k, renorm ? "true" : "false", cf);
    cJSON *cfg = cJSON_Parse(text);
    assert_non_null(cfg);
    hn_cuda_set_matmul_mode(mode);
    side c, g;
    side_open(&c, P_CPU, cfg, D);
    side_open(&g, P_GPU, cfg, D);
    assert_int_equal(c.store.total, g.store.total);
    /* the same weights on both: N(0, 0.1), the router N(0, 0.3), expert 0's row doubled
     * so that it is over capacity */
    size_t n = c.store.total;
    for (size_t i = 0; i < n; i++) c.store.values[i] = (float)(0.1 * hn_rng_normal(&rng));
    int ri = hn_params_find(&c.store, "mlp.router.weight");
    assert_true(ri >= 0);
    float *wr = c.store.values + c.store.entries[ri].offset;
    for (int i = 0; i < E * D; i++) wr[i] *= i < D ? 6.0f : 3.0f;
    P_GPU->upload(g.store.values, c.store.values, n * sizeof(float));

    pseqs s;
    pseqs_make(&s, lens, 3);
    int T = s.c.total;
    /* inputs whose routing has a clear margin, so bf16 logits pick the same experts */
    twin x = tw_normal((size_t)T * D, 1, &rng);
    int redrawn = 0;
    for (int t = 0; t < T; t++)
        while (margin(wr, x.c + (size_t)t * D, E, D, k) < 0.1) {
            for (int i = 0; i < D; i++) x.c[(size_t)t * D + i] = (float)hn_rng_normal(&rng);
            redrawn++;
        }
    P_GPU->upload(x.g, x.c, (size_t)T * D * sizeof(float));
    twin y = tw_zero((size_t)T * D), dy = tw_normal((size_t)T * D, 1, &rng);
    twin dx = tw_normal((size_t)T * D, 1, &rng);
    hn_layer_ctx cc = {.be = P_CPU, .seqs = &s.c}, cg = {.be = P_GPU, .seqs = &s.g};
    const hn_layer_plugin *pl = c.layer.plugin;
    hn_error err;
    assert_int_equal(pl->forward(c.layer.self, &cc, x.c, y.c, &err), HN_OK);
    assert_int_equal(pl->forward(g.layer.self, &cg, x.g, y.g, &err), HN_OK);
    printf(" cf %g renormalize %d matmul mode %d (%d rows redrawn)\n", cf, renorm, (int)mode, redrawn);
    OK(y, tol);
    /* metrics: loads and drops exactly, the losses to the tolerance */
    hn_layer_metric mcv[64], mgv[64];
    int nm = pl->metrics(c.layer.self, mcv, 64);
    assert_int_equal(nm, pl->metrics(g.layer.self, mgv, 64));
    double dropped = -1;
    for (int i = 0; i < nm; i++) {
        assert_string_equal(mcv[i].name, mgv[i].name);
        if (!strcmp(mcv[i].name, "dropped")) dropped = mcv[i].value;
        int exact = !strcmp(mcv[i].name, "dropped") || !strncmp(mcv[i].name, "tokens_expert", 13);
        double e = fabs(mgv[i].value - mcv[i].value) / fmax(fabs(mcv[i].value), 1e-12);
        if (exact ? e != 0 : e > tol) fail_msg("metric %s: cpu %.9g cuda %.9g", mcv[i].name, mcv[i].value, mgv[i].value);
    }
    printf("  dropped %g, balance %.6f, aux cpu %.9g cuda %.9g\n", dropped, mcv[0].value,
           pl->aux_loss(c.layer.self), pl->aux_loss(g.layer.self));
    if (cf > 0) assert_true(dropped > 0);
    double ac = pl->aux_loss(c.layer.self), ag = pl->aux_loss(g.layer.self);
    assert_true(fabs(ag - ac) <= tol * fabs(ac));
    /* backward: dx accumulates onto the same random start; every parameter gradient */
    hn_params_zero_grads(&c.store);
    hn_params_zero_grads(&g.store);
    assert_int_equal(pl->backward(c.layer.self, &cc, dy.c, dx.c, &err), HN_OK);
    assert_int_equal(pl->backward(g.layer.self, &cg, dy.g, dx.g, &err), HN_OK);
    OK(dx, tol);
    float *gg = malloc(n * sizeof(float));
    P_GPU->download(gg, g.store.grads, n * sizeof(float));
    const char *cerr = hn_cuda_last_error();
    if (cerr[0]) fail_msg("CUDA: %s", cerr);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < c.store.n; i++) {
        const hn_param_entry *e = &c.store.entries[i];
        const float *a = gg + e->offset, *b = c.store.grads + e->offset;
        double num = 0, den = 0;
        for (size_t j = 0; j < e->numel; j++) {
            if (!isfinite(a[j])) num = INFINITY;
            num += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
            den += (double)b[j] * b[j];
        }
        double ei = den > 0 ? sqrt(num / den) : sqrt(num);
        if (!(ei <= worst)) {
            worst = ei;
            worst_name = e->p.name;
        }
        if (!strcmp(e->p.name, "mlp.router.weight")) printf("  %-34s rel err %.3e\n", e->p.name, ei);
    }
    printf("  worst parameter gradient %s rel err %.3e (%d parameters)\n", worst_name, worst, c.store.n);
    assert_true(worst < tol);
    free(gg);
    twin *all[] = {&x, &y, &dy, &dx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tw_free(all[i]);
    pseqs_free(&s);
    side_close(&c);
    side_close(&g);
    cJSON_Delete(cfg);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
}

static void test_layer_fp32(void **st) {
    layer_case(0, 1, HN_CUDA_MATMUL_FP32, TOL_FP32);
    layer_case(0, 0, HN_CUDA_MATMUL_FP32, TOL_FP32);
    layer_case(1.0, 1, HN_CUDA_MATMUL_FP32, TOL_FP32);
    layer_case(1.0, 0, HN_CUDA_MATMUL_FP32, TOL_FP32);
}

static void test_layer_bf16(void **st) {
    layer_case(1.0, 1, HN_CUDA_MATMUL_BF16, TOL_BF16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detects_planted_error), cmocka_unit_test(test_ops_dropless),
        cmocka_unit_test(test_ops_capacity),          cmocka_unit_test(test_ops_shapes),
        cmocka_unit_test(test_layer_fp32),            cmocka_unit_test(test_layer_bf16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
