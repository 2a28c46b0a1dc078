/* The attention and swiglu layer plugins, loaded from build/layers as the runtime
 * loads them (run `make` first): registry entries and letters, configuration errors,
 * finite-difference gradient checks of the input and of every parameter (each also
 * shown to reject a corrupted gradient), FLOPs against hand counts, and inference
 * steps reproducing the parallel forward. */
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
#include "plugin/config.h"
#include "backend/cpu/cpu_ops.h"
#include "model/layer.h"
#include "model/params.h"
#include "plugin/registry.h"
#include "support/gradcheck.h"
#include "support/fixtures.h"

#define GRAD_TOL 1e-2
#define D_MODEL 16

static hn_registry reg;

static int setup(void **state) {
    (void)state;
    return registry_open(&reg);
}

static int teardown(void **state) {
    (void)state;
    hn_registry_close(&reg);
    return 0;
}

/* ------------------------------------------------------------------ a layer under test */

typedef struct fixture {
    const hn_backend *be;
    hn_param_store store;
    hn_layer layer;
    cJSON *cfg;
    int32_t offsets[8], pos[64];
    hn_seqs seqs;
    hn_layer_ctx ctx;
    float *x, *y, *probe, *dx;
} fixture;

static void make_seqs(fixture *f, const int *lens, int n) {
    f->offsets[0] = 0;
    f->seqs.max_len = 0;
    for (int i = 0; i < n; i++) {
        f->offsets[i + 1] = f->offsets[i] + lens[i];
        for (int j = 0; j < lens[i]; j++) f->pos[f->offsets[i] + j] = j;
        if (lens[i] > f->seqs.max_len) f->seqs.max_len = lens[i];
    }
    f->seqs.n = n;
    f->seqs.total = f->offsets[n];
    f->seqs.offsets = f->offsets;
    f->seqs.offsets_dev = f->offsets;
    f->seqs.pos_dev = f->pos;
}

/* Creates plugin `name` with config JSON `cfg` over sequences of lengths `lens`; the
 * parameters are redrawn with std 0.2 so that gradients are far from zero. */
