/* results.db: schema and version, round trip checked with plain SQL, interrupted runs,
 * several writer processes at once, refusal of newer / foreign / non-databases, a full
 * disk, and the `hnet show` table. Every test works on its own temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/store.h"
#include "results/store_internal.h"
#include "support/fixtures.h"

/* The CLI is not part of libhnet; its show command is small enough to test here. */
#include "../../runtime/cli/cmd_show.c"
#include "../../runtime/cli/run_ref.c"
#include "../../runtime/cli/show_run.c"
#include "../../runtime/cli/util.c"

static char tmpdir[256];
static int path_counter;

/* A fresh path inside a not-yet-existing subdirectory (open must create it). */
static const char *fresh_path(char *buf, size_t n) {
    snprintf(buf, n, "%s/sub%d/dir/results.db", tmpdir, path_counter++);
    return buf;
}

static int group_setup(void **state) {
    strcpy(tmpdir, "/tmp/hnet_test_results_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- plain-SQL helpers (an independent reader of the file) ---- */

static sqlite3 *sql_open(const char *path) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static sqlite3_stmt *sql_row(sqlite3 *db, const char *fmt, ...) {
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare '%s': %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("no row for '%s'", sql);
    return st;
}

#define SQL_INT(db, ...) sql_int_(sql_row(db, __VA_ARGS__))
#define SQL_DBL(db, ...) sql_dbl_(sql_row(db, __VA_ARGS__))
#define SQL_TXT(db, buf, ...) sql_txt_(sql_row(db, __VA_ARGS__), buf, sizeof buf)

static long long sql_int_(sqlite3_stmt *st) {
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
static double sql_dbl_(sqlite3_stmt *st) {
    double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}
static const char *sql_txt_(sqlite3_stmt *st, char *buf, size_t n) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, n, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    return buf;
}

/* cmocka's assert_float_equal compares floats; these are doubles. */
#define assert_near(a, b, eps)                                                             \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%.17g != %.17g", a_, b_);                 \
    } while (0)

static void sql_exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

static void open_ok(const char *path, hn_results **r) {
    hn_error err = {{0}};
    if (hn_results_open(path, r, &err) != HN_OK) fail_msg("open: %s", err.msg);
}

static int64_t begin_ok(hn_results *r, const char *name, const char *config) {
    hn_error err = {{0}};
    hn_run_info info = {.name = name, .config_json = config, .seed = 7, .n_params = 1234567};
    int64_t id = -1;
    if (hn_results_begin_run(r, &info, &id, &err) != HN_OK) fail_msg("begin: %s", err.msg);
    return id;
}

static void flush_ok(hn_results *r) {
    hn_error err = {{0}};
    if (hn_results_flush(r, &err) != HN_OK) fail_msg("flush: %s", err.msg);
}

static void end_ok(hn_results *r, int64_t id, const char *status) {
    hn_error err = {{0}};
    if (hn_results_end_run(r, id, status, NULL, &err) != HN_OK) fail_msg("end: %s", err.msg);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* ---- tests ---- */

/* A version-2 file (no uuid, no overrides) migrates to 3: every old run gets its own
 * uuid, overrides stay NULL (the config its file declared), the views gain the columns
 * and current_runs picks one run per name. */
static void test_schema_migrates_v2_to_v3(void **state) {
    char path[512];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    hn_run_info info = {.name = "old", .config_json = "{\"a\":1}"};
    int64_t id;
    hn_error err;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    hn_results_close(r);
    sqlite3 *db = sql_open(path);
    sql_exec(db, HN_TEST_UNDO_V3 "PRAGMA user_version = 2");
    sqlite3_close(db);
    open_ok(path, &r);
    hn_results_close(r);
    db = sql_open(path);
    assert_int_equal(SQL_INT(db, "PRAGMA user_version"), HN_RESULTS_SCHEMA_VERSION);
    assert_int_equal(SQL_INT(db, "SELECT count(DISTINCT uuid) FROM runs WHERE length(uuid) = 32"), 2);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM runs WHERE overrides IS NULL"), 2);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM latest_runs WHERE uuid IS NOT NULL"), 2);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM final_bpb WHERE overrides IS NULL"), 2);
    assert_int_equal(SQL_INT(db, "SELECT id FROM current_runs"), 2);
    sqlite3_close(db);
}

