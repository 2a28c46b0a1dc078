/* Claiming runs: a run has one owner process, recorded (host, pid) in the same write
 * transaction that checks no live process owns it, so two processes never log into one
 * run. A resume names its run by the uuid its checkpoint carries; a suite claims each
 * config before training it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/store_internal.h"

typedef struct run_row {
    int64_t id, pid;
    char uuid[33], hash[17], status[16], host[256];
} run_row;

static void col_text(char *out, size_t n, sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

/* Reads the row the statement (already bound) selects; 1 found, 0 none, -1 error. */
static int read_row(hn_results *r, sqlite3_stmt *st, run_row *row, hn_error *err) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) {
        hn_results_sql_fail(r, err, rc, "looking up a run");
        return -1;
    }
    row->id = sqlite3_column_int64(st, 0);
    col_text(row->uuid, sizeof row->uuid, st, 1);
    col_text(row->hash, sizeof row->hash, st, 2);
    col_text(row->status, sizeof row->status, st, 3);
    col_text(row->host, sizeof row->host, st, 4);
    row->pid = sqlite3_column_int64(st, 5);
    return 1;
}

#define ROW_COLUMNS "SELECT id, uuid, config_hash, status, host, pid FROM runs "

/* A live process other than this one owns the row. */
static int owned_elsewhere(const hn_results *r, const run_row *row) {
    if (strcmp(row->status, "running")) return 0;
    if (row->pid == (int64_t)getpid() && !strcmp(row->host, r->host)) return 0;
    return !hn_results_process_gone(r, row->host, row->pid);
}

static int run_sql(hn_results *r, const char *sql, int64_t a, int64_t b, const char *text,
                   const char *doing, hn_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        if (text) sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, doing);
}

/* Makes this process the owner of run id: status running, new pid and host, ended_at and
 * error cleared. Inside a write transaction. */
static int take_over(hn_results *r, int64_t id, hn_error *err) {
    char now[32];
    hn_results_now(now);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL,"
                                " pid = ?, host = ?, heartbeat_at = ? WHERE id = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)getpid());
        sqlite3_bind_text(st, 2, r->host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "claiming a run");
}

static int refuse_owned(const hn_results *r, const run_row *row, hn_error *err) {
    return hn_fail(err, "%s: run %lld is still being trained by process %lld on %s; a run has "
                        "one owner: let it end, or stop it (Ctrl-C), before resuming it",
                   r->path, (long long)row->id, (long long)row->pid, row->host);
}

int hn_results_claim_run(hn_results *r, const char *uuid, int64_t legacy_id,
                         const char *config_hash, int64_t after_step, int64_t *run_id,
                         hn_error *err) {
    if (hn_results_begin_write(r, err)) return HN_ERR;
    sqlite3_stmt *st = NULL;
    int by_uuid = uuid && *uuid;
    int rc = sqlite3_prepare_v2(r->db, by_uuid ? ROW_COLUMNS "WHERE uuid = ?" : ROW_COLUMNS "WHERE id = ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "looking up a run");
        hn_results_rollback(r);
        return HN_ERR;
    }
    if (by_uuid) sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_int64(st, 1, legacy_id);
    run_row row;
    int found = read_row(r, st, &row, err);
    sqlite3_finalize(st);
    if (found < 0) goto fail;
    if (found == 0) {
        if (by_uuid)
            hn_fail(err, "%s: the checkpoint belongs to run %s (run %lld of the database it was "
                         "logged in), which is not in %s; resume with that run's --db",
                    r->path, uuid, (long long)legacy_id, r->path);
        else
            hn_fail(err, "%s: no run with id %lld to resume (is this the database it was logged in?)",
                    r->path, (long long)legacy_id);
        goto fail;
    }
    if (config_hash && *config_hash && row.hash[0] && strcmp(row.hash, config_hash)) {
        hn_fail(err, "%s: run %lld has config hash %s, the checkpoint's config has %s: the "
                     "checkpoint does not belong to it; resume with that run's --db",
                r->path, (long long)row.id, row.hash, config_hash);
        goto fail;
    }
    if (owned_elsewhere(r, &row)) {
        refuse_owned(r, &row, err);
        goto fail;
    }
    if (take_over(r, row.id, err) ||
        run_sql(r, "DELETE FROM metrics WHERE run_id = ?1 AND step > ?2", row.id, after_step, NULL,
                "resuming a run", err))
        goto fail;
    if (hn_results_commit(r, err)) return HN_ERR;
    if (hn_results_add_active(r, row.id)) return hn_fail(err, "%s: out of memory", r->path);
    *run_id = row.id;
    return HN_OK;
fail:
    hn_results_rollback(r);
    return HN_ERR;
}

