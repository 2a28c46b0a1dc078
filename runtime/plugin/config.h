/* Plugin config sections: defaults from a plugin's hn_config_key list. The Lua layer
 * validates user input against the same list; this fills whatever a config built
 * elsewhere (tests, JSON) leaves out, so plugins can read every key unchecked. */
#ifndef HN_PLUGIN_CONFIG_H
#define HN_PLUGIN_CONFIG_H

#include <cJSON.h>

#include "core/error.h"
#include "plugin/config_view.h"
#include "plugin/layer_abi.h"

/* A config section as plugins see it (config_view.h) and back: the runtime holds
 * sections as cJSON; the plugin ABI names only the opaque hn_config. */
static inline const hn_config *hn_config_view(const cJSON *json) { return (const hn_config *)json; }
static inline const cJSON *hn_config_json(const hn_config *cfg) { return (const cJSON *)cfg; }

/* A copy of cfg (NULL: empty) with every missing key that has a default added.
 * Fails, naming the plugin and key, when a required key (default_json NULL) is missing
 * or a default does not parse. Caller frees with cJSON_Delete. */
cJSON *hn_config_with_defaults(const cJSON *cfg, const hn_config_key *keys, int n_keys,
                               const char *plugin_name, hn_error *err);

#endif
