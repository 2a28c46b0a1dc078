/* hnet suite FILE --slurm [sbatch options]: submit what is left of a suite to Slurm as
 * one job array (suite/slurm.h), or with --dry-run print its batch script. */
#ifndef HN_CLI_SUITE_SLURM_H
#define HN_CLI_SUITE_SLURM_H

#include <cJSON.h>

typedef struct hn_suite_slurm_request {
    const char *file;      /* the suite file, as given */
    const char *db;        /* --db, or NULL */
    int force, unsafe_lua, quiet;
    int max_running;       /* -j N: at most N tasks at once; 0: no limit */
    int dry_run;           /* print the script and the sbatch command, submit nothing */
    char **sbatch_args;    /* everything after --slurm but --dry-run, verbatim */
    int n_sbatch_args;
} hn_suite_slurm_request;

/* Submits the prepared runs (hn_suite_prepare done). Returns the exit status. */
int hn_suite_slurm(const hn_suite_slurm_request *rq, const cJSON *runs);

#endif
