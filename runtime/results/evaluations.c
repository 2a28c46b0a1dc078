/* Rows of the evaluations table (schema version 4; results/README.md). */
#include "results/store_internal.h"

int hn_results_log_evaluation(hn_results *r, const hn_eval_row *row, hn_error *err) {
    char now[32];
    hn_results_now(now);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        r->db,
        "INSERT INTO evaluations (run_id, run_uuid, checkpoint, step, task, data, metric, value,"
        " bytes, created_at)"
        " VALUES ((SELECT id FROM runs WHERE uuid = ?1 AND ?1 <> ''), NULLIF(?1, ''), ?2,"
        " CASE WHEN ?3 >= 0 THEN ?3 END, ?4, ?5, ?6, ?7, ?8, ?9)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, row->run_uuid ? row->run_uuid : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, row->checkpoint, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, row->step);
        sqlite3_bind_text(st, 4, row->task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, row->data, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, row->metric, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 7, row->value);
        sqlite3_bind_int64(st, 8, row->bytes);
        sqlite3_bind_text(st, 9, now, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "recording an evaluation");
}
