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

/* Prints the loaded sinks, one per line. */
void hn_cli_list_sinks(const hn_registry *reg, FILE *out);

#endif
