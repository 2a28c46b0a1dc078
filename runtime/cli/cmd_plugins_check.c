/* hnet plugins --check FILE.so: the plugin test kit (check/plugin_check.h) on one
 * shared object, loaded alone (as an out-of-tree plugin is, before it is installed);
 * with --device cuda also its ops and its layer on cpu vs cuda (check/parity.h). */
#include <stdio.h>
#include <string.h>

#include "backend/kernels_host.h"
#include "check/parity.h"
#include "check/plugin_check.h"
#include "cli/commands.h"
#include "plugin/registry.h"

/* The backend --device names, or NULL after saying why there is none. */
static const hn_backend *open_device(const char *name) {
    if (strcmp(name, "cuda")) {
        fprintf(stderr, "hnet plugins --check: --device must be cuda (the cpu is the reference), not '%s'\n",
                name);
        return NULL;
    }
#ifndef HN_HAVE_CUDA
    fprintf(stderr, "hnet plugins --check --device cuda: this hnet was built without CUDA; the GPU "
                    "parity checks need a CUDA build (make CUDA=1, with nvcc) on a machine with a GPU\n");
    return NULL;
#else
    const hn_backend *be = hn_backend_get("cuda");
    if (!be) fprintf(stderr, "hnet plugins --check --device cuda: this machine has no usable CUDA device\n");
    return be;
#endif
}

/* The ops the plugin's library registered: one line each and, with a device, their
 * parity. */
static int check_ops(const void *handle, const hn_backend *dev, int *n_failed, hn_error *err) {
    int n = 0;
    for (int i = 0; i < hn_kernels_count(); i++) {
        const void *owner;
        const hn_kernel_def *k = hn_kernels_at(i, &owner);
        if (owner != handle) continue;
        n++;
        printf("op   %-32s %s\n", k->name, k->cuda ? "cpu and cuda" : "cpu only (built without nvcc)");
        if (dev && hn_parity_kernel(k, dev, stdout, n_failed, err)) return HN_ERR;
    }
    if (dev && !n) printf("--   no ops of its own in the kernel registry\n");
    return HN_OK;
}

int hn_cmd_plugins_check(const char *path, const char *config_json, int d_model,
                         const char *device) {
    const hn_backend *dev = NULL;
    if (device && !(dev = open_device(device))) return 1;
    /* a bare name is a file here, not a library for dlopen to search for */
    char here[1024];
    if (!strchr(path, '/')) {
        snprintf(here, sizeof here, "./%s", path);
        path = here;
    }
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err = {{0}};
    if (hn_registry_load_file(&reg, path, &err)) {
        fprintf(stderr, "hnet plugins --check: %s\n", err.msg);
        return 1;
    }
    int rc = 0, n_failed = 0;
    hn_plugin_check_opts o = {.d_model = d_model, .config_json = config_json, .out = stdout};
    const char *name;
    const void *handle;
    if (reg.n_plugins == 1) {
        const hn_layer_plugin *p = reg.plugins[0].plugin;
        name = p->name;
        handle = reg.plugins[0].handle;
        printf("%s %s (%s plugin, %s): gradient checks on the cpu backend\n", p->name, p->version,
               p->role, path);
        rc = hn_plugin_check_layer(p, &o, &n_failed, &err);
        if (!rc) rc = check_ops(handle, dev, &n_failed, &err);
        if (!rc && dev) {
            int bf16 = dev->activation_dtype && dev->activation_dtype(dev) == HN_BF16;
            printf("%s: forward and backward, cpu vs %s (matrix products in %s)\n", p->name,
                   dev->name, bf16 ? "bf16" : "fp32");
            rc = hn_parity_layer(p, &o, dev, &n_failed, &err);
        }
    } else if (reg.n_chunkers == 1) {
        const hn_chunker_plugin *p = reg.chunkers[0].plugin;
        name = p->name;
        handle = reg.chunkers[0].handle;
        printf("%s %s (chunker plugin, %s): checks on the cpu backend\n", p->name, p->version, path);
        rc = hn_plugin_check_chunker(p, &o, &n_failed, &err);
        if (!rc) rc = check_ops(handle, dev, &n_failed, &err);
    } else {
        printf("%s (sink plugin, %s): loads; sinks have no checks in the kit\n",
               reg.sinks[0].plugin->name, path);
        hn_registry_close(&reg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "hnet plugins --check: %s\n", err.msg);
    } else if (n_failed) {
        printf("%s: %d check(s) failed\n", name, n_failed);
        rc = 1;
    } else {
        printf("%s: every check passed\n", name);
    }
    hn_registry_close(&reg);
    return rc ? 1 : 0;
}
