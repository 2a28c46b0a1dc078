/* The schema of results.db and its migrations. Version N is in PRAGMA user_version and
 * mirrored in meta('schema_version'); results/README.md documents every column. A
 * schema change appends a migration here (never edits an old one) and bumps
 * HN_RESULTS_SCHEMA_VERSION. */
#include <stdio.h>
#include <string.h>

#include "results/store_internal.h"

/* migrations[v] takes a version-v database to version v+1. */
static const char *const migrations[HN_RESULTS_SCHEMA_VERSION] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "  id              INTEGER PRIMARY KEY,\n"
    "  name            TEXT NOT NULL,\n"
    "  experiment_file TEXT,\n"
    "  experiment_text TEXT,\n"
    "  config_json     TEXT,\n"
    "  config_hash     TEXT,\n"
    "  seed            INTEGER,\n"
    "  n_params        INTEGER,\n"
    "  git_commit      TEXT,\n"
    "  host            TEXT,\n"
    "  pid             INTEGER,\n"
    "  device          TEXT,\n"
    "  started_at      TEXT NOT NULL,\n"
    "  ended_at        TEXT,\n"
    "  heartbeat_at    TEXT,\n"
    "  status          TEXT NOT NULL DEFAULT 'running'\n"
    "                  CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),\n"
    "  error           TEXT\n"
    ");\n"
    "CREATE INDEX runs_by_config_hash ON runs (config_hash);\n"
    "CREATE TABLE metrics (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "  step   INTEGER NOT NULL,\n"
    "  bytes  INTEGER,\n"
    "  split  TEXT NOT NULL,\n"
    "  name   TEXT NOT NULL,\n"
    "  value  REAL\n"
    ");\n"
    "CREATE INDEX metrics_by_run_name ON metrics (run_id, name, split, step);\n"
    "CREATE INDEX metrics_by_run_step ON metrics (run_id, step);\n"
    /* Correlated subqueries, each answered from an index, so the view costs a few
     * lookups per run however long the curves are. */
    "CREATE VIEW final_bpb AS\n"
    "SELECT x.run_id, x.name, x.status, x.params, x.steps,\n"
    "  (SELECT max(m.bytes) FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.step = x.steps) AS bytes_seen,\n"
    "  (SELECT m.value FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.name = 'bpb' AND m.split = 'valid'\n"
    "    ORDER BY m.step DESC LIMIT 1) AS valid_bpb,\n"
    "  (SELECT max(m.step) FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.name = 'bpb' AND m.split = 'valid') AS valid_step\n"
    "FROM (SELECT r.id AS run_id, r.name AS name, r.status AS status, r.n_params AS params,\n"
    "        (SELECT max(m.step) FROM metrics m WHERE m.run_id = r.id) AS steps\n"
    "      FROM runs r) x;\n"
    "CREATE VIEW curves AS\n"
    "SELECT m.run_id, r.name AS run_name, m.split, m.name, m.step, m.bytes, m.value\n"
    "FROM metrics m JOIN runs r ON r.id = m.run_id\n"
    "ORDER BY m.run_id, m.split, m.name, m.step;\n"
    "CREATE VIEW latest_runs AS\n"
    "SELECT r.id, r.name, r.status, f.params, f.steps, f.bytes_seen, f.valid_bpb,\n"
    "  r.started_at, r.ended_at,\n"
    "  round((julianday(coalesce(r.ended_at, r.heartbeat_at, r.started_at))\n"
    "         - julianday(r.started_at)) * 86400.0, 3) AS duration_s,\n"
    "  r.config_hash, r.seed, r.git_commit, r.host, r.pid, r.device, r.error\n"
    "FROM runs r JOIN final_bpb f ON f.run_id = r.id\n"
    "ORDER BY r.id DESC;\n",
    /* 1 -> 2: dashboard uploads (hnet upload): one row per run, sink and destination,
     * holding the cursor that makes uploads idempotent and resumable and the last
     * failure. Never holds credentials. */
    "CREATE TABLE uploads (\n"
    "  run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "  sink        TEXT NOT NULL,\n"
    "  destination TEXT NOT NULL,\n"
    "  remote_id   TEXT,\n"
    "  last_row    INTEGER NOT NULL DEFAULT 0,\n"
    "  n_points    INTEGER NOT NULL DEFAULT 0,\n"
    "  sink_offset INTEGER NOT NULL DEFAULT 0,\n"
    "  status      TEXT NOT NULL DEFAULT 'pending'\n"
    "              CHECK (status IN ('pending', 'partial', 'done', 'failed')),\n"
    "  error       TEXT,\n"
    "  attempts    INTEGER NOT NULL DEFAULT 0,\n"
    "  updated_at  TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, sink, destination)\n"
    ");\n",
    /* 2 -> 3: run identity. uuid names a run across databases (checkpoints carry it, so
     * a resume proves which run it continues); overrides holds the command-line
     * overrides of its config (NULL: the config its file declares), and the views show
     * it. current_runs picks, per name, the run that counts (HN_RUN_PREFERENCE). */
    "ALTER TABLE runs ADD COLUMN uuid TEXT;\n"
    "ALTER TABLE runs ADD COLUMN overrides TEXT;\n"
    "UPDATE runs SET uuid = lower(hex(randomblob(16))),\n"
    "  overrides = json_extract(config_json, '$.overrides');\n"
    "CREATE UNIQUE INDEX runs_by_uuid ON runs (uuid);\n"
    "CREATE INDEX runs_by_name ON runs (name);\n"
    "DROP VIEW IF EXISTS latest_runs;\n"
    "DROP VIEW IF EXISTS final_bpb;\n"
    "CREATE VIEW final_bpb AS\n"
    "SELECT x.run_id, x.name, x.status, x.params, x.steps,\n"
    "  (SELECT max(m.bytes) FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.step = x.steps) AS bytes_seen,\n"
    "  (SELECT m.value FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.name = 'bpb' AND m.split = 'valid'\n"
    "    ORDER BY m.step DESC LIMIT 1) AS valid_bpb,\n"
    "  (SELECT max(m.step) FROM metrics m\n"
    "    WHERE m.run_id = x.run_id AND m.name = 'bpb' AND m.split = 'valid') AS valid_step,\n"
    "  x.overrides\n"
    "FROM (SELECT r.id AS run_id, r.name AS name, r.status AS status, r.n_params AS params,\n"
    "        (SELECT max(m.step) FROM metrics m WHERE m.run_id = r.id) AS steps,\n"
    "        r.overrides AS overrides\n"
    "      FROM runs r) x;\n"
    "CREATE VIEW latest_runs AS\n"
    "SELECT r.id, r.name, r.status, f.params, f.steps, f.bytes_seen, f.valid_bpb,\n"
    "  r.started_at, r.ended_at,\n"
    "  round((julianday(coalesce(r.ended_at, r.heartbeat_at, r.started_at))\n"
    "         - julianday(r.started_at)) * 86400.0, 3) AS duration_s,\n"
    "  r.config_hash, r.seed, r.git_commit, r.host, r.pid, r.device, r.error,\n"
    "  r.uuid, r.overrides\n"
    "FROM runs r JOIN final_bpb f ON f.run_id = r.id\n"
    "ORDER BY r.id DESC;\n"
    "CREATE VIEW current_runs AS\n"
    "SELECT l.* FROM latest_runs l\n"
    "WHERE l.id = (SELECT b.id FROM runs b WHERE b.name = l.name\n"
    "              ORDER BY " HN_RUN_PREFERENCE("b") " LIMIT 1);\n",
    /* 3 -> 4: evaluations by hnet eval (BPB over a corpus split, zero-shot tasks): one
     * row per metric, joined to the run whose checkpoint was evaluated. */
    "CREATE TABLE evaluations (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  run_id     INTEGER REFERENCES runs (id) ON DELETE SET NULL,\n"
    "  run_uuid   TEXT,\n"
    "  checkpoint TEXT NOT NULL,\n"
    "  step       INTEGER,\n"
    "  task       TEXT NOT NULL,\n"
    "  data       TEXT NOT NULL,\n"
    "  metric     TEXT NOT NULL,\n"
    "  value      REAL,\n"
    "  bytes      INTEGER,\n"
    "  created_at TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX evaluations_by_run ON evaluations (run_id);\n"
    "CREATE VIEW evaluation_results AS\n"
    "SELECT e.id, e.run_id, r.name AS run_name, e.checkpoint, e.step, e.task, e.data,\n"
    "       e.metric, e.value, e.bytes, e.created_at\n"
    "FROM evaluations e LEFT JOIN runs r ON r.id = e.run_id;\n",
    /* 4 -> 5: data-parallel runs (mpirun -np N hnet run): how many processes trained the
     * run; host and pid are rank 0's, the one that writes. */
    "ALTER TABLE runs ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1;\n",
};

