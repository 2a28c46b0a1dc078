/* The mamba2 layer plugin, loaded from its shared object as the runtime loads it:
 * letters, parameters (names, shapes, decay flags, initialisation), finite-difference
 * gradient checks of every parameter and of the input over packed sequences, stepping
 * position by position vs the parallel forward, FLOPs vs a hand count, config errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layer.h"
#include "plugin/config.h"
#include "model/params.h"
#include "plugin/registry.h"
#include "support/gradcheck.h"
#include "test_mamba2_ref.h"
#include "support/fixtures.h"

static hn_registry reg;
static const hn_layer_plugin *m2;

static int setup(void **state) {
    if (registry_open(&reg)) return -1;
    m2 = hn_registry_find(&reg, "mamba2");
    if (!m2) fprintf(stderr, "no mamba2 plugin found (build/layers/mamba2.so)\n");
    return m2 ? 0 : -1;
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

/* One plugin instance with its own parameter store. */
typedef struct inst {
    hn_param_store store;
    hn_layer layer;
    const hn_backend *be;
} inst;

/* d_model 16, expand 2 -> d_inner 32, headdim 8 -> 4 heads, d_state 8. */
static int make(inst *in, int ngroups, int chunk, uint64_t seed, hn_error *err) {
    memset(in, 0, sizeof *in);
    in->be = hn_backend_cpu();
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddNumberToObject(cfg, "d_state", 8);
    cJSON_AddNumberToObject(cfg, "headdim", 8);
    cJSON_AddNumberToObject(cfg, "ngroups", ngroups);
    cJSON_AddNumberToObject(cfg, "chunk_size", chunk);
    hn_layer_args args = {.d_model = 16, .stage = 0, .layer = 0, .n_layers = 4, .cfg = hn_config_view(cfg)};
    hn_params_init(&in->store, in->be);
    int rc = hn_layer_create(&in->layer, m2, &args, &in->store, "backbone.layers.0.mixer.", 0,
                             err);
    cJSON_Delete(cfg);
    if (rc) return rc;
    if (hn_params_allocate(&in->store, seed, err)) return HN_ERR;
    hn_layer_bind(&in->layer, &in->store);
    return HN_OK;
}

static void destroy(inst *in) {
    hn_layer_destroy(&in->layer, in->be);
    hn_params_free(&in->store);
}

static double *to_f64(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* max |a - r| / max |r| */
static double scaled_err(const float *a, const double *r, size_t n) {
    double num = 0, den = 1e-12;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - r[i]));
        den = fmax(den, fabs(r[i]));
    }
    return num / den;
}

static hn_seqs make_seqs(int32_t *offsets, const int *lens, int n) {
    hn_seqs s = {0};
    offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        offsets[i + 1] = offsets[i] + lens[i];
        if (lens[i] > s.max_len) s.max_len = lens[i];
    }
    s.n = n;
    s.total = offsets[n];
    s.offsets = s.offsets_dev = offsets;
    return s;
}

