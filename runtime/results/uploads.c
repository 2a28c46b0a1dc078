#include "results/uploads.h"

#include <string.h>

#include "results/store_internal.h"

int hn_uploads_get(hn_results *r, int64_t run_id, const char *sink, const char *destination,
                   hn_upload_state *st, hn_error *err) {
    memset(st, 0, sizeof *st);
    strcpy(st->status, "pending");
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT remote_id, last_row, n_points, sink_offset, status, attempts"
                                " FROM uploads WHERE run_id = ? AND sink = ? AND destination = ?",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "reading the upload cursor");
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_text(q, 2, sink, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, destination, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st->exists = 1;
        const unsigned char *id = sqlite3_column_text(q, 0);
        snprintf(st->remote_id, sizeof st->remote_id, "%s", id ? (const char *)id : "");
        st->last_row = sqlite3_column_int64(q, 1);
        st->n_points = sqlite3_column_int64(q, 2);
        st->offset = sqlite3_column_int64(q, 3);
        snprintf(st->status, sizeof st->status, "%s", (const char *)sqlite3_column_text(q, 4));
        st->attempts = sqlite3_column_int64(q, 5);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? HN_OK : hn_results_sql_fail(r, err, rc, "reading the upload cursor");
}

int hn_uploads_put(hn_results *r, int64_t run_id, const char *sink, const char *destination,
                   const hn_upload_state *st, const char *error, hn_error *err) {
    if (hn_results_begin_write(r, err)) return HN_ERR;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        r->db,
        "INSERT OR REPLACE INTO uploads (run_id, sink, destination, remote_id, last_row,"
        " n_points, sink_offset, status, error, attempts, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        -1, &q, NULL);
    if (rc == SQLITE_OK) {
        char now[32];
        hn_results_now(now);
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_text(q, 2, sink, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, destination, -1, SQLITE_STATIC);
        if (st->remote_id[0]) sqlite3_bind_text(q, 4, st->remote_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, st->last_row);
        sqlite3_bind_int64(q, 6, st->n_points);
        sqlite3_bind_int64(q, 7, st->offset);
        sqlite3_bind_text(q, 8, st->status, -1, SQLITE_STATIC);
        if (error) sqlite3_bind_text(q, 9, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 10, st->attempts);
        sqlite3_bind_text(q, 11, now, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "recording the upload cursor");
        hn_results_rollback(r);
        return HN_ERR;
    }
    return hn_results_commit(r, err);
}

int hn_uploads_print_failures(hn_results *r, FILE *out, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT run_id, sink, destination, attempts, updated_at, error,"
                                " n_points FROM uploads WHERE status = 'failed'"
                                " ORDER BY run_id, sink, destination",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "listing failed uploads");
    int first = 1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (first) fprintf(out, "\nfailed uploads (retry with hnet upload):\n");
        first = 0;
        const unsigned char *e = sqlite3_column_text(q, 5);
        fprintf(out, "  run %lld -> %s %s: %lld attempts, last %.19s, %lld points uploaded: %s\n",
                (long long)sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
                (const char *)sqlite3_column_text(q, 2), (long long)sqlite3_column_int64(q, 3),
                (const char *)sqlite3_column_text(q, 4), (long long)sqlite3_column_int64(q, 6),
                e ? (const char *)e : "?");
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? HN_OK : hn_results_sql_fail(r, err, rc, "listing failed uploads");
}
