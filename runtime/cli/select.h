/* Choosing runs for hnet compare / plot / report: run ids, a suite file, a suite name
 * or an SQL condition, from one results database. */
#ifndef HN_CLI_SELECT_H
#define HN_CLI_SELECT_H

#include <stdint.h>

#include "analysis/compare.h"

typedef struct hn_selection {
    const char *db;         /* --db; default: the suite's log.db or results/results.db */
    int64_t ids[256];
    int n_ids;
    const char *suite_file; /* a .lua argument */
    const char *suite_name; /* --suite NAME */
    const char *where;      /* --where SQL */
    int unsafe_lua;
    char resolved_suite[128]; /* filled by hn_select_load from a suite file: its name */
} hn_selection;

#define HN_SELECT_HELP                                                                      \
    "runs (default: the run that counts of each name: its file's own config over a run\n"                \
    "with command-line overrides, finished over not, then the newest; --suite and --where\n"                  \
    "combine; run ids are added to a suite file's runs):\n"                \
    "  ID...            run ids (hnet show lists them)\n"                                    \
    "  SUITE.lua        the runs of a suite file (as `hnet suite` ran them)\n"               \
    "  --suite NAME     the runs recorded with suite name NAME\n"                            \
    "  --where SQL      an SQL condition over the runs table, e.g. \"name LIKE 'hnet-%%'\"\n" \
    "  --db PATH        results database (default: the suite's, else results/results.db)\n"

/* Takes argv[*i] (and its value) if it is a selection argument: returns 1 if taken, 0
 * if not, -1 after printing an error. */
int hn_select_arg(hn_selection *s, const char *cmd, int argc, char **argv, int *i);
/* Loads the selected runs. */
int hn_select_load(hn_selection *s, hn_cmp_set *out, hn_error *err);

#endif
