/* The chunker plugins (plugins/dc, space, pool), loaded from build/plugins/NAME.so
 * with dlopen as the runtime would: dc's boundary probabilities against float64
 * references (identity initialisation, and the reference H-Net's orientation of its two
 * projections), finite-difference gradients of x and every parameter for both
 * routings, config errors; space and pool against boundary lists written out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "plugin/config.h"
#include "plugin/host_api.h"
#include "plugin/chunker_abi.h"
#include "support/gradcheck.h"
#include "support/fixtures.h"

#define GRAD_TOL 1e-2

/* Every entry checked, with teeth (support/gradcheck.h). */
static void check_grad(float *x, const float *analytic, size_t n, gradcheck_loss_fn loss,
                       void *ctx, double eps, const char *what) {
    gradcheck_opts o = {.eps = eps, .floor = 1e-2, .max_points = n, .what = what};
    gradcheck_assert(x, analytic, n, loss, ctx, o, GRAD_TOL);
}

/* ------------------------------------------------------------------ loading */

typedef struct loaded {
    void *handle;
    const hn_chunker_plugin *plugin;
} loaded;

/* build/tests/<this test> -> build/plugins/NAME.so */
static loaded load_plugin(const char *name) {
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    snprintf(path, sizeof path, "%s/../plugins/%s.so", dirname(exe), name);
    loaded l = {dlopen(path, RTLD_NOW | RTLD_LOCAL), NULL};
    if (!l.handle) fprintf(stderr, "cannot load %s (make %s first?): %s\n", path, path, dlerror());
    assert_non_null(l.handle);
    hn_plugin_entry_fn entry = (hn_plugin_entry_fn)dlsym(l.handle, HN_PLUGIN_ENTRY_SYMBOL);
    assert_non_null(entry);
    const hn_plugin_decl *decl = entry(hn_host_api_table());
    assert_non_null(decl);
    l.plugin = decl->chunker;
    assert_non_null(l.plugin);
    assert_int_equal(l.plugin->abi_version, HN_CHUNKER_ABI_VERSION);
    assert_string_equal(l.plugin->name, name);
    return l;
}

/* ------------------------------------------------------------------ sequences */

typedef struct packed {
    int n;
    int32_t off[8], *pos;
    hn_seqs seqs;
} packed;

static void packed_init(packed *P, const int *lens, int n) {
    P->n = n;
    P->off[0] = 0;
    for (int i = 0; i < n; i++) P->off[i + 1] = P->off[i] + lens[i];
    int T = P->off[n];
    P->pos = calloc(T ? T : 1, sizeof(int32_t));
    assert_non_null(P->pos);
    P->seqs.max_len = 0;
    for (int i = 0; i < n; i++) {
        for (int t = P->off[i]; t < P->off[i + 1]; t++) P->pos[t] = t - P->off[i];
        if (lens[i] > P->seqs.max_len) P->seqs.max_len = lens[i];
    }
    P->seqs.n = n;
    P->seqs.total = T;
    P->seqs.offsets = P->off;
    P->seqs.offsets_dev = P->off;
    P->seqs.pos_dev = P->pos;
}

static int is_start(const packed *P, int t) {
    for (int i = 0; i < P->n; i++)
        if (P->off[i] == t) return 1;
    return 0;
}

/* ------------------------------------------------------------------ an instance */

typedef struct inst {
    loaded lib;
    void *self;
    int np;
    hn_param params[4];
} inst;

/* cfg: a JSON object text (the chunker section, defaults filled by the caller). */
static int inst_create(inst *I, const char *name, const char *cfg_json, int d, hn_error *err) {
    memset(I, 0, sizeof *I);
    I->lib = load_plugin(name);
    cJSON *cfg = cJSON_Parse(cfg_json);
    assert_non_null(cfg);
    hn_chunker_args args = {.d_model = d, .stage = 0, .cfg = hn_config_view(cfg)};
    int rc = I->lib.plugin->create(&args, &I->self, err);
    cJSON_Delete(cfg);
    if (rc) {
        assert_null(I->self);
        dlclose(I->lib.handle);
        return rc;
    }
    /* parameters as the runtime would: describe, allocate, initialise, bind */
    I->np = I->lib.plugin->param_count(I->self);
    assert_true(I->np >= 0 && I->np <= 4);
    I->lib.plugin->describe_params(I->self, I->params);
    hn_rng rng;
    hn_rng_seed(&rng, 7);
    for (int i = 0; i < I->np; i++) {
        hn_param *p = &I->params[i];
        size_t n = 1;
        for (int k = 0; k < p->ndim; k++) n *= (size_t)p->shape[k];
        p->value = falloc(n);
        p->grad = falloc(n);
        if (p->init == HN_INIT_CUSTOM) I->lib.plugin->init_custom(I->self, i, p->value, n, &rng);
        else if (p->init == HN_INIT_NORMAL) fill_normal(p->value, n, p->a, &rng);
        else if (p->init == HN_INIT_ONES) for (size_t j = 0; j < n; j++) p->value[j] = 1;
        else assert_int_equal(p->init, HN_INIT_ZEROS);
    }
    I->lib.plugin->bind(I->self, I->params);
    return HN_OK;
}

