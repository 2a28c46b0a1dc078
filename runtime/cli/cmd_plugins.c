/* hnet plugins: what layer plugins were found, and which letters they register. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "plugin/registry.h"

/* Every setting of one plugin's config section: key, type, default, help. */
static int print_settings(const hn_registry *reg, const char *name) {
    const hn_config_key *keys = NULL;
    int n = -1;
    const char *role = NULL, *path = NULL;
    for (int i = 0; i < reg->n_plugins && n < 0; i++)
        if (!strcmp(reg->plugins[i].plugin->name, name)) {
            keys = reg->plugins[i].plugin->config_keys, n = reg->plugins[i].plugin->n_config_keys;
            role = reg->plugins[i].plugin->role, path = reg->plugins[i].path;
        }
    for (int i = 0; i < reg->n_chunkers && n < 0; i++)
        if (!strcmp(reg->chunkers[i].plugin->name, name)) {
            keys = reg->chunkers[i].plugin->config_keys, n = reg->chunkers[i].plugin->n_config_keys;
            role = "chunker", path = reg->chunkers[i].path;
        }
    for (int i = 0; i < reg->n_sinks; i++)
        if (!strcmp(reg->sinks[i].plugin->name, name) && n < 0) {
            printf("%s: dashboard sink (%s)\n%s\nits settings are hnet upload's options: hnet upload --help\n",
                   name, reg->sinks[i].path, reg->sinks[i].plugin->summary);
            return 0;
        }
    if (n < 0) {
        fprintf(stderr, "hnet plugins: no plugin named '%s' (hnet plugins lists them)\n", name);
        return 1;
    }
    if (!strcmp(role, "chunker")) /* a chunker's settings go in the model's chunker section */
        printf("%s: %s plugin (%s); its settings, in the model's `chunker = chunker { plugin = \"%s\", "
               "... }`:\n\n", name, role, path, name);
    else
        printf("%s: %s plugin (%s); its settings, in the experiment's `%s = { ... }` section:\n\n", name,
               role, path, name);
    if (n == 0) {
        printf("  (none)\n");
        return 0;
    }
    printf("  %-16s %-8s %-12s %s\n", "setting", "type", "default", "meaning");
    for (int k = 0; k < n; k++)
        printf("  %-16s %-8s %-12s %s\n", keys[k].key, keys[k].type,
               keys[k].default_json ? keys[k].default_json : "(required)", keys[k].help ? keys[k].help : "");
    return 0;
}

int hn_cmd_plugins(int argc, char **argv) {
    const char *settings = NULL, *check = NULL, *config_json = NULL, *device = NULL;
    int d_model = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: hnet plugins [--settings NAME]\n"
                   "       hnet plugins --check FILE.so [--config JSON] [--d N] [--device cuda]\n\nLists the plugins found on HNET_PLUGIN_PATH "
                   "and in the build tree: layers\n(role mixer or mlp, with the block letters each "
                   "registers), chunkers and dashboard\nsinks: name, version, role, letters, file.\n\n"
                   "  --settings NAME  every setting of plugin NAME: type, default and meaning\n"
                   "  --check FILE.so  the plugin test kit: loads FILE.so alone and runs on the cpu\n"
                   "                   the finite-difference gradient checks of a layer or a\n"
                   "                   differentiable chunker (input and every parameter; a\n"
                   "                   chunker's p also in [0, 1], 1 at sequence starts);\n"
                   "                   exit status 1 on a failure; it lists the plugin's own\n"
                   "                   ops (kernel registry) and where they run\n"
                   "  --config JSON    with --check: the plugin's config section, e.g.\n"
                   "                   '{\"hidden\": 32}' (keys without a default need one)\n"
                   "  --d N            with --check: the model width (default 64)\n"
                   "  --device cuda    with --check: also each op of the plugin and the layer's\n"
                   "                   forward and backward on cpu and cuda with the same random\n"
                   "                   inputs, compared by relative L2 error (fp32 2e-4, bf16\n"
                   "                   2e-2; needs a CUDA build and a GPU)\n");
            return 0;
        }
        if (!strcmp(argv[i], "--settings")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hnet plugins: --settings needs a plugin name (hnet plugins lists them)\n");
                return 2;
            }
            settings = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--check") || !strcmp(argv[i], "--config") || !strcmp(argv[i], "--d") ||
            !strcmp(argv[i], "--device")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hnet plugins: %s needs a value (see hnet plugins --help)\n", argv[i]);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(argv[i - 1], "--check")) check = v;
            else if (!strcmp(argv[i - 1], "--config")) config_json = v;
            else if (!strcmp(argv[i - 1], "--device")) device = v;
            else {
                char *end;
                long d = strtol(v, &end, 10);
                if (*end || d < 1 || d > 4096) {
                    fprintf(stderr, "hnet plugins: --d must be an integer in [1, 4096], not '%s'\n", v);
                    return 2;
                }
                d_model = (int)d;
            }
            continue;
        }
        fprintf(stderr, "hnet plugins: unknown argument '%s' (see hnet plugins --help)\n", argv[i]);
        return 2;
    }
    if ((config_json || d_model || device) && !check) {
        fprintf(stderr, "hnet plugins: --config, --d and --device go with --check FILE.so\n");
        return 2;
    }
    if (check) return hn_cmd_plugins_check(check, config_json, d_model, device);
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err;
    if (hn_registry_load_default(&reg, &err)) {
        fprintf(stderr, "hnet plugins: %s\n", err.msg);
        hn_registry_close(&reg);
        return 1;
    }
    if (settings) {
        int rc = print_settings(&reg, settings);
        hn_registry_close(&reg);
        return rc;
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
