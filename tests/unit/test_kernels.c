/* The kernel registry (backend/kernels.h) and the kit's device parity (check/parity.h),
 * on the cpu: registration and its errors, ops held back while a plugin's entry runs,
 * launching by backend kind; the comparison, and parity runs against a stand-in device
 * (the cpu table under kind cuda) whose kernels are right, wrong, blind to ld, or whose
 * SwiGLU is perturbed -- the kit must pass the first and fail the others. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/kernels_host.h"
#include "check/parity.h"
#include "plugin/registry.h"

/* ---- an op: y = 2 x + 1 (float32 on the cpu; float32 or bf16 on the stand-in) ---- */
typedef struct affine_params {
    hn_tensor x, y;
} affine_params;

static float get(const hn_tensor *t, int r, int c) {
    size_t i = (size_t)r * t->ld + c;
    return t->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)t->data)[i]) : ((float *)t->data)[i];
}
static void put(const hn_tensor *t, int r, int c, float v) {
    size_t i = (size_t)r * t->ld + c;
    if (t->dtype == HN_BF16) ((uint16_t *)t->data)[i] = hn_bf16_from_f32(v);
    else ((float *)t->data)[i] = v;
}

static int affine_cpu(const hn_backend *be, const void *params) {
    const affine_params *p = params;
    if (p->x.dtype != HN_F32 || p->y.dtype != HN_F32) return -1;
    for (int r = 0; r < p->x.rows; r++)
        for (int c = 0; c < p->x.cols; c++) put(&p->y, r, c, 2 * get(&p->x, r, c) + 1);
    return 0;
}
static int affine_dev(const hn_backend *be, const void *params) {
    const affine_params *p = params;
    for (int r = 0; r < p->x.rows; r++)
        for (int c = 0; c < p->x.cols; c++) put(&p->y, r, c, 2 * get(&p->x, r, c) + 1);
    return 0;
}
/* planted: a wrong constant */
static int affine_wrong(const hn_backend *be, const void *params) {
    const affine_params *p = params;
    for (int r = 0; r < p->x.rows; r++)
        for (int c = 0; c < p->x.cols; c++) put(&p->y, r, c, 2 * get(&p->x, r, c) + 1.01f);
    return 0;
}
/* planted: reads and writes as if rows were packed (ignores ld) */
static int affine_no_ld(const hn_backend *be, const void *params) {
    const affine_params *p = params;
    float *x = p->x.data, *y = p->y.data;
    for (size_t i = 0; i < (size_t)p->x.rows * p->x.cols; i++) y[i] = 2 * x[i] + 1;
    return 0;
}
/* planted: a cpu twin that writes nothing (the comparison would test nothing) */
static int affine_nothing(const hn_backend *be, const void *params) { return 0; }

static const hn_kernel_arg affine_args[] = {
    {"x", offsetof(affine_params, x), HN_ARG_IN},
    {"y", offsetof(affine_params, y), HN_ARG_OUT},
};
static int affine_example(void *params, hn_dtype dtype) {
    affine_params *p = params;
    p->x = p->y = (hn_tensor){NULL, dtype, 5, 7, 9};
    return 0;
}
static int affine_example_f32(void *params, hn_dtype dtype) {
    return dtype == HN_F32 ? affine_example(params, dtype) : 1;
}

static hn_kernel_def affine_def(const char *name, hn_kernel_fn dev) {
    return (hn_kernel_def){.size = sizeof(hn_kernel_def), .name = name,
                           .params_size = sizeof(affine_params), .cpu = affine_cpu, .cuda = dev,
                           .args = affine_args, .n_args = 2, .example = affine_example};
}

/* the cpu backend under kind cuda: launches pick an op's cuda implementation */
static hn_backend stand_in(void) {
    hn_backend b = *hn_backend_cpu();
    b.name = "stand-in";
    b.kind = HN_DEVICE_CUDA;
    return b;
}