static size_t numel(const hn_param *p) {
    size_t n = 1;
    for (int k = 0; k < p->ndim; k++) n *= (size_t)p->shape[k];
    return n;
}

static void inst_free(inst *I) {
    I->lib.plugin->destroy(I->self, hn_backend_cpu());
    for (int i = 0; i < I->np; i++) {
        free(I->params[i].value);
        free(I->params[i].grad);
    }
    dlclose(I->lib.handle);
}

static const char *DC_DEFAULTS = "{\"ratio\":3,\"alpha\":0.03,\"routing\":\"cosine\","
                                 "\"smoothing\":true,\"ste\":true,\"downsample\":\"select\"}";
static const char *DC_LINEAR = "{\"ratio\":3,\"alpha\":0.03,\"routing\":\"linear\","
                               "\"smoothing\":true,\"ste\":true,\"downsample\":\"select\"}";

static double cosine(const double *a, const double *b, int D) {
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < D; d++) {
        ab += a[d] * b[d];
        aa += a[d] * a[d];
        bb += b[d] * b[d];
    }
    return ab / (sqrt(aa) * sqrt(bb));
}

/* y = W x for a [D, D] row-major W, in double */
static void matvec(double *y, const float *W, const float *x, int D) {
    for (int i = 0; i < D; i++) {
        y[i] = 0;
        for (int j = 0; j < D; j++) y[i] += (double)W[i * D + j] * x[j];
    }
}

/* ------------------------------------------------------------------ dc: cosine */

#define D_DC 8
static const int LENS[3] = {7, 1, 12};

static void test_dc_identity_init(void **state) {
    (void)state;
    const hn_backend *be = hn_backend_cpu();
    hn_error err;
    inst I;
    assert_int_equal(inst_create(&I, "dc", DC_DEFAULTS, D_DC, &err), HN_OK);
    assert_true(I.lib.plugin->differentiable);
    assert_int_equal(I.np, 2);
    const char *names[2] = {"q_proj_layer.weight", "k_proj_layer.weight"};
    for (int i = 0; i < 2; i++) {
        hn_param *p = &I.params[i];
        assert_string_equal(p->name, names[i]);
        assert_int_equal(p->ndim, 2);
        assert_int_equal(p->shape[0], D_DC);
        assert_int_equal(p->shape[1], D_DC);
        assert_int_equal(p->init, HN_INIT_CUSTOM);
        assert_int_equal(p->weight_decay, 0);
        for (int r = 0; r < D_DC; r++)
            for (int c = 0; c < D_DC; c++) assert_true(p->value[r * D_DC + c] == (r == c));
    }
    assert_true(I.lib.plugin->flops(I.self, 100) >= 4.0 * 100 * D_DC * D_DC);

    hn_rng rng;
    hn_rng_seed(&rng, 201);
    /* a small batch, a larger one (the work buffers grow), the small one again */
    const int lens_big[3] = {30, 2, 18};
    for (int round = 0; round < 3; round++) {
        packed P;
        packed_init(&P, round == 1 ? lens_big : LENS, 3);
        int T = P.seqs.total;
        float *x = falloc((size_t)T * D_DC), *p = falloc(T);
        fill_normal(x, (size_t)T * D_DC, 1.0, &rng);
        hn_chunker_ctx ctx = {be, &P.seqs, NULL, {0}};
        assert_int_equal(I.lib.plugin->forward(I.self, &ctx, x, p, &err), HN_OK);
        /* identity projections: p[t] = (1 - cos(x[t], x[t-1])) / 2 */
        for (int t = 0; t < T; t++) {
            if (is_start(&P, t)) {
                assert_true(p[t] == 1.0f);
                continue;
            }
            double a[D_DC], b[D_DC];
            for (int d = 0; d < D_DC; d++) {
                a[d] = x[(size_t)t * D_DC + d];
                b[d] = x[(size_t)(t - 1) * D_DC + d];
            }
            assert_true(fabs(p[t] - 0.5 * (1 - cosine(a, b, D_DC))) < 1e-6);
        }
        free(x);
        free(p);
        free(P.pos);
    }
    inst_free(&I);
}