/* A version-4 file (no world_size) migrates to 5: its runs were one process each; a new
 * run records the processes that train it. */
static void test_schema_migrates_v4_to_v5(void **state) {
    char path[512];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    hn_run_info info = {.name = "old", .config_json = "{\"a\":1}"};
    int64_t id;
    hn_error err;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    hn_results_close(r);
    sqlite3 *db = sql_open(path);
    sql_exec(db, HN_TEST_UNDO_V5 "PRAGMA user_version = 4");
    sqlite3_close(db);
    open_ok(path, &r);
    info.world_size = 4;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    hn_results_close(r);
    db = sql_open(path);
    assert_int_equal(SQL_INT(db, "PRAGMA user_version"), HN_RESULTS_SCHEMA_VERSION);
    assert_int_equal(SQL_INT(db, "SELECT world_size FROM runs WHERE id = 1"), 1);
    assert_int_equal(SQL_INT(db, "SELECT world_size FROM runs WHERE id = 2"), 4);
    sqlite3_close(db);
}

static void test_schema_created_and_versioned(void **state) {
    char path[512], buf[64];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    hn_results_close(r);
    open_ok(path, &r); /* reopening is a no-op */
    hn_results_close(r);

    sqlite3 *db = sql_open(path);
    assert_int_equal(SQL_INT(db, "PRAGMA user_version"), HN_RESULTS_SCHEMA_VERSION);
    assert_int_equal(HN_RESULTS_SCHEMA_VERSION, 5);
    assert_string_equal(SQL_TXT(db, buf, "SELECT value FROM meta WHERE key='schema_version'"), "5");
    assert_string_equal(SQL_TXT(db, buf, "PRAGMA journal_mode"), "wal");
    const char *objects[] = {"table:meta", "table:runs", "table:metrics", "view:final_bpb",
                             "view:curves", "view:latest_runs", "view:current_runs",
                             "index:metrics_by_run_name", "index:runs_by_uuid",
                             "table:evaluations", "view:evaluation_results"};
    for (size_t i = 0; i < sizeof objects / sizeof *objects; i++) {
        char type[16];
        const char *colon = strchr(objects[i], ':');
        snprintf(type, sizeof type, "%.*s", (int)(colon - objects[i]), objects[i]);
        assert_int_equal(SQL_INT(db, "SELECT count(*) FROM sqlite_master WHERE type='%s' AND name='%s'",
                                 type, colon + 1), 1);
    }
    /* The status CHECK constraint is real. */
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO runs (name, started_at, status) "
                                          "VALUES ('x', 'now', 'bogus')", NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);

    /* An empty SQLite file (version 0, no tables) is migrated to the current version. */
    fresh_path(path, sizeof path);
    hn_results_open(path, &r, &(hn_error){{0}}); /* just to create the directory */
    hn_results_close(r);
    unlink(path);
    db = sql_open(path);
    sql_exec(db, "PRAGMA user_version = 0");
    sqlite3_close(db);
    open_ok(path, &r);
    hn_results_close(r);
    db = sql_open(path);
    assert_int_equal(SQL_INT(db, "PRAGMA user_version"), HN_RESULTS_SCHEMA_VERSION);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM runs"), 0);
    sqlite3_close(db);
}