static void test_register_and_launch(void **state) {
    hn_error err = {{0}};
    static hn_kernel_def a, b, none;
    a = affine_def("test.affine", NULL);
    b = affine_def("test.affine", affine_dev);
    none = affine_def("test.none", NULL);
    none.cpu = NULL;
    assert_int_equal(hn_kernel_register(&a, &err), HN_OK);
    assert_int_equal(hn_kernel_register(&a, &err), HN_OK); /* the same def again */
    assert_ptr_equal(hn_kernel_find("test.affine"), &a);
    assert_null(hn_kernel_find("test.other"));
    assert_int_equal(hn_kernel_register(&b, &err), HN_ERR);
    assert_string_equal(err.msg, "kernel registry: op 'test.affine' of the runtime is already "
                                 "registered by the runtime");
    assert_int_equal(hn_kernel_register(&none, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "op 'test.none' has no cpu implementation"));

    float x[5 * 9] = {1, 2, 3}, y[5 * 9] = {0};
    affine_params p = {{x, HN_F32, 5, 7, 9}, {y, HN_F32, 5, 7, 9}};
    assert_int_equal(hn_kernel_launch(hn_backend_cpu(), &a, &p, &err), HN_OK);
    assert_true(y[0] == 3 && y[1] == 5 && y[2] == 7 && y[7] == 0); /* ld respected */
    hn_backend dev = stand_in();
    assert_int_equal(hn_kernel_launch(&dev, &a, &p, &err), HN_ERR);
    assert_string_equal(err.msg, "op 'test.affine' has no stand-in implementation (its plugin was "
                                 "built without nvcc)");
    p.x.dtype = HN_BF16; /* the cpu twin refuses what it cannot take, and the launch says so */
    assert_int_equal(hn_kernel_launch(hn_backend_cpu(), &a, &p, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "op 'test.affine' failed on cpu"));
}

static void test_staged_for_a_plugin(void **state) {
    hn_error err = {{0}};
    static hn_kernel_def s1, s2, clash;
    s1 = affine_def("test.s1", NULL);
    s2 = affine_def("test.s2", NULL);
    clash = affine_def("test.s1", NULL);
    int n0 = hn_kernels_count();
    int owner_a, owner_b;
    /* held back until commit; discarded when the plugin is refused */
    hn_kernels_stage_begin();
    assert_int_equal(hn_kernel_register(&s1, &err), HN_OK);
    assert_null(hn_kernel_find("test.s1"));
    hn_kernels_stage_discard();
    assert_null(hn_kernel_find("test.s1"));
    /* committed for an owner */
    hn_kernels_stage_begin();
    hn_kernel_register(&s1, &err);
    hn_kernel_register(&s2, &err);
    assert_int_equal(hn_kernels_stage_commit(&owner_a, "a.so", &err), HN_OK);
    assert_int_equal(hn_kernels_count(), n0 + 2);
    const void *owner;
    assert_ptr_equal(hn_kernels_at(n0, &owner), &s1);
    assert_ptr_equal(owner, &owner_a);
    /* another plugin with a clashing name: refused whole, naming both */
    hn_kernels_stage_begin();
    hn_kernel_register(&clash, &err);
    assert_int_equal(hn_kernels_stage_commit(&owner_b, "b.so", &err), HN_ERR);
    assert_string_equal(err.msg, "kernel registry: op 'test.s1' of b.so is already registered by a.so");
    /* a bad def inside an entry is reported at commit, naming the plugin */
    static hn_kernel_def nameless;
    nameless = affine_def("", NULL);
    hn_kernels_stage_begin();
    hn_kernel_register(&nameless, &err);
    assert_int_equal(hn_kernels_stage_commit(&owner_b, "b.so", &err), HN_ERR);
    assert_string_equal(err.msg, "b.so: kernel registry: an op without a name");
    /* the same library loaded twice: its ops go when both are closed */
    hn_kernels_stage_begin();
    hn_kernel_register(&s1, &err);
    assert_int_equal(hn_kernels_stage_commit(&owner_a, "a.so", &err), HN_OK);
    hn_kernels_remove_owner(&owner_a);
    assert_ptr_equal(hn_kernel_find("test.s1"), &s1);
    assert_null(hn_kernel_find("test.s2"));
    hn_kernels_remove_owner(&owner_a);
    assert_null(hn_kernel_find("test.s1"));
    assert_int_equal(hn_kernels_count(), n0);
}

static void test_rel_err(void **state) {
    float ref[4] = {1, -2, 3, 4}, got[4] = {1, -2, 3, 4};
    assert_true(hn_parity_rel_err(ref, got, 4) == 0);
    got[3] = 4.01f; /* 0.01 / sqrt(30) */
    double e = hn_parity_rel_err(ref, got, 4);
    assert_true(e > 1.8e-3 && e < 1.9e-3);
    got[3] = NAN;
    assert_true(isinf(hn_parity_rel_err(ref, got, 4)));
    float zero[2] = {0, 0}, small[2] = {0, 1e-3f};
    assert_true(hn_parity_rel_err(zero, zero, 2) == 0);
    assert_true(hn_parity_rel_err(zero, small, 2) > 0);
}

/* The kit on one op against the stand-in: *n_failed and the report. */
static int parity(const hn_kernel_def *def, char *report, size_t size) {
    hn_backend dev = stand_in();
    FILE *f = fmemopen(report, size, "w");
    int n_failed = 0;
    hn_error err = {{0}};
    int rc = hn_parity_kernel(def, &dev, f, &n_failed, &err);
    fclose(f);
    if (rc) snprintf(report, size, "error: %.1000s", err.msg);
    return rc ? -1 : n_failed;
}

