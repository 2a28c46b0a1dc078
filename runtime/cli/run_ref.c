/* Resolving a run given by id or name, and its checkpoint folder. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/run_ref.h"
#include "cli/util.h"
#include "identity/resume_check.h"
#include "results/store.h"
#include "train/checkpoint.h"

int hn_run_ref_is_path(const char *arg) {
    struct stat st;
    return stat(arg, &st) == 0;
}

int hn_run_ref_resolve(const char *db_path, const char *ref, hn_run_ref *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (access(db_path, F_OK) != 0)
        return hn_fail(err, "no results database at %s (runs create it; --db picks another)", db_path);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        hn_fail(err, "%s: cannot open results database: %s", db_path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return HN_ERR;
    }
    sqlite3_busy_timeout(db, 10000);
    long id = 0;
    int by_id = hn_parse_long(ref, &id) == 0 && id > 0;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        by_id ? "SELECT id, name, config_hash, config_json, overrides FROM runs WHERE id = ?1"
              : "SELECT id, name, config_hash, config_json, overrides FROM runs a WHERE name = ?1 "
                "ORDER BY " HN_RUN_PREFERENCE("a") " LIMIT 1",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        hn_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return HN_ERR;
    }
    if (by_id) sqlite3_bind_int64(st, 1, id);
    else sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return hn_fail(err, "%s: no run %s '%s' (hnet show lists the runs)", db_path,
                       by_id ? "with id" : "named", ref);
    }
    out->id = sqlite3_column_int64(st, 0);
    snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(st, 1));
    const unsigned char *h = sqlite3_column_text(st, 2);
    snprintf(out->config_hash, sizeof out->config_hash, "%s", h ? (const char *)h : "");
    const unsigned char *cj = sqlite3_column_text(st, 3);
    out->config = cj ? cJSON_Parse((const char *)cj) : NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!out->config) return hn_fail(err, "%s: run %lld has no readable config", db_path, (long long)out->id);
    hn_ckpt_settings ck;
    hn_checkpoint_settings(out->config, out->name, &ck);
    hn_identity_checkpoint_dir(&ck, out->config, out->config_hash);
    if (ck.every > 0) snprintf(out->checkpoint_dir, sizeof out->checkpoint_dir, "%s", ck.run_dir);
    return HN_OK;
}

void hn_run_ref_free(hn_run_ref *r) {
    cJSON_Delete(r->config);
    r->config = NULL;
}

int hn_run_ref_checkpoint(const char *arg, const char *db_path, char *out, size_t size, hn_error *err) {
    if (hn_run_ref_is_path(arg)) {
        snprintf(out, size, "%s", arg);
        return HN_OK;
    }
    if (strchr(arg, '/') || strstr(arg, ".safetensors"))
        return hn_fail(err, "%s: no such checkpoint file or folder", arg);
    hn_run_ref ref;
    if (hn_run_ref_resolve(db_path, arg, &ref, err))
        return hn_fail_prefix(err, "'%s' is neither a checkpoint nor a run", arg);
    int rc = HN_OK;
    if (!ref.checkpoint_dir[0])
        rc = hn_fail(err, "run %lld (%s) writes no checkpoints (its config has no checkpoint = { every = N })",
                     (long long)ref.id, ref.name);
    else if (!hn_run_ref_is_path(ref.checkpoint_dir))
        rc = hn_fail(err, "run %lld (%s): its checkpoint folder %s does not exist (run from the folder it "
                          "was trained in, or give the folder)", (long long)ref.id, ref.name, ref.checkpoint_dir);
    else
        snprintf(out, size, "%s", ref.checkpoint_dir);
    hn_run_ref_free(&ref);
    return rc;
}