typedef struct dc_ctx {
    inst *I;
    packed *P;
    float *x, *p, *probe;
} dc_ctx;

static double dc_loss(void *v) {
    dc_ctx *c = v;
    hn_error err;
    hn_chunker_ctx ctx = {hn_backend_cpu(), &c->P->seqs, NULL, {0}};
    assert_int_equal(c->I->lib.plugin->forward(c->I->self, &ctx, c->x, c->p, &err), HN_OK);
    return dot_f64(c->p, c->probe, c->P->seqs.total);
}

/* Gradient of sum(p * probe) in x and in every parameter. p is a continuous function
 * of x and the parameters (b is not involved), so the check is direct. */
static void check_dc_grads(inst *I, packed *P, hn_rng *rng, const char *tag) {
    int T = P->seqs.total;
    size_t nx = (size_t)T * D_DC;
    dc_ctx c = {I, P, falloc(nx), falloc(T), falloc(T)};
    fill_normal(c.x, nx, 1.0, rng);
    fill_normal(c.probe, T, 1.0, rng);
    dc_loss(&c);
    /* accumulation: every gradient starts from random "earlier" values */
    float *dx = falloc(nx), *dx0 = falloc(nx);
    fill_normal(dx0, nx, 1.0, rng);
    memcpy(dx, dx0, nx * sizeof(float));
    float *g0[4];
    for (int i = 0; i < I->np; i++) {
        size_t n = numel(&I->params[i]);
        g0[i] = falloc(n);
        fill_normal(g0[i], n, 1.0, rng);
        memcpy(I->params[i].grad, g0[i], n * sizeof(float));
    }
    hn_error err;
    hn_chunker_ctx ctx = {hn_backend_cpu(), &P->seqs, NULL, {0}};
    assert_int_equal(I->lib.plugin->backward(I->self, &ctx, c.probe, dx, &err), HN_OK);
    for (size_t i = 0; i < nx; i++) dx[i] -= dx0[i];
    char what[96];
    snprintf(what, sizeof what, "dc %s dx", tag);
    check_grad(c.x, dx, nx, dc_loss, &c, 1e-2, what);
    for (int i = 0; i < I->np; i++) {
        size_t n = numel(&I->params[i]);
        float *g = falloc(n);
        for (size_t j = 0; j < n; j++) g[j] = I->params[i].grad[j] - g0[i][j];
        snprintf(what, sizeof what, "dc %s %s", tag, I->params[i].name);
        check_grad(I->params[i].value, g, n, dc_loss, &c, 1e-2, what);
        free(g);
        free(g0[i]);
    }
    free(dx);
    free(dx0);
    free(c.x);
    free(c.p);
    free(c.probe);
}

/* a dc chunker with trained-looking projections: identity plus noise, Wq != Wk; rng
 * seeded with seed and left for the test to go on drawing */
static void dc_trained_looking(inst *I, hn_rng *rng, uint64_t seed) {
    hn_error err;
    assert_int_equal(inst_create(I, "dc", DC_DEFAULTS, D_DC, &err), HN_OK);
    hn_rng_seed(rng, seed);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < D_DC * D_DC; j++)
            I->params[i].value[j] += (float)(0.4 * hn_rng_normal(rng));
}

