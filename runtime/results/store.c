/* Recording runs: begin, buffer curve points in memory, flush them in one transaction
 * (with a heartbeat), end. */
#include <math.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "results/store_internal.h"

void hn_results_config_hash(const char *text, char out[17]) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a offset basis */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL; /* FNV prime */
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

void hn_results_new_uuid(char out[33]) {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got < sizeof b) { /* no entropy source: time and pid still make it unique enough */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
        for (size_t i = 0; i < sizeof b; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            b[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < sizeof b; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int hn_results_add_active(hn_results *r, int64_t run_id) {
    for (size_t i = 0; i < r->n_active; i++)
        if (r->active[i] == run_id) return HN_OK;
    if (r->n_active == r->cap_active) {
        size_t cap = r->cap_active ? 2 * r->cap_active : 4;
        int64_t *a = realloc(r->active, cap * sizeof *a);
        if (!a) return HN_ERR;
        r->active = a;
        r->cap_active = cap;
    }
    r->active[r->n_active++] = run_id;
    return HN_OK;
}

static void remove_active(hn_results *r, int64_t run_id) {
    for (size_t i = 0; i < r->n_active; i++)
        if (r->active[i] == run_id) r->active[i--] = r->active[--r->n_active];
}

/* Inserts the row of a new run owned by this process; inside a write transaction. */
int hn_results_insert_run(hn_results *r, const hn_run_info *info, int64_t *run_id, hn_error *err) {
    if (!info || !info->name || !*info->name)
        return hn_fail(err, "%s: a run needs a name", r->path);
    char now[32], hash[17], uuid[33];
    hn_results_now(now);
    hn_results_new_uuid(uuid);
    if (info->config_json) hn_results_config_hash(info->config_json, hash);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        r->db,
        "INSERT INTO runs (name, experiment_file, experiment_text, config_json, config_hash,"
        " seed, n_params, git_commit, host, pid, device, started_at, heartbeat_at, status,"
        " uuid, overrides, world_size)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?14,"
        " CASE WHEN json_valid(?4) THEN json_extract(?4, '$.overrides') END, ?15)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_text_or_null(st, 1, info->name);
        bind_text_or_null(st, 2, info->experiment_file);
        bind_text_or_null(st, 3, info->experiment_text);
        bind_text_or_null(st, 4, info->config_json);
        bind_text_or_null(st, 5, info->config_json ? hash : NULL);
        sqlite3_bind_int64(st, 6, info->seed);
        sqlite3_bind_int64(st, 7, info->n_params);
        bind_text_or_null(st, 8, info->git_commit);
        bind_text_or_null(st, 9, info->host ? info->host : r->host);
        sqlite3_bind_int64(st, 10, (int64_t)getpid());
        bind_text_or_null(st, 11, info->device);
        bind_text_or_null(st, 12, now);
        bind_text_or_null(st, 13, now);
        bind_text_or_null(st, 14, uuid);
        sqlite3_bind_int64(st, 15, info->world_size > 1 ? info->world_size : 1);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "recording a new run");
    *run_id = sqlite3_last_insert_rowid(r->db);
    return HN_OK;
}

int hn_results_begin_run(hn_results *r, const hn_run_info *info, int64_t *run_id,
                         hn_error *err) {
    if (!info || !info->name || !*info->name)
        return hn_fail(err, "%s: a run needs a name", r->path);
    if (hn_results_begin_write(r, err)) return HN_ERR;
    int64_t id;
    if (hn_results_insert_run(r, info, &id, err)) {
        hn_results_rollback(r);
        return HN_ERR;
    }
    if (hn_results_commit(r, err)) return HN_ERR;
    if (hn_results_add_active(r, id)) return hn_fail(err, "%s: out of memory", r->path);
    *run_id = id;
    return HN_OK;
}

/* Split and metric names repeat endlessly and are few: keep one copy of each. */
static const char *intern(hn_results *r, const char *s) {
    for (size_t i = 0; i < r->n_strings; i++)
        if (strcmp(r->strings[i], s) == 0) return r->strings[i];
    if (r->n_strings == r->cap_strings) {
        size_t cap = r->cap_strings ? 2 * r->cap_strings : 16;
        char **a = realloc(r->strings, cap * sizeof *a);
        if (!a) return NULL;
        r->strings = a;
        r->cap_strings = cap;
    }
    char *copy = strdup(s);
    if (!copy) return NULL;
    r->strings[r->n_strings++] = copy;
    return copy;
}

void hn_results_log(hn_results *r, int64_t run_id, int64_t step, int64_t bytes,
                    const char *split, const char *name, double value) {
    if (!r) return;
    const char *sp = intern(r, split ? split : "train");
    const char *nm = intern(r, name ? name : "");
    if (r->n_points == r->cap_points) {
        size_t cap = r->cap_points ? 2 * r->cap_points : 256;
        hn_metric_point *a = realloc(r->points, cap * sizeof *a);
        if (a) {
            r->points = a;
            r->cap_points = cap;
        }
    }
    if (!sp || !nm || r->n_points == r->cap_points) {
        r->n_lost++;
        return;
    }
    r->points[r->n_points++] = (hn_metric_point){
        .run_id = run_id, .step = step, .bytes = bytes, .split = sp, .name = nm,
        .value = isfinite(value) ? value : 0.0, .is_null = !isfinite(value)};
}

/* 1 when run_id is marked running under another process than this one. */
static int owned_by_other(hn_results *r, int64_t run_id) {
    sqlite3_stmt *st = NULL;
    int other = 0;
    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM runs WHERE id = ? AND status = 'running'"
                                  " AND NOT (pid = ? AND host = ?)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, (int64_t)getpid());
        sqlite3_bind_text(st, 3, r->host, -1, SQLITE_TRANSIENT);
        other = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return other;
}

/* Inserts the buffered points and refreshes heartbeats; inside a write transaction. */
static int write_pending(hn_results *r, const char *now, hn_error *err) {
    int rc = SQLITE_OK;
    if (r->n_points && !r->insert)
        rc = sqlite3_prepare_v3(r->db,
                                "INSERT INTO metrics (run_id, step, bytes, split, name, value)"
                                " VALUES (?, ?, ?, ?, ?, ?)",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->insert, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < r->n_points; i++) {
        const hn_metric_point *p = &r->points[i];
        sqlite3_stmt *st = r->insert;
        sqlite3_bind_int64(st, 1, p->run_id);
        sqlite3_bind_int64(st, 2, p->step);
        sqlite3_bind_int64(st, 3, p->bytes);
        sqlite3_bind_text(st, 4, p->split, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, p->name, -1, SQLITE_STATIC);
        if (p->is_null) sqlite3_bind_null(st, 6);
        else sqlite3_bind_double(st, 6, p->value);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "writing metrics");

    sqlite3_stmt *hb = NULL;
    if (r->n_active)
        rc = sqlite3_prepare_v2(r->db,
                                "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'"
                                " AND pid = ? AND host = ?",
                                -1, &hb, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < r->n_active; i++) {
        sqlite3_bind_text(hb, 1, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(hb, 2, r->active[i]);
        sqlite3_bind_int64(hb, 3, (int64_t)getpid());
        sqlite3_bind_text(hb, 4, r->host, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(hb);
        sqlite3_reset(hb);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
        /* a run has one owner: never log into a run another process has claimed */
        if (rc == SQLITE_OK && sqlite3_changes(r->db) != 1 && owned_by_other(r, r->active[i])) {
            sqlite3_finalize(hb);
            return hn_fail(err, "%s: run %lld is now owned by another process; this process "
                                "stops logging into it", r->path, (long long)r->active[i]);
        }
    }
    sqlite3_finalize(hb);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "writing the heartbeat");
    return HN_OK;
}

static int report_lost(hn_results *r, hn_error *err) {
    if (!r->n_lost) return HN_OK;
    size_t lost = r->n_lost;
    r->n_lost = 0;
    return hn_fail(err, "%s: out of memory while buffering metrics; %zu points were lost",
                   r->path, lost);
}

int hn_results_flush(hn_results *r, hn_error *err) {
    if (report_lost(r, err)) return HN_ERR;
    if (!r->n_points && !r->n_active) return HN_OK;
    char now[32];
    hn_results_now(now);
    if (hn_results_begin_write(r, err)) return HN_ERR;
    if (write_pending(r, now, err)) {
        hn_results_rollback(r);
        return HN_ERR;
    }
    if (hn_results_commit(r, err)) return HN_ERR;
    r->n_points = 0;
    return HN_OK;
}

int hn_results_end_run(hn_results *r, int64_t run_id, const char *status,
                       const char *error_message, hn_error *err) {
    if (!status || (strcmp(status, "finished") && strcmp(status, "failed") &&
                    strcmp(status, "interrupted")))
        return hn_fail(err, "%s: run %lld: end status must be finished, failed or interrupted, "
                            "not '%s'", r->path, (long long)run_id, status ? status : "(null)");
    if (report_lost(r, err)) return HN_ERR;
    char now[32];
    hn_results_now(now);
    if (hn_results_begin_write(r, err)) return HN_ERR;
    /* The last points and the final status land together or not at all. */
    if (write_pending(r, now, err)) {
        hn_results_rollback(r);
        return HN_ERR;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, "
                                "error = ? WHERE id = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
        bind_text_or_null(st, 4, error_message);
        sqlite3_bind_int64(st, 5, run_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "ending a run");
        hn_results_rollback(r);
        return HN_ERR;
    }
    if (sqlite3_changes(r->db) != 1) {
        hn_results_rollback(r);
        return hn_fail(err, "%s: no run with id %lld", r->path, (long long)run_id);
    }
    if (hn_results_commit(r, err)) return HN_ERR;
    r->n_points = 0;
    remove_active(r, run_id);
    return HN_OK;
}

int hn_results_end_run_salvage(hn_results *r, int64_t run_id, const char *status,
                               const char *error_message, const char *write_error,
                               hn_error *err) {
    size_t lost = r->n_points;
    r->n_points = 0;
    r->n_lost = 0;
    hn_results_rollback(r);
    sqlite3_exec(r->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    int same = error_message && write_error && !strcmp(error_message, write_error);
    char *msg = sqlite3_mprintf("%s%s(%llu curve points could not be written%s%s)",
                                error_message ? error_message : "", error_message ? " " : "",
                                (unsigned long long)lost, same ? "" : ": ",
                                same || !write_error ? "" : write_error);
    if (!msg) return hn_fail(err, "%s: out of memory", r->path);
    int rc = hn_results_end_run(r, run_id, status, msg, err);
    sqlite3_free(msg);
    return rc;
}
