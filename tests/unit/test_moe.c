/* The Mixture-of-Experts MLP plugin (layers/moe), loaded from build/layers as the runtime
 * loads it: finite-difference gradients of x and of every parameter with the routing
 * held fixed (a perturbation that changes a token's top-k is detected and skipped), the
 * router gradient through the combination weights alone, bit-exact agreement with the
 * SwiGLU plugin for one expert and k = 1, the balance loss against hand-computed values
 * and its minimum on uniform routing, the capacity factor against a float64 reference
 * forward, the z-loss, packed sequences, and MoE inside Lua-built models (H-Net with
 * MoE in its main network, the letter E). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "plugin/config.h"
#include "lua/experiment.h"
#include "model/layer.h"
#include "model/model.h"
#include "model/params.h"
#include "model/sublayers.h"
#include "plugin/registry.h"
#include "support/gradcheck.h"
#include "support/fixtures.h"

#define TOL 1e-2
#define MAXT 64
#define MAXE 8
#define MAXD 32

static hn_registry reg;

static int setup(void **state) {
    (void)state;
    if (registry_open(&reg)) return -1;
    if (!hn_registry_find(&reg, "moe") || !hn_registry_find(&reg, "swiglu")) {
        fprintf(stderr, "build/layers/moe.so and swiglu.so are needed (run make)\n");
        return -1;
    }
    return 0;
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
    int d, E, k, T;
    int32_t offsets[8], pos[MAXT];
    hn_seqs seqs;
    hn_layer_ctx ctx;
    float *x, *y, *probe, *dx;
    int32_t top_ref[MAXT * MAXE]; /* the routing held fixed */
    int flipped;
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
    f->seqs.total = f->T = f->offsets[n];
    f->seqs.offsets = f->offsets;
    f->seqs.offsets_dev = f->offsets;
    f->seqs.pos_dev = f->pos;
}