static void fixture_open(fixture *f, const char *name, const char *cfg, const int *lens, int n,
                         uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->be = hn_backend_cpu();
    const hn_layer_plugin *p = hn_registry_find(&reg, name);
    assert_non_null(p);
    f->cfg = cJSON_Parse(cfg);
    assert_non_null(f->cfg);
    hn_layer_args args = {.d_model = D_MODEL, .stage = 0, .layer = 0, .n_layers = 4, .cfg = hn_config_view(f->cfg)};
    hn_error err = {{0}};
    hn_params_init(&f->store, f->be);
    int rc = hn_layer_create(&f->layer, p, &args, &f->store, "mixer.", 0, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(hn_params_allocate(&f->store, seed, &err), HN_OK);
    hn_layer_bind(&f->layer, &f->store);
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    fill_normal(f->store.values, f->store.total, 0.2, &rng);
    make_seqs(f, lens, n);
    f->ctx.be = f->be;
    f->ctx.seqs = &f->seqs;
    size_t TD = (size_t)f->seqs.total * D_MODEL;
    f->x = falloc(TD);
    f->y = falloc(TD);
    f->probe = falloc(TD);
    f->dx = falloc(TD);
    fill_normal(f->x, TD, 1.0, &rng);
    fill_normal(f->probe, TD, 1.0, &rng);
}

static void fixture_close(fixture *f) {
    hn_layer_destroy(&f->layer, f->be);
    hn_params_free(&f->store);
    cJSON_Delete(f->cfg);
    free(f->x);
    free(f->y);
    free(f->probe);
    free(f->dx);
}

static double layer_loss(void *ctx) {
    fixture *f = ctx;
    hn_error err;
    assert_int_equal(f->layer.plugin->forward(f->layer.self, &f->ctx, f->x, f->y, &err), HN_OK);
    return dot_f64(f->y, f->probe, (size_t)f->seqs.total * D_MODEL);
}

/* forward + backward with dy = probe into zeroed dx and parameter grads */
static void layer_grads(fixture *f) {
    hn_error err;
    hn_params_zero_grads(&f->store);
    memset(f->dx, 0, (size_t)f->seqs.total * D_MODEL * sizeof(float));
    layer_loss(f);
    assert_int_equal(f->layer.plugin->backward(f->layer.self, &f->ctx, f->probe, f->dx, &err),
                     HN_OK);
}

/* Gradcheck of one tensor, then the same gradient corrupted (x1.1; largest entry
 * negated) must fail. */
static void check(fixture *f, float *x, const float *g, size_t n, const char *what) {
    gradcheck_opts o = {.eps = 1e-2, .floor = 5e-2, .max_points = n, .what = what};
    gradcheck_assert(x, g, n, layer_loss, f, o, GRAD_TOL);
}

static hn_param_entry *param(fixture *f, const char *name) {
    int i = hn_params_find(&f->store, name);
    if (i < 0) fprintf(stderr, "no parameter %s\n", name);
    assert_true(i >= 0);
    return &f->store.entries[i];
}

static void check_all(fixture *f, const char *const *names, int n_names) {
    layer_grads(f);
    /* the gradients are read while the params move: keep copies */
    size_t TD = (size_t)f->seqs.total * D_MODEL;
    float *gx = falloc(TD);
    memcpy(gx, f->dx, TD * sizeof(float));
    check(f, f->x, gx, TD, "x");
    free(gx);
    for (int i = 0; i < n_names; i++) {
        hn_param_entry *e = param(f, names[i]);
        float *g = falloc(e->numel);
        memcpy(g, e->p.grad, e->numel * sizeof(float));
        check(f, e->p.value, g, e->numel, e->p.name);
        free(g);
    }
}

/* ------------------------------------------------------------------ registry, config */

static void test_registry_letters(void **state) {
    (void)state;
    const hn_letter_def *t = hn_registry_letter(&reg, 't'), *T = hn_registry_letter(&reg, 'T');
    assert_non_null(t);
    assert_non_null(T);
    assert_string_equal(t->mixer, "attention");
    assert_null(t->mlp);
    assert_string_equal(T->mixer, "attention");
    assert_string_equal(T->mlp, "*");
    const hn_layer_plugin *a = hn_registry_find(&reg, "attention");
    const hn_layer_plugin *s = hn_registry_find(&reg, "swiglu");
    assert_non_null(a);
    assert_non_null(s);
    assert_string_equal(a->role, "mixer");
    assert_string_equal(s->role, "mlp");
    assert_int_equal(s->n_letters, 0);
}

static void expect_create_error(const char *name, int d_model, const char *cfg,
                                const char *needle) {
    const hn_layer_plugin *p = hn_registry_find(&reg, name);
    assert_non_null(p);
    cJSON *c = cJSON_Parse(cfg);
    assert_non_null(c);
    hn_layer_args args = {.d_model = d_model, .n_layers = 2, .cfg = hn_config_view(c)};
    hn_error err = {{0}};
    void *self = NULL;
    assert_int_equal(p->create(&args, &self, &err), HN_ERR);
    assert_null(self);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    cJSON_Delete(c);
}

static void test_config_errors(void **state) {
    (void)state;
    expect_create_error("attention", 16, "{\"heads\": 3}", "not divisible by heads 3");
    expect_create_error("attention", 100, "{}", "not a multiple of head_dim 8");
    expect_create_error("attention", 16, "{\"heads\": 2, \"head_dim\": 4}", "d_model is 16");
    expect_create_error("attention", 16, "{\"heads\": 2, \"rotary_dim\": 10}", "rotary_dim");
    expect_create_error("attention", 16, "{\"heads\": 2, \"rotary_dim\": 3}", "rotary_dim");
    expect_create_error("attention", 16, "{\"heads\": 2, \"window\": \"local\"}",
                        "attention.window");
    expect_create_error("attention", 16, "{\"heads\": 2, \"window\": -3}", "attention.window");
    expect_create_error("attention", 16, "{\"heads\": 1.5}", "attention.heads must be an integer");
    expect_create_error("attention", 16, "{\"heads\": 2, \"rotary_dim\": 4, \"rope_theta\": 0}", "rope_theta");
    expect_create_error("swiglu", 16, "{}", "swiglu.hidden is required");
    expect_create_error("swiglu", 16, "{\"hidden\": 0}", "positive integer");
    expect_create_error("swiglu", 16, "{\"hidden\": \"big\"}", "positive integer");
}

static void test_attention_params_and_defaults(void **state) {
    (void)state;
    /* defaults: head_dim 64 -> 2 heads at d_model 128; global window; rotary 32 */
    const hn_layer_plugin *p = hn_registry_find(&reg, "attention");
    cJSON *c = cJSON_Parse("{\"window\": 1023}");
    hn_layer_args args = {.d_model = 128, .n_layers = 8, .cfg = hn_config_view(c)};
    hn_error err;
    void *self = NULL;
    assert_int_equal(p->create(&args, &self, &err), HN_OK);
    assert_int_equal(p->param_count(self), 2);
    hn_param ps[2];
    p->describe_params(self, ps);
    assert_string_equal(ps[0].name, "Wqkv.weight");
    assert_int_equal(ps[0].shape[0], 384);
    assert_int_equal(ps[0].shape[1], 128);
    assert_string_equal(ps[1].name, "out_proj.weight");
    assert_int_equal(ps[1].shape[0], 128);
    assert_true(ps[0].init == HN_INIT_NORMAL && fabsf(ps[0].a - 0.02f) < 1e-7f);
    assert_true(fabsf(ps[1].a - 0.02f / sqrtf(8.0f)) < 1e-7f);
    assert_true(ps[0].weight_decay && ps[1].weight_decay);
    /* a window of 1023 bounds the cache: 2 * D * 1024 + counter */
    assert_int_equal(p->state_floats(self, 4096), 2 * 128 * 1024 + 1);
    assert_int_equal(p->state_floats(self, 100), 2 * 128 * 100 + 1);
    p->destroy(self, hn_backend_cpu());
    cJSON_Delete(c);
}

/* ------------------------------------------------------------------ gradients */

static const int LENS[] = {6, 2, 9};

static void test_attention_gradients(void **state) {
    (void)state;
    static const char *const names[] = {"mixer.Wqkv.weight", "mixer.out_proj.weight"};
    /* window 3 < the 9-long sequence; rotary on 4 of each head's 8 dims */
    fixture f;
    fixture_open(&f, "attention",
                 "{\"heads\": 2, \"window\": 3, \"rotary_dim\": 4, \"rope_theta\": 100}", LENS,
                 3, 5);
    check_all(&f, names, 2);
    fixture_close(&f);
    /* global, with the rotation covering the whole head */
    fixture_open(&f, "attention", "{\"heads\": 4, \"rotary_dim\": 4, \"window\": \"global\"}",
                 LENS, 3, 6);
    check_all(&f, names, 2);
    fixture_close(&f);
}

static void test_swiglu_gradients(void **state) {
    (void)state;
    static const char *const names[] = {"mixer.fc1.weight", "mixer.fc2.weight"};
    fixture f;
    fixture_open(&f, "swiglu", "{\"hidden\": 24}", LENS, 3, 7);
    hn_param_entry *fc1 = param(&f, "mixer.fc1.weight"), *fc2 = param(&f, "mixer.fc2.weight");
    assert_int_equal(fc1->p.shape[0], 48);
    assert_int_equal(fc1->p.shape[1], D_MODEL);
    assert_int_equal(fc2->p.shape[0], D_MODEL);
    assert_int_equal(fc2->p.shape[1], 24);
    check_all(&f, names, 2);
    fixture_close(&f);
}

/* the backward accumulates into dx and the parameter grads */
static void test_backward_accumulates(void **state) {
    (void)state;
    const char *plugins[] = {"attention", "swiglu"};
    const char *cfgs[] = {"{\"heads\": 2, \"window\": 3, \"rotary_dim\": 4}", "{\"hidden\": 24}"};
    for (int k = 0; k < 2; k++) {
        fixture f;
        fixture_open(&f, plugins[k], cfgs[k], LENS, 3, 8);
        layer_grads(&f);
        size_t TD = (size_t)f.seqs.total * D_MODEL;
        float *dx1 = falloc(TD), *g1 = falloc(f.store.total);
        memcpy(dx1, f.dx, TD * sizeof(float));
        memcpy(g1, f.store.grads, f.store.total * sizeof(float));
        hn_error err;
        layer_loss(&f);
        assert_int_equal(f.layer.plugin->backward(f.layer.self, &f.ctx, f.probe, f.dx, &err), HN_OK);
        for (size_t i = 0; i < TD; i++) assert_true(fabsf(f.dx[i] - 2 * dx1[i]) <= 1e-5f * (1 + fabsf(dx1[i])));
        for (size_t i = 0; i < f.store.total; i++)
            assert_true(fabsf(f.store.grads[i] - 2 * g1[i]) <= 1e-5f * (1 + fabsf(g1[i])));
        free(dx1);
        free(g1);
        fixture_close(&f);
    }
}

/* ------------------------------------------------------------------ bf16 activations */

static uint16_t pack1(float v) {
    uint16_t h;
    hn_cpu_pack_bf16(&h, &v, 1);
    return h;
}

/* bf16 packing rounds to nearest, ties to even, and keeps NaN and infinities */
static void test_bf16_pack(void **state) {
    (void)state;
    assert_int_equal(pack1(1.0f), 0x3f80);
    assert_int_equal(pack1(1.0f + 0x1p-8f), 0x3f80);          /* tie: down to even */
    assert_int_equal(pack1(1.0f + 3 * 0x1p-8f), 0x3f82);      /* tie: up to even */
    assert_int_equal(pack1(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* past the tie */
    assert_int_equal(pack1(-2.0f), 0xc000);
    assert_int_equal(pack1(INFINITY), 0x7f80);
    float nan = NAN, back;
    uint16_t h = pack1(nan);
    hn_cpu_unpack_bf16(&back, &h, 1);
    assert_true(isnan(back));
    hn_rng rng;
    hn_rng_seed(&rng, 21);
    for (int i = 0; i < 1000; i++) {
        float v = (float)(hn_rng_normal(&rng) * 100), w;
        uint16_t b = pack1(v);
        hn_cpu_unpack_bf16(&w, &b, 1);
        assert_true(fabsf(w - v) <= fabsf(v) * 0x1p-8f); /* half an ulp of 8 bits */
    }
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* With activations kept in bf16 (what the cuda backend does in its bf16 mode) every
 * layer's forward is unchanged and its gradients move by bf16 rounding only: close to
 * the float32 ones, and not equal to them (the bf16 path really ran). */
static void test_bf16_activations(void **state) {
    (void)state;
    const char *plugins[] = {"attention", "swiglu", "mamba2"};
    const char *cfgs[] = {"{\"heads\": 2, \"window\": 3, \"rotary_dim\": 4}", "{\"hidden\": 24}",
                          "{\"headdim\": 8, \"d_state\": 8, \"chunk_size\": 4}"};
    for (int k = 0; k < 3; k++) {
        fixture f;
        fixture_open(&f, plugins[k], cfgs[k], LENS, 3, 40 + k);
        size_t TD = (size_t)f.seqs.total * D_MODEL, P = f.store.total;
        layer_grads(&f);
        float *y32 = falloc(TD), *dx32 = falloc(TD), *g32 = falloc(P);
        memcpy(y32, f.y, TD * sizeof(float));
        memcpy(dx32, f.dx, TD * sizeof(float));
        memcpy(g32, f.store.grads, P * sizeof(float));
        hn_cpu_set_stash_bf16(1);
        layer_grads(&f);
        hn_cpu_set_stash_bf16(0);
        double ey = rel_err(f.y, y32, TD), edx = rel_err(f.dx, dx32, TD);
        double eg = rel_err(f.store.grads, g32, P);
        printf("%s with bf16 activations: y %.2e, dx %.2e, parameter grads %.2e\n", plugins[k],
               ey, edx, eg);
        /* every forward runs on bf16 activations too (typed ops: qkv, att, gu, h,
         * zxbcdt, y and the gated norm's output are bf16) */
        assert_true(ey > 0 && ey < 2e-2);
        assert_true(edx < 2e-2 && eg < 2e-2);
        assert_true(edx > 0 || eg > 0);
        free(y32);
        free(dx32);
        free(g32);
        fixture_close(&f);
    }
}

/* ------------------------------------------------------------------ flops */

static void test_flops_hand_count(void **state) {
    (void)state;
    const int32_t lens[] = {6, 2};
    fixture f;
    fixture_open(&f, "attention", "{\"heads\": 2, \"window\": 3, \"rotary_dim\": 4}", LENS, 3, 9);
    /* D = 16, heads = 2, window 3 (4 keys at most), 8 positions.
     * keys seen: length 6 -> 1+2+3+4+4+4 = 18; length 2 -> 1+2 = 3; 21 in all.
     * qkv 2*3*8*16*16 = 12288; out_proj 2*8*16*16 = 4096;
     * per key: logits 2*16 + softmax 3*2 + values 2*16 = 70 -> 1470.  Total 17854. */
    assert_true(fabs(f.layer.plugin->flops(f.layer.self, lens, 2) - 17854.0) < 1e-6);
    fixture_close(&f);
    /* global: keys 21 + 3 = 24 -> 12288 + 4096 + 24*70 = 18064 */
    fixture_open(&f, "attention", "{\"heads\": 2, \"rotary_dim\": 4}", LENS, 3, 9);
    assert_true(fabs(f.layer.plugin->flops(f.layer.self, lens, 2) - 18064.0) < 1e-6);
    fixture_close(&f);
    /* swiglu H = 24: 2*8*3*16*24 = 18432 plus gating 5*8*16 = 640 -> 19072 */
    fixture_open(&f, "swiglu", "{\"hidden\": 24}", LENS, 3, 9);
    assert_true(fabs(f.layer.plugin->flops(f.layer.self, lens, 2) - 19072.0) < 1e-6);
    fixture_close(&f);
}

/* ------------------------------------------------------------------ inference steps */

/* Two sequences of length L stepped in lockstep reproduce the parallel forward. */
static void check_steps(const char *plugin, const char *cfg) {
    enum { L = 11 };
    const int lens[] = {L, L};
    fixture f;
    fixture_open(&f, plugin, cfg, lens, 2, 10);
    const hn_layer_plugin *p = f.layer.plugin;
    hn_error err;
    layer_loss(&f); /* f.y = parallel forward */
    size_t sf = p->state_floats(f.layer.self, L);
    float *st = falloc(2 * (sf ? sf : 1));
    float xs[2 * D_MODEL], ys[2 * D_MODEL];
    int32_t pos[2];
    double worst = 0;
    for (int t = 0; t < L; t++) {
        for (int s = 0; s < 2; s++) {
            memcpy(xs + s * D_MODEL, f.x + (size_t)(s * L + t) * D_MODEL, D_MODEL * sizeof(float));
            pos[s] = t;
        }
        assert_int_equal(p->step(f.layer.self, f.be, xs, ys, st, pos, 2, &err), HN_OK);
        for (int s = 0; s < 2; s++)
            worst = fmax(worst, max_rel_diff(ys + s * D_MODEL, f.y + (size_t)(s * L + t) * D_MODEL,
                                             D_MODEL, 1e-2));
    }
    printf("step %-10s %-48s worst rel diff %.2e\n", plugin, cfg, worst);
    assert_true(worst < 1e-4);
    free(st);
    fixture_close(&f);
}

static void test_steps_match_forward(void **state) {
    (void)state;
    check_steps("attention", "{\"heads\": 2, \"window\": 3, \"rotary_dim\": 4}"); /* ring wraps */
    check_steps("attention", "{\"heads\": 2, \"window\": 0, \"rotary_dim\": 8}");
    check_steps("attention", "{\"heads\": 4, \"window\": \"global\", \"rotary_dim\": 2}");
    check_steps("swiglu", "{\"hidden\": 24}");
}

/* a state that skipped a position, or a position past max_len, is an error */
static void test_step_errors(void **state) {
    (void)state;
    const int lens[] = {4};
    fixture f;
    fixture_open(&f, "attention", "{\"heads\": 2, \"rotary_dim\": 4}", lens, 1, 11);
    const hn_layer_plugin *p = f.layer.plugin;
    hn_error err = {{0}};
    size_t sf = p->state_floats(f.layer.self, 4);
    assert_int_equal(sf, 2 * D_MODEL * 4 + 1);
    float *st = falloc(sf);
    float y[D_MODEL];
    int32_t pos = 2; /* the zeroed state holds no positions yet */
    assert_int_equal(p->step(f.layer.self, f.be, f.x, y, st, &pos, 1, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "state holds 0 positions"));
    for (pos = 0; pos < 4; pos++)
        assert_int_equal(p->step(f.layer.self, f.be, f.x, y, st, &pos, 1, &err), HN_OK);
    pos = 4; /* global attention cannot forget: past max_len */
    assert_int_equal(p->step(f.layer.self, f.be, f.x, y, st, &pos, 1, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "sized for"));
    free(st);
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_letters),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_attention_params_and_defaults),
        cmocka_unit_test(test_attention_gradients),
        cmocka_unit_test(test_swiglu_gradients),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_flops_hand_count),
        cmocka_unit_test(test_steps_match_forward),
        cmocka_unit_test(test_step_errors),
        cmocka_unit_test(test_bf16_pack),
        cmocka_unit_test(test_bf16_activations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
