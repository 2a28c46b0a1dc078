/* The plugin loader's errors: a file that is not a plugin, a missing file, a newer or
 * too old ABI version (older compatible tables read as the current struct), an incomplete table, a letter registered twice, a plugin loaded twice; and
 * the real plugins found by the default search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/abi_compat.h"
#include "plugin/registry.h"

static int fake_create(const hn_layer_args *a, void **self, hn_error *err) { return HN_OK; }
static void fake_destroy(void *self, const hn_backend *be) {}
static int fake_count(void *self) { return 0; }
static void fake_describe(void *self, hn_param *p) {}
static void fake_bind(void *self, const hn_param *p) {}
static int fake_forward(void *self, const hn_layer_ctx *c, const float *x, float *y, hn_error *e) { return HN_OK; }
static int fake_backward(void *self, const hn_layer_ctx *c, const float *d, float *dx, hn_error *e) { return HN_OK; }
static double fake_flops(void *self, const int32_t *l, int n) { return 0; }
static int fake_forward_t(void *self, const hn_layer_ctx *c, hn_tensor x, float *y, hn_error *e) { return HN_OK; }
static int fake_backward_t(void *self, const hn_layer_ctx *c, hn_tensor d, float *dx, hn_error *e) { return HN_OK; }

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
    char want[160];
    p.abi_version = HN_LAYER_ABI_VERSION + 1;
    snprintf(want, sizeof want, "fake (fake.so): layer ABI version %u is newer than this hnet's (version %u)",
             HN_LAYER_ABI_VERSION + 1, HN_LAYER_ABI_VERSION);
    expect_add_error(&p, want);
    p.abi_version = 2;
    snprintf(want, sizeof want, "layer ABI version 2 is older than this hnet accepts (versions 3 to %u)",
             HN_LAYER_ABI_VERSION);
    expect_add_error(&p, want);
    p = fake_plugin();
    p.forward_t = fake_forward_t;
    expect_add_error(&p, "fake (fake.so): its table has 'forward_t' without 'backward_t'");
    p = fake_plugin();
    p.backward = NULL;
    expect_add_error(&p, "fake (fake.so): its table has no 'backward'");
    p = fake_plugin();
    p.role = "router";
    expect_add_error(&p, "role must be \"mixer\" or \"mlp\"");
}

/* A plugin built for layer ABI 3 (before hn_layer_ctx.inference) still loads: its table
 * is unchanged and it ignores the field, running its training forward. */
static void test_abi3_plugin_loads(void **state) {
    hn_layer_plugin p = fake_plugin();
    p.abi_version = 3;
    hn_registry reg;
    hn_error err = {{0}};
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_add(&reg, &p, "fake.so", &err), HN_OK);
    assert_non_null(hn_registry_find(&reg, "fake"));
    hn_registry_close(&reg);
}

/* A table that grew: version 1 had a and b, version 2 appended c. A version-1 table is
 * read with c = 0 (and nothing past its end is read), a version-2 one whole, a version-3
 * one (newer) and a version-0 one (older than accepted) are refused naming both. */
typedef struct grown {
    uint32_t abi_version;
    int a, b;
    int c; /* version 2 */
} grown;
typedef struct grown_v1 {
    uint32_t abi_version;
    int a, b;
} grown_v1;

static void test_abi_adopt(void **state) {
    static const size_t sizes[] = {offsetof(grown, c), sizeof(grown)};
    const hn_abi_versions v = {"layer", 1, 2, sizes};
    hn_error err = {{0}};
    /* an old table followed by bytes that are not its own */
    struct { grown_v1 t; int after; } old = {{1, 5, 6}, 77};
    grown got;
    assert_int_equal(hn_abi_adopt(&v, 1, &old.t, &got, sizeof got, "g", "g.so", &err), HN_OK);
    assert_int_equal(got.a, 5);
    assert_int_equal(got.b, 6);
    assert_int_equal(got.c, 0);
    grown cur = {2, 1, 2, 3};
    assert_int_equal(hn_abi_adopt(&v, 2, &cur, &got, sizeof got, "g", "g.so", &err), HN_OK);
    assert_int_equal(got.c, 3);
    cur.abi_version = 3;
    assert_int_equal(hn_abi_adopt(&v, 3, &cur, &got, sizeof got, "g", "g.so", &err), HN_ERR);
    assert_string_equal(err.msg, "layer plugin g (g.so): layer ABI version 3 is newer than this "
                                 "hnet's (version 2): use a newer hnet, or rebuild the plugin "
                                 "against this one");
    assert_int_equal(hn_abi_adopt(&v, 0, &cur, &got, sizeof got, "g", "g.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "layer ABI version 0 is older than this hnet accepts (versions 1 to 2)"));
}

/* A version-3 table ends before the typed hooks: whatever follows it in memory is not
 * read as them (the runtime calls forward and backward); a version-4 one keeps them. */
static void test_layer_abi_3_has_no_typed_hooks(void **state) {
    hn_layer_plugin p = fake_plugin();
    p.forward_t = fake_forward_t; /* stands for bytes past a version-3 table's end */
    p.backward_t = fake_backward_t;
    p.abi_version = 3;
    hn_registry reg;
    hn_error err = {{0}};
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_add(&reg, &p, "fake.so", &err), HN_OK);
    const hn_layer_plugin *got = hn_registry_find(&reg, "fake");
    assert_null(got->forward_t);
    assert_null(got->backward_t);
    hn_registry_close(&reg);
    p.abi_version = 4;
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_add(&reg, &p, "fake.so", &err), HN_OK);
    got = hn_registry_find(&reg, "fake");
    assert_ptr_equal(got->forward_t, fake_forward_t);
    assert_ptr_equal(got->backward_t, fake_backward_t);
    hn_registry_close(&reg);
}

/* The registry reads its own copy of a table, so the caller's may go away. */
static void test_table_is_copied(void **state) {
    hn_registry reg;
    hn_error err;
    hn_registry_init(&reg);
    hn_layer_plugin p = fake_plugin();
    assert_int_equal(hn_registry_add(&reg, &p, "a.so", &err), HN_OK);
    memset(&p, 0, sizeof p);
    const hn_layer_plugin *got = hn_registry_find(&reg, "fake");
    assert_non_null(got);
    assert_ptr_equal(got->backward, fake_backward);
    hn_registry_close(&reg);
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
        cmocka_unit_test(test_layer_abi_3_has_no_typed_hooks),
        cmocka_unit_test(test_abi3_plugin_loads),
        cmocka_unit_test(test_abi_adopt),
        cmocka_unit_test(test_table_is_copied),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_not_a_plugin),
        cmocka_unit_test(test_default_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