static int cfg_int(const cJSON *cfg, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItem(cfg, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

/* Creates plugin `name` at width d over sequences `lens`; x and probe are N(0, 1),
 * every parameter N(0, 0.2). */
static void fixture_open(fixture *f, const char *name, const char *cfg, int d, const int *lens,
                         int n, uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->be = hn_backend_cpu();
    f->d = d;
    const hn_layer_plugin *p = hn_registry_find(&reg, name);
    assert_non_null(p);
    f->cfg = cJSON_Parse(cfg);
    assert_non_null(f->cfg);
    f->E = cfg_int(f->cfg, "experts", 8);
    f->k = cfg_int(f->cfg, "top_k", 2);
    hn_layer_args args = {.d_model = d, .stage = 0, .layer = 0, .n_layers = 4, .cfg = hn_config_view(f->cfg)};
    hn_error err = {{0}};
    hn_params_init(&f->store, f->be);
    int rc = hn_layer_create(&f->layer, p, &args, &f->store, "mlp.", 0, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(hn_params_allocate(&f->store, seed, &err), HN_OK);
    hn_layer_bind(&f->layer, &f->store);
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    fill_normal(f->store.values, f->store.total, 0.2, &rng);
    make_seqs(f, lens, n);
    assert_true(f->T <= MAXT);
    f->ctx.be = f->be;
    f->ctx.seqs = &f->seqs;
    size_t TD = (size_t)f->T * d;
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

static hn_param_entry *param(fixture *f, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "mlp.%s", name);
    int i = hn_params_find(&f->store, full);
    if (i < 0) fprintf(stderr, "no parameter %s\n", full);
    assert_true(i >= 0);
    return &f->store.entries[i];
}

/* ------------------------------------------------------------------ float64 reference */

static void ref_logits(fixture *f, int t, double *l) {
    const float *wr = param(f, "router.weight")->p.value;
    for (int e = 0; e < f->E; e++) {
        l[e] = 0;
        for (int i = 0; i < f->d; i++) l[e] += (double)wr[e * f->d + i] * f->x[t * f->d + i];
    }
}

/* experts in descending logit order (ties: lower index) */
static void ref_order(const double *l, int E, int *order) {
    for (int j = 0; j < E; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= order[i] == e;
            if (!taken && (best < 0 || l[e] > l[best])) best = e;
        }
        order[j] = best;
    }
}

static void ref_topk(fixture *f, int32_t *top) {
    for (int t = 0; t < f->T; t++) {
        double l[MAXE];
        int order[MAXE];
        ref_logits(f, t, l);
        ref_order(l, f->E, order);
        for (int j = 0; j < f->k; j++) top[t * f->k + j] = order[j];
    }
}

/* The smallest logit gap among the first k+1 ranks of row t. */
static double ref_margin(fixture *f, int t) {
    double l[MAXE];
    int order[MAXE];
    ref_logits(f, t, l);
    ref_order(l, f->E, order);
    double m = INFINITY;
    for (int j = 0; j < f->k && j + 1 < f->E; j++) m = fmin(m, l[order[j]] - l[order[j + 1]]);
    return m;
}

/* Redraws rows of x until every row's routing has a margin of at least `margin`, so
 * finite-difference perturbations cannot change it. */
static void separate_routing(fixture *f, double margin, uint64_t seed) {
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    for (int t = 0; t < f->T; t++) {
        int tries = 0;
        while (ref_margin(f, t) < margin) {
            fill_normal(f->x + (size_t)t * f->d, (size_t)f->d, 1.0, &rng);
            assert_true(++tries < 10000);
        }
    }
    ref_topk(f, f->top_ref);
}

/* SwiGLU of expert e on row t, in float64 */
static void ref_expert(fixture *f, int e, int t, int H, double *out) {
    char name[64];
    snprintf(name, sizeof name, "experts.%d.fc1.weight", e);
    const float *w1 = param(f, name)->p.value;
    snprintf(name, sizeof name, "experts.%d.fc2.weight", e);
    const float *w2 = param(f, name)->p.value;
    double h[64];
    for (int j = 0; j < H; j++) {
        double v = 0, g = 0;
        for (int i = 0; i < f->d; i++) {
            v += (double)w1[j * f->d + i] * f->x[t * f->d + i];
            g += (double)w1[(H + j) * f->d + i] * f->x[t * f->d + i];
        }
        h[j] = v * g / (1 + exp(-g));
    }
    for (int i = 0; i < f->d; i++) {
        out[i] = 0;
        for (int j = 0; j < H; j++) out[i] += (double)w2[i * H + j] * h[j];
    }
}

/* ------------------------------------------------------------------ loss and checks */

static double aux_of(fixture *f) {
    return f->layer.plugin->aux_loss ? f->layer.plugin->aux_loss(f->layer.self) : 0;
}

/* sum(y * probe) + the layer's weighted auxiliary loss: the objective the runtime sees */
static double layer_loss(void *ctx) {
    fixture *f = ctx;
    hn_error err;
    assert_int_equal(f->layer.plugin->forward(f->layer.self, &f->ctx, f->x, f->y, &err), HN_OK);
    if (!strcmp(f->layer.plugin->name, "moe")) {
        int32_t top[MAXT * MAXE];
        ref_topk(f, top);
        if (memcmp(top, f->top_ref, (size_t)f->T * f->k * sizeof(int32_t))) f->flipped = 1;
    }
    return dot_f64(f->y, f->probe, (size_t)f->T * f->d) + aux_of(f);
}

static void layer_grads(fixture *f) {
    hn_error err;
    hn_params_zero_grads(&f->store);
    memset(f->dx, 0, (size_t)f->T * f->d * sizeof(float));
    layer_loss(f);
    assert_int_equal(f->layer.plugin->backward(f->layer.self, &f->ctx, f->probe, f->dx, &err),
                     HN_OK);
}

/* Central differences over every entry; entries whose perturbation changed the routing
 * are skipped and counted. Returns the worst relative error. */
static double fd_error(fixture *f, float *v, const float *g, size_t n, int *skipped,
                       const char *what) {
    const double eps = 1e-2, floor_ = 5e-2;
    double worst = 0;
    size_t at = 0;
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        float orig = v[i];
        f->flipped = 0;
        v[i] = orig + (float)eps;
        double lp = layer_loss(f);
        v[i] = orig - (float)eps;
        double lm = layer_loss(f);
        v[i] = orig;
        if (f->flipped) {
            (*skipped)++;
            continue;
        }
        double num = (lp - lm) / (2 * eps);
        double e = fabs(g[i] - num) / fmax(fmax(fabs(g[i]), fabs(num)), floor_);
        if (e > worst) {
            worst = e;
            at = i;
        }
    }
    if (what && worst >= TOL)
        fprintf(stderr, "%s: worst error %.3g at entry %zu (analytic %g)\n", what, worst, at,
                g[at]);
    return worst;
}

/* The gradient passes; the same gradient x1.1 and with its largest entry negated fails. */
static void check(fixture *f, float *v, const float *g, size_t n, const char *what) {
    int skipped;
    assert_true(fd_error(f, v, g, n, &skipped, what) < TOL);
    assert_true(skipped * 20 <= (int)n);
    float *bad = falloc(n);
    size_t big = 0;
    for (size_t i = 0; i < n; i++) {
        bad[i] = 1.1f * g[i];
        if (fabsf(g[i]) > fabsf(g[big])) big = i;
    }
    assert_true(fabsf(g[big]) > 0.05f);
    assert_true(fd_error(f, v, bad, n, &skipped, NULL) > 5 * TOL);
    memcpy(bad, g, n * sizeof(float));
    bad[big] = -bad[big];
    assert_true(fd_error(f, v, bad, n, &skipped, NULL) > 0.5);
    free(bad);
}

static void check_tensor(fixture *f, const char *name) {
    hn_param_entry *e = param(f, name);
    float *g = falloc(e->numel);
    memcpy(g, e->p.grad, e->numel * sizeof(float));
    check(f, e->p.value, g, e->numel, e->p.name);
    free(g);
}

/* x and every parameter */
static void check_all(fixture *f) {
    layer_grads(f);
    size_t TD = (size_t)f->T * f->d;
    float *gx = falloc(TD);
    memcpy(gx, f->dx, TD * sizeof(float));
    check(f, f->x, gx, TD, "x");
    free(gx);
    check_tensor(f, "router.weight");
    for (int e = 0; e < f->E; e++) {
        char name[64];
        snprintf(name, sizeof name, "experts.%d.fc1.weight", e);
        check_tensor(f, name);
        snprintf(name, sizeof name, "experts.%d.fc2.weight", e);
        check_tensor(f, name);
    }
}

static void scale_param(fixture *f, const char *name, float s) {
    hn_param_entry *e = param(f, name);
    for (size_t i = 0; i < e->numel; i++) e->p.value[i] *= s;
}

static double metric(fixture *f, const char *name) {
    hn_layer_metric ms[64];
    int n = f->layer.plugin->metrics(f->layer.self, ms, 64);
    for (int i = 0; i < n; i++)
        if (!strcmp(ms[i].name, name)) return ms[i].value;
    fail_msg("no metric %s", name);
    return 0;
}

static const int LENS[] = {5, 3, 4}; /* packed: three sequences, T = 12 */

/* ------------------------------------------------------------------ registry, config */

static void test_registry_and_params(void **state) {
    (void)state;
    const hn_letter_def *E = hn_registry_letter(&reg, 'E');
    assert_non_null(E);
    assert_string_equal(E->mixer, "attention");
    assert_string_equal(E->mlp, "moe");
    const hn_layer_plugin *p = hn_registry_find(&reg, "moe");
    assert_string_equal(p->role, "mlp");
    assert_non_null(p->aux_loss);
    assert_non_null(p->metrics);
    assert_non_null(p->active_param_count);

    fixture f;
    fixture_open(&f, "moe", "{\"experts\":4,\"top_k\":2}", 16, LENS, 3, 1);
    /* names and shapes; hidden 0 = 3 * d_model */
    assert_int_equal(f.store.n, 9);
    hn_param_entry *r = param(&f, "router.weight");
    assert_int_equal(r->p.shape[0], 4);
    assert_int_equal(r->p.shape[1], 16);
    hn_param_entry *w1 = param(&f, "experts.3.fc1.weight"), *w2 = param(&f, "experts.3.fc2.weight");
    assert_int_equal(w1->p.shape[0], 2 * 48);
    assert_int_equal(w1->p.shape[1], 16);
    assert_int_equal(w2->p.shape[0], 16);
    assert_int_equal(w2->p.shape[1], 48);
    /* active: router + k of the E experts */
    assert_int_equal(p->active_param_count(f.layer.self), 4 * 16 + 2 * 3 * 16 * 48);
    /* FLOPs: router 2*D*E, and k SwiGLUs of 6*D*H + 5*D per row */
    int32_t lens[] = {5, 7};
    assert_true(fabs(p->flops(f.layer.self, lens, 2) -
                     12.0 * (2 * 16 * 4 + 2 * (6.0 * 16 * 48 + 5 * 16))) < 1e-6);
    fixture_close(&f);

    /* configuration errors */
    const char *bad[] = {"{\"experts\":4,\"top_k\":5}", "{\"experts\":0}",
                         "{\"capacity_factor\":-1}", "{\"renormalize\":3}",
                         "{\"experts\":1000}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *cfg = cJSON_Parse(bad[i]);
        hn_param_store st;
        hn_params_init(&st, hn_backend_cpu());
        hn_layer l;
        hn_layer_args args = {.d_model = 16, .n_layers = 1, .cfg = hn_config_view(cfg)};
        hn_error err = {{0}};
        assert_int_equal(hn_layer_create(&l, p, &args, &st, "mlp.", 0, &err), HN_ERR);
        assert_non_null(strstr(err.msg, "moe."));
        hn_params_free(&st);
        cJSON_Delete(cfg);
    }
}

/* ------------------------------------------------------------------ gradients */

static void test_gradients_fixed_routing(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe",
                 "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"balance_weight\":0.3,"
                 "\"z_loss_weight\":0.05}",
                 16, LENS, 3, 2);
    scale_param(&f, "router.weight", 2.5f); /* std 0.5: routing with clear preferences */
    separate_routing(&f, 0.2, 3);
    check_all(&f);

    /* row 0 moved to a near tie between its k-th and (k+1)-th expert: perturbations of
     * its x flip the routing; the checker sees and skips them, the rest still pass */
    double l[MAXE];
    int order[MAXE];
    ref_logits(&f, 0, l);
    ref_order(l, f.E, order);
    const float *wr = param(&f, "router.weight")->p.value;
    int a = order[f.k - 1], b = order[f.k];
    double dir[MAXD], nn = 0;
    for (int i = 0; i < f.d; i++) {
        dir[i] = wr[b * f.d + i] - wr[a * f.d + i];
        nn += dir[i] * dir[i];
    }
    double step = (l[a] - l[b] - 1e-3) / nn; /* leaves a gap of 1e-3 */
    for (int i = 0; i < f.d; i++) f.x[i] += (float)(step * dir[i]);
    ref_topk(&f, f.top_ref);
    layer_grads(&f);
    int skipped;
    float *gx = falloc((size_t)f.T * f.d);
    memcpy(gx, f.dx, (size_t)f.T * f.d * sizeof(float));
    assert_true(fd_error(&f, f.x, gx, (size_t)f.T * f.d, &skipped, "x near a tie") < TOL);
    assert_true(skipped > 0 && skipped <= f.d);
    free(gx);
    fixture_close(&f);
}

