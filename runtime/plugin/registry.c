#include "plugin/registry.h"

#include "backend/kernels_host.h"
#include "plugin/abi_compat.h"
#include "plugin/host_api.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hn_registry_init(hn_registry *reg) { memset(reg, 0, sizeof *reg); }

/* A plugin's library, after the ops it registered (their code lives in it). */
static void close_library(void *h) {
    if (!h) return;
    hn_kernels_remove_owner(h);
    dlclose(h);
}

void hn_registry_close(hn_registry *reg) {
    for (int i = 0; i < reg->n_plugins; i++) close_library(reg->plugins[i].handle);
    for (int i = 0; i < reg->n_chunkers; i++) close_library(reg->chunkers[i].handle);
    for (int i = 0; i < reg->n_sinks; i++) close_library(reg->sinks[i].handle);
    memset(reg, 0, sizeof *reg);
}

/* One entry a plugin table must have, and whether it has it. */
typedef struct required_entry {
    const char *what;
    int present;
} required_entry;

#define N_REQUIRED(r) ((int)(sizeof(r) / sizeof(r)[0]))

/* The ABI versions of each table this hnet reads, and their sizes: when a version
 * appends fields, the entry of the one before becomes offsetof(its first new field). */
static const size_t layer_sizes[] = {offsetof(hn_layer_plugin, forward_t),    /* 3 */
                                     offsetof(hn_layer_plugin, output_again), /* 4 */
                                     offsetof(hn_layer_plugin, writes_dx),    /* 5 */
                                     sizeof(hn_layer_plugin)};              /* 6 */
static const size_t chunker_sizes[] = {sizeof(hn_chunker_plugin)}; /* 3 */
static const size_t sink_sizes[] = {sizeof(hn_sink_plugin)};       /* 2 */
static const hn_abi_versions layer_versions = {"layer", 3, HN_LAYER_ABI_VERSION, layer_sizes};
static const hn_abi_versions chunker_versions = {"chunker", 3, HN_CHUNKER_ABI_VERSION, chunker_sizes};
static const hn_abi_versions sink_versions = {"sink", 2, HN_SINK_ABI_VERSION, sink_sizes};
_Static_assert(HN_LAYER_ABI_VERSION - 3 + 1 == sizeof layer_sizes / sizeof layer_sizes[0],
               "a size for every accepted layer ABI version");
_Static_assert(HN_CHUNKER_ABI_VERSION - 3 + 1 == sizeof chunker_sizes / sizeof chunker_sizes[0],
               "a size for every accepted chunker ABI version");
_Static_assert(HN_SINK_ABI_VERSION - 2 + 1 == sizeof sink_sizes / sizeof sink_sizes[0],
               "a size for every accepted sink ABI version");

/* The checks every kind of plugin table shares (on the registry's copy, so after its
 * ABI version was accepted): its name, then the first required entry that is missing.
 * kind is "layer", "chunker" or "sink". */
static int check_plugin_table(const char *kind, const char *name, const required_entry *req,
                              int n, const char *path, hn_error *err) {
    const char *shown = name && *name ? name : "?";
    if (!name || !*name) return hn_fail(err, "%s plugin (%s): its table has no name", kind, path);
    for (int i = 0; i < n; i++)
        if (!req[i].present)
            return hn_fail(err, "%s plugin %s (%s): its table has no '%s'", kind, shown, path, req[i].what);
    return HN_OK;
}

static int check_table(const hn_layer_plugin *p, const char *path, hn_error *err) {
    const required_entry req[] = {
        {"version", !!p->version},     {"role", !!p->role},
        {"create", !!p->create},       {"destroy", !!p->destroy},
        {"param_count", !!p->param_count}, {"describe_params", !!p->describe_params},
        {"bind", !!p->bind},           {"forward", !!p->forward},
        {"backward", !!p->backward},   {"flops", !!p->flops},
    };
    if (check_plugin_table("layer", p->name, req, N_REQUIRED(req), path, err))
        return HN_ERR;
    if (!p->forward_t != !p->backward_t)
        return hn_fail(err, "plugin %s (%s): its table has '%s' without '%s' (the typed hooks go together)",
                       p->name, path, p->forward_t ? "forward_t" : "backward_t",
                       p->forward_t ? "backward_t" : "forward_t");
    if (strcmp(p->role, "mixer") && strcmp(p->role, "mlp"))
        return hn_fail(err, "plugin %s (%s): role must be \"mixer\" or \"mlp\", not \"%s\"", p->name, path, p->role);
    return HN_OK;
}