static void test_parity_has_teeth(void **state) {
    char r[2048];
    hn_kernel_def right = affine_def("t.right", affine_dev);
    assert_int_equal(parity(&right, r, sizeof r), 0);
    assert_non_null(strstr(r, "ok   op t.right y (fp32 pass) relative error 0.00e+00 (tol 2e-04)"));
    assert_non_null(strstr(r, "ok   op t.right y (bf16 pass) relative error"));
    hn_kernel_def wrong = affine_def("t.wrong", affine_wrong);
    assert_int_equal(parity(&wrong, r, sizeof r), 1); /* fp32 only: 0.01 is within bf16's 2e-2 */
    assert_non_null(strstr(r, "FAIL op t.wrong y (fp32 pass)"));
    hn_kernel_def no_ld = affine_def("t.no_ld", affine_no_ld);
    no_ld.example = affine_example_f32;
    assert_int_equal(parity(&no_ld, r, sizeof r), 1);
    assert_non_null(strstr(r, "--   op t.no_ld: no bf16 variant"));
    hn_kernel_def blind = affine_def("t.blind", affine_dev);
    blind.cpu = affine_nothing;
    assert_int_equal(parity(&blind, r, sizeof r), 2);
    assert_non_null(strstr(r, "the cpu twin did not change it, so nothing was compared"));
    hn_kernel_def absent = affine_def("t.absent", NULL);
    assert_int_equal(parity(&absent, r, sizeof r), -1);
    assert_non_null(strstr(r, "has no stand-in implementation"));
    hn_kernel_def bare = affine_def("t.bare", affine_dev);
    bare.example = NULL;
    assert_int_equal(parity(&bare, r, sizeof r), -1);
    assert_non_null(strstr(r, "op 't.bare' has no example for the kit"));
}

/* The runtime's own ops: registered from the start, and their kit metadata right (the
 * cpu twin standing in for the device: any error would be in the args or example). */
static void test_builtin_ops(void **state) {
    char r[2048];
    const char *names[] = {"core.swiglu_fwd", "core.swiglu_bwd"};
    for (int i = 0; i < 2; i++) {
        const hn_kernel_def *k = hn_kernel_find(names[i]);
        assert_non_null(k);
        hn_kernel_def d = *k;
        d.cuda = d.cpu;
        int failed = parity(&d, r, sizeof r);
        if (failed || !strstr(r, "(bf16 pass) relative error")) print_error("%s\n", r);
        assert_int_equal(failed, 0);
        assert_non_null(strstr(r, "(bf16 pass) relative error")); /* both dtypes ran */
    }
}

/* ---- a whole layer: swiglu on the cpu vs the stand-in, then with its SwiGLU off ---- */
static int perturbed_swiglu(const hn_backend *be, const hn_swiglu_params *p) {
    if (hn_backend_cpu()->swiglu_forward_t(be, p)) return -1;
    float *h = p->h.data;
    h[0] += 0.5f;
    return 0;
}

static int layer_parity(const hn_backend *dev, char *report, size_t size) {
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err = {{0}};
    assert_int_equal(hn_registry_load_default(&reg, &err), HN_OK);
    const hn_layer_plugin *p = hn_registry_find(&reg, "swiglu");
    assert_non_null(p);
    FILE *f = fmemopen(report, size, "w");
    hn_plugin_check_opts o = {.d_model = 16, .config_json = "{\"hidden\": 24}", .out = f};
    int n_failed = 0;
    int rc = hn_parity_layer(p, &o, dev, &n_failed, &err);
    fclose(f);
    hn_registry_close(&reg);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    return n_failed;
}

static void test_layer_parity(void **state) {
    char r[4096];
    hn_backend dev = stand_in();
    assert_int_equal(layer_parity(&dev, r, sizeof r), 0);
    assert_non_null(strstr(r, "ok   forward y"));
    assert_non_null(strstr(r, "ok   backward d fc1.weight"));
    dev.swiglu_forward_t = perturbed_swiglu;
    int failed = layer_parity(&dev, r, sizeof r);
    if (!failed) print_error("%s", r);
    assert_true(failed >= 1);
    assert_non_null(strstr(r, "FAIL forward y"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_launch),
        cmocka_unit_test(test_staged_for_a_plugin),
        cmocka_unit_test(test_rel_err),
        cmocka_unit_test(test_parity_has_teeth),
        cmocka_unit_test(test_builtin_ops),
        cmocka_unit_test(test_layer_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