static void test_gradients_not_renormalized_top1(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe",
                 "{\"experts\":3,\"top_k\":1,\"hidden\":8,\"renormalize\":false,"
                 "\"balance_weight\":0.2}",
                 16, LENS, 3, 4);
    scale_param(&f, "router.weight", 2.5f);
    separate_routing(&f, 0.2, 5);
    check_all(&f);
    fixture_close(&f);
}

/* With no auxiliary losses the router learns only through the combination weights. */
static void test_router_gradient_through_weights(void **state) {
    (void)state;
    const char *cfgs[] = {
        "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"balance_weight\":0,\"renormalize\":true}",
        "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"balance_weight\":0,\"renormalize\":false}",
        "{\"experts\":4,\"top_k\":1,\"hidden\":8,\"balance_weight\":0,\"renormalize\":false}",
    };
    for (int c = 0; c < 3; c++) {
        fixture f;
        fixture_open(&f, "moe", cfgs[c], 16, LENS, 3, 10 + c);
        scale_param(&f, "router.weight", 2.5f);
        separate_routing(&f, 0.2, 20 + c);
        layer_grads(&f);
        assert_true(aux_of(&f) == 0);
        check_tensor(&f, "router.weight");
        fixture_close(&f);
    }
    /* renormalised top-1: the weight is always 1, so the router gets nothing */
    fixture f;
    fixture_open(&f, "moe", "{\"experts\":4,\"top_k\":1,\"hidden\":8,\"balance_weight\":0}", 16,
                 LENS, 3, 30);
    layer_grads(&f);
    hn_param_entry *r = param(&f, "router.weight");
    for (size_t i = 0; i < r->numel; i++) assert_true(r->p.grad[i] == 0.0f);
    fixture_close(&f);
}

