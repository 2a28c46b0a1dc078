/* The reference H-Net's published configs (tests/unit/fixtures/reference/NAME.json, copied
 * from goombalab/hnet configs/) import through `reference_config "FILE"` and build exactly
 * the reference's parameter set: every name and shape of NAME.tsv (derived from the
 * reference's module definitions, not from hnet's code), and the published sizes
 * (paper Table 1: 680M, 870M, 1.3B, 1.6B). The models are declared, not allocated.
 * Run from the repository root. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "lua/experiment.h"
#include "model/model.h"
#include "model/reference_config.h"
#include "plugin/registry.h"
#include "support/fixtures.h"

#define FIX "tests/unit/fixtures/reference/"

static hn_registry reg;

static int setup(void **state) { return registry_open(&reg); }
static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

/* The resolved model of an experiment whose model is reference_config "FIX/name.json". */
static cJSON *load_model(const char *name) {
    char lua[256], src[512];
    snprintf(lua, sizeof lua, "/tmp/hnet-refcfg-%d-%s.lua", (int)getpid(), name);
    snprintf(src, sizeof src,
             "return experiment { data = corpus \"synthetic\", model = reference_config \"%s%s.json\" }\n",
             FIX, name);
    FILE *f = fopen(lua, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    cJSON *cfg = NULL;
    hn_error err = {{0}};
    int rc = hn_experiment_load(lua, NULL, &reg, &cfg, &err);
    remove(lua);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    cJSON *model = cJSON_DetachItemFromObject(cfg, "model");
    cJSON_Delete(cfg);
    return model;
}

static void check_config(const char *name, long want_params, double published) {
    cJSON *model = load_model(name);
    hn_model m;
    hn_error err;
    int rc = hn_model_plan(&m, model, &reg, hn_backend_cpu(), &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    char path[256];
    snprintf(path, sizeof path, FIX "%s.tsv", name);
    FILE *tab = fopen(path, "r");
    assert_non_null(tab);
    char line[512];
    int rows = 0, bad = 0;
    while (fgets(line, sizeof line, tab)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char pname[400], shape[64], got[64] = "";
        assert_int_equal(sscanf(line, "%399s %63s", pname, shape), 2);
        rows++;
        int i = hn_params_find(&m.params, pname);
        if (i < 0) {
            printf("%s: missing %s\n", name, pname);
            bad++;
            continue;
        }
        const hn_param *p = &m.params.entries[i].p;
        for (int d = 0; d < p->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)p->shape[d]);
        if (strcmp(got, shape)) {
            printf("%s: shape of %s: hnet %s, reference %s\n", name, pname, got, shape);
            bad++;
        }
    }
    fclose(tab);
    long n = hn_model_param_count(&m);
    printf("%s: %d tensors, %ld parameters (published %.2gB)\n", name, m.params.n, n, published / 1e9);
    assert_int_equal(bad, 0);
    assert_int_equal(m.params.n, rows);
    assert_int_equal(n, want_params);
    assert_true(fabs(n - published) / published < 0.05);
    hn_model_free(&m);
    cJSON_Delete(model);
}

static void test_hnet_1stage_L(void **state) { check_config("hnet_1stage_L", 679405312, 680e6); }
static void test_hnet_2stage_L(void **state) { check_config("hnet_2stage_L", 874315264, 870e6); }
static void test_hnet_1stage_XL(void **state) { check_config("hnet_1stage_XL", 1270833920, 1.3e9); }
static void test_hnet_2stage_XL(void **state) { check_config("hnet_2stage_XL", 1603492224, 1.6e9); }

/* The reference's defaults where a file is silent, and its settings where it is not. */
static void test_defaults_and_mapping(void **state) {
    cJSON *ref = cJSON_Parse("{\"arch_layout\":[\"m2\",[\"T3\"],\"m2\"],\"d_model\":[64,96],"
                             "\"d_intermediate\":[0,200],\"attn_cfg\":{\"num_heads\":4,"
                             "\"window_size\":[7,-1]}}");
    cJSON *out;
    hn_error err;
    assert_int_equal(hn_reference_config_convert(ref, "t.json", &out, &err), HN_OK);
    const cJSON *args = cJSON_GetObjectItem(out, "args");
    assert_string_equal(cJSON_GetObjectItem(out, "kind")->valuestring, "hnet");
    const cJSON *m2 = cJSON_GetObjectItem(args, "mamba2");
    assert_int_equal(cJSON_GetObjectItem(m2, "d_state")->valueint, 128); /* not hnet's 64 */
    assert_int_equal(cJSON_GetObjectItem(m2, "headdim")->valueint, 64);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(args, "mlp"), 1)->valueint, 256); /* x128 */
    const cJSON *at = cJSON_GetObjectItem(args, "attention");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(at, "window"), 0)->valueint, 7);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(at, "window"), 1)->valuestring, "global");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(at, "rotary_dim"), 1)->valueint, 0);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(at, "heads"), 1)->valueint, 4);
    cJSON_Delete(out);
    cJSON_Delete(ref);
}

static void expect_refused(const char *json, const char *words) {
    cJSON *ref = cJSON_Parse(json), *out = NULL;
    hn_error err = {{0}};
    assert_int_equal(hn_reference_config_convert(ref, "bad.json", &out, &err), HN_ERR);
    assert_null(out);
    if (!strstr(err.msg, words)) printf("message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, words));
    cJSON_Delete(ref);
}

static void test_refusals(void **state) {
    expect_refused("{\"arch_layout\":[\"T2\"],\"d_model\":[64],\"attn_cfg\":{\"num_heads\":2},"
                   "\"tie_embeddings\":true}", "tie_embeddings");
    expect_refused("{\"arch_layout\":[\"T2\"],\"d_model\":[64],\"attn_cfg\":{\"num_heads\":2},"
                   "\"d_modle\":3}", "unknown key 'd_modle'");
    expect_refused("{\"arch_layout\":[\"m2\",[\"T2\"],\"m2\"],\"d_model\":[64],"
                   "\"attn_cfg\":{\"num_heads\":2}}", "d_model: expected 2 entries");
    expect_refused("{\"arch_layout\":[\"T2\"],\"d_model\":[64]}", "attn_cfg");
    expect_refused("{\"arch_layout\":[\"m2\",\"T2\"],\"d_model\":[64]}", "arch_layout");
    expect_refused("{\"arch_layout\":[\"m2\"],\"d_model\":[64],\"ssm_cfg\":{\"d_stat\":3}}",
                   "ssm_cfg: unknown key 'd_stat'");
}

/* An isotropic reference layout ["T2"] is an isotropic model at backbone. */
static void test_isotropic(void **state) {
    cJSON *ref = cJSON_Parse("{\"arch_layout\":[\"T2\"],\"d_model\":[64],\"d_intermediate\":[128],"
                             "\"attn_cfg\":{\"num_heads\":2}}"), *out;
    hn_error err;
    assert_int_equal(hn_reference_config_convert(ref, "iso.json", &out, &err), HN_OK);
    assert_string_equal(cJSON_GetObjectItem(out, "kind")->valuestring, "isotropic");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "args"), "layout")->valuestring, "T2");
    cJSON_Delete(out);
    cJSON_Delete(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hnet_1stage_L),        cmocka_unit_test(test_hnet_2stage_L),
        cmocka_unit_test(test_hnet_1stage_XL),       cmocka_unit_test(test_hnet_2stage_XL),
        cmocka_unit_test(test_defaults_and_mapping), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_isotropic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
