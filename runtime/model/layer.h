/* A sublayer instance: one plugin (mixer or MLP) with its parameters in a store.
 * The runtime's network wraps it with the pre-norm and the residual add. */
#ifndef HN_LAYER_H
#define HN_LAYER_H

#include "model/params.h"
#include "plugin/layer_abi.h"

typedef struct hn_layer {
    const hn_layer_plugin *plugin;
    void *self;
    int first_param; /* index into the param store */
    int n_params;
} hn_layer;

/* Creates the plugin instance and declares its parameters in store under prefix
 * (e.g. "backbone.layers.0.mixer."). Call hn_layer_bind after hn_params_allocate. */
int hn_layer_create(hn_layer *l, const hn_layer_plugin *plugin, const hn_layer_args *args,
                    hn_param_store *store, const char *prefix, int group, hn_error *err);
void hn_layer_bind(hn_layer *l, const hn_param_store *store);
void hn_layer_destroy(hn_layer *l, const hn_backend *be);

#endif