/* ------------------------------------------------------------------ one expert = SwiGLU */

static void test_one_expert_is_swiglu(void **state) {
    (void)state;
    for (int renorm = 0; renorm < 2; renorm++) {
        fixture m, s;
        fixture_open(&m, "moe",
                     renorm ? "{\"experts\":1,\"top_k\":1,\"hidden\":24}"
                            : "{\"experts\":1,\"top_k\":1,\"hidden\":24,\"renormalize\":false}",
                     16, LENS, 3, 40);
        fixture_open(&s, "swiglu", "{\"hidden\":24}", 16, LENS, 3, 41);
        hn_param_entry *m1 = param(&m, "experts.0.fc1.weight"), *m2 = param(&m, "experts.0.fc2.weight");
        hn_param_entry *s1 = param(&s, "fc1.weight"), *s2 = param(&s, "fc2.weight");
        assert_int_equal(m1->numel, s1->numel);
        assert_int_equal(m2->numel, s2->numel);
        memcpy(s1->p.value, m1->p.value, m1->numel * sizeof(float));
        memcpy(s2->p.value, m2->p.value, m2->numel * sizeof(float));
        size_t TD = (size_t)m.T * 16;
        memcpy(s.x, m.x, TD * sizeof(float));
        memcpy(s.probe, m.probe, TD * sizeof(float));
        layer_grads(&m);
        layer_grads(&s);
        assert_memory_equal(m.y, s.y, TD * sizeof(float));
        assert_memory_equal(m.dx, s.dx, TD * sizeof(float));
        assert_memory_equal(m1->p.grad, s1->p.grad, m1->numel * sizeof(float));
        assert_memory_equal(m2->p.grad, s2->p.grad, m2->numel * sizeof(float));
        hn_param_entry *r = param(&m, "router.weight");
        for (size_t i = 0; i < r->numel; i++) assert_true(r->p.grad[i] == 0.0f);
        /* one expert is perfectly balanced: balance = 1, aux = its weight */
        assert_true(metric(&m, "balance_loss") == 1.0);
        assert_true(fabs(aux_of(&m) - 0.01) < 1e-15);
        /* a deliberately different weight is seen */
        m1->p.value[5] += 1e-3f;
        layer_loss(&m);
        assert_true(memcmp(m.y, s.y, TD * sizeof(float)) != 0);
        /* FLOPs: the SwiGLU's plus the router's 2*D per row */
        int32_t lens[] = {12};
        assert_true(fabs(m.layer.plugin->flops(m.layer.self, lens, 1) -
                         s.layer.plugin->flops(s.layer.self, lens, 1) - 2.0 * 16 * 12) < 1e-6);
        fixture_close(&m);
        fixture_close(&s);
    }
}

