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
#define HN_RESULTS_SCHEMA_VERSION 5

/* The one rule for "the run the user means" among the runs of one name (or of one
 * config hash): a run of the config its file declares (no command-line overrides, so
 * never a smoke run) first, then a finished one, then the newest. An SQL ORDER BY list
 * over the runs table under alias A. Used by the current_runs view, `hnet compare`'s
 * default selection and the suite's lookup. */
#define HN_RUN_PREFERENCE(A) \
    "(" A ".overrides IS NULL) DESC, " A ".status = 'finished' DESC, " A ".id DESC"

typedef struct hn_results hn_results;

/* What a run records when it starts. Any string may be NULL (stored as NULL) except
 * name. config_hash is derived from config_json. */
typedef struct hn_run_info {
    const char *name, *experiment_file, *experiment_text, *config_json, *git_commit, *host,
        *device;
    int64_t seed;
    int64_t n_params;
    int world_size; /* processes training it (data parallel); 0 counts as 1 */
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

/* The last resort when end_run failed (full disk, file-size limit): drops the buffered
 * points, checkpoints the WAL into the main file (freeing the WAL's room), and records
 * only the status and the reason (error_message, plus why the points were lost). */
int hn_results_end_run_salvage(hn_results *r, int64_t run_id, const char *status,
                               const char *error_message, const char *write_error,
                               hn_error *err);

/* Continues the run a checkpoint belongs to (named by its uuid; by legacy_id for a
 * checkpoint older than uuids), claiming it for this process in one transaction: refused
 * when no run has that uuid (another database), when its config hash differs from
 * config_hash (if given), or while a live process owns it. Its curve points with step >
 * after_step are deleted (the resumed process logs them again). */
int hn_results_claim_run(hn_results *r, const char *uuid, int64_t legacy_id,
                         const char *config_hash, int64_t after_step, int64_t *run_id,
                         hn_error *err);

/* What a suite may do with a config (hn_results_claim_config). */
enum { HN_CLAIM_NEW = 1, HN_CLAIM_RESUME, HN_CLAIM_FINISHED, HN_CLAIM_ACTIVE };
typedef struct hn_claim {
    int action;       /* HN_CLAIM_* */
    int64_t run_id;   /* NEW: the new run; RESUME: the run taken over; FINISHED / ACTIVE:
                         the run that has it */
    char owner[300];  /* ACTIVE: "process P on HOST" */
} hn_claim;

/* Claims info->config_json for this process in one transaction, looking at the run of
 * that config hash that counts (HN_RUN_PREFERENCE): finished (and !force) -> FINISHED;
 * owned by a live process -> ACTIVE; interrupted (or its owner gone) and ckpt_uuid is
 * its uuid -> RESUME (this process owns it now); otherwise a new run -> NEW. */
int hn_results_claim_config(hn_results *r, const hn_run_info *info, const char *ckpt_uuid,
                            int force, hn_claim *out, hn_error *err);

/* Deletes the curve points of a run this process owns with step > after_step. */
int hn_results_rewind_run(hn_results *r, int64_t run_id, int64_t after_step, hn_error *err);

/* runs.uuid of a run: 32 lowercase hex digits (empty if none). */
int hn_results_run_uuid(hn_results *r, int64_t run_id, char out[33], hn_error *err);

/* Closes without flushing; a run not ended stays 'running' and is later seen as
 * 'interrupted' once its process is gone. NULL is allowed. */
void hn_results_close(hn_results *r);

/* One evaluation result (hnet eval): a row of `evaluations`. run_uuid joins it to its run
 * when that run is in this database (NULL run_id otherwise). */
typedef struct hn_eval_row {
    const char *run_uuid;   /* may be "" */
    const char *checkpoint; /* the file evaluated */
    long step;              /* -1: unknown */
    const char *task;       /* "bpb" or a task name */
    const char *data;       /* corpus[:split] or task file */
    const char *metric;     /* bpb, bytes_per_s, compression_s0, acc, acc_norm, ... */
    double value;
    long bytes;             /* bytes (or items) evaluated */
} hn_eval_row;
int hn_results_log_evaluation(hn_results *r, const hn_eval_row *row, hn_error *err);

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
