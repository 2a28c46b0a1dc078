/* The plugin loader's errors: a file that is not a plugin, a missing file, a wrong ABI
 * version, an incomplete table, a letter registered twice, a plugin loaded twice; and
 * the real plugins found by the default search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/registry.h"

static int fake_create(const hn_layer_args *a, void **self, hn_error *err) { return HN_OK; }
static void fake_destroy(void *self, const hn_backend *be) {}
static int fake_count(void *self) { return 0; }
static void fake_describe(void *self, hn_param *p) {}
static void fake_bind(void *self, const hn_param *p) {}
static int fake_forward(void *self, const hn_layer_ctx *c, const float *x, float *y, hn_error *e) { return HN_OK; }
static int fake_backward(void *self, const hn_layer_ctx *c, const float *d, float *dx, hn_error *e) { return HN_OK; }
static double fake_flops(void *self, const int32_t *l, int n) { return 0; }

static const hn_letter_def fake_letters[] = {{'q', "fake", NULL}};

static hn_layer_plugin fake_plugin(void) {
    hn_layer_plugin p = {
        .abi_version = HN_LAYER_ABI_VERSION, .name = "fake", .version = "0", .role = "mixer",
        .letters = fake_letters, .n_letters = 1, .create = fake_create, .destroy = fake_destroy,
        .param_count = fake_count, .describe_params = fake_describe, .bind = fake_bind,
        .forward = fake_forward, .backward = fake_backward, .flops = fake_flops};
    return p;
}

static void expect_add_error(const hn_layer_plugin *p, const char *needle) {
    hn_registry reg;
    hn_error err = {{0}};
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_add(&reg, p, "fake.so", &err), HN_ERR);
    if (!strstr(err.msg, needle)) print_error("message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    hn_registry_close(&reg);
}

static void test_table_errors(void **state) {
    hn_layer_plugin p = fake_plugin();
    p.abi_version = HN_LAYER_ABI_VERSION + 1;
    expect_add_error(&p, "layer ABI version 4, but this hnet expects version 3");
    p = fake_plugin();
    p.backward = NULL;
    expect_add_error(&p, "fake (fake.so): its table has no 'backward'");
    p = fake_plugin();
    p.role = "router";
    expect_add_error(&p, "role must be \"mixer\" or \"mlp\"");
}

static void test_duplicates(void **state) {
    hn_registry reg;
    hn_error err;
    hn_registry_init(&reg);
    hn_layer_plugin a = fake_plugin(), b = fake_plugin();
    assert_int_equal(hn_registry_add(&reg, &a, "a.so", &err), HN_OK);
    assert_int_equal(hn_registry_add(&reg, &b, "b.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "'fake' is loaded twice: a.so and b.so"));
    b.name = "other";
    assert_int_equal(hn_registry_add(&reg, &b, "b.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "letter 'q' is already registered"));
    assert_non_null(hn_registry_letter(&reg, 'q'));
    assert_null(hn_registry_letter(&reg, 'Z'));
    hn_registry_close(&reg);
}

static void test_not_a_plugin(void **state) {
    hn_registry reg;
    hn_error err;
    hn_registry_init(&reg);
    /* a real shared library without either entry symbol */
    assert_int_equal(hn_registry_load_file(&reg, "libz.so.1", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "is not an hnet plugin"));
    assert_int_equal(hn_registry_load_file(&reg, "/nonexistent/nothing.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "cannot load plugin /nonexistent/nothing.so"));
    hn_registry_close(&reg);
}

static void test_default_search(void **state) {
    hn_registry reg;
    hn_error err;
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_load_default(&reg, &err), HN_OK);
    const char *layers[] = {"attention", "swiglu", "mamba2", "moe"};
    for (size_t i = 0; i < 4; i++) assert_non_null(hn_registry_find(&reg, layers[i]));
    const char *chunkers[] = {"dc", "space", "pool"};
    for (size_t i = 0; i < 3; i++) assert_non_null(hn_registry_find_chunker(&reg, chunkers[i]));
    const char letters[] = "tTmME";
    for (size_t i = 0; i < 5; i++) assert_non_null(hn_registry_letter(&reg, letters[i]));
    hn_registry_close(&reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_not_a_plugin),
        cmocka_unit_test(test_default_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
