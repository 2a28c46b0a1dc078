/* Lua experiment files: run a file with the prelude's constructors (experiment, suite,
 * corpus, isotropic, hnet, spacebyte, dc, space, pool, moe, wsd) and return its resolved
 * config as JSON, every default filled in. The language is documented in
 * experiments/README.md.
 *
 * Every mistake is one message "FILE:LINE: key.path: what was expected, found what";
 * FILE:LINE is the constructor call (or the Lua error's own position). */
#ifndef HN_LUA_EXPERIMENT_H
#define HN_LUA_EXPERIMENT_H

#include <cJSON.h>

#include "core/error.h"
#include "plugin/registry.h"

typedef struct hn_lua_options {
    int allow_unsafe; /* --unsafe-lua: keep os.execute, io.popen, package.loadlib */
    long memory_limit_mib;  /* cap on the Lua heap; 0: HN_LUA_MEMORY_LIMIT_MIB */
    long max_instructions;  /* cap on Lua instructions run; 0: HN_LUA_MAX_INSTRUCTIONS */
} hn_lua_options;

/* Runs an experiment file and returns its resolved config (caller frees with
 * cJSON_Delete). opts and reg may be NULL (safe defaults; no plugins). */
int hn_experiment_load(const char *path, const hn_lua_options *opts, const hn_registry *reg,
                       cJSON **out, hn_error *err);

/* Same for a file that returns suite{...} or a single experiment: returns a JSON array of
 * resolved experiments. Experiments from a suite carry "suite": the suite's name. */
int hn_suite_load(const char *path, const hn_lua_options *opts, const hn_registry *reg,
                  cJSON **out_array, hn_error *err);

#endif