static void test_dc_cosine(void **state) {
    (void)state;
    hn_error err;
    inst I;
    hn_rng rng;
    dc_trained_looking(&I, &rng, 202);
    packed P;
    packed_init(&P, LENS, 3);
    int T = P.seqs.total;

    /* orientation of the reference H-Net: p[t] = (1 - cos(Wq x[t-1], Wk x[t])) / 2 */
    float *x = falloc((size_t)T * D_DC), *p = falloc(T);
    fill_normal(x, (size_t)T * D_DC, 1.0, &rng);
    hn_chunker_ctx ctx = {hn_backend_cpu(), &P.seqs, NULL, {0}};
    assert_int_equal(I.lib.plugin->forward(I.self, &ctx, x, p, &err), HN_OK);
    for (int t = 1; t < T; t++) {
        if (is_start(&P, t)) continue;
        double q[D_DC], k[D_DC];
        matvec(q, I.params[0].value, x + (size_t)(t - 1) * D_DC, D_DC);
        matvec(k, I.params[1].value, x + (size_t)t * D_DC, D_DC);
        assert_true(fabs(p[t] - 0.5 * (1 - cosine(q, k, D_DC))) < 1e-5);
    }
    /* a backward over other rows than the forward's is refused */
    packed Q;
    const int other[2] = {5, 3};
    packed_init(&Q, other, 2);
    hn_chunker_ctx bad = {hn_backend_cpu(), &Q.seqs, NULL, {0}};
    assert_int_equal(I.lib.plugin->backward(I.self, &bad, p, x, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "rows"));

    check_dc_grads(&I, &P, &rng, "cosine");
    free(x);
    free(p);
    free(P.pos);
    free(Q.pos);
    inst_free(&I);
}

/* x_typed (the runtime's bf16 copy of x): the routing projections read it instead of x,
 * forward and backward, so p and the projections' gradients are those of x rounded */
static void test_dc_reads_x_typed(void **state) {
    (void)state;
    hn_error err;
    inst I;
    hn_rng rng;
    dc_trained_looking(&I, &rng, 203);
    packed P;
    packed_init(&P, LENS, 3);
    int T = P.seqs.total;
    size_t n = (size_t)T * D_DC, nw = (size_t)D_DC * D_DC;
    float *x = falloc(n), *xr = falloc(n), *p1 = falloc(T), *p2 = falloc(T), *dp = falloc(T);
    float *dx = falloc(n), *g1 = falloc(2 * nw);
    uint16_t *x16 = malloc(n * sizeof *x16);
    fill_normal(x, n, 1.0, &rng);
    fill_normal(dp, (size_t)T, 1.0, &rng);
    for (size_t i = 0; i < n; i++) {
        x16[i] = hn_bf16_from_f32(x[i]);
        xr[i] = hn_bf16_to_f32(x16[i]);
    }
    /* the rounded x as float32 */
    hn_chunker_ctx ctx = {hn_backend_cpu(), &P.seqs, NULL, {0}};
    assert_int_equal(I.lib.plugin->forward(I.self, &ctx, xr, p1, &err), HN_OK);
    for (int i = 0; i < 2; i++) memset(I.params[i].grad, 0, nw * sizeof(float));
    assert_int_equal(I.lib.plugin->backward(I.self, &ctx, dp, dx, &err), HN_OK);
    for (int i = 0; i < 2; i++) memcpy(g1 + i * nw, I.params[i].grad, nw * sizeof(float));
    /* x itself with the rounded copy beside it */
    ctx.x_typed = hn_tensor_of(x16, HN_BF16, T, D_DC);
    assert_int_equal(I.lib.plugin->forward(I.self, &ctx, x, p2, &err), HN_OK);
    assert_memory_equal(p1, p2, (size_t)T * sizeof(float));
    hn_chunker_ctx bwd = {hn_backend_cpu(), &P.seqs, NULL, {0}}; /* forward only */
    for (int i = 0; i < 2; i++) memset(I.params[i].grad, 0, nw * sizeof(float));
    assert_int_equal(I.lib.plugin->backward(I.self, &bwd, dp, dx, &err), HN_OK);
    for (int i = 0; i < 2; i++) assert_memory_equal(g1 + i * nw, I.params[i].grad, nw * sizeof(float));
    float *bufs[] = {x, xr, p1, p2, dp, dx, g1};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(x16);
    free(P.pos);
    inst_free(&I);
}

