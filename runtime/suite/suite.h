/* Running a suite: many resolved experiments, one after another or several at once
 * (one forked process per run), skipping runs already finished with the same resolved
 * config (runs.config_hash), resuming interrupted ones from their newest checkpoint
 * (the trainer's resume; none: from scratch) and continuing past failed ones. */
#ifndef HN_SUITE_H
#define HN_SUITE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "core/error.h"
#include "plugin/registry.h"

typedef struct hn_suite_options {
    const char *db_path;  /* NULL: each run's log.db */
    int jobs;             /* runs at once (>= 1); > 1 forks one process per run */
    int gpus;             /* cuda runs with jobs > 1: run k sees GPU (slot % gpus) only;
                             0 = count /dev/nvidiaN */
    int force;            /* rerun finished runs too */
    int quiet;            /* no progress lines (forked runs never show one) */
    const char *experiment_file, *experiment_text, *git_commit;
    volatile sig_atomic_t *stop; /* set by a signal handler: start nothing more */
    FILE *log;            /* one line per run started / skipped / ended; NULL = stderr */
    double status_every;  /* jobs > 1: seconds between the live state of the running runs
                             (step, train and valid BPB, from results.db); 0 = 10 s */
} hn_suite_options;

typedef struct hn_suite_entry {
    char name[128];
    char hash[17];
    char db[1024];
    int64_t run_id;     /* the run that counts for this entry (0: none) */
    char status[16];    /* finished | failed | interrupted | running (elsewhere) | not run */
    int skipped;        /* already finished before this invocation */
    int resume;         /* its newest run was interrupted: continue it from its checkpoint */
    char error[256];
} hn_suite_entry;

/* The database a run of the suite writes to. */
const char *hn_suite_db_path(const cJSON *config, const char *override);
/* The hash the trainer stores for this config (runs.config_hash). */
void hn_suite_config_hash(const cJSON *config, char out[17]);
/* The run of db with this config hash that counts: the newest finished one, else the
 * newest of any status. *id = 0 when there is none (or no database yet). A run left
 * 'running' reads as "active" while its process lives (same host), else "interrupted". */
int hn_suite_find_run(const char *db, const char *hash, int64_t *id, char status[16],
                      hn_error *err);

/* What is left to run: fills entries (one slot per run: name, hash, database, and the
 * status of a run finished or being trained elsewhere) and lists in todo (room for one
 * index per run) the indices of the runs to train, in suite order: all but the finished
 * ones (unless opt->force) and those a live process is training (reported on opt->log).
 * An interrupted run's entry has resume set. */
int hn_suite_plan(const cJSON *runs, const hn_suite_options *opt, hn_suite_entry *entries,
                  int *todo, int *n_todo, hn_error *err);

/* Runs the suite. entries has one slot per run. Returns HN_OK when every run is
 * finished (now or before), HN_ERR otherwise (err says how many failed). */
int hn_suite_run(const cJSON *runs, const hn_registry *reg, const hn_suite_options *opt,
                 hn_suite_entry *entries, hn_error *err);

#endif
