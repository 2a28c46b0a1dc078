/* libFuzzer target: the checkpoint loader. Each input is a safetensors file: it is
 * parsed and validated (hn_safetensors_parse) and, when that accepts it, loaded as a
 * training checkpoint and as weights into a tiny H-Net, as `hnet run --resume` and
 * `hnet sample` would. An input without a checksum is treated as sealed once it parses
 * (as a forger would re-seal it), so mutations reach the checkpoint layer instead of
 * stopping at the checksum. Any crash or sanitizer report is a finding.
 *
 * HNET_FUZZ_WRITE_SEED=PATH writes a valid checkpoint of the tiny model (unsealed) to
 * PATH and exits: how tests/fuzz/corpus/checkpoint/ was made. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "plugin/registry.h"
#include "train/checkpoint.h"

static hn_registry reg;
static hn_model model;
static float *opt_m, *opt_v;

static const char *TINY =
    "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":[\"m1\",[\"T1\"],\"m1\"],\"d\":[4,8],"
    "\"mlp\":[null,null],\"layers\":{\"mamba2\":{\"d_state\":2,\"headdim\":4},"
    "\"attention\":{\"heads\":1}},\"chunker\":{\"plugin\":\"dc\",\"ratio\":3}}";

static void write_seed(const char *path) {
    hn_ckpt_train tr = {.step = 3, .run_id = 1, .bpb_n = 1, .flops_n = 1, .bpb_sum = 8,
                        .data_rng = {{1, 2, 3, 4}}};
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"seed\":1,\"train\":{\"steps\":6},\"model\":%s}", TINY);
    hn_error err;
    if (hn_checkpoint_save(path, &model, opt_m, opt_v, cfg, "fuzz", &tr, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hn_error err;
    hn_registry_init(&reg);
    cJSON *cfg = cJSON_Parse(TINY);
    if (hn_registry_load_default(&reg, &err) ||
        hn_model_build(&model, cfg, &reg, hn_backend_cpu(), 1, &err)) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err.msg);
        exit(1);
    }
    cJSON_Delete(cfg);
    opt_m = calloc(model.params.total, sizeof(float));
    opt_v = calloc(model.params.total, sizeof(float));
    const char *seed = getenv("HNET_FUZZ_WRITE_SEED");
    if (seed) write_seed(seed);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hn_safetensors f;
    hn_error err;
    if (hn_safetensors_parse(data, size, "fuzz-input", &f, &err)) return 0;
    if (f.sealed == HN_ST_UNSEALED) f.sealed = HN_ST_SEALED;
    hn_ckpt_train tr;
    (void)hn_checkpoint_load_train(&f, &model, opt_m, opt_v, &tr, &err);
    (void)hn_checkpoint_load_weights(&f, &model, &err);
    int ndim;
    int64_t shape[HN_ST_MAX_DIMS];
    (void)hn_safetensors_find(&f, "lm_head.weight", &ndim, shape);
    hn_safetensors_free(&f);
    return 0;
}