static void test_letters_and_params(void **state) {
    const hn_letter_def *m = hn_registry_letter(&reg, 'm'), *M = hn_registry_letter(&reg, 'M');
    assert_non_null(m);
    assert_non_null(M);
    assert_string_equal(m->mixer, "mamba2");
    assert_null(m->mlp);
    assert_string_equal(M->mixer, "mamba2");
    assert_string_equal(M->mlp, "*");
    assert_string_equal(m2->role, "mixer");

    inst in;
    hn_error err = {{0}};
    assert_int_equal(make(&in, 1, 8, 1, &err), HN_OK);
    struct { const char *name; int ndim; int64_t s0, s1, s2; int decay; } want[] = {
        {"in_proj.weight", 2, 2 * 32 + 2 * 8 + 4, 16, 0, 1},
        {"conv1d.weight", 3, 32 + 16, 1, 4, 1},
        {"conv1d.bias", 1, 48, 0, 0, 0},
        {"dt_bias", 1, 4, 0, 0, 0},
        {"A_log", 1, 4, 0, 0, 0},
        {"D", 1, 4, 0, 0, 0},
        {"norm.weight", 1, 32, 0, 0, 0},
        {"out_proj.weight", 2, 16, 32, 0, 1},
    };
    assert_int_equal(in.store.n, 8);
    for (int i = 0; i < 8; i++) {
        const hn_param *p = &in.store.entries[i].p;
        char full[128];
        snprintf(full, sizeof full, "backbone.layers.0.mixer.%s", want[i].name);
        assert_string_equal(p->name, full);
        assert_int_equal(p->ndim, want[i].ndim);
        assert_int_equal(p->shape[0], want[i].s0);
        if (want[i].ndim > 1) assert_int_equal(p->shape[1], want[i].s1);
        if (want[i].ndim > 2) assert_int_equal(p->shape[2], want[i].s2);
        assert_int_equal(p->weight_decay, want[i].decay);
    }
    /* initial values as the reference draws them */
    const hn_param *P = NULL;
    P = &in.store.entries[3].p; /* dt_bias: softplus(dt_bias) in [dt_min, dt_max] */
    for (int h = 0; h < 4; h++) {
        double dt = log1p(exp(P->value[h]));
        assert_true(dt >= 0.001 * 0.999 && dt <= 0.1 * 1.001);
    }
    P = &in.store.entries[4].p; /* A = exp(A_log) in [1, 16] */
    for (int h = 0; h < 4; h++) assert_true(P->value[h] >= 0 && P->value[h] <= log(16.0) + 1e-6);
    for (int h = 0; h < 4; h++) assert_true(in.store.entries[5].p.value[h] == 1.0f);
    for (int c = 0; c < 32; c++) assert_true(in.store.entries[6].p.value[c] == 1.0f);
    P = &in.store.entries[1].p;
    for (int c = 0; c < 48 * 4; c++) assert_true(fabsf(P->value[c]) <= 0.5f);
    double ss = 0;
    P = &in.store.entries[0].p;
    for (int i = 0; i < 84 * 16; i++) ss += (double)P->value[i] * P->value[i];
    double std_in = sqrt(ss / (84 * 16));
    ss = 0;
    P = &in.store.entries[7].p;
    for (int i = 0; i < 16 * 32; i++) ss += (double)P->value[i] * P->value[i];
    double std_out = sqrt(ss / (16 * 32));
    printf("init std in_proj %.4f (0.02), out_proj %.4f (0.01: 0.02 / sqrt(4 sublayers))\n",
           std_in, std_out);
    assert_true(fabs(std_in - 0.02) < 0.002);
    assert_true(fabs(std_out - 0.01) < 0.0015);
    destroy(&in);
}

/* ---- gradient checks through the whole plugin ---- */

typedef struct gc_ctx {
    inst *in;
    hn_layer_ctx ctx;
    const float *x;
    float *y;
    const float *probe;
    int n_out;
} gc_ctx;

static double loss_fn(void *p) {
    gc_ctx *c = p;
    hn_error err;
    c->in->layer.plugin->forward(c->in->layer.self, &c->ctx, c->x, c->y, &err);
    return dot_f64(c->y, c->probe, (size_t)c->n_out);
}