int hn_results_claim_config(hn_results *r, const hn_run_info *info, const char *ckpt_uuid,
                            int force, hn_claim *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    char hash[17];
    hn_results_config_hash(info->config_json ? info->config_json : "", hash);
    if (hn_results_begin_write(r, err)) return HN_ERR;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, ROW_COLUMNS "WHERE config_hash = ? ORDER BY "
                                HN_RUN_PREFERENCE("runs") " LIMIT 1", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "looking up a config");
        hn_results_rollback(r);
        return HN_ERR;
    }
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    run_row row;
    int found = read_row(r, st, &row, err);
    sqlite3_finalize(st);
    if (found < 0) goto fail;
    if (found && !strcmp(row.status, "finished") && !force) {
        out->action = HN_CLAIM_FINISHED;
    } else if (found && owned_elsewhere(r, &row)) {
        out->action = HN_CLAIM_ACTIVE;
        snprintf(out->owner, sizeof out->owner, "process %lld on %s", (long long)row.pid, row.host);
    } else if (found && (!strcmp(row.status, "interrupted") || !strcmp(row.status, "running")) &&
               ckpt_uuid && *ckpt_uuid && !strcmp(ckpt_uuid, row.uuid)) {
        if (take_over(r, row.id, err)) goto fail;
        out->action = HN_CLAIM_RESUME;
    } else {
        /* a dead owner's row without a checkpoint to continue from stays as it ended */
        if (found && !strcmp(row.status, "running") &&
            run_sql(r, "UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at,"
                       " started_at), error = 'process ' || pid || ' on ' || host || ' ended without"
                       " closing the run (killed or crashed)' WHERE id = ?1",
                    row.id, 0, NULL, "marking a run interrupted", err))
            goto fail;
        if (hn_results_insert_run(r, info, &row.id, err)) goto fail;
        out->action = HN_CLAIM_NEW;
    }
    out->run_id = found || out->action == HN_CLAIM_NEW ? row.id : 0;
    if (hn_results_commit(r, err)) return HN_ERR;
    if ((out->action == HN_CLAIM_NEW || out->action == HN_CLAIM_RESUME) &&
        hn_results_add_active(r, out->run_id))
        return hn_fail(err, "%s: out of memory", r->path);
    return HN_OK;
fail:
    hn_results_rollback(r);
    return HN_ERR;
}

int hn_results_rewind_run(hn_results *r, int64_t run_id, int64_t after_step, hn_error *err) {
    if (hn_results_begin_write(r, err)) return HN_ERR;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "DELETE FROM metrics WHERE run_id = ?1 AND step > ?2 AND EXISTS"
                                " (SELECT 1 FROM runs WHERE id = ?1 AND pid = ?3 AND host = ?4)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, after_step);
        sqlite3_bind_int64(st, 3, (int64_t)getpid());
        sqlite3_bind_text(st, 4, r->host, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "resuming a run");
        hn_results_rollback(r);
        return HN_ERR;
    }
    return hn_results_commit(r, err);
}

int hn_results_run_uuid(hn_results *r, int64_t run_id, char out[33], hn_error *err) {
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    int rc = sqlite3_prepare_v2(r->db, "SELECT uuid FROM runs WHERE id = ?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) col_text(out, 33, st, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "reading a run's uuid");
}