static void test_round_trip(void **state) {
    char path[512], buf[256], host[256] = {0};
    hn_results *r = NULL;
    hn_error err = {{0}};
    open_ok(fresh_path(path, sizeof path), &r);
    hn_run_info info = {.name = "rt", .experiment_file = "exp/rt.lua",
                        .experiment_text = "return experiment{}",
                        .config_json = "{\"d\":512,\"layout\":[\"m4\"]}", .git_commit = "abc123",
                        .device = "cpu", .seed = 42, .n_params = 987654321};
    int64_t id = 0;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    assert_true(id > 0);
    for (int s = 1; s <= 10; s++) hn_results_log(r, id, s, 1000 * s, "train", "bpb", 3.0 - 0.1 * s);
    /* Validation logged out of step order: final_bpb must go by step, not by row order. */
    hn_results_log(r, id, 10, 10000, "valid", "bpb", 1.25);
    hn_results_log(r, id, 5, 5000, "valid", "bpb", 2.5);
    hn_results_log(r, id, 10, 10000, "train", "grad_norm", NAN); /* stored as NULL */
    assert_int_equal(hn_results_flush(r, &err), HN_OK);
    assert_int_equal(hn_results_flush(r, &err), HN_OK); /* empty flush: heartbeat only */

    /* Wrong end status and unknown run are errors, and change nothing. */
    assert_int_equal(hn_results_end_run(r, id, "done", NULL, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "finished, failed or interrupted"));
    assert_int_equal(hn_results_end_run(r, id + 100, "failed", NULL, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "no run with id"));
    end_ok(r, id, "finished");
    hn_results_close(r);

    sqlite3 *db = sql_open(path);
    gethostname(host, sizeof host - 1);
    assert_string_equal(SQL_TXT(db, buf, "SELECT name FROM runs WHERE id=%lld", (long long)id), "rt");
    assert_string_equal(SQL_TXT(db, buf, "SELECT status FROM runs WHERE id=%lld", (long long)id), "finished");
    assert_string_equal(SQL_TXT(db, buf, "SELECT experiment_file FROM runs"), "exp/rt.lua");
    assert_string_equal(SQL_TXT(db, buf, "SELECT experiment_text FROM runs"), "return experiment{}");
    assert_string_equal(SQL_TXT(db, buf, "SELECT git_commit FROM runs"), "abc123");
    assert_string_equal(SQL_TXT(db, buf, "SELECT device FROM runs"), "cpu");
    assert_string_equal(SQL_TXT(db, buf, "SELECT host FROM runs"), host);
    /* FNV-1a 64 of the config text, computed independently (Python). */
    assert_string_equal(SQL_TXT(db, buf, "SELECT config_hash FROM runs"), "124362b8c8588e2c");
    char h[17];
    hn_results_config_hash("foobar", h); /* published FNV-1a test vector */
    assert_string_equal(h, "85944171f73967e8");
    assert_int_equal(SQL_INT(db, "SELECT seed FROM runs"), 42);
    assert_int_equal(SQL_INT(db, "SELECT n_params FROM runs"), 987654321);
    assert_int_equal(SQL_INT(db, "SELECT pid FROM runs"), getpid());
    assert_int_equal(SQL_INT(db, "SELECT error IS NULL AND ended_at IS NOT NULL AND "
                                 "heartbeat_at IS NOT NULL FROM runs"), 1);
    assert_int_equal(SQL_INT(db, "SELECT started_at LIKE '____-__-__T__:__:__.___Z' FROM runs"), 1);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics WHERE run_id=%lld", (long long)id), 13);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics WHERE name='grad_norm' AND value IS NULL"), 1);
    assert_near(SQL_DBL(db, "SELECT value FROM metrics WHERE split='train' AND name='bpb' AND step=7"),
                       2.3, 1e-12);

    assert_near(SQL_DBL(db, "SELECT valid_bpb FROM final_bpb WHERE run_id=%lld", (long long)id), 1.25, 0);
    assert_int_equal(SQL_INT(db, "SELECT valid_step FROM final_bpb"), 10);
    assert_int_equal(SQL_INT(db, "SELECT steps FROM final_bpb"), 10);
    assert_int_equal(SQL_INT(db, "SELECT bytes_seen FROM final_bpb"), 10000);
    assert_int_equal(SQL_INT(db, "SELECT params FROM final_bpb"), 987654321);
    assert_string_equal(SQL_TXT(db, buf, "SELECT status FROM final_bpb"), "finished");
    /* curves: ordered by step within one run's series, with the run's name. */
    assert_string_equal(SQL_TXT(db, buf, "SELECT group_concat(step) FROM (SELECT step FROM curves "
                                         "WHERE run_name='rt' AND split='valid' AND name='bpb')"),
                        "5,10");
    assert_int_equal(SQL_INT(db, "SELECT duration_s >= 0 AND valid_bpb = 1.25 FROM latest_runs"), 1);
    sqlite3_close(db);
}