/* ------------------------------------------------------------------ balance loss */

/* A fixed routing by hand: D = E = 2, router = identity, k = 1. Rows (ln 3, 0) have
 * p = (3/4, 1/4) and choose expert 0; (0, ln 3) has p = (1/4, 3/4) and chooses 1.
 * Three of the first and one of the second: f = (3/4, 1/4), P = (5/8, 3/8),
 * balance = 2 (3/4 * 5/8 + 1/4 * 3/8) = 9/8; every row's logsumexp is ln 4. */
static void test_balance_loss_by_hand(void **state) {
    (void)state;
    int lens[] = {4};
    fixture f;
    fixture_open(&f, "moe",
                 "{\"experts\":2,\"top_k\":1,\"hidden\":4,\"balance_weight\":0.1,"
                 "\"z_loss_weight\":0.5}",
                 2, lens, 1, 50);
    float *wr = param(&f, "router.weight")->p.value;
    wr[0] = 1, wr[1] = 0, wr[2] = 0, wr[3] = 1;
    float l3 = (float)log(3.0);
    float x[] = {l3, 0, l3, 0, 0, l3, l3, 0};
    memcpy(f.x, x, sizeof x);
    layer_loss(&f);
    double z = log(4.0) * log(4.0);
    assert_true(fabs(metric(&f, "balance_loss") - 9.0 / 8.0) < 1e-6);
    assert_true(fabs(metric(&f, "z_loss") - z) < 1e-5);
    assert_true(fabs(aux_of(&f) - (0.1 * 9.0 / 8.0 + 0.5 * z)) < 1e-5);
    assert_true(metric(&f, "tokens_expert0") == 3);
    assert_true(metric(&f, "tokens_expert1") == 1);
    assert_true(metric(&f, "dropped") == 0);
    assert_true(fabs(metric(&f, "max_load") - 1.5) < 1e-12);
    fixture_close(&f);
}

/* Uniform routing gives exactly 1 (times the weight); with every row sharing one
 * distribution the loss is E * (mean top-k probability) >= 1, falling to 1 as the
 * router flattens to uniform. */
static void test_balance_minimum_uniform(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe", "{\"experts\":6,\"top_k\":2,\"hidden\":4,\"balance_weight\":0.25}", 8,
                 LENS, 3, 60);
    for (int t = 1; t < f.T; t++) memcpy(f.x + t * 8, f.x, 8 * sizeof(float));
    hn_param_entry *r = param(&f, "router.weight");
    float *w0 = falloc(r->numel);
    memcpy(w0, r->p.value, r->numel * sizeof(float));
    double prev = INFINITY;
    const float scales[] = {4, 2, 1, 0.5f, 0.25f, 0.1f, 0.01f, 0};
    for (int i = 0; i < 8; i++) {
        for (size_t j = 0; j < r->numel; j++) r->p.value[j] = scales[i] * w0[j];
        layer_loss(&f);
        double b = metric(&f, "balance_loss");
        assert_true(b >= 1.0 - 1e-9);
        assert_true(b <= prev + 1e-9);
        prev = b;
    }
    assert_true(fabs(prev - 1.0) < 1e-12);
    assert_true(fabs(aux_of(&f) - 0.25) < 1e-12);
    /* and with a spread routing (distinct rows, zero router): still exactly 1 */
    hn_rng rng;
    hn_rng_seed(&rng, 61);
    fill_normal(f.x, (size_t)f.T * 8, 1.0, &rng);
    memset(r->p.value, 0, r->numel * sizeof(float));
    layer_loss(&f);
    assert_true(fabs(metric(&f, "balance_loss") - 1.0) < 1e-12);
    free(w0);
    fixture_close(&f);
}

/* ------------------------------------------------------------------ capacity */

/* capacity = ceil(0.5 * 12 * 2 / 4) = 3 rows per expert: at least half of the 24
 * (token, expert) pairs are dropped. The output is checked against a float64 forward
 * that applies the documented priority (first choices before second choices, earlier
 * rows first), and the gradients with the drops in place. */
