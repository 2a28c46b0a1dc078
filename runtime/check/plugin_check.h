/* The plugin test kit (`hnet plugins --check FILE.so`): the checks every layer plugin
 * must pass, run on any plugin, in tree or out of tree. On the cpu backend: the layer
 * is created from its config defaults (plus the given config), its parameters drawn
 * normal(0, 0.2) so gradients are far from zero, and the finite-difference gradient of
 * sum(f(x) * probe) is compared with its backward -- for the input and each parameter
 * -- over two packed sequences (so a state leaking across a sequence start shows). The
 * error of an entry is relative to its gradient, or to a floor where the gradient is small:
 * 5e-2, raised to what the float32 rounding of the loss lets the step of 1e-2 resolve
 * (check/gradcheck.h: hn_gradcheck_noise_floor), so one plugin passes or fails alike on
 * every CPU. */
#ifndef HN_PLUGIN_CHECK_H
#define HN_PLUGIN_CHECK_H

#include <stdio.h>

#include "core/error.h"
#include "plugin/chunker_abi.h"
#include "plugin/layer_abi.h"

typedef struct hn_plugin_check_opts {
    int d_model;             /* 0: 64 (mamba2 with its default headdim needs 32) */
    const char *config_json; /* the plugin's section ({"hidden": 32}); NULL: defaults only */
    double tol;              /* worst relative error allowed; 0: 1e-2 */
    FILE *out;               /* one line per checked tensor; NULL: silent */
} hn_plugin_check_opts;

/* Runs the checks; *n_failed counts the tensors whose gradient is wrong. HN_ERR (with
 * the message) when the checks cannot run: bad config, create/forward/backward failed. */
int hn_plugin_check_layer(const hn_layer_plugin *p, const hn_plugin_check_opts *opts,
                          int *n_failed, hn_error *err);

/* A chunker: p in [0, 1] and 1 at every sequence start; for a differentiable one the
 * gradient of sum(p * probe) for the input and each parameter, with its parameters as
 * its own initialisers draw them. */
int hn_plugin_check_chunker(const hn_chunker_plugin *p, const hn_plugin_check_opts *opts,
                            int *n_failed, hn_error *err);

#endif