/* A child that starts a run, logs and flushes, then dies by SIGKILL. */
static pid_t spawn_victim(const char *path, int npoints) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hn_results *r = NULL;
        hn_error err;
        int64_t id;
        hn_run_info info = {.name = "victim", .n_params = 10};
        if (hn_results_open(path, &r, &err) || hn_results_begin_run(r, &info, &id, &err)) _exit(3);
        for (int i = 0; i < npoints; i++) hn_results_log(r, id, i, 100 * i, "valid", "bpb", 4.0 - i * 0.01);
        if (hn_results_flush(r, &err)) _exit(4);
        hn_results_log(r, id, 999, 0, "valid", "bpb", 0.0); /* buffered, never flushed */
        raise(SIGKILL);
        _exit(5);
    }
    return pid;
}

static pid_t dead_pid(void) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    int st;
    waitpid(pid, &st, 0);
    return pid;
}

static void test_killed_run_is_interrupted(void **state) {
    char path[512], buf[256];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    hn_results_close(r); /* no connection carried across fork */

    int st;
    pid_t victim = spawn_victim(path, 25);
    assert_int_equal(waitpid(victim, &st, 0), victim);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    sqlite3 *db = sql_open(path);
    assert_string_equal(SQL_TXT(db, buf, "SELECT status FROM runs WHERE name='victim'"), "running");
    sqlite3_close(db);

    open_ok(path, &r); /* marks it */
    db = sql_open(path);
    assert_string_equal(SQL_TXT(db, buf, "SELECT status FROM runs WHERE name='victim'"), "interrupted");
    assert_int_equal(SQL_INT(db, "SELECT ended_at = heartbeat_at FROM runs WHERE name='victim'"), 1);
    snprintf(buf, sizeof buf, "%%process %d %%", (int)victim);
    assert_int_equal(SQL_INT(db, "SELECT error LIKE '%s' FROM runs WHERE name='victim'", buf), 1);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics m JOIN runs r ON r.id=m.run_id "
                                 "WHERE r.name='victim'"), 25);
    assert_near(SQL_DBL(db, "SELECT valid_bpb FROM final_bpb WHERE name='victim'"), 3.76, 1e-12);

    /* Rows written behind the handle's back: only the one whose process is gone from
     * this host is shown as interrupted. */
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO runs (name, host, pid, started_at, status) VALUES "
             "('ghost-run', '%s', %d, '2025-01-01T00:00:00.000Z', 'running'),"
             "('elsewhere-run', 'some-other-host', %d, '2025-01-01T00:00:00.000Z', 'running'),"
             "('alive-run', '%s', %d, '2025-01-01T00:00:00.000Z', 'running')",
             host, (int)dead_pid(), (int)dead_pid(), host, (int)getpid());
    sql_exec(db, sql);
    sqlite3_close(db);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    hn_error err = {{0}};
    assert_int_equal(hn_results_print_runs(r, out, 0, &err), HN_OK);
    fclose(out);
    const char *expect[][2] = {{"victim", "interrupted"}, {"ghost-run", "interrupted"},
                               {"elsewhere-run", "running"}, {"alive-run", "running"}};
    for (int i = 0; i < 4; i++) {
        char *line = strstr(text, expect[i][0]);
        assert_non_null(line);
        char *nl = strchr(line, '\n');
        *nl = '\0';
        if (!strstr(line, expect[i][1])) fail_msg("'%s' should show %s", line, expect[i][1]);
        *nl = '\n';
    }
    free(text);
    hn_results_close(r);
}

#define WRITERS 4
#define ROWS_PER_WRITER 2000
#define ROWS_PER_FLUSH 10

static void writer_child(const char *path, int k, int go_fd) {
    char c;
    if (read(go_fd, &c, 1) < 0) _exit(9); /* wait for the parent's go: all start at once */
    hn_results *r = NULL;
    hn_error err = {{0}};
    int64_t id;
    char name[32];
    snprintf(name, sizeof name, "writer-%d", k);
    hn_run_info info = {.name = name};
    if (hn_results_open(path, &r, &err) || hn_results_begin_run(r, &info, &id, &err)) goto fail;
    for (int i = 0; i < ROWS_PER_WRITER; i++) {
        hn_results_log(r, id, i, (int64_t)i * 4096, i % 2 ? "valid" : "train", "bpb", 1.0 + k);
        if ((i + 1) % ROWS_PER_FLUSH == 0 && hn_results_flush(r, &err)) goto fail;
    }
    if (hn_results_end_run(r, id, "finished", NULL, &err)) goto fail;
    hn_results_close(r);
    _exit(0);
fail:
    fprintf(stderr, "writer %d: %s\n", k, err.msg);
    _exit(1);
}

