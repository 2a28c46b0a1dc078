/* Internals shared by the files of runtime/results; not part of the public API. Tests
 * include it to reach the sqlite3 handle (e.g. to simulate a full disk). */
#ifndef HN_RESULTS_STORE_INTERNAL_H
#define HN_RESULTS_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>

#include "results/store.h"

/* One buffered curve point; split and name point into the handle's interned strings. */
typedef struct hn_metric_point {
    int64_t run_id, step, bytes;
    const char *split, *name;
    double value;
    int is_null;
} hn_metric_point;

struct hn_results {
    sqlite3 *db;
    char *path;
    int readonly;
    char host[256];
    sqlite3_stmt *insert; /* prepared on first flush */

    hn_metric_point *points;
    size_t n_points, cap_points;
    char **strings; /* interned split / metric names: few distinct values */
    size_t n_strings, cap_strings;
    size_t n_lost; /* points dropped because memory ran out; reported by flush */

    int64_t *active; /* runs begun and not ended by this handle: they get heartbeats */
    size_t n_active, cap_active;
};

/* Turns an SQLite result code into a message naming the file and what was being
 * done ("disk full", "not an SQLite database", "read-only", ...). Returns HN_ERR. */
int hn_results_sql_fail(const hn_results *r, hn_error *err, int rc, const char *doing);

/* Runs SQL text, retrying while another process holds the lock. */
int hn_results_exec(hn_results *r, const char *sql, const char *doing, hn_error *err);

/* BEGIN IMMEDIATE (taking the write lock now, retried on SQLITE_BUSY), COMMIT, and a
 * ROLLBACK that is a no-op outside a transaction. */
int hn_results_begin_write(hn_results *r, hn_error *err);
int hn_results_commit(hn_results *r, hn_error *err);
void hn_results_rollback(hn_results *r);

/* Creates or migrates the schema; call inside a write transaction. Refuses a newer
 * version or a foreign database without touching it. */
int hn_results_migrate(hn_results *r, hn_error *err);

/* Refuses a newer schema or a foreign database without writing anything; a read-only
 * file (writable = 0) must also be at the current version, as it cannot be migrated. */
int hn_results_check_version(hn_results *r, int writable, hn_error *err);

/* Now as ISO-8601 UTC with milliseconds: 2025-01-02T03:04:05.678Z. */
void hn_results_now(char out[32]);

/* True when a run recorded with (host, pid) was started on this host by a process
 * that no longer exists. */
int hn_results_process_gone(const hn_results *r, const char *host, int64_t pid);

/* Inserts a new run owned by this process (inside a write transaction). */
int hn_results_insert_run(hn_results *r, const hn_run_info *info, int64_t *run_id, hn_error *err);
/* Adds a run to this handle's heartbeat list (no duplicates). */
int hn_results_add_active(hn_results *r, int64_t run_id);
/* 32 random lowercase hex digits. */
void hn_results_new_uuid(char out[33]);

/* The connection, for tests. */
sqlite3 *hn_results_sqlite(hn_results *r);

#endif