static void check_grads(int ngroups, int chunk) {
    inst in;
    hn_error err = {{0}};
    assert_int_equal(make(&in, ngroups, chunk, 7, &err), HN_OK);
    const int lens[] = {13, 4, 19};
    int32_t off[4];
    hn_seqs seqs = make_seqs(off, lens, 3);
    int T = seqs.total, D = 16;
    hn_rng rng;
    hn_rng_seed(&rng, 100 + (uint64_t)chunk);
    float *x = malloc((size_t)T * D * 4), *y = malloc((size_t)T * D * 4);
    float *probe = malloc((size_t)T * D * 4), *dx = calloc((size_t)T * D, 4);
    fill_normal(x, (size_t)T * D, 1.0, &rng);
    fill_normal(probe, (size_t)T * D, 1.0, &rng);
    /* larger projections than the 0.02 init, so every path carries signal */
    for (int i = 0; i < in.store.n; i++) {
        hn_param *p = &in.store.entries[i].p;
        size_t n = in.store.entries[i].numel;
        if (!strcmp(p->name + strlen(p->name) - 14, "in_proj.weight") ||
            !strcmp(p->name + strlen(p->name) - 15, "out_proj.weight"))
            fill_normal(p->value, n, 0.2, &rng);
        if (strstr(p->name, "dt_bias")) fill_uniform(p->value, n, -2.0, 0.0, &rng);
        if (strstr(p->name, "norm.weight") || strstr(p->name, ".D"))
            fill_uniform(p->value, n, 0.5, 1.5, &rng);
    }
    hn_layer_ctx ctx = {.be = in.be, .seqs = &seqs};
    gc_ctx gc = {&in, ctx, x, y, probe, T * D};
    assert_int_equal(m2->forward(in.layer.self, &ctx, x, y, &err), HN_OK);
    hn_params_zero_grads(&in.store);
    assert_int_equal(m2->backward(in.layer.self, &ctx, probe, dx, &err), HN_OK);

    /* 1. against finite differences of the float64 reference of the whole layer */
    m2_ref r = {.d = D, .di = 32, .H = 4, .P = 8, .N = 8, .G = ngroups, .K = 4, .T = T,
                .n_seqs = 3, .eps = 1e-5, .offsets = off};
    double **refp[] = {&r.w_in, &r.conv_w, &r.conv_b, &r.dt_bias, &r.A_log, &r.D, &r.norm_w,
                       &r.w_out};
    for (int i = 0; i < 8; i++) *refp[i] = to_f64(in.store.entries[i].p.value, in.store.entries[i].numel);
    r.x = to_f64(x, (size_t)T * D);
    r.probe = to_f64(probe, (size_t)T * D);
    double *yref = malloc((size_t)T * D * 8);
    m2_ref_forward(&r, yref);
    double ef = scaled_err(y, yref, (size_t)T * D);
    printf("G%d Q%-2d forward vs float64 reference: %.1e\n", ngroups, chunk, ef);
    assert_true(ef < 1e-5);
    const double tol64 = 1e-4;
    size_t most = (size_t)T * D;
    for (int i = 0; i < 8; i++)
        if (in.store.entries[i].numel > most) most = in.store.entries[i].numel;
    double *gref = malloc(most * sizeof *gref);
    for (int i = 0; i < 8; i++) {
        hn_param_entry *e = &in.store.entries[i];
        m2_ref_grad(&r, *refp[i], e->numel, gref);
        double eg = scaled_err(e->p.grad, gref, e->numel);
        printf("G%d Q%-2d %-16s vs float64 finite differences: %.1e\n", ngroups, chunk,
               e->p.name + 24, eg);
        assert_true(eg < tol64);
        if (i == 4) { /* negative control: a corrupted A_log gradient is detected */
            float saved = e->p.grad[1];
            e->p.grad[1] *= 1.05f;
            assert_true(scaled_err(e->p.grad, gref, e->numel) > tol64);
            e->p.grad[1] = saved;
        }
    }
    m2_ref_grad(&r, r.x, (size_t)T * D, gref);
    double ex = scaled_err(dx, gref, (size_t)T * D);
    printf("G%d Q%-2d %-16s vs float64 finite differences: %.1e\n", ngroups, chunk, "input x", ex);
    assert_true(ex < tol64);
    for (int i = 0; i < 8; i++) free(*refp[i]);
    free(r.x), free(r.probe), free(yref), free(gref);

    /* 2. the harness's float32 finite-difference check on the plugin itself (coarser:
     * float32 rounding and curvature limit it); floors scale with each gradient */
    const double tol = 5e-2;
    char what[160];
    for (int i = 0; i < in.store.n; i++) {
        hn_param_entry *e = &in.store.entries[i];
        snprintf(what, sizeof what, "G%d Q%d %s", ngroups, chunk, e->p.name + 24);
        gradcheck_opts o = {.eps = 1e-2, .floor = fmax(1e-2, 0.05 * max_abs(e->p.grad, e->numel)),
                            .max_points = 48, .what = what};
        assert_true(gradcheck_max_error(e->p.value, e->p.grad, e->numel, loss_fn, &gc, o) < tol);
    }
    gradcheck_opts o = {.eps = 1e-2, .floor = fmax(1e-2, 0.05 * max_abs(dx, (size_t)T * D)),
                        .max_points = 64, .what = "input x"};
    assert_true(gradcheck_max_error(x, dx, (size_t)T * D, loss_fn, &gc, o) < tol);
    /* negative control: a corrupted A_log gradient is detected */
    hn_param_entry *alog = &in.store.entries[4];
    for (size_t k = 0; k < alog->numel; k++) alog->p.grad[k] *= 1.2f;
    gradcheck_opts on = {.eps = 1e-2, .floor = 1e-2, .max_points = 0, .what = "A_log x1.2 (must fail)"};
    assert_true(gradcheck_max_error(alog->p.value, alog->p.grad, alog->numel, loss_fn, &gc, on) > tol);
    for (size_t k = 0; k < alog->numel; k++) alog->p.grad[k] /= 1.2f;

    /* backward accumulates into dx and into the parameter gradients */
    float *dx2 = malloc((size_t)T * D * 4);
    memcpy(dx2, dx, (size_t)T * D * 4);
    float g0 = in.store.entries[0].p.grad[5];
    loss_fn(&gc);
    assert_int_equal(m2->backward(in.layer.self, &ctx, probe, dx2, &err), HN_OK);
    for (int k = 0; k < T * D; k++) assert_true(fabsf(dx2[k] - 2 * dx[k]) <= 1e-5f + 1e-5f * fabsf(dx[k]));
    assert_true(fabsf(in.store.entries[0].p.grad[5] - 2 * g0) <= 1e-5f + 1e-5f * fabsf(g0));

    free(x), free(y), free(probe), free(dx), free(dx2);
    destroy(&in);
}

