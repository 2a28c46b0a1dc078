/* hnet show RUN: one run in detail. */
#ifndef HN_CLI_SHOW_RUN_H
#define HN_CLI_SHOW_RUN_H

#include <stdio.h>

#include "core/error.h"

/* Prints run ref_text (an id or a name: the run that counts of that name) of db_path:
 * status and reason, corpus, environment, curve summary, checkpoints, and with
 * with_config its resolved config. */
int hn_show_run(const char *db_path, const char *ref_text, int with_config, FILE *out, hn_error *err);

#endif
