/* The config accessors of config_view.h over the runtime's JSON representation. */
#include "plugin/config_view.h"

#include <math.h>

#include <cJSON.h>

static const cJSON *item(const hn_config *cfg, const char *key) {
    return cfg && key ? cJSON_GetObjectItemCaseSensitive((const cJSON *)cfg, key) : NULL;
}

hn_config_kind hn_config_kind_of(const hn_config *cfg, const char *key) {
    const cJSON *it = item(cfg, key);
    if (!it) return HN_CONFIG_ABSENT;
    if (cJSON_IsNull(it)) return HN_CONFIG_NULL;
    if (cJSON_IsBool(it)) return HN_CONFIG_BOOL;
    if (cJSON_IsNumber(it)) return HN_CONFIG_NUMBER;
    if (cJSON_IsString(it)) return HN_CONFIG_STRING;
    return HN_CONFIG_OTHER;
}

double hn_config_number(const hn_config *cfg, const char *key) {
    const cJSON *it = item(cfg, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

const char *hn_config_string(const hn_config *cfg, const char *key) {
    const cJSON *it = item(cfg, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int hn_config_bool(const hn_config *cfg, const char *key) {
    const cJSON *it = item(cfg, key);
    return cJSON_IsBool(it) ? !!cJSON_IsTrue(it) : -1;
}
