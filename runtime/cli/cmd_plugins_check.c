/* hnet plugins --check FILE.so: the plugin test kit (check/plugin_check.h) on one
 * shared object, loaded alone (as an out-of-tree plugin is, before it is installed). */
#include <stdio.h>
#include <string.h>

#include "check/plugin_check.h"
#include "cli/commands.h"
#include "plugin/registry.h"

int hn_cmd_plugins_check(const char *path, const char *config_json, int d_model) {
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
    if (reg.n_plugins == 1) {
        const hn_layer_plugin *p = reg.plugins[0].plugin;
        name = p->name;
        printf("%s %s (%s plugin, %s): gradient checks on the cpu backend\n", p->name, p->version,
               p->role, path);
        rc = hn_plugin_check_layer(p, &o, &n_failed, &err);
    } else if (reg.n_chunkers == 1) {
        const hn_chunker_plugin *p = reg.chunkers[0].plugin;
        name = p->name;
        printf("%s %s (chunker plugin, %s): checks on the cpu backend\n", p->name, p->version, path);
        rc = hn_plugin_check_chunker(p, &o, &n_failed, &err);
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