static void test_capacity_drops(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe",
                 "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"capacity_factor\":0.5,"
                 "\"balance_weight\":0.1}",
                 16, LENS, 3, 70);
    scale_param(&f, "router.weight", 2.5f);
    separate_routing(&f, 0.2, 71);
    layer_loss(&f);
    int E = 4, k = 2, T = f.T, cap = 3;
    int kept[4] = {0}, keep[MAXT * 2], dropped = 0;
    for (int j = 0; j < k; j++)
        for (int t = 0; t < T; t++) {
            int e = f.top_ref[t * k + j];
            keep[t * k + j] = kept[e] < cap;
            if (keep[t * k + j]) kept[e]++;
            else dropped++;
        }
    assert_true(dropped >= 12);
    assert_true(metric(&f, "dropped") == dropped);
    for (int e = 0; e < E; e++) {
        char name[32];
        snprintf(name, sizeof name, "tokens_expert%d", e);
        assert_true(metric(&f, name) == kept[e]);
    }
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double l[MAXE], p[MAXE], m = -INFINITY, y[16] = {0}, ye[16];
        ref_logits(&f, t, l);
        for (int e = 0; e < E; e++) m = fmax(m, l[e]);
        for (int e = 0; e < E; e++) p[e] = exp(l[e] - m); /* renormalised below */
        double sk = p[f.top_ref[t * k]] + p[f.top_ref[t * k + 1]];
        for (int j = 0; j < k; j++) {
            if (!keep[t * k + j]) continue;
            int e = f.top_ref[t * k + j];
            ref_expert(&f, e, t, 8, ye);
            for (int i = 0; i < 16; i++) y[i] += p[e] / sk * ye[i];
        }
        for (int i = 0; i < 16; i++) worst = fmax(worst, fabs(y[i] - f.y[t * 16 + i]));
    }
    assert_true(worst < 1e-5);
    check_all(&f);
    fixture_close(&f);
}

/* Dropless: the same float64 forward with nothing dropped. */
static void test_dropless_matches_reference(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe", "{\"experts\":5,\"top_k\":3,\"hidden\":8,\"renormalize\":false}", 16,
                 LENS, 3, 80);
    layer_loss(&f);
    ref_topk(&f, f.top_ref);
    assert_true(metric(&f, "dropped") == 0);
    double worst = 0, total = 0;
    for (int t = 0; t < f.T; t++) {
        double l[MAXE], m = -INFINITY, s = 0, y[16] = {0}, ye[16];
        ref_logits(&f, t, l);
        for (int e = 0; e < 5; e++) m = fmax(m, l[e]);
        for (int e = 0; e < 5; e++) s += exp(l[e] - m);
        for (int j = 0; j < 3; j++) {
            int e = f.top_ref[t * 3 + j];
            ref_expert(&f, e, t, 8, ye);
            for (int i = 0; i < 16; i++) y[i] += exp(l[e] - m) / s * ye[i];
        }
        for (int i = 0; i < 16; i++) worst = fmax(worst, fabs(y[i] - f.y[t * 16 + i]));
    }
    for (int e = 0; e < 5; e++) {
        char name[32];
        snprintf(name, sizeof name, "tokens_expert%d", e);
        total += metric(&f, name);
    }
    assert_true(total == 3 * f.T);
    assert_true(worst < 1e-5);
    fixture_close(&f);
}

/* ------------------------------------------------------------------ z-loss */

static void test_z_loss(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe",
                 "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"balance_weight\":0,"
                 "\"z_loss_weight\":0.7}",
                 16, LENS, 3, 90);
    scale_param(&f, "router.weight", 2.5f);
    separate_routing(&f, 0.2, 91);
    layer_loss(&f);
    double z = 0;
    for (int t = 0; t < f.T; t++) {
        double l[MAXE], m = -INFINITY, s = 0;
        ref_logits(&f, t, l);
        for (int e = 0; e < 4; e++) m = fmax(m, l[e]);
        for (int e = 0; e < 4; e++) s += exp(l[e] - m);
        z += (m + log(s)) * (m + log(s));
    }
    z /= f.T;
    assert_true(fabs(metric(&f, "z_loss") - z) < 1e-4 * z);
    assert_true(fabs(aux_of(&f) - 0.7 * z) < 1e-4 * z);
    /* the z-loss alone (probe 0): its gradient reaches the router and x */
    memset(f.probe, 0, (size_t)f.T * 16 * sizeof(float));
    layer_grads(&f);
    size_t TD = (size_t)f.T * 16;
    float *gx = falloc(TD);
    memcpy(gx, f.dx, TD * sizeof(float));
    check(&f, f.x, gx, TD, "x (z-loss)");
    free(gx);
    check_tensor(&f, "router.weight");
    fixture_close(&f);
}

/* ------------------------------------------------------------------ packed sequences */