static void test_dc_linear(void **state) {
    (void)state;
    hn_error err;
    inst I;
    assert_int_equal(inst_create(&I, "dc", DC_LINEAR, D_DC, &err), HN_OK);
    assert_int_equal(I.np, 2);
    assert_string_equal(I.params[0].name, "proj.weight");
    assert_int_equal(I.params[0].ndim, 2);
    assert_int_equal(I.params[0].shape[0], 1);
    assert_int_equal(I.params[0].shape[1], D_DC);
    assert_int_equal(I.params[0].init, HN_INIT_NORMAL);
    assert_true(fabsf(I.params[0].a - 0.02f) < 1e-7f);
    assert_string_equal(I.params[1].name, "proj.bias");
    assert_int_equal(numel(&I.params[1]), 1);
    assert_int_equal(I.params[1].init, HN_INIT_ZEROS);
    assert_int_equal(I.params[1].weight_decay, 0);

    hn_rng rng;
    hn_rng_seed(&rng, 203);
    fill_normal(I.params[0].value, D_DC, 0.5, &rng);
    I.params[1].value[0] = 0.3f;
    packed P;
    packed_init(&P, LENS, 3);
    int T = P.seqs.total;
    float *x = falloc((size_t)T * D_DC), *p = falloc(T);
    fill_normal(x, (size_t)T * D_DC, 1.0, &rng);
    hn_chunker_ctx ctx = {hn_backend_cpu(), &P.seqs, NULL, {0}};
    assert_int_equal(I.lib.plugin->forward(I.self, &ctx, x, p, &err), HN_OK);
    for (int t = 0; t < T; t++) {
        double logit = I.params[1].value[0];
        for (int d = 0; d < D_DC; d++) logit += (double)x[(size_t)t * D_DC + d] * I.params[0].value[d];
        double ref = is_start(&P, t) ? 1.0 : 1.0 / (1.0 + exp(-logit));
        assert_true(fabs(p[t] - ref) < 1e-6);
    }
    check_dc_grads(&I, &P, &rng, "linear");
    free(x);
    free(p);
    free(P.pos);
    inst_free(&I);
}