int hn_registry_add(hn_registry *reg, const hn_layer_plugin *table, const char *path, hn_error *err) {
    if (!table) return hn_fail(err, "%s: the plugin entry returned no table", path);
    hn_layer_plugin copy;
    const hn_layer_plugin *p = &copy;
    if (hn_abi_adopt(&layer_versions, table->abi_version, table, &copy, sizeof copy, table->name,
                     path, err) ||
        check_table(p, path, err))
        return HN_ERR;
    const hn_layer_plugin *dup = hn_registry_find(reg, p->name);
    if (dup) {
        for (int i = 0; i < reg->n_plugins; i++)
            if (reg->plugins[i].plugin == dup)
                return hn_fail(err, "plugin '%s' is loaded twice: %s and %s", p->name,
                               reg->plugins[i].path, path);
    }
    if (reg->n_plugins == HN_MAX_PLUGINS) return hn_fail(err, "too many plugins (max %d)", HN_MAX_PLUGINS);
    for (int i = 0; i < p->n_letters; i++) {
        const hn_letter_def *l = &p->letters[i];
        if (!((l->letter >= 'a' && l->letter <= 'z') || (l->letter >= 'A' && l->letter <= 'Z')))
            return hn_fail(err, "plugin %s (%s): letter '%c' is not an ASCII letter", p->name, path, l->letter);
        const hn_letter_def *other = hn_registry_letter(reg, l->letter);
        if (other)
            return hn_fail(err, "plugin %s (%s): letter '%c' is already registered (mixer %s)",
                           p->name, path, l->letter, other->mixer);
        if (reg->n_letters == HN_MAX_LETTERS) return hn_fail(err, "too many layer letters");
    }
    int idx = reg->n_plugins++;
    reg->plugins[idx].table = copy;
    reg->plugins[idx].plugin = &reg->plugins[idx].table;
    snprintf(reg->plugins[idx].path, sizeof reg->plugins[idx].path, "%s", path);
    reg->plugins[idx].handle = NULL;
    for (int i = 0; i < p->n_letters; i++) {
        reg->letters[reg->n_letters] = p->letters[i];
        reg->letter_owner[reg->n_letters] = idx;
        reg->n_letters++;
    }
    return HN_OK;
}

int hn_registry_add_chunker(hn_registry *reg, const hn_chunker_plugin *table, const char *path,
                            hn_error *err) {
    if (!table) return hn_fail(err, "%s: the chunker entry returned no table", path);
    hn_chunker_plugin copy;
    const hn_chunker_plugin *p = &copy;
    if (hn_abi_adopt(&chunker_versions, table->abi_version, table, &copy, sizeof copy, table->name,
                     path, err))
        return HN_ERR;
    const required_entry req[] = {
        {"version", !!p->version},     {"create", !!p->create},
        {"destroy", !!p->destroy},     {"param_count", !!p->param_count},
        {"describe_params", !!p->describe_params}, {"bind", !!p->bind},
        {"forward", !!p->forward},     {"backward", !!p->backward},
        {"flops", !!p->flops},
    };
    if (check_plugin_table("chunker", p->name, req, N_REQUIRED(req), path, err))
        return HN_ERR;
    for (int i = 0; i < reg->n_chunkers; i++)
        if (!strcmp(reg->chunkers[i].plugin->name, p->name))
            return hn_fail(err, "chunker plugin '%s' is loaded twice: %s and %s", p->name,
                           reg->chunkers[i].path, path);
    if (reg->n_chunkers == HN_MAX_PLUGINS) return hn_fail(err, "too many chunker plugins");
    hn_loaded_chunker *c = &reg->chunkers[reg->n_chunkers++];
    c->table = copy;
    c->plugin = &c->table;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->handle = NULL;
    return HN_OK;
}

const hn_chunker_plugin *hn_registry_find_chunker(const hn_registry *reg, const char *name) {
    for (int i = 0; i < reg->n_chunkers; i++)
        if (!strcmp(reg->chunkers[i].plugin->name, name)) return reg->chunkers[i].plugin;
    return NULL;
}