/* Dropless and without auxiliary losses the layer is position-wise: a packed forward
 * and backward equal the per-sequence ones, to float32 rounding. Each expert's products
 * then take other rows (those of one sequence), and OpenBLAS may split a product's sums by
 * its rows (its Haswell kernels do: 1e-5 of a small entry of y, 1e-4 of one of the
 * parameter gradients, relative to themselves). A float32 sum of K terms rounded in two
 * orders differs by at most about 2 K u of their magnitudes (u = 2^-24, K <= 24 here:
 * d = 16 and 2H = 16 for y and dx, up to T k = 24 rows for a parameter gradient); through
 * the two products and the combination that is ~2^-17 of the tensor's scale, and 2^-16
 * bounds it (measured: 2e-7 on any OpenBLAS kernel). The routing has no near-ties (every
 * top-k margin at least 0.05), so no rounding changes an expert choice. */
static void test_packed_sequences(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "moe", "{\"experts\":4,\"top_k\":2,\"hidden\":8,\"balance_weight\":0}", 16,
                 LENS, 3, 100);
    separate_routing(&f, 0.05, 101);
    layer_grads(&f);
    size_t TD = (size_t)f.T * 16;
    float *y = falloc(TD), *dx = falloc(TD), *g = falloc(f.store.total);
    memcpy(y, f.y, TD * sizeof(float));
    memcpy(dx, f.dx, TD * sizeof(float));
    memcpy(g, f.store.grads, f.store.total * sizeof(float));
    hn_params_zero_grads(&f.store);
    memset(f.dx, 0, TD * sizeof(float));
    hn_error err;
    for (int i = 0; i < 3; i++) {
        int32_t off[2] = {0, LENS[i]};
        hn_seqs one = {.n = 1, .total = LENS[i], .max_len = LENS[i], .offsets = off,
                       .offsets_dev = off, .pos_dev = f.pos};
        hn_layer_ctx ctx = {.be = f.be, .seqs = &one};
        size_t o = (size_t)f.offsets[i] * 16;
        assert_int_equal(f.layer.plugin->forward(f.layer.self, &ctx, f.x + o, f.y + o, &err), HN_OK);
        assert_int_equal(f.layer.plugin->backward(f.layer.self, &ctx, f.probe + o, f.dx + o, &err),
                         HN_OK);
    }
    assert_true(max_scaled_diff(y, f.y, TD) < 0x1p-16);
    assert_true(max_scaled_diff(dx, f.dx, TD) < 0x1p-16);
    /* parameter gradients also sum the sequences in another order */
    assert_true(max_scaled_diff(g, f.store.grads, f.store.total) < 0x1p-16);
    /* a backward over a different T than its forward is refused */
    int32_t off[2] = {0, 2};
    hn_seqs two = {.n = 1, .total = 2, .max_len = 2, .offsets = off, .offsets_dev = off,
                   .pos_dev = f.pos};
    hn_layer_ctx ctx = {.be = f.be, .seqs = &two};
    assert_int_equal(f.layer.plugin->backward(f.layer.self, &ctx, f.probe, f.dx, &err), HN_ERR);
    free(y);
    free(dx);
    free(g);
    fixture_close(&f);
}

/* ------------------------------------------------------------------ in Lua-built models */

static cJSON *load_lua(const char *text) {
    char path[] = "/tmp/test_moe_XXXXXX.lua";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cJSON *cfg = NULL;
    hn_error err;
    int rc = hn_experiment_load(path, NULL, &reg, &cfg, &err);
    unlink(path);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    return cfg;
}

typedef struct metric_list {
    char names[256][160];
    double values[256];
    int n;
} metric_list;

static void collect(const char *name, double value, void *ctx) {
    metric_list *l = ctx;
    assert_true(l->n < 256);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->values[l->n++] = value;
}

static double find_metric(const metric_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name)) return l->values[i];
    fail_msg("no metric %s", name);
    return 0;
}

static void run_model(hn_model *m, hn_loss *loss) {
    enum { N = 2, L = 48 };
    int32_t tok[N * L], tgt[N * L];
    const char *text = "the cat sat on a mat; a dog ran far. we saw it!";
    for (int i = 0; i < N * L; i++) {
        tok[i] = (unsigned char)text[(i * 7) % 47];
        tgt[i] = (unsigned char)text[(i * 7 + 5) % 47];
    }
    hn_error err;
    assert_int_equal(hn_model_forward(m, tok, tgt, N, L, loss, &err), HN_OK);
    assert_int_equal(hn_model_backward(m, &err), HN_OK);
    assert_true(isfinite(loss->ce_nats) && isfinite(loss->aux));
    double g2 = m->be->sum_squares(m->params.grads, m->params.total);
    assert_true(isfinite(g2) && g2 > 0);
}

/* An H-Net whose main network uses MoE MLPs (its T blocks through mlp = moe{...}, and
 * an E block), and an isotropic E stack configured by the model's moe section. */