static void expect_create_error(const char *name, const char *cfg, const char *needle) {
    hn_error err = {{0}};
    inst I;
    assert_int_equal(inst_create(&I, name, cfg, D_DC, &err), HN_ERR);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static void test_dc_config(void **state) {
    (void)state;
    expect_create_error("dc", "{\"routing\":\"dot\"}", "dc.routing");
    expect_create_error("dc", "{\"routing\":3}", "dc.routing");
    expect_create_error("dc", "{\"downsample\":\"avg\"}", "dc.downsample");
    expect_create_error("dc", "{\"ratio\":1}", "dc.ratio");
    expect_create_error("dc", "{\"ratio\":\"three\"}", "dc.ratio");
    expect_create_error("dc", "{\"alpha\":-0.1}", "dc.alpha");
    expect_create_error("dc", "{\"smoothing\":1}", "dc.smoothing");
    expect_create_error("dc", "{\"ste\":\"yes\"}", "dc.ste");
    /* every key has a default; mean / max downsampling are accepted */
    hn_error err;
    inst I;
    assert_int_equal(inst_create(&I, "dc", "{}", D_DC, &err), HN_OK);
    assert_int_equal(I.params[0].init, HN_INIT_CUSTOM); /* cosine by default */
    inst_free(&I);
    assert_int_equal(inst_create(&I, "dc", "{\"downsample\":\"max\",\"ratio\":2.5}", D_DC, &err),
                     HN_OK);
    inst_free(&I);
    /* the declared keys and defaults are what the runtime validates against */
    loaded l = load_plugin("dc");
    const char *want[] = {"ratio", "alpha", "routing", "smoothing", "ste", "downsample"};
    assert_int_equal(l.plugin->n_config_keys, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(l.plugin->config_keys[i].key, want[i]);
        assert_non_null(l.plugin->config_keys[i].default_json);
    }
    dlclose(l.handle);
}

/* ------------------------------------------------------------------ rule-based */

/* Runs a non-differentiable chunker over the packed byte strings and returns p; also
 * checks that its backward adds nothing. */
static float *run_rule(inst *I, packed *P, const char *const *texts) {
    int T = P->seqs.total;
    int32_t *bytes = calloc(T, sizeof(int32_t));
    assert_non_null(bytes);
    for (int i = 0; i < P->n; i++)
        for (int t = P->off[i]; t < P->off[i + 1]; t++)
            bytes[t] = (unsigned char)texts[i][t - P->off[i]];
    float *x = falloc((size_t)T * 4), *p = falloc(T), *dx = falloc((size_t)T * 4);
    for (int t = 0; t < T; t++) p[t] = -1; /* every entry must be written */
    hn_error err;
    hn_chunker_ctx ctx = {hn_backend_cpu(), &P->seqs, bytes, {0}};
    assert_int_equal(I->lib.plugin->forward(I->self, &ctx, x, p, &err), HN_OK);
    assert_false(I->lib.plugin->differentiable);
    assert_int_equal(I->np, 0);
    for (size_t i = 0; i < (size_t)T * 4; i++) dx[i] = 0.5f;
    assert_int_equal(I->lib.plugin->backward(I->self, &ctx, p, dx, &err), HN_OK);
    for (size_t i = 0; i < (size_t)T * 4; i++) assert_true(dx[i] == 0.5f);
    free(bytes);
    free(x);
    free(dx);
    return p;
}

static void expect_boundaries(const float *p, int T, const int *want, int n_want) {
    int j = 0;
    for (int t = 0; t < T; t++) {
        int expected = j < n_want && want[j] == t;
        if (expected) j++;
        if (p[t] != (float)expected) fprintf(stderr, "row %d: p = %g, want %d\n", t, p[t], expected);
        assert_true(p[t] == (float)expected);
    }
    assert_int_equal(j, n_want);
}

static void test_space(void **state) {
    (void)state;
    /* packed: row offsets 0, 20, 25, 26 */
    const char *texts[4] = {"Hello, world! 123 ab", " a\xC3\xA9" "b", "x", "1.5  x\n"};
    const int lens[4] = {20, 5, 1, 7};
    /* 0 'H' start; 5 ',' after 'o'; 6 ' ' follows ',' (spacelike): none; 12 '!' after
     * 'd'; 13 ' ' follows '!': none; 17 ' ' after '3' (digits are not spacelike).
     * 20 ' ' start; 22 0xC3, a UTF-8 leading byte, is spacelike, after 'a'; 23 0xA9 is a
     * continuation byte: not spacelike. 25 'x' start. 26 '1' start; 27 '.' after '1';
     * 29 ' ' after '5'; 30 ' ' follows ' ': none; 32 '\n' after 'x'. */
    const int want[] = {0, 5, 12, 17, 20, 22, 25, 26, 27, 29, 32};
    hn_error err;
    inst I;
    assert_int_equal(inst_create(&I, "space", "{\"smoothing\":false,\"ste\":false}", 4, &err), HN_OK);
    packed P;
    packed_init(&P, lens, 4);
    float *p = run_rule(&I, &P, texts);
    expect_boundaries(p, P.seqs.total, want, (int)(sizeof want / sizeof want[0]));
    assert_true(I.lib.plugin->flops(I.self, 100) == 0);
    free(p);
    free(P.pos);
    inst_free(&I);
    expect_create_error("space", "{\"smoothing\":\"no\"}", "space.smoothing");
    assert_int_equal(inst_create(&I, "space", "{}", 4, &err), HN_OK);
    inst_free(&I);
}

static void test_pool(void **state) {
    (void)state;
    const char *texts[3] = {"abcdefg", "h", "ijklmnopqrst"};
    packed P;
    packed_init(&P, LENS, 3); /* offsets 0, 7, 8, 20 */
    hn_error err;
    inst I;
    assert_int_equal(inst_create(&I, "pool", "{\"k\":3}", 4, &err), HN_OK);
    float *p = run_rule(&I, &P, texts);
    const int want3[] = {0, 3, 6, 7, 8, 11, 14, 17};
    expect_boundaries(p, P.seqs.total, want3, 8);
    free(p);
    inst_free(&I);
    assert_int_equal(inst_create(&I, "pool", "{\"k\":1,\"ste\":true}", 4, &err), HN_OK);
    p = run_rule(&I, &P, texts);
    for (int t = 0; t < P.seqs.total; t++) assert_true(p[t] == 1.0f);
    free(p);
    inst_free(&I);
    free(P.pos);
    expect_create_error("pool", "{}", "pool.k");
    expect_create_error("pool", "{\"k\":0}", "pool.k");
    expect_create_error("pool", "{\"k\":2.5}", "pool.k");
    expect_create_error("pool", "{\"k\":\"3\"}", "pool.k");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dc_identity_init), cmocka_unit_test(test_dc_cosine),
        cmocka_unit_test(test_dc_linear),        cmocka_unit_test(test_dc_config),
        cmocka_unit_test(test_dc_reads_x_typed),
        cmocka_unit_test(test_space),            cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