int hn_registry_add_sink(hn_registry *reg, const hn_sink_plugin *table, const char *path,
                         hn_error *err) {
    if (!table) return hn_fail(err, "%s: the sink entry returned no table", path);
    hn_sink_plugin copy;
    const hn_sink_plugin *p = &copy;
    if (hn_abi_adopt(&sink_versions, table->abi_version, table, &copy, sizeof copy, table->name,
                     path, err))
        return HN_ERR;
    const required_entry req[] = {
        {"version", !!p->version},   {"max_batch", p->max_batch >= 1},
        {"create", !!p->create},     {"begin_run", !!p->begin_run},
        {"log_batch", !!p->log_batch}, {"end_run", !!p->end_run},
        {"destroy", !!p->destroy},
    };
    if (check_plugin_table("sink", p->name, req, N_REQUIRED(req), path, err))
        return HN_ERR;
    if (hn_registry_find_sink(reg, p->name))
        return hn_fail(err, "sink plugin '%s' is loaded twice (second: %s)", p->name, path);
    if (reg->n_sinks == HN_MAX_SINKS) return hn_fail(err, "too many sink plugins");
    hn_loaded_sink *s = &reg->sinks[reg->n_sinks++];
    s->table = copy;
    s->plugin = &s->table;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->handle = NULL;
    return HN_OK;
}

const hn_sink_plugin *hn_registry_find_sink(const hn_registry *reg, const char *name) {
    for (int i = 0; i < reg->n_sinks; i++)
        if (!strcmp(reg->sinks[i].plugin->name, name)) return reg->sinks[i].plugin;
    return NULL;
}

/* The table a plugin's entry declared, once the host is new enough for it. kind is
 * what it is ("layer", ...) and name its name, for the message. */
static int check_host_version(const hn_plugin_decl *d, const char *kind, const char *name,
                              const char *path, hn_error *err) {
    if (d->min_host_version > HN_HOST_API_VERSION)
        return hn_fail(err,
                       "%s plugin %s (%s) needs host API version %u, but this hnet provides "
                       "version %u: use a newer hnet, or build the plugin for version %u",
                       kind, name && *name ? name : "?", path, d->min_host_version,
                       HN_HOST_API_VERSION, HN_HOST_API_VERSION);
    return HN_OK;
}

/* What became of a declared table. */
typedef enum added_as { ADDED_NONE = 0, ADDED_LAYER, ADDED_CHUNKER, ADDED_SINK } added_as;

/* Registers the one table d declares. skip_loaded: a name found earlier on the search
 * path wins, before any check (HN_OK, *added = ADDED_NONE). */
static int add_declared(hn_registry *reg, const hn_plugin_decl *d, const char *path, int skip_loaded,
                        added_as *added, hn_error *err) {
    *added = ADDED_NONE;
    int n_tables = !!d->layer + !!d->chunker + !!d->sink;
    if (n_tables != 1)
        return hn_fail(err, "%s: its hn_plugin_entry declared %d plugin tables; it must declare one",
                       path, n_tables);
    if (d->layer) {
        if (skip_loaded && d->layer->name && hn_registry_find(reg, d->layer->name)) return HN_OK;
        if (check_host_version(d, "layer", d->layer->name, path, err) ||
            hn_registry_add(reg, d->layer, path, err))
            return HN_ERR;
        *added = ADDED_LAYER;
    } else if (d->chunker) {
        if (skip_loaded && d->chunker->name && hn_registry_find_chunker(reg, d->chunker->name))
            return HN_OK;
        if (check_host_version(d, "chunker", d->chunker->name, path, err) ||
            hn_registry_add_chunker(reg, d->chunker, path, err))
            return HN_ERR;
        *added = ADDED_CHUNKER;
    } else {
        if (skip_loaded && d->sink->name && hn_registry_find_sink(reg, d->sink->name)) return HN_OK;
        if (check_host_version(d, "sink", d->sink->name, path, err) ||
            hn_registry_add_sink(reg, d->sink, path, err))
            return HN_ERR;
        *added = ADDED_SINK;
    }
    return HN_OK;
}

/* Takes back the table add_declared just added (its ops could not be registered). */
static void remove_last(hn_registry *reg, added_as added) {
    if (added == ADDED_LAYER) {
        reg->n_plugins--;
        while (reg->n_letters > 0 && reg->letter_owner[reg->n_letters - 1] == reg->n_plugins)
            reg->n_letters--;
    } else if (added == ADDED_CHUNKER) {
        reg->n_chunkers--;
    } else if (added == ADDED_SINK) {
        reg->n_sinks--;
    }
}

