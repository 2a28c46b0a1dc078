#include "train/lr_modulation.h"

#include <math.h>
#include <string.h>

static double stage_number(const cJSON *v, int s, double fallback) {
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, s);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int hn_lr_multipliers(const cJSON *cfg, int S, double *mult, hn_error *err) {
    const cJSON *train = cJSON_GetObjectItem(cfg, "train");
    const cJSON *model = cJSON_GetObjectItem(cfg, "model");
    const cJSON *spec = cJSON_GetObjectItem(train, "lr_multipliers");
    for (int s = 0; s <= S; s++) mult[s] = 1.0;
    /* an isotropic model has no stages to balance: "auto" leaves it at the base rate */
    if (!spec || cJSON_IsNull(spec) || S == 0) return HN_OK;
    if (cJSON_IsArray(spec)) {
        if (cJSON_GetArraySize(spec) != S + 1)
            return hn_fail(err, "train.lr_multipliers: expected %d numbers (one per stage and the main "
                                "network), found %d", S + 1, cJSON_GetArraySize(spec));
        for (int s = 0; s <= S; s++) {
            const cJSON *v = cJSON_GetArrayItem(spec, s);
            if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
                return hn_fail(err, "train.lr_multipliers[%d]: expected a positive number", s + 1);
            mult[s] = v->valuedouble;
        }
        return HN_OK;
    }
    if (!cJSON_IsString(spec) || strcmp(spec->valuestring, "auto"))
        return hn_fail(err, "train.lr_multipliers: expected \"auto\" or a list of numbers");
    const cJSON *chunker = cJSON_GetObjectItem(model, "chunker");
    const cJSON *ratio = cJSON_GetObjectItem(chunker, "ratio");
    const cJSON *k = cJSON_GetObjectItem(chunker, "k");
    const cJSON *d = cJSON_GetObjectItem(model, "d");
    const cJSON *kind = cJSON_GetObjectItem(chunker, "kind");
    int is_space = cJSON_IsString(kind) && !strcmp(kind->valuestring, "space");
    double DS = stage_number(d, S, 0);
    double prod = 1.0;
    for (int s = 0; s <= S; s++) {
        double Ds = stage_number(d, s, 0);
        if (DS <= 0 || Ds <= 0) return hn_fail(err, "train.lr_multipliers = \"auto\" needs model.d per stage");
        mult[s] = sqrt(HN_N_GPT / prod * DS / Ds);
        double N = ratio ? stage_number(ratio, s, 1.0)
                 : k     ? stage_number(k, s, 1.0)
                 : is_space ? HN_SPACE_RATIO : 1.0;
        prod *= N > 0 ? N : 1.0;
    }
    return HN_OK;
}
