#include "plugin/config.h"

cJSON *hn_config_with_defaults(const cJSON *cfg, const hn_config_key *keys, int n_keys,
                               const char *plugin_name, hn_error *err) {
    cJSON *out = cfg ? cJSON_Duplicate(cfg, 1) : cJSON_CreateObject();
    for (int i = 0; i < n_keys; i++) {
        if (cJSON_GetObjectItem(out, keys[i].key)) continue;
        if (!keys[i].default_json) {
            cJSON_Delete(out);
            hn_fail(err, "%s: the key '%s' is required (%s)", plugin_name, keys[i].key,
                    keys[i].help ? keys[i].help : keys[i].type);
            return NULL;
        }
        cJSON *v = cJSON_Parse(keys[i].default_json);
        if (!v) {
            cJSON_Delete(out);
            hn_fail(err, "%s: the default of '%s' is not valid JSON: %s", plugin_name, keys[i].key,
                    keys[i].default_json);
            return NULL;
        }
        cJSON_AddItemToObject(out, keys[i].key, v);
    }
    return out;
}
