#include "model/layer.h"

#include "plugin/config.h"

#include <stdlib.h>
#include <string.h>

int hn_layer_create(hn_layer *l, const hn_layer_plugin *plugin, const hn_layer_args *args,
                    hn_param_store *store, const char *prefix, int group, hn_error *err) {
    memset(l, 0, sizeof *l);
    l->plugin = plugin;
    cJSON *cfg = hn_config_with_defaults(hn_config_json(args->cfg), plugin->config_keys, plugin->n_config_keys,
                                         plugin->name, err);
    if (!cfg) return HN_ERR; /* the message names the plugin and key; callers add where */
    hn_layer_args full = *args;
    full.cfg = hn_config_view(cfg);
    int rc = plugin->create(&full, &l->self, err);
    cJSON_Delete(cfg);
    if (rc) return HN_ERR;
    l->n_params = plugin->param_count(l->self);
    l->first_param = store->n;
    if (l->n_params > 0) {
        hn_param *specs = calloc((size_t)l->n_params, sizeof *specs);
        plugin->describe_params(l->self, specs);
        for (int i = 0; i < l->n_params; i++)
            hn_params_declare(store, prefix, &specs[i], group, plugin->init_custom, l->self, i);
        free(specs);
    }
    return HN_OK;
}

void hn_layer_bind(hn_layer *l, const hn_param_store *store) {
    hn_param *bound = calloc((size_t)(l->n_params ? l->n_params : 1), sizeof *bound);
    hn_params_slice(store, l->first_param, l->n_params, bound);
    l->plugin->bind(l->self, bound);
    free(bound);
}

void hn_layer_destroy(hn_layer *l, const hn_backend *be) {
    if (l->plugin && l->self) l->plugin->destroy(l->self, be);
    memset(l, 0, sizeof *l);
}
