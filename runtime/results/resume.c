/* Resuming a run from a checkpoint: the run row becomes 'running' again under this
 * process, and curve points logged after the checkpoint's step (by the process that was
 * killed) are dropped, so the resumed run re-logs them exactly once. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/store_internal.h"

int hn_results_resume_run(hn_results *r, int64_t run_id, int64_t after_step, hn_error *err) {
    char now[32];
    hn_results_now(now);
    if (hn_results_begin_write(r, err)) return HN_ERR;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL,"
                                " pid = ?, host = ?, heartbeat_at = ? WHERE id = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)getpid());
        sqlite3_bind_text(st, 2, r->host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, run_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && sqlite3_changes(r->db) != 1) {
        hn_results_rollback(r);
        return hn_fail(err, "%s: no run with id %lld to resume", r->path, (long long)run_id);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(r->db, "DELETE FROM metrics WHERE run_id = ? AND step > ?", -1,
                                &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_int64(st, 2, after_step);
            rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "resuming a run");
        hn_results_rollback(r);
        return HN_ERR;
    }
    if (hn_results_commit(r, err)) return HN_ERR;
    /* the handle's heartbeat list: flushes keep the resumed run alive */
    for (size_t i = 0; i < r->n_active; i++)
        if (r->active[i] == run_id) return HN_OK;
    if (r->n_active == r->cap_active) {
        size_t cap = r->cap_active ? 2 * r->cap_active : 4;
        int64_t *a = realloc(r->active, cap * sizeof *a);
        if (!a) return hn_fail(err, "%s: out of memory", r->path);
        r->active = a;
        r->cap_active = cap;
    }
    r->active[r->n_active++] = run_id;
    return HN_OK;
}
