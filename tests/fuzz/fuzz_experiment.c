/* libFuzzer target: the experiment-file loader. Each input is written to a temporary
 * .lua file and loaded as an experiment (hn_experiment_load) and as a suite
 * (hn_suite_load) with the default plugins, as `hnet run` and `hnet suite` would. A
 * refusal with a message is fine; a crash, a sanitizer report or a hang is a finding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/experiment.h"
#include "plugin/registry.h"

static hn_registry reg;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hn_error err;
    hn_registry_init(&reg);
    if (hn_registry_load_default(&reg, &err)) {
        fprintf(stderr, "fuzz_experiment: %s\n", err.msg);
        exit(1);
    }
    snprintf(path, sizeof path, "/tmp/hnet-fuzz-%ld.lua", (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    hn_error err;
    cJSON *out = NULL;
    if (!hn_experiment_load(path, NULL, &reg, &out, &err)) cJSON_Delete(out);
    out = NULL;
    if (!hn_suite_load(path, NULL, &reg, &out, &err)) cJSON_Delete(out);
    unlink(path);
    return 0;
}
