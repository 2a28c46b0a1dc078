/* Pieces of `hnet upload` shared with `hnet run --upload`. */
#ifndef HN_CLI_UPLOAD_H
#define HN_CLI_UPLOAD_H

#include <cJSON.h>

#include "plugin/registry.h"
#include "upload/upload.h"

/* Adds KEY=VALUE to the sink options object (a number stays a number). */
int hn_cli_sink_option(cJSON *options, const char *key_value);

/* The default destination of a sink when none is given: MLFLOW_TRACKING_URI for mlflow,
 * https://api.wandb.ai for wandb; NULL otherwise. */
const char *hn_cli_default_destination(const char *sink);

/* `hnet run --upload SINK[=DEST] [--upload-set K=V ...]`: starts the live upload of
 * this process's runs in db_path (NULL: the config's log.db, else results/results.db).
 * sets: n_sets "KEY=VALUE" strings. Prints its error and returns NULL on failure. */
typedef struct hn_cli_live hn_cli_live;
hn_cli_live *hn_cli_live_start(const char *spec, char **sets, int n_sets, const hn_registry *reg,
                               const cJSON *config, const char *db_path);
/* Finishes the upload (waiting at most 30 s); says so on stderr when something is
 * left for `hnet upload`. Never changes the outcome of the run. NULL is allowed. */
void hn_cli_live_stop(hn_cli_live *live);

/* Prints the loaded sinks, one per line. */
void hn_cli_list_sinks(const hn_registry *reg, FILE *out);

#endif