/* The entry symbols of plugin API v1 (before the host API table). */
static const char *v1_entry(void *h) {
    const char *old[] = {"hn_layer_plugin_v1", "hn_chunker_plugin_v1", "hn_sink_plugin_v1"};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (dlsym(h, old[i])) return old[i];
    return NULL;
}

static int load_file(hn_registry *reg, const char *path, int skip_loaded, hn_error *err) {
    /* NODELETE: a closed plugin stays mapped, so exit handlers its libraries registered
     * (a CUDA runtime linked statically into a plugin with kernels) stay valid */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) return hn_fail(err, "cannot load plugin %s: %s", path, dlerror());
    hn_plugin_entry_fn entry = (hn_plugin_entry_fn)dlsym(h, HN_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        const char *old = v1_entry(h);
        if (old)
            hn_fail(err, "%s is a plugin of the old plugin API (it exports '%s', not '%s'): "
                         "rebuild it against this hnet (plugin/plugin.h)",
                    path, old, HN_PLUGIN_ENTRY_SYMBOL);
        else
            hn_fail(err, "%s is not an hnet plugin: it has no '%s'", path, HN_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return HN_ERR;
    }
    /* the ops the entry registers count once the plugin is in */
    hn_kernels_stage_begin();
    const hn_plugin_decl *d = entry(hn_host_api_table());
    if (!d) {
        hn_kernels_stage_discard();
        dlclose(h);
        return hn_fail(err, "%s: its hn_plugin_entry returned no declaration", path);
    }
    added_as added;
    int rc = add_declared(reg, d, path, skip_loaded, &added, err);
    if (rc || added == ADDED_NONE) {
        hn_kernels_stage_discard();
        dlclose(h); /* refused, or found earlier on the search path: the first one wins */
        return rc;
    }
    if (hn_kernels_stage_commit(h, path, err)) {
        remove_last(reg, added);
        dlclose(h);
        return HN_ERR;
    }
    if (added == ADDED_LAYER) reg->plugins[reg->n_plugins - 1].handle = h;
    else if (added == ADDED_CHUNKER) reg->chunkers[reg->n_chunkers - 1].handle = h;
    else reg->sinks[reg->n_sinks - 1].handle = h;
    return HN_OK;
}

int hn_registry_load_file(hn_registry *reg, const char *path, hn_error *err) {
    return load_file(reg, path, 0, err);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(hn_registry *reg, const char *dir, int skip_loaded, hn_error *err) {
    DIR *d = opendir(dir);
    if (!d) return HN_OK; /* an absent folder is simply not a source of plugins */
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".so")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int rc = HN_OK;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == HN_OK && load_file(reg, path, skip_loaded, err)) rc = HN_ERR;
        free(names[i]);
    }
    return rc;
}

int hn_registry_load_dir(hn_registry *reg, const char *dir, hn_error *err) {
    return load_dir(reg, dir, 0, err);
}

/* The folder holding the running executable, e.g. /src/hnet/build. */
static int exe_dir(char *out, size_t size) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return HN_ERR;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return HN_ERR;
    *slash = 0;
    snprintf(out, size, "%s", buf);
    return HN_OK;
}

int hn_registry_load_default(hn_registry *reg, hn_error *err) {
    const char *env = getenv("HNET_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            if (load_dir(reg, dir, 1, err)) {
                free(copy);
                return HN_ERR;
            }
        }
        free(copy);
    }
    char base[PATH_MAX];
    if (exe_dir(base, sizeof base) == HN_OK) {
        /* the executable lives in build/ (or build/tests/ for test binaries) */
        const char *rel[] = {"layers", "plugins", "../layers", "../plugins", "../lib/hnet"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char dir[PATH_MAX + 32];
            snprintf(dir, sizeof dir, "%s/%s", base, rel[i]);
            if (load_dir(reg, dir, 1, err)) return HN_ERR;
        }
    }
    if (reg->n_plugins == 0)
        return hn_fail(err, "no layer plugins found: build them with `make`, or set HNET_PLUGIN_PATH "
                            "to the folder holding them");
    return HN_OK;
}

const hn_layer_plugin *hn_registry_find(const hn_registry *reg, const char *name) {
    for (int i = 0; i < reg->n_plugins; i++)
        if (!strcmp(reg->plugins[i].plugin->name, name)) return reg->plugins[i].plugin;
    return NULL;
}

const hn_letter_def *hn_registry_letter(const hn_registry *reg, char letter) {
    for (int i = 0; i < reg->n_letters; i++)
        if (reg->letters[i].letter == letter) return &reg->letters[i];
    return NULL;
}
