/* results.db: the SQLite store of every run, its resolved config, its environment and
 * every curve point. Schema documented in results/README.md. Several processes (the
 * runs of one suite) may write one file at once: WAL mode, a busy timeout, and one
 * BEGIN IMMEDIATE transaction per flush. */
#ifndef HN_RESULTS_STORE_H
#define HN_RESULTS_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

/* The schema version this build writes; older files are migrated on open, newer ones
 * are refused untouched. */
#define HN_RESULTS_SCHEMA_VERSION 2

typedef struct hn_results hn_results;

/* What a run records when it starts. Any string may be NULL (stored as NULL) except
 * name. config_hash is derived from config_json. */
typedef struct hn_run_info {
    const char *name, *experiment_file, *experiment_text, *config_json, *git_commit, *host,
        *device;
    int64_t seed;
    int64_t n_params;
} hn_run_info;

/* Opens (creating the parent directory and the file if needed) and migrates the
 * schema. Runs left 'running' by a process of this host that no longer exists are
 * marked 'interrupted'. A read-only file opens for reading only. */
int hn_results_open(const char *path, hn_results **out, hn_error *err);

/* Inserts a run with status 'running', this process's pid, started_at = now. A NULL
 * info->host means this machine's host name. */
int hn_results_begin_run(hn_results *r, const hn_run_info *info, int64_t *run_id,
                         hn_error *err);

/* Buffers one curve point in memory (nothing touches the disk). A non-finite value is
 * recorded as NULL: the caller is expected to fail the run. Allocation failures are
 * reported by the next flush. */
void hn_results_log(hn_results *r, int64_t run_id, int64_t step, int64_t bytes,
                    const char *split, const char *name, double value);

/* Writes the buffered points in one transaction and refreshes the heartbeat of this
 * handle's running runs. On failure nothing is written and the buffer is kept. */
int hn_results_flush(hn_results *r, hn_error *err);

/* Flushes, then sets status ('finished', 'failed' or 'interrupted'), ended_at and the
 * error message (may be NULL). */
int hn_results_end_run(hn_results *r, int64_t run_id, const char *status,
                       const char *error_message, hn_error *err);

/* Continues a run from a checkpoint at after_step: status 'running' again under this
 * process (ended_at and error cleared), and its curve points with step > after_step
 * (logged after the checkpoint by the process that stopped) deleted. */
int hn_results_resume_run(hn_results *r, int64_t run_id, int64_t after_step, hn_error *err);

/* Closes without flushing; a run not ended stays 'running' and is later seen as
 * 'interrupted' once its process is gone. NULL is allowed. */
void hn_results_close(hn_results *r);

/* Prints the `hnet show` table: the last 50 runs, or every run when all != 0. */
int hn_results_print_runs(hn_results *r, FILE *out, int all, hn_error *err);

/* The config hash stored in runs.config_hash: 64-bit FNV-1a of the text, 16 lowercase
 * hex digits plus NUL into out[17]. */
void hn_results_config_hash(const char *text, char out[17]);
/* 1 when a run marked 'running' by process pid of run_host has died: only a run of this
 * host can be checked (signal 0); any other counts as alive. The one rule for the store
 * (marking runs interrupted) and the suite (skip or resume). */
int hn_run_process_gone(const char *run_host, const char *this_host, int64_t pid);

#endif