static void test_gradients_chunk4(void **state) { check_grads(1, 4); }
static void test_gradients_chunk16_groups(void **state) { check_grads(2, 16); }
static void test_gradients_chunk64(void **state) { check_grads(1, 64); }

/* ---- stepping reproduces the parallel forward ---- */

static void test_step_matches_forward(void **state) {
    inst in;
    hn_error err = {{0}};
    assert_int_equal(make(&in, 2, 4, 3, &err), HN_OK);
    const int lens[] = {11, 6, 17};
    int32_t off[4];
    hn_seqs seqs = make_seqs(off, lens, 3);
    int T = seqs.total, D = 16;
    hn_rng rng;
    hn_rng_seed(&rng, 55);
    for (int i = 0; i < in.store.n; i++) { /* non-trivial weights, as after training */
        hn_param *p = &in.store.entries[i].p;
        if (p->ndim == 2) fill_normal(p->value, in.store.entries[i].numel, 0.3, &rng);
    }
    float *x = malloc((size_t)T * D * 4), *y = malloc((size_t)T * D * 4);
    fill_normal(x, (size_t)T * D, 1.0, &rng);
    hn_layer_ctx ctx = {.be = in.be, .seqs = &seqs};
    assert_int_equal(m2->forward(in.layer.self, &ctx, x, y, &err), HN_OK);

    size_t sf = m2->state_floats(in.layer.self, 17);
    assert_int_equal(sf, (size_t)3 * (32 + 2 * 2 * 8) + 4 * 8 * 8); /* conv | ssm */
    float *st = malloc(3 * sf * 4);
    for (size_t i = 0; i < 3 * sf; i++) st[i] = 1e3f; /* position 0 must clear it */
    float xs[3 * 16], ys[3 * 16];
    double worst = 0, scale = 0;
    for (int t = 0; t < 17; t++) {
        /* the sequences still running at t, packed at the front of the state */
        int32_t pos[3];
        int idx[3], n = 0;
        for (int s = 0; s < 3; s++)
            if (t < lens[s]) idx[n++] = s;
        for (int k = 0; k < n; k++) {
            pos[k] = t;
            memcpy(xs + k * D, x + (size_t)(off[idx[k]] + t) * D, D * 4);
        }
        float *tmp = malloc(3 * sf * 4);
        for (int k = 0; k < n; k++) memcpy(tmp + k * sf, st + (size_t)idx[k] * sf, sf * 4);
        assert_int_equal(m2->step(in.layer.self, in.be, xs, ys, tmp, pos, n, &err), HN_OK);
        for (int k = 0; k < n; k++) memcpy(st + (size_t)idx[k] * sf, tmp + k * sf, sf * 4);
        free(tmp);
        for (int k = 0; k < n; k++)
            for (int c = 0; c < D; c++) {
                float want = y[(size_t)(off[idx[k]] + t) * D + c];
                worst = fmax(worst, fabs(ys[k * D + c] - want));
                scale = fmax(scale, fabs(want));
            }
    }
    printf("step vs parallel forward: scaled max err %.2e\n", worst / scale);
    assert_true(worst / scale < 1e-5);

    /* negative control: continuing from a cleared state at position 5 disagrees */
    memset(st, 0, sf * 4);
    int32_t p5 = 5;
    assert_int_equal(m2->step(in.layer.self, in.be, x + 5 * D, ys, st, &p5, 1, &err), HN_OK);
    double e = 0;
    for (int c = 0; c < D; c++) e = fmax(e, fabs(ys[c] - y[5 * D + c]));
    assert_true(e / scale > 1e-3);
    free(x), free(y), free(st);
    destroy(&in);
}