/* The schema version and the number of schema objects, read in one statement so both
 * come from one snapshot (another process may be creating the schema meanwhile). */
static int read_version(hn_results *r, long long *version, long long *objects, hn_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT (SELECT user_version FROM pragma_user_version),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        *objects = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "reading the schema version");
}

static int refuse_newer(hn_results *r, long long version, hn_error *err) {
    return hn_fail(err,
                   "%s: results database has schema version %lld, newer than version %d that "
                   "this build of hnet knows; use a newer hnet (the file was not modified)",
                   r->path, version, HN_RESULTS_SCHEMA_VERSION);
}

/* Reads the version and refuses, before anything is written, a newer schema or
 * someone else's database (version 0 with tables of its own). */
static int inspect(hn_results *r, long long *v, hn_error *err) {
    long long objects = 0;
    if (read_version(r, v, &objects, err)) return HN_ERR;
    if (*v > HN_RESULTS_SCHEMA_VERSION) return refuse_newer(r, *v, err);
    if (*v == 0 && objects > 0)
        return hn_fail(err,
                       "%s: an SQLite database, but not an hnet results database (it has "
                       "%lld schema objects and no hnet schema version); refusing to modify it",
                       r->path, objects);
    return HN_OK;
}

int hn_results_check_version(hn_results *r, int writable, hn_error *err) {
    long long v;
    if (inspect(r, &v, err)) return HN_ERR;
    if (!writable && v < HN_RESULTS_SCHEMA_VERSION)
        return hn_fail(err,
                       "%s: read-only database with schema version %lld; this hnet needs "
                       "version %d and cannot migrate a read-only file",
                       r->path, v, HN_RESULTS_SCHEMA_VERSION);
    return HN_OK;
}

int hn_results_migrate(hn_results *r, hn_error *err) {
    long long v;
    if (inspect(r, &v, err)) return HN_ERR;
    if (v == HN_RESULTS_SCHEMA_VERSION) return HN_OK;
    for (; v < HN_RESULTS_SCHEMA_VERSION; v++) {
        char doing[64];
        snprintf(doing, sizeof doing, "migrating the schema from version %lld", v);
        if (hn_results_exec(r, migrations[v], doing, err)) return HN_ERR;
    }
    char sql[256], now[32];
    hn_results_now(now);
    snprintf(sql, sizeof sql,
             "PRAGMA user_version = %d;"
             "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '%d');"
             "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', '%s');",
             HN_RESULTS_SCHEMA_VERSION, HN_RESULTS_SCHEMA_VERSION, now);
    return hn_results_exec(r, sql, "recording the schema version", err);
}
