/* Where results live: one rule for `make`, build/hnet and an installed hnet, whatever
 * the current directory.
 *
 *   results folder = $HNET_RESULTS when set and non-empty; else the project's
 *   `results/`: walking up from the experiment file's folder (from the current
 *   directory when a command has no experiment file), the first folder that holds a
 *   `results/` folder or is a git checkout (`.git`); when none does, the start folder.
 *
 * Relative paths in an experiment's `log.db` and `checkpoint.dir` are resolved
 * against that project: "results" and "results/..." name the results folder (so
 * HNET_RESULTS moves them), any other relative path is taken from the project folder.
 * The config keeps the path as written, so config hashes do not depend on where the
 * project lives. Paths given on the command line (--db) are the user's own. */
#ifndef HN_RESULTS_LOCATION_H
#define HN_RESULTS_LOCATION_H

#include <stddef.h>

#include <cJSON.h>

#include "core/error.h"

/* The project folder of `anchor` (an experiment file, or NULL: the current
 * directory), absolute, without a trailing slash. */
int hn_project_dir(const char *anchor, char *out, size_t cap, hn_error *err);

/* The results folder for `anchor` (as above); absolute unless HNET_RESULTS is
 * relative. */
int hn_results_dir(const char *anchor, char *out, size_t cap, hn_error *err);

/* `configured` (a log.db or checkpoint.dir value; NULL: "results/results.db")
 * resolved by the rule above. */
int hn_results_path(const char *anchor, const char *configured, char *out, size_t cap,
                    hn_error *err);

/* `configured` resolved with the experiment file a resolved config records ("file")
 * as the anchor (none: the current directory). */
int hn_results_config_path(const cJSON *config, const char *configured, char *out, size_t cap,
                           hn_error *err);

/* results.db for a command without an experiment file (show, plot, upload, ...). */
int hn_results_default_db(char *out, size_t cap, hn_error *err);

#endif