static void test_flops_hand_count(void **state) {
    inst in;
    hn_error err = {{0}};
    assert_int_equal(make(&in, 1, 8, 1, &err), HN_OK);
    /* d 16, expand 2, d_state 8, 4 heads, d_conv 4, per position (Appendix B):
     * xz 2*16*64 + BCdt 2*16*(2*8+4) + SSD 6*32*8 + conv 2*16*4 + gating 5*16
     * + out 2*16*16 = 2048 + 640 + 1536 + 128 + 80 + 512 = 4944 */
    const int32_t lens[] = {10, 6, 0};
    assert_true(fabs(m2->flops(in.layer.self, lens, 3) - 4944.0 * 16) < 1e-6);
    assert_true(m2->flops(in.layer.self, lens + 2, 1) == 0.0);
    destroy(&in);
}

static void test_config_errors(void **state) {
    struct { const char *json; const char *msg; } bad[] = {
        {"{\"headdim\": 24}", "headdim"},
        {"{\"headdim\": 8, \"ngroups\": 3}", "ngroups"},
        {"{\"headdim\": 8, \"d_state\": 0}", "d_state"},
        {"{\"headdim\": 8, \"chunk_size\": 2.5}", "chunk_size"},
        {"{\"headdim\": 8, \"dt_min\": 0.5, \"dt_max\": 0.1}", "dt_max"},
        {"{\"headdim\": 8, \"norm_eps\": -1}", "norm_eps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *cfg = cJSON_Parse(bad[i].json);
        hn_layer_args args = {.d_model = 16, .n_layers = 1, .cfg = hn_config_view(cfg)};
        void *self = NULL;
        hn_error err = {{0}};
        assert_int_equal(m2->create(&args, &self, &err), HN_ERR);
        assert_null(self);
        printf("%s -> %s\n", bad[i].json, err.msg);
        assert_non_null(strstr(err.msg, bad[i].msg));
        cJSON_Delete(cfg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letters_and_params),
        cmocka_unit_test(test_gradients_chunk4),
        cmocka_unit_test(test_gradients_chunk16_groups),
        cmocka_unit_test(test_gradients_chunk64),
        cmocka_unit_test(test_step_matches_forward),
        cmocka_unit_test(test_flops_hand_count),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
