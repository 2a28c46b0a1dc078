/* Suites on Slurm: a submission is one job array, one task per run left to do. Task K
 * runs `hnet suite FILE --config-hash HASH` for run K of the suite, which claims the
 * run's config in results.db like every suite run: a config finished or being trained
 * by another process meanwhile is skipped, an interrupted one resumes from its newest
 * checkpoint. The batch script is generated here, written next to results.db and
 * handed to `sbatch --parsable`, so what runs can be read before and after. */
#ifndef HN_SUITE_SLURM_H
#define HN_SUITE_SLURM_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

typedef struct hn_slurm_job {
    const char *name;        /* the suite's name: job name "hnet-NAME", files NAME-... */
    const char *hnet;        /* absolute path of the hnet the tasks run */
    const char *suite_file;  /* absolute */
    const char *workdir;     /* absolute: where the tasks start (where it was submitted) */
    const char *log_dir;     /* absolute: the tasks' logs, NAME-JOBID_K.out */
    const char *db;          /* the tasks' --db (absolute), NULL: each run's own */
    int force, unsafe_lua, quiet; /* hnet suite options the tasks get too */
    int max_running;         /* at most this many tasks at once (--array=...%N); 0: any */
    int n_runs;              /* runs of the suite: names and config hashes, suite order */
    const char *const *run_names;
    const char *const *run_hashes;
    const int *todo;         /* the suite indices to submit (ascending): the array */
    int n_todo;
    char *const *sbatch_args; /* the user's sbatch options (recorded in a comment) */
    int n_sbatch_args;
    char *const *env;        /* an environment (NAME=VALUE, NULL-ended): its HNET_*
                              * variables are exported by the script */
    const char *written_at;  /* UTC time stamp for the header */
} hn_slurm_job;

/* The array specification of indices (ascending): runs of consecutive ones as ranges,
 * "0-3", "0,2-5,9", with "%N" appended when max_running > 0. HN_ERR if it does not fit. */
int hn_slurm_array_spec(const int *idx, int n, int max_running, char *out, size_t cap,
                        hn_error *err);

/* The batch script (bash) of the job, malloc'd; NULL when out of memory. */
char *hn_slurm_script(const hn_slurm_job *job);

/* Writes text quoted for bash: in single quotes (a single quote as '\''), always, or
 * only when it holds more than letters, digits and _./:=,@%+- (always = 0: for a command
 * line shown to a person). */
void hn_slurm_quote(FILE *out, const char *text, int always);

/* Runs `sbatch --parsable ARGS... SCRIPT` and reads the job id it prints ("ID" or
 * "ID;CLUSTER") into job_id. sbatch's warnings (stderr, on success) go to stderr. Fails,
 * with one message, when sbatch cannot be run (not on PATH), exits non-zero (its
 * message quoted) or prints no job id. */
int hn_slurm_submit(const char *script_path, char *const *args, int n_args, char *job_id,
                    size_t cap, hn_error *err);

#endif
