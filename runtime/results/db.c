/* The SQLite connection of results.db: opening (parent directory, WAL, busy timeout,
 * schema), lock retries, and error messages that name the file. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "results/store_internal.h"

/* How long a writer waits for another process's transaction, in sqlite's own busy
 * handler and then in our retry loop around it (which also covers the lock errors
 * the busy handler is never called for, e.g. during WAL recovery). */
#define BUSY_TIMEOUT_MS 10000
#define RETRY_TOTAL_MS 60000

int hn_results_sql_fail(const hn_results *r, hn_error *err, int rc, const char *doing) {
    const char *path = r && r->path ? r->path : "results database";
    const char *detail = r && r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return hn_fail(err, "%s: not an SQLite database (%s); pass the path of a results.db",
                       path, doing);
    case SQLITE_FULL:
        return hn_fail(err, "%s: disk full while %s; nothing of this write was kept", path,
                       doing);
    case SQLITE_READONLY:
        return hn_fail(err, "%s: the database is read-only (%s); check the permissions of "
                            "the file and its directory", path, doing);
    case SQLITE_CORRUPT:
        return hn_fail(err, "%s: the database file is corrupt (%s)", path, doing);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return hn_fail(err, "%s: still locked by another process after %d s (%s)", path,
                       RETRY_TOTAL_MS / 1000, doing);
    case SQLITE_CANTOPEN:
        return hn_fail(err, "%s: cannot open or create the database (%s: %s); check that "
                            "the file and its directory exist and are writable", path, doing,
                       detail);
    case SQLITE_IOERR: {
        int e = r && r->db ? sqlite3_system_errno(r->db) : 0;
        if (e == EFBIG || e == ENOSPC || e == EDQUOT)
            return hn_fail(err, "%s: %s while %s (%s); nothing of this write was kept", path,
                           e == EFBIG ? "file size limit reached" : "disk full", doing, strerror(e));
        return hn_fail(err, "%s: I/O error while %s: %s", path, doing, detail);
    }
    default:
        return hn_fail(err, "%s: SQLite error while %s: %s", path, doing, detail);
    }
}

static int is_busy(int rc) {
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Sleeps a little longer each time, with jitter so competing writers spread out. */
static void backoff(int attempt, long *waited_ms) {
    long ms = 5L << (attempt < 5 ? attempt : 5); /* 5 .. 160 ms */
    ms += (getpid() + attempt * 7) % 10;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *waited_ms += ms;
}

int hn_results_exec(hn_results *r, const char *sql, const char *doing, hn_error *err) {
    long waited = 0;
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) return HN_OK;
        if (!is_busy(rc) || waited >= RETRY_TOTAL_MS) return hn_results_sql_fail(r, err, rc, doing);
        backoff(attempt, &waited);
    }
}

int hn_results_begin_write(hn_results *r, hn_error *err) {
    if (r->readonly)
        return hn_fail(err, "%s: opened read-only (the file or its directory is not "
                            "writable); cannot record results", r->path);
    return hn_results_exec(r, "BEGIN IMMEDIATE", "starting a write transaction", err);
}

int hn_results_commit(hn_results *r, hn_error *err) {
    if (hn_results_exec(r, "COMMIT", "committing", err) == HN_OK) return HN_OK;
    hn_results_rollback(r);
    return HN_ERR;
}