static void test_models_with_moe(void **state) {
    (void)state;
    if (!hn_registry_find_chunker(&reg, "dc")) skip();
    cJSON *cfg = load_lua(
        "return experiment {\n"
        "  data = corpus { synthetic = { seed = 1 }, seq_len = 48 },\n"
        "  model = hnet {\n"
        "    layout = { \"T1\", { \"E1T1\" }, \"T1\" },\n"
        "    d = { 16, 24 },\n"
        "    mlp = { 32, moe { experts = 4, top_k = 2, hidden = 16 } },\n"
        "    moe = { balance_weight = 0.5 },\n"
        "    attention = { heads = 2, rotary_dim = 4 },\n"
        "    chunker = dc { ratio = 2 },\n"
        "  },\n"
        "}\n");
    hn_model m;
    hn_error err;
    int rc = hn_model_build(&m, cJSON_GetObjectItem(cfg, "model"), &reg, hn_backend_cpu(), 1, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    const char *names[] = {"backbone.main_network.main_network.layers.0.mlp.router.weight",
                           "backbone.main_network.main_network.layers.1.mlp.router.weight"};
    for (int i = 0; i < 2; i++) {
        int idx = hn_params_find(&m.params, names[i]);
        assert_true(idx >= 0);
        assert_int_equal(m.params.entries[idx].p.shape[0], 4);
        assert_int_equal(m.params.entries[idx].p.shape[1], 24);
    }
    assert_true(hn_params_find(&m.params, "backbone.main_network.main_network.layers.1.mlp.experts.3.fc2.weight") >= 0);
    assert_true(hn_params_find(&m.params, "backbone.encoder.layers.0.mlp.fc1.weight") >= 0);
    /* two MoE layers each leave (E - k) experts of 3 * 24 * 16 unused per byte */
    assert_int_equal(hn_model_active_param_count(&m),
                     hn_model_param_count(&m) - 2 * 2 * 3 * 24 * 16);
    hn_loss loss;
    run_model(&m, &loss);
    metric_list *l = calloc(1, sizeof *l);
    hn_model_sublayer_metrics(&m, collect, l);
    hn_stage_stats st[4];
    assert_int_equal(hn_model_stage_stats(&m, st, 4), 1);
    double routed = 0, aux = 0;
    for (int e = 0; e < 4; e++) {
        char name[96];
        snprintf(name, sizeof name, "backbone.main_network.main_network.layers.0.mlp.tokens_expert%d", e);
        routed += find_metric(l, name);
    }
    assert_true(routed == 2.0 * (double)st[0].inner_len); /* dropless: T * k */
    for (int i = 0; i < 2; i++) {
        char name[96];
        snprintf(name, sizeof name, "backbone.main_network.main_network.layers.%d.mlp.balance_loss", i);
        aux += 0.5 * find_metric(l, name);
    }
    /* the model's auxiliary loss holds the MoE losses besides the ratio loss */
    assert_true(aux > 0);
    assert_true(fabs(loss.aux - m.backbone.alpha * st[0].ratio_loss - aux) < 1e-6);
    free(l);
    hn_model_free(&m);
    cJSON_Delete(cfg);

    /* isotropic "E2": no stage MLP; the blocks read the model's moe section */
    cfg = load_lua(
        "return experiment {\n"
        "  data = corpus { synthetic = { seed = 1 }, seq_len = 48 },\n"
        "  model = isotropic { layout = \"E2\", d = 16, moe = { experts = 3, top_k = 1 },\n"
        "                      attention = { heads = 2, rotary_dim = 4 } },\n"
        "}\n");
    rc = hn_model_build(&m, cJSON_GetObjectItem(cfg, "model"), &reg, hn_backend_cpu(), 1, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    int idx = hn_params_find(&m.params, "backbone.main_network.layers.1.mlp.router.weight");
    assert_true(idx >= 0);
    assert_int_equal(m.params.entries[idx].p.shape[0], 3);
    run_model(&m, &loss);
    assert_true(loss.aux > 0); /* default balance weight 0.01 */
    hn_model_free(&m);
    cJSON_Delete(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_and_params),
        cmocka_unit_test(test_gradients_fixed_routing),
        cmocka_unit_test(test_gradients_not_renormalized_top1),
        cmocka_unit_test(test_router_gradient_through_weights),
        cmocka_unit_test(test_one_expert_is_swiglu),
        cmocka_unit_test(test_balance_loss_by_hand),
        cmocka_unit_test(test_balance_minimum_uniform),
        cmocka_unit_test(test_capacity_drops),
        cmocka_unit_test(test_dropless_matches_reference),
        cmocka_unit_test(test_z_loss),
        cmocka_unit_test(test_packed_sequences),
        cmocka_unit_test(test_models_with_moe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
