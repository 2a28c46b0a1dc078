/* Small random models for the generation tests, shared by tests/unit/test_generate.c
 * (cpu) and tests/gpu/test_parity_generate.c (cuda): the real layer and chunker
 * plugins, attention windows shorter than the prompts, Mamba-2 with a short SSD chunk.
 * Header-only (the GPU tests link no unit-test helpers); needs cmocka.h first. */
#ifndef HN_TEST_GEN_MODELS_H
#define HN_TEST_GEN_MODELS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "model/model.h"

#define GEN_LAYERS                                                                          \
    "\"layers\":{\"attention\":[{\"heads\":2,\"window\":5,\"rotary_dim\":8},"               \
    "{\"heads\":2,\"window\":3,\"rotary_dim\":8},{\"heads\":3,\"window\":\"global\","       \
    "\"rotary_dim\":8}],\"mamba2\":{\"d_state\":8,\"headdim\":16,\"chunk_size\":8}}"

static inline cJSON *gen_config(const char *layout, const char *d, const char *mlp,
                                const char *chunker) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":%s,\"d\":%s,\"mlp\":%s," GEN_LAYERS "%s%s}",
             layout, d, mlp, chunker ? ",\"chunker\":" : "", chunker ? chunker : "");
    cJSON *cfg = cJSON_Parse(json);
    assert_non_null(cfg);
    return cfg;
}

/* attention + Mamba-2 + SwiGLU */
static inline cJSON *gen_isotropic(void) {
    return gen_config("[\"m1T2\"]", "32", "{\"plugin\":\"swiglu\",\"hidden\":48}", NULL);
}
static inline cJSON *gen_one_stage(void) {
    return gen_config("[\"m1T1\",[\"T1m1\"],\"T1m1\"]", "[32,48]",
                      "[null,{\"plugin\":\"swiglu\",\"hidden\":64}]",
                      "{\"plugin\":\"dc\",\"ratio\":3}");
}
static inline cJSON *gen_two_stage(void) {
    return gen_config("[\"m1T1\",[\"T1m1\",[\"T1m1\"],\"m1T1\"],\"T1m1\"]", "[32,32,48]",
                      "[null,{\"plugin\":\"swiglu\",\"hidden\":48},{\"plugin\":\"swiglu\","
                      "\"hidden\":64}]",
                      "{\"plugin\":\"dc\",\"ratio\":[2,2]}");
}
/* dc's ablation paths: linear routing, no STE, max pooling ... */
static inline cJSON *gen_dc_linear_max(void) {
    return gen_config("[\"m1\",[\"T1\"],\"m1\"]", "[32,32]", "[null,null]",
                      "{\"plugin\":\"dc\",\"ratio\":3,\"routing\":\"linear\",\"ste\":false,"
                      "\"downsample\":\"max\"}");
}
/* ... and no smoothing, mean pooling */
static inline cJSON *gen_dc_mean_unsmoothed(void) {
    return gen_config("[\"T1\",[\"m1\"],\"T1\"]", "[32,48]", "[null,null]",
                      "{\"plugin\":\"dc\",\"ratio\":3,\"smoothing\":false,\"downsample\":\"mean\"}");
}

/* Random values for the parameters that start at zero (residual projections, padding),
 * so every path of the stage carries signal. m on the cpu. */
static inline void gen_randomise_zero_inits(hn_model *m, uint64_t seed) {
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    for (int i = 0; i < m->params.n; i++) {
        hn_param_entry *e = &m->params.entries[i];
        if (!strstr(e->p.name, "residual_proj") && !strstr(e->p.name, "pad_dimension")) continue;
        for (size_t k = 0; k < e->numel; k++) e->p.value[k] = (float)(0.2 * hn_rng_normal(&rng));
    }
}

static inline void gen_log_softmax(const float *x, double *out, int n) {
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) s += exp(x[i] - mx);
    for (int i = 0; i < n; i++) out[i] = x[i] - mx - log(s);
}

/* max |log softmax(a) - log softmax(b)| over n <= 256 entries; +inf on a NaN */
static inline double gen_max_diff(const float *a, const float *b, int n) {
    double la[256], lb[256], worst = 0;
    gen_log_softmax(a, la, n);
    gen_log_softmax(b, lb, n);
    for (int i = 0; i < n; i++) {
        double d = fabs(la[i] - lb[i]);
        if (!(d <= worst)) worst = d; /* a NaN wins */
    }
    return isnan(worst) ? INFINITY : worst;
}

#endif