static void test_concurrent_writers(void **state) {
    char path[512];
    fresh_path(path, sizeof path); /* the writers create it together */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            close(go[1]);
            writer_child(path, k, go[0]);
        }
    }
    close(go[0]);
    close(go[1]); /* go */
    for (int k = 0; k < WRITERS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("writer %d failed (status %d)", k, st);
    }
    sqlite3 *db = sql_open(path);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM runs WHERE status='finished'"), WRITERS);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics"), WRITERS * ROWS_PER_WRITER);
    for (int k = 0; k < WRITERS; k++) {
        /* every step exactly once, with its own value */
        assert_int_equal(SQL_INT(db, "SELECT count(DISTINCT m.step) FROM metrics m JOIN runs r ON "
                                     "r.id=m.run_id WHERE r.name='writer-%d' AND m.value=%d", k, 1 + k),
                         ROWS_PER_WRITER);
    }
    sqlite3_close(db);
}

static void test_newer_schema_refused(void **state) {
    char path[512];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    begin_ok(r, "old-run", NULL);
    hn_results_close(r);
    sqlite3 *db = sql_open(path);
    sql_exec(db, "PRAGMA user_version = 99; UPDATE meta SET value='99' WHERE key='schema_version'");
    sql_exec(db, "PRAGMA journal_mode = DELETE");
    sqlite3_close(db);

    size_t n0, n1;
    char *before = read_file(path, &n0);
    hn_error err = {{0}};
    assert_int_equal(hn_results_open(path, &r, &err), HN_ERR);
    assert_null(r);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "newer"));
    char *after = read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0); /* not one byte changed */
    free(before);
    free(after);
}

static void test_not_a_database(void **state) {
    char path[512];
    hn_results *r = NULL;
    hn_error err = {{0}};
    open_ok(fresh_path(path, sizeof path), &r); /* makes the directory */
    hn_results_close(r);
    unlink(path);

    FILE *f = fopen(path, "w");
    for (int i = 0; i < 200; i++) fputs("this is a text file, not a database\n", f);
    fclose(f);
    size_t n0, n1;
    char *before = read_file(path, &n0);
    assert_int_equal(hn_results_open(path, &r, &err), HN_ERR);
    assert_null(r);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not an SQLite database"));
    char *after = read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);

    /* Someone else's SQLite database is left alone too. */
    unlink(path);
    sqlite3 *db = sql_open(path);
    sql_exec(db, "CREATE TABLE recipes (title TEXT); INSERT INTO recipes VALUES ('soup')");
    sqlite3_close(db);
    assert_int_equal(hn_results_open(path, &r, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "not an hnet results database"));
    db = sql_open(path);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM sqlite_master"), 1);
    assert_int_equal(SQL_INT(db, "PRAGMA user_version"), 0);
    sqlite3_close(db);
}

static void test_disk_full_keeps_db_consistent(void **state) {
    char path[512];
    hn_results *r = NULL;
    hn_error err = {{0}};
    open_ok(fresh_path(path, sizeof path), &r);
    int64_t id = begin_ok(r, "full", NULL);
    for (int i = 0; i < 10; i++) hn_results_log(r, id, i, i, "train", "bpb", 1.0);
    flush_ok(r);

    /* The file may not grow: the next big flush fails like a full disk would. */
    sqlite3_exec(hn_results_sqlite(r), "PRAGMA max_page_count = 1", NULL, NULL, NULL);
    for (int i = 10; i < 20010; i++) hn_results_log(r, id, i, i, "train", "bpb", 1.0);
    assert_int_equal(hn_results_flush(r, &err), HN_ERR);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "disk full"));
    sqlite3 *db = sql_open(path);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics"), 10); /* all or nothing */
    char buf[64];
    assert_string_equal(SQL_TXT(db, buf, "PRAGMA quick_check"), "ok");

    /* Space again: the kept buffer goes in on the next flush. */
    sqlite3_exec(hn_results_sqlite(r), "PRAGMA max_page_count = 1000000000", NULL, NULL, NULL);
    flush_ok(r);
    assert_int_equal(SQL_INT(db, "SELECT count(*) FROM metrics"), 20010);
    sqlite3_close(db);
    end_ok(r, id, "failed");
    hn_results_close(r);
}

