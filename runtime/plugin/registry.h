/* Loads layer plugins (dlopen) and answers "which plugin is this name / letter".
 * Search order for hn_registry_load_default: $HNET_PLUGIN_PATH (colon-separated
 * folders), then build/layers and build/plugins next to the hnet executable's tree,
 * then <prefix>/lib/hnet. */
#ifndef HN_REGISTRY_H
#define HN_REGISTRY_H

#include "plugin/chunker_abi.h"
#include "plugin/layer_abi.h"
#include "plugin/sink_abi.h"

#define HN_MAX_PLUGINS 64
#define HN_MAX_LETTERS 64

/* Each loaded table is the registry's copy, read as the current struct whatever ABI
 * version the plugin was built with (plugin/abi_compat.h); plugin points at it. */
typedef struct hn_loaded_plugin {
    const hn_layer_plugin *plugin;
    hn_layer_plugin table;
    char path[1024];
    void *handle; /* dlopen handle; NULL for plugins registered in-process */
} hn_loaded_plugin;

typedef struct hn_loaded_chunker {
    const hn_chunker_plugin *plugin;
    hn_chunker_plugin table;
    char path[1024];
    void *handle;
} hn_loaded_chunker;

typedef struct hn_loaded_sink {
    const hn_sink_plugin *plugin;
    hn_sink_plugin table;
    char path[1024];
    void *handle;
} hn_loaded_sink;

#define HN_MAX_SINKS 16

typedef struct hn_registry {
    hn_loaded_plugin plugins[HN_MAX_PLUGINS];
    int n_plugins;
    hn_loaded_chunker chunkers[HN_MAX_PLUGINS];
    int n_chunkers;
    hn_loaded_sink sinks[HN_MAX_SINKS];
    int n_sinks;
    hn_letter_def letters[HN_MAX_LETTERS];
    int letter_owner[HN_MAX_LETTERS]; /* index into plugins */
    int n_letters;
} hn_registry;

void hn_registry_init(hn_registry *reg);
void hn_registry_close(hn_registry *reg);

/* Loads one shared object: a layer, chunker or dashboard sink plugin, whose entry
 * hn_plugin_entry (plugin/host_api.h) is handed the host API table. Clear errors for:
 * not loadable, missing entry symbol (naming an old API's entry), a plugin that needs a
 * newer host API (naming both versions), a table of a newer or too old ABI version
 * (naming both; older compatible versions load), incomplete table, a name or letter
 * already registered, an op of its own (backend/kernels.h) that cannot be registered. */
int hn_registry_load_file(hn_registry *reg, const char *path, hn_error *err);
/* Loads every *.so in a folder (sorted by name, so the order is reproducible). */
int hn_registry_load_dir(hn_registry *reg, const char *dir, hn_error *err);
/* The default search (see above). Fails if no layer plugin was found at all. */
int hn_registry_load_default(hn_registry *reg, hn_error *err);
/* Registers a plugin table that is linked in (tests). */
int hn_registry_add(hn_registry *reg, const hn_layer_plugin *p, const char *path, hn_error *err);
int hn_registry_add_chunker(hn_registry *reg, const hn_chunker_plugin *p, const char *path,
                            hn_error *err);
const hn_chunker_plugin *hn_registry_find_chunker(const hn_registry *reg, const char *name);
/* Dashboard sinks (sink_abi.h). */
int hn_registry_add_sink(hn_registry *reg, const hn_sink_plugin *p, const char *path,
                         hn_error *err);
const hn_sink_plugin *hn_registry_find_sink(const hn_registry *reg, const char *name);

const hn_layer_plugin *hn_registry_find(const hn_registry *reg, const char *name);
const hn_letter_def *hn_registry_letter(const hn_registry *reg, char letter);

#endif
