/* hnet show RUN: one run in detail — identity, status and its reason, corpus, the
 * resolved config, a summary of every curve, and its checkpoints. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/run_config.h"
#include "cli/run_ref.h"
#include "cli/show_run.h"
#include "train/checkpoint.h"

static const char *col(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "-";
}

static int print_header(sqlite3 *db, const hn_run_ref *ref, FILE *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.status, r.error, r.started_at, r.ended_at, f.duration_s, r.host, "
                           "r.pid, r.device, r.git_commit, r.seed, r.n_params, r.experiment_file, "
                           "r.overrides, r.uuid, r.config_hash, f.valid_bpb, f.steps, f.bytes_seen, r.world_size "
                           "FROM runs r JOIN latest_runs f ON f.id = r.id WHERE r.id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return HN_ERR;
    sqlite3_bind_int64(st, 1, ref->id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return HN_ERR;
    }
    char corpus[160];
    hn_config_corpus(ref->config, corpus, sizeof corpus);
    fprintf(out, "run %lld: %s\n", (long long)ref->id, ref->name);
    fprintf(out, "  status      %s%s%s\n", col(st, 0), sqlite3_column_type(st, 1) == SQLITE_NULL ? "" : ": ",
            sqlite3_column_type(st, 1) == SQLITE_NULL ? "" : col(st, 1));
    fprintf(out, "  corpus      %s\n", corpus);
    fprintf(out, "  file        %s\n", col(st, 11));
    fprintf(out, "  overrides   %s\n", sqlite3_column_type(st, 12) == SQLITE_NULL ? "none (the config its file declares)" : col(st, 12));
    fprintf(out, "  seed        %s    params %s\n", col(st, 9), col(st, 10));
    fprintf(out, "  progress    step %s, %s bytes seen, final valid BPB %s\n", col(st, 16), col(st, 17),
            sqlite3_column_type(st, 15) == SQLITE_NULL ? "-" : col(st, 15));
    fprintf(out, "  started     %s    ended %s    (%.0f s)\n", col(st, 2), col(st, 3), sqlite3_column_double(st, 4));
    fprintf(out, "  where       host %s, pid %s, device %s, git %s\n", col(st, 5), col(st, 6), col(st, 7), col(st, 8));
    if (sqlite3_column_int(st, 18) > 1) /* host and pid are rank 0's */
        fprintf(out, "  processes   %d (data parallel; host and pid of rank 0)\n", sqlite3_column_int(st, 18));
    fprintf(out, "  identity    uuid %s, config hash %s\n", col(st, 13), col(st, 14));
    sqlite3_finalize(st);
    return HN_OK;
}

static int print_curves(sqlite3 *db, int64_t id, FILE *out) {
    sqlite3_stmt *st;
    /* per metric: points, the step range, first / last / min / max value */
    if (sqlite3_prepare_v2(db,
                           "SELECT split, name, count(*), min(step), max(step), "
                           "(SELECT value FROM metrics b WHERE b.run_id = a.run_id AND b.split = a.split "
                           "  AND b.name = a.name ORDER BY step LIMIT 1), "
                           "(SELECT value FROM metrics b WHERE b.run_id = a.run_id AND b.split = a.split "
                           "  AND b.name = a.name ORDER BY step DESC LIMIT 1), min(value), max(value) "
                           "FROM metrics a WHERE run_id = ?1 GROUP BY split, name ORDER BY split DESC, name",
                           -1, &st, NULL) != SQLITE_OK)
        return HN_ERR;
    sqlite3_bind_int64(st, 1, id);
    fprintf(out, "\ncurves (%s, split/name: points, steps, first -> last, min..max):\n", "metrics");
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char metric[160];
        snprintf(metric, sizeof metric, "%s/%s", col(st, 0), col(st, 1));
        fprintf(out, "  %-36s %5d  %6lld..%-6lld  %10.4g -> %-10.4g  %.4g..%.4g\n", metric,
                sqlite3_column_int(st, 2), (long long)sqlite3_column_int64(st, 3),
                (long long)sqlite3_column_int64(st, 4), sqlite3_column_double(st, 5),
                sqlite3_column_double(st, 6), sqlite3_column_double(st, 7), sqlite3_column_double(st, 8));
        n++;
    }
    if (n == 0) fprintf(out, "  (none logged)\n");
    return sqlite3_finalize(st) == SQLITE_OK ? HN_OK : HN_ERR;
}

static void print_checkpoints(const hn_run_ref *ref, FILE *out) {
    if (!ref->checkpoint_dir[0]) {
        fprintf(out, "\ncheckpoints: none (its config has no checkpoint = { every = N })\n");
        return;
    }
    long steps[64];
    int n = hn_checkpoint_list(ref->checkpoint_dir, steps, 64);
    fprintf(out, "\ncheckpoints in %s:%s\n", ref->checkpoint_dir, n > 0 ? "" : " none there");
    for (int i = 0; i < n; i++) {
        char f[1200];
        hn_checkpoint_file(f, sizeof f, ref->checkpoint_dir, steps[i]);
        fprintf(out, "  step %-8ld %s\n", steps[i], f);
    }
}

int hn_show_run(const char *db_path, const char *ref_text, int with_config, FILE *out, hn_error *err) {
    hn_run_ref ref;
    if (hn_run_ref_resolve(db_path, ref_text, &ref, err)) return HN_ERR;
    sqlite3 *db = NULL;
    int rc = HN_OK;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        print_header(db, &ref, out) || print_curves(db, ref.id, out))
        rc = hn_fail(err, "%s: reading run %lld: %s", db_path, (long long)ref.id, db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    if (rc == HN_OK) {
        print_checkpoints(&ref, out);
        if (with_config) {
            char *text = cJSON_Print(ref.config);
            fprintf(out, "\nconfig:\n%s\n", text ? text : "?");
            free(text);
        }
    }
    hn_run_ref_free(&ref);
    return rc;
}
