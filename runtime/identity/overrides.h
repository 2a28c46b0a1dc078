/* Command-line overrides are part of a run's identity: they are written into the
 * resolved config itself (so into runs.config_json, --print-config and the config hash)
 * and listed under its "overrides" key, which marks the run as not the config its file
 * declares (e.g. a short smoke run). */
#ifndef HN_IDENTITY_OVERRIDES_H
#define HN_IDENTITY_OVERRIDES_H

#include <cJSON.h>

#include "core/error.h"

typedef struct hn_config_overrides {
    long steps;         /* > 0: train.steps */
    long batch;         /* > 0: train.batch */
    const char *device; /* non-NULL: backend */
} hn_config_overrides;

/* Sets each given override in cfg. One that changes a value is recorded in
 * cfg.overrides ({"train.steps": 3, ...}); one equal to the file's value changes
 * nothing, so the config (and its hash) stays the file's. */
int hn_config_apply_overrides(cJSON *cfg, const hn_config_overrides *o, hn_error *err);

/* 1 when cfg carries command-line overrides (it is not the config its file declares). */
int hn_config_is_overridden(const cJSON *cfg);

/* Describes the first difference between two configs as "key.path: A there, B here"
 * into out (empty when they are equal). */
void hn_config_difference(const cJSON *there, const cJSON *here, char *out, size_t n);

#endif