static char *print_to_string(hn_results *r, int all) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    hn_error err = {{0}};
    if (hn_results_print_runs(r, out, all, &err) != HN_OK) fail_msg("print: %s", err.msg);
    fclose(out);
    return text;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_print_runs(void **state) {
    char path[512];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    char *text = print_to_string(r, 0);
    assert_non_null(strstr(text, "no runs"));
    free(text);

    int64_t id = begin_ok(r, "print-me", NULL);
    hn_results_log(r, id, 300, 2500000, "train", "bpb", 1.5);
    hn_results_log(r, id, 300, 2500000, "valid", "bpb", 1.2346);
    end_ok(r, id, "finished");
    int64_t failed = begin_ok(r, "no-eval", NULL);
    hn_results_end_run(r, failed, "failed", "loss became NaN", &(hn_error){{0}});

    text = print_to_string(r, 0);
    char *line = strstr(text, "print-me");
    assert_non_null(line);
    *strchr(line, '\n') = '\0';
    assert_non_null(strstr(line, "finished"));
    assert_non_null(strstr(line, "1.235"));  /* 3 decimals */
    assert_non_null(strstr(line, "1.23M"));  /* params 1234567 */
    assert_non_null(strstr(line, "2.50M"));  /* bytes seen */
    assert_non_null(strstr(line, " 300 "));  /* steps */
    assert_null(strstr(text, "1.2346"));
    assert_non_null(strstr(text, "valid_bpb"));
    free(text);

    /* 50 by default, newest last; --all shows every run. */
    for (int i = 0; i < 55; i++) end_ok(r, begin_ok(r, "filler", NULL), "finished");
    text = print_to_string(r, 0);
    assert_int_equal(count_lines(text), 1 + 50 + 1);
    assert_null(strstr(text, "print-me"));
    assert_non_null(strstr(text, "of 57 runs"));
    free(text);
    text = print_to_string(r, 1);
    assert_int_equal(count_lines(text), 1 + 57);
    assert_true(strstr(text, "print-me") < strstr(text, "no-eval"));
    free(text);
    hn_results_close(r);
}

static void test_cmd_show(void **state) {
    char path[512], arg[600];
    hn_results *r = NULL;
    open_ok(fresh_path(path, sizeof path), &r);
    end_ok(r, begin_ok(r, "cli-run", NULL), "finished");
    hn_results_close(r);

    char *ok[] = {"show", "--db", path, "--all"};
    assert_int_equal(hn_cmd_show(4, ok), 0);
    snprintf(arg, sizeof arg, "--db=%s", path);
    char *ok2[] = {"show", arg};
    assert_int_equal(hn_cmd_show(2, ok2), 0);
    char *help[] = {"show", "--help"};
    assert_int_equal(hn_cmd_show(2, help), 0);
    char *bad[] = {"show", "--frobnicate"};
    assert_int_equal(hn_cmd_show(2, bad), 2);
    char *missing_arg[] = {"show", "--db"};
    assert_int_equal(hn_cmd_show(2, missing_arg), 2);
    /* A missing database is an error, and show does not create one. */
    snprintf(arg, sizeof arg, "%s/nowhere/results.db", tmpdir);
    char *missing[] = {"show", "--db", arg};
    assert_int_equal(hn_cmd_show(3, missing), 1);
    assert_int_not_equal(access(arg, F_OK), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_created_and_versioned),
        cmocka_unit_test(test_schema_migrates_v2_to_v3),
        cmocka_unit_test(test_schema_migrates_v4_to_v5),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_killed_run_is_interrupted),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_disk_full_keeps_db_consistent),
        cmocka_unit_test(test_print_runs),
        cmocka_unit_test(test_cmd_show),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
