/* The plugin test kit's GPU parity on the layer template (templates/layer), built with
 * its .cu by `make CUDA=1 gpu-tests` into build/gpu-tests/kit_linmix.so: its two ops
 * (linmix.silu_fwd, linmix.silu_bwd) run on cpu and cuda with fresh random inputs in
 * fp32 and bf16, and the whole layer forward and backward, in the fp32 and the bf16
 * matmul mode -- all within the kit's tolerances; `hnet plugins --check ... --device
 * cuda` exits 0. The same kit fails kit_linmix_planted.so, whose cuda backward is
 * wrong (silu' without its (1 - s) factor), op and layer alike, and the CLI exits 1.
 * The runtime's own registered ops (core.swiglu_fwd / _bwd) pass the same parity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/kernels_host.h"
#include "check/parity.h"
#include "parity.h"
#include "plugin/registry.h"

static char g_dir[PATH_MAX]; /* build/gpu-tests: the plugins lie beside this binary */

static int setup(void **st) {
    ssize_t n = readlink("/proc/self/exe", g_dir, sizeof g_dir - 1);
    if (n <= 0) return -1;
    g_dir[n] = 0;
    *strrchr(g_dir, '/') = 0;
    return parity_open();
}

/* Loads build/gpu-tests/NAME.so; its ops must have cuda implementations. */
static void load(hn_registry *reg, const char *name) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s.so", g_dir, name);
    hn_registry_init(reg);
    hn_error err = {{0}};
    if (hn_registry_load_file(reg, path, &err)) print_error("%s\n", err.msg);
    assert_int_equal(reg->n_plugins, 1);
    const hn_kernel_def *f = hn_kernel_find("linmix.silu_fwd"), *b = hn_kernel_find("linmix.silu_bwd");
    assert_non_null(f);
    assert_non_null(b);
    assert_non_null(f->cuda); /* built with nvcc: both implementations registered */
    assert_non_null(b->cuda);
}

/* Failed checks of the kit over the plugin's ops and its layer, in one matmul mode. */
static int kit_failures(const hn_registry *reg, hn_cuda_matmul_mode mode) {
    hn_cuda_set_matmul_mode(mode);
    int n_failed = 0;
    hn_error err = {{0}};
    const char *ops[] = {"linmix.silu_fwd", "linmix.silu_bwd"};
    for (int i = 0; i < 2; i++) {
        int rc = hn_parity_kernel(hn_kernel_find(ops[i]), P_GPU, stdout, &n_failed, &err);
        if (rc) print_error("%s\n", err.msg);
        assert_int_equal(rc, HN_OK);
    }
    hn_plugin_check_opts o = {.d_model = 64, .out = stdout};
    int rc = hn_parity_layer(reg->plugins[0].plugin, &o, P_GPU, &n_failed, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    return n_failed;
}

/* The CLI's exit status on NAME.so with --device cuda. */
static int cli(const char *name) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s/../hnet' plugins --check '%s/%s.so' --device cuda", g_dir, g_dir, name);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_template_passes(void **st) {
    hn_registry reg;
    load(&reg, "kit_linmix");
    assert_int_equal(kit_failures(&reg, HN_CUDA_MATMUL_FP32), 0);
    assert_int_equal(kit_failures(&reg, HN_CUDA_MATMUL_BF16), 0);
    hn_registry_close(&reg);
    assert_null(hn_kernel_find("linmix.silu_fwd")); /* its ops went with it */
    assert_int_equal(cli("kit_linmix"), 0);
}

static void test_planted_kernel_fails(void **st) {
    hn_registry reg;
    load(&reg, "kit_linmix_planted");
    /* the backward op (fp32 and bf16) and the layer's dx and dW */
    assert_true(kit_failures(&reg, HN_CUDA_MATMUL_FP32) >= 4);
    hn_registry_close(&reg);
    assert_int_equal(cli("kit_linmix_planted"), 1);
}

static void test_core_ops(void **st) {
    const char *ops[] = {"core.swiglu_fwd", "core.swiglu_bwd"};
    for (int i = 0; i < 2; i++) {
        const hn_kernel_def *k = hn_kernel_find(ops[i]);
        assert_non_null(k);
        assert_non_null(k->cuda);
        int n_failed = 0;
        hn_error err = {{0}};
        int rc = hn_parity_kernel(k, P_GPU, stdout, &n_failed, &err);
        if (rc) print_error("%s\n", err.msg);
        assert_int_equal(rc, HN_OK);
        assert_int_equal(n_failed, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_passes),
        cmocka_unit_test(test_planted_kernel_fails),
        cmocka_unit_test(test_core_ops),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