void hn_results_rollback(hn_results *r) {
    if (r && r->db && !sqlite3_get_autocommit(r->db))
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

void hn_results_now(char out[32]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

int hn_run_process_gone(const char *run_host, const char *this_host, int64_t pid) {
    /* a run of another host (or without a pid) cannot be checked: it counts as alive */
    if (!run_host || strcmp(run_host, this_host) != 0 || pid <= 0 || pid > (int64_t)INT32_MAX)
        return 0;
    /* EPERM means it exists but belongs to someone else: still alive. */
    return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

int hn_results_process_gone(const hn_results *r, const char *host, int64_t pid) {
    return hn_run_process_gone(host, r->host, pid);
}

sqlite3 *hn_results_sqlite(hn_results *r) { return r ? r->db : NULL; }

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path, hn_error *err) {
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir)
        return hn_fail(err, "path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return HN_OK;
    *slash = '\0';
    return hn_mkdir_p(dir, err) ? hn_fail_prefix(err, "%s", path) : HN_OK;
}

/* Runs left 'running' by a vanished process of this host become 'interrupted', ended
 * at their last heartbeat; their curves stay. Call inside a write transaction. */
static int mark_interrupted(hn_results *r, hn_error *err) {
    sqlite3_stmt *q = NULL, *upd = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT id, host, pid FROM runs WHERE status = 'running'",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(r->db,
                                "UPDATE runs SET status = 'interrupted', "
                                "ended_at = coalesce(heartbeat_at, started_at), "
                                "error = 'process ' || pid || ' on ' || host || "
                                "' ended without closing the run (killed or crashed)' "
                                "WHERE id = ? AND status = 'running'",
                                -1, &upd, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(q, 1);
        if (!hn_results_process_gone(r, host, sqlite3_column_int64(q, 2))) {
            rc = SQLITE_OK;
            continue;
        }
        sqlite3_bind_int64(upd, 1, sqlite3_column_int64(q, 0));
        rc = sqlite3_step(upd);
        sqlite3_reset(upd);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(q);
    sqlite3_finalize(upd);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "marking interrupted runs");
}

/* A WAL file in a directory we cannot write cannot get its shared-memory file. No
 * writer can be active there either (a writer would have created it), so the file is
 * read as immutable. */
static int reopen_immutable(hn_results *r) {
    size_t n = strlen(r->path);
    char *uri = malloc(3 * n + 32);
    if (!uri) return SQLITE_NOMEM;
    char *o = uri + sprintf(uri, "file:");
    for (const char *p = r->path; *p; p++) /* URI-escape what would end the path */
        o += (*p == '%' || *p == '?' || *p == '#') ? sprintf(o, "%%%02X", (unsigned char)*p)
                                                    : sprintf(o, "%c", *p);
    strcpy(o, "?immutable=1");
    sqlite3_close(r->db);
    r->db = NULL;
    int rc = sqlite3_open_v2(uri, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    return rc;
}

/* Journal mode and per-connection settings; a read-only file keeps whatever it has. */
static int configure(hn_results *r, hn_error *err) {
    /* Reading the header first turns "not a database" into a clean message. */
    int rc = sqlite3_exec(r->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (r->readonly && ((rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN))
        rc = reopen_immutable(r);
    if (rc != SQLITE_OK && hn_results_exec(r, "SELECT count(*) FROM sqlite_master",
                                           "reading the file", err))
        return HN_ERR;
    if (hn_results_exec(r, "PRAGMA foreign_keys = ON", "configuring", err)) return HN_ERR;
    /* Switching to WAL rewrites the header: refuse files that are not ours first. */
    if (hn_results_check_version(r, !r->readonly, err)) return HN_ERR;
    if (r->readonly) return HN_OK;
    if (hn_results_exec(r, "PRAGMA journal_mode = WAL", "switching to WAL mode", err))
        return HN_ERR;
    /* In WAL mode NORMAL keeps the file consistent after a crash; only the last
     * transactions may be lost on power failure. */
    return hn_results_exec(r, "PRAGMA synchronous = NORMAL", "configuring", err);
}

static int setup_schema(hn_results *r, hn_error *err) {
    if (r->readonly) return HN_OK; /* checked in configure() */
    if (hn_results_begin_write(r, err)) return HN_ERR;
    if (hn_results_migrate(r, err) || mark_interrupted(r, err)) {
        hn_results_rollback(r);
        return HN_ERR;
    }
    return hn_results_commit(r, err);
}

int hn_results_open(const char *path, hn_results **out, hn_error *err) {
    *out = NULL;
    if (!path || !*path) return hn_fail(err, "results database: empty path");
    hn_results *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return hn_fail(err, "%s: out of memory", path);
    }
    if (gethostname(r->host, sizeof r->host - 1) != 0) strcpy(r->host, "unknown");

    if (make_parent_dirs(path, err)) goto fail;
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        hn_results_sql_fail(r, err, rc, "opening");
        goto fail;
    }
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
    r->readonly = sqlite3_db_readonly(r->db, "main") == 1;
    if (configure(r, err) || setup_schema(r, err)) goto fail;
    *out = r;
    return HN_OK;
fail:
    hn_results_close(r);
    return HN_ERR;
}

void hn_results_close(hn_results *r) {
    if (!r) return;
    hn_results_rollback(r);
    sqlite3_finalize(r->insert);
    sqlite3_close(r->db);
    for (size_t i = 0; i < r->n_strings; i++) free(r->strings[i]);
    free(r->strings);
    free(r->points);
    free(r->active);
    free(r->path);
    free(r);
}
