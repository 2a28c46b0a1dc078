/* hnet plugins: what layer plugins were found, and which letters they register. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "plugin/registry.h"

int hn_cmd_plugins(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: hnet plugins\n\nLists the plugins found on HNET_PLUGIN_PATH and in the build "
                   "tree: layers\n(role mixer or mlp, with the block letters each registers), chunkers "
                   "and dashboard\nsinks: name, version, role, letters, file.\n");
            return 0;
        }
        fprintf(stderr, "hnet plugins: unknown argument '%s' (see hnet plugins --help)\n", argv[i]);
        return 2;
    }
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err;
    if (hn_registry_load_default(&reg, &err)) {
        fprintf(stderr, "hnet plugins: %s\n", err.msg);
        hn_registry_close(&reg);
        return 1;
    }
    printf("%-12s %-8s %-6s %-24s %s\n", "name", "version", "role", "letters", "file");
    for (int i = 0; i < reg.n_plugins; i++) {
        const hn_layer_plugin *p = reg.plugins[i].plugin;
        char letters[128] = "";
        for (int l = 0; l < p->n_letters; l++) {
            const hn_letter_def *d = &p->letters[l];
            char one[64];
            snprintf(one, sizeof one, "%s%c=%s%s%s", l ? " " : "", d->letter, d->mixer,
                     d->mlp ? "+" : "", d->mlp ? (strcmp(d->mlp, "*") ? d->mlp : "mlp") : "");
            strncat(letters, one, sizeof letters - strlen(letters) - 1);
        }
        printf("%-12s %-8s %-6s %-24s %s\n", p->name, p->version, p->role,
               *letters ? letters : "-", reg.plugins[i].path);
    }
    /* the other extension points: chunkers (plugins/dc, ...) and dashboard sinks */
    for (int i = 0; i < reg.n_chunkers; i++)
        printf("%-12s %-8s %-6s %-24s %s\n", reg.chunkers[i].plugin->name,
               reg.chunkers[i].plugin->version, "chunk", "-", reg.chunkers[i].path);
    for (int i = 0; i < reg.n_sinks; i++)
        printf("%-12s %-8s %-6s %-24s %s\n", reg.sinks[i].plugin->name,
               reg.sinks[i].plugin->version, "sink", "-", reg.sinks[i].path);
    hn_registry_close(&reg);
    return 0;
}
