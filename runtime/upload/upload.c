#include "upload/upload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "results/store_internal.h"
#include "results/uploads.h"
#include "upload/http.h"

struct hn_uploader {
    const hn_sink_plugin *sink;
    void *self;
    hn_upload_options opt;
    hn_sink_env env;
};

/* ---- run facts ---- */

typedef struct run_row {
    char uid[24];
    char *name, *status, *started_at, *ended_at, *config_json, *config_hash, *git_commit,
        *host, *device;
    int64_t seed, n_params;
} run_row;

static char *dup_col(sqlite3_stmt *q, int col) {
    const unsigned char *t = sqlite3_column_text(q, col);
    return t ? strdup((const char *)t) : NULL;
}

static void run_row_free(run_row *w) {
    free(w->name), free(w->status), free(w->started_at), free(w->ended_at);
    free(w->config_json), free(w->config_hash), free(w->git_commit), free(w->host);
    free(w->device);
    memset(w, 0, sizeof *w);
}

static int read_run(hn_results *r, int64_t run_id, run_row *w, hn_error *err) {
    memset(w, 0, sizeof *w);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT name, status, started_at, ended_at, config_json,"
                                " config_hash, git_commit, host, device, seed, n_params"
                                " FROM runs WHERE id = ?",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "reading the run");
    sqlite3_bind_int64(q, 1, run_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        w->name = dup_col(q, 0), w->status = dup_col(q, 1), w->started_at = dup_col(q, 2);
        w->ended_at = dup_col(q, 3), w->config_json = dup_col(q, 4);
        w->config_hash = dup_col(q, 5), w->git_commit = dup_col(q, 6), w->host = dup_col(q, 7);
        w->device = dup_col(q, 8);
        w->seed = sqlite3_column_int64(q, 9), w->n_params = sqlite3_column_int64(q, 10);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE) return hn_fail(err, "%s: no run with id %lld", r->path, (long long)run_id);
    if (rc != SQLITE_ROW) return hn_results_sql_fail(r, err, rc, "reading the run");
    if (!w->name || !w->status || !w->started_at) {
        run_row_free(w);
        return hn_fail(err, "out of memory reading run %lld", (long long)run_id);
    }
    /* What a resume keeps (host and pid change when a run is resumed elsewhere). */
    char key[1024], hash[17];
    snprintf(key, sizeof key, "%lld|%s|%s|%s", (long long)run_id, w->started_at, w->name,
             w->config_hash ? w->config_hash : "");
    hn_results_config_hash(key, hash);
    snprintf(w->uid, sizeof w->uid, "hnet-%s", hash);
    return HN_OK;
}

int hn_upload_run_uid(hn_results *r, int64_t run_id, char out[24], hn_error *err) {
    run_row w;
    if (read_run(r, run_id, &w, err)) return HN_ERR;
    memcpy(out, w.uid, sizeof w.uid);
    run_row_free(&w);
    return HN_OK;
}

/* "2025-01-02T03:04:05.678Z" -> unix ms; 0 when absent or malformed. */
static int64_t iso_ms(const char *s) {
    struct tm tm = {0};
    int ms = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The resolved config as flat "a.b.0" -> text pairs (what dashboards call params). */
static void flatten(const cJSON *node, char *prefix, size_t len, size_t cap, cJSON *out) {
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        int i = 0;
        for (const cJSON *c = node->child; c; c = c->next, i++) {
            size_t n = cJSON_IsObject(node)
                           ? (size_t)snprintf(prefix + len, cap - len, "%s%s", len ? "." : "", c->string)
                           : (size_t)snprintf(prefix + len, cap - len, "%s%d", len ? "." : "", i);
            if (len + n < cap) flatten(c, prefix, len + n, cap, out);
            prefix[len] = 0;
        }
        return;
    }
    if (!len) return;
    if (cJSON_IsString(node)) {
        cJSON_AddStringToObject(out, prefix, node->valuestring);
    } else {
        char *text = cJSON_PrintUnformatted(node);
        if (text) cJSON_AddStringToObject(out, prefix, text);
        free(text);
    }
}

static void add_tag(cJSON *tags, const char *key, const char *value) {
    if (value) cJSON_AddStringToObject(tags, key, value);
}

/* ---- retries ---- */

typedef int (*op_fn)(hn_uploader *u, void *ctx, hn_error *err);

static void sleep_s(hn_uploader *u, double s) {
    /* in slices, so a shutting-down live upload stops waiting promptly */
    while (s > 0 && !(u->opt.abort && *u->opt.abort)) {
        if (u->opt.hurry && *u->opt.hurry && s > 0.5) s = 0.5; /* no long waits once hurried */
        double d = s < 0.05 ? s : 0.05;
        struct timespec ts = {0, (long)(d * 1e9)};
        nanosleep(&ts, NULL);
        s -= d;
    }
}

/* Runs op until it succeeds, fails permanently, or the retry budget is spent. The
 * number of failed tries is added to *attempts. */
static int with_retry(hn_uploader *u, const char *what, op_fn op, void *ctx,
                      hn_upload_result *res, int64_t *attempts, hn_error *err) {
    double wait = u->opt.backoff_s, waited = 0;
    for (int attempt = 1;; attempt++) {
        hn_error e = {{0}};
        hn_http_set_timeout_ms(u->opt.timeout_ms);
        int rc = op(u, ctx, &e);
        if (rc == HN_OK) return HN_OK;
        (*attempts)++;
        if (rc != HN_SINK_RETRY)
            return hn_fail(err, "%s %s: %s: %s", u->sink->name, u->opt.destination, what, e.msg);
        int aborted = u->opt.abort && *u->opt.abort;
        int max = u->opt.max_attempts;
        if (u->opt.hurry && *u->opt.hurry && max > 2) max = 2;
        if (attempt >= max || waited + wait > u->opt.max_wait_s || aborted)
            return hn_fail(err, "%s %s: %s: gave up after %d attempts (%.1f s of backoff): %s",
                           u->sink->name, u->opt.destination, what, attempt, waited, e.msg);
        if (u->opt.log)
            fprintf(u->opt.log, "hnet upload: %s %s: %s failed (attempt %d of %d), retrying in %.2f s: %s\n",
                    u->sink->name, u->opt.destination, what, attempt, u->opt.max_attempts, wait, e.msg);
        /* jitter of up to a quarter, so parallel uploaders spread out */
        double w = wait * (1.0 + 0.25 * (double)(rand() % 1000) / 1000.0);
        sleep_s(u, w);
        waited += w;
        wait *= 2;
        res->retries++;
    }
}

typedef struct begin_ctx {
    const hn_sink_run *run;
    hn_upload_state *st;
} begin_ctx;

static int op_begin(hn_uploader *u, void *p, hn_error *err) {
    begin_ctx *c = p;
    return u->sink->begin_run(u->self, c->run, c->st->remote_id, sizeof c->st->remote_id,
                              &c->st->offset, err);
}

typedef struct batch_ctx {
    const hn_sink_metric *m;
    int n;
    int64_t *offset;
} batch_ctx;

static int op_batch(hn_uploader *u, void *p, hn_error *err) {
    batch_ctx *c = p;
    return u->sink->log_batch(u->self, c->m, c->n, c->offset, err);
}

static int op_end(hn_uploader *u, void *p, hn_error *err) {
    begin_ctx *c = p;
    return u->sink->end_run(u->self, c->run, &c->st->offset, err);
}

/* ---- metrics ---- */

typedef struct batch {
    hn_sink_metric *m;
    char (*keys)[128];
    int64_t *rowids;
    int n, cap;
} batch;

/* The next points after last_row (steps below step_limit when >= 0), at most b->cap. */
static int read_batch(hn_results *r, int64_t run_id, int64_t last_row, int64_t step_limit,
                      int64_t ts, batch *b, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT rowid, step, bytes, split, name, value FROM metrics"
                                " WHERE run_id = ?1 AND rowid > ?2 AND (?3 < 0 OR step < ?3)"
                                " ORDER BY rowid LIMIT ?4",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "reading metrics to upload");
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int64(q, 2, last_row);
    sqlite3_bind_int64(q, 3, step_limit);
    sqlite3_bind_int(q, 4, b->cap);
    b->n = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int i = b->n++;
        b->rowids[i] = sqlite3_column_int64(q, 0);
        snprintf(b->keys[i], sizeof b->keys[i], "%s/%s", (const char *)sqlite3_column_text(q, 3),
                 (const char *)sqlite3_column_text(q, 4));
        b->m[i].key = b->keys[i];
        b->m[i].step = sqlite3_column_int64(q, 1);
        b->m[i].bytes = sqlite3_column_int64(q, 2);
        b->m[i].value = sqlite3_column_type(q, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 5);
        b->m[i].timestamp_ms = ts;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return hn_results_sql_fail(r, err, rc, "reading metrics to upload");
    /* A full batch ends at a step boundary, so a sink sees each step's points together
     * (W&B writes one history row per step); one step larger than a batch is split. */
    if (b->n == b->cap) {
        int k = b->n;
        while (k > 0 && b->m[k - 1].step == b->m[b->n - 1].step) k--;
        if (k > 0) b->n = k;
    }
    return HN_OK;
}

/* Points after last_row (with step below step_limit when >= 0). */
static int count_after(hn_results *r, int64_t run_id, int64_t last_row, int64_t step_limit,
                       int64_t *out, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT count(*) FROM metrics WHERE run_id = ?1 AND rowid > ?2"
                                " AND (?3 < 0 OR step < ?3)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int64(q, 2, last_row);
        sqlite3_bind_int64(q, 3, step_limit);
        if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            *out = sqlite3_column_int64(q, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "counting new points");
}

static int max_step(hn_results *r, int64_t run_id, int64_t *out, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT coalesce(max(step), -1) FROM metrics WHERE run_id = ?",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, run_id);
        if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            *out = sqlite3_column_int64(q, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_OK ? HN_OK : hn_results_sql_fail(r, err, rc, "reading the last step");
}

/* ---- the public part ---- */

static const char *default_getenv(const char *name) { return getenv(name); }

/* scheme://user:pass@host/... : credentials in a URL would land in results.db. */
static int has_userinfo(const char *url) {
    const char *p = strstr(url, "://");
    if (!p) return 0;
    p += 3;
    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    return at != NULL;
}

int hn_uploader_open(const hn_sink_plugin *sink, const hn_upload_options *opt,
                     hn_uploader **out, hn_error *err) {
    *out = NULL;
    if (!opt->destination || !*opt->destination)
        return hn_fail(err, "%s: no destination given", sink->name);
    if (has_userinfo(opt->destination))
        return hn_fail(err, "%s: the destination URL contains credentials (user:password@); "
                            "give them in the environment instead, so they never reach "
                            "results.db or logs", sink->name);
    hn_uploader *u = calloc(1, sizeof *u);
    if (!u) return hn_fail(err, "out of memory");
    u->sink = sink;
    u->opt = *opt;
    if (u->opt.max_attempts <= 0) u->opt.max_attempts = 6;
    if (u->opt.backoff_s <= 0) u->opt.backoff_s = 0.5;
    if (u->opt.max_wait_s <= 0) u->opt.max_wait_s = 60;
    if (!u->opt.getenv) u->opt.getenv = default_getenv;
    if (u->opt.timeout_ms <= 0) u->opt.timeout_ms = 30000;
    u->env.getenv = u->opt.getenv;
    u->env.http = hn_http_perform;
    u->env.free_response = hn_http_free_response;
    if (sink->create(opt->destination, opt->sink_options, &u->env, &u->self, err)) {
        free(u);
        return hn_fail_prefix(err, "%s", sink->name);
    }
    *out = u;
    return HN_OK;
}

void hn_uploader_close(hn_uploader *u) {
    if (!u) return;
    u->sink->destroy(u->self);
    free(u);
}

/* Records a failure without moving the cursor; the message is the upload's error. */
static int record_failure(hn_uploader *u, hn_results *r, int64_t run_id, hn_upload_state *st,
                          hn_error *err) {
    strcpy(st->status, "failed");
    hn_error e2 = {{0}};
    if (hn_uploads_put(r, run_id, u->sink->name, u->opt.destination, st, err->msg, &e2))
        hn_fail_prefix(err, "(not recorded in results.db: %s)", e2.msg);
    return HN_ERR;
}

int hn_uploader_run(hn_uploader *u, hn_results *r, int64_t run_id, hn_upload_result *res,
                    hn_error *err) {
    memset(res, 0, sizeof *res);
    run_row w;
    if (read_run(r, run_id, &w, err)) return HN_ERR;
    hn_upload_state st;
    int rc = HN_ERR;
    cJSON *cfg = NULL, *params = cJSON_CreateObject(), *tags = cJSON_CreateObject();
    batch b = {0};
    if (hn_uploads_get(r, run_id, u->sink->name, u->opt.destination, &st, err)) goto out;
    int running = !strcmp(w.status, "running");
    int64_t steps = -1;
    if (max_step(r, run_id, &steps, err)) goto out;
    if (st.exists && !strcmp(st.status, "done") && !running) {
        /* ended remotely: only new points (a resumed run) reopen it */
        int64_t newer = 0;
        if (count_after(r, run_id, st.last_row, -1, &newer, err)) goto out;
        if (newer == 0) {
            res->ended = 1;
            rc = HN_OK;
            goto out;
        }
    }

    if (running && st.exists && !strcmp(st.status, "partial")) {
        /* a live upload polling a running run: nothing to do until new steps complete */
        int64_t newer = 0;
        if (count_after(r, run_id, st.last_row, steps, &newer, err)) goto out;
        if (newer == 0) {
            rc = HN_OK;
            goto out;
        }
    }

    /* the run as the sink sees it */
    if (!params || !tags) {
        hn_fail(err, "out of memory");
        goto out;
    }
    if (w.config_json && (cfg = cJSON_Parse(w.config_json))) {
        char prefix[512] = {0};
        flatten(cfg, prefix, 0, sizeof prefix, params);
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)w.n_params);
    cJSON_AddStringToObject(params, "hnet.n_params", num);
    snprintf(num, sizeof num, "%lld", (long long)run_id);
    add_tag(tags, "hnet.run_uid", w.uid);
    add_tag(tags, "hnet.run_id", num);
    add_tag(tags, "hnet.config_hash", w.config_hash);
    add_tag(tags, "hnet.git_commit", w.git_commit);
    add_tag(tags, "hnet.host", w.host);
    add_tag(tags, "hnet.device", w.device);
    hn_sink_run run = {
        .uid = w.uid, .name = w.name, .local_id = run_id, .status = w.status,
        .start_ms = iso_ms(w.started_at), .end_ms = running ? 0 : iso_ms(w.ended_at),
        .config_json = w.config_json, .params = params, .tags = tags,
    };
    if (!running && run.end_ms == 0) run.end_ms = run.start_ms;

    begin_ctx bc = {&run, &st};
    if (with_retry(u, "starting the remote run", op_begin, &bc, res, &st.attempts, err)) {
        rc = record_failure(u, r, run_id, &st, err);
        goto out;
    }
    strcpy(st.status, "partial");
    if (hn_uploads_put(r, run_id, u->sink->name, u->opt.destination, &st, NULL, err)) goto out;

    b.cap = u->sink->max_batch;
    b.m = calloc((size_t)b.cap, sizeof *b.m);
    b.keys = calloc((size_t)b.cap, sizeof *b.keys);
    b.rowids = calloc((size_t)b.cap, sizeof *b.rowids);
    if (!b.m || !b.keys || !b.rowids) {
        hn_fail(err, "out of memory");
        goto out;
    }
    /* a running run: hold back its last step, whose points may still be coming */
    int64_t limit = running ? steps : -1;
    for (;;) {
        if (read_batch(r, run_id, st.last_row, limit, run.start_ms, &b, err)) goto out;
        if (b.n == 0) break;
        int64_t offset = st.offset;
        batch_ctx c = {b.m, b.n, &offset};
        if (with_retry(u, "sending metrics", op_batch, &c, res, &st.attempts, err)) {
            rc = record_failure(u, r, run_id, &st, err);
            goto out;
        }
        st.offset = offset;
        st.last_row = b.rowids[b.n - 1];
        st.n_points += b.n;
        st.attempts = 0;
        res->points += b.n;
        if (hn_uploads_put(r, run_id, u->sink->name, u->opt.destination, &st, NULL, err)) goto out;
        if (u->opt.abort && *u->opt.abort) break;
    }
    if (!running && !(u->opt.abort && *u->opt.abort)) {
        if (with_retry(u, "ending the remote run", op_end, &bc, res, &st.attempts, err)) {
            rc = record_failure(u, r, run_id, &st, err);
            goto out;
        }
        strcpy(st.status, "done");
        st.attempts = 0;
        if (hn_uploads_put(r, run_id, u->sink->name, u->opt.destination, &st, NULL, err)) goto out;
        res->ended = 1;
    }
    rc = HN_OK;
out:
    free(b.m), free(b.keys), free(b.rowids);
    cJSON_Delete(cfg);
    cJSON_Delete(params);
    cJSON_Delete(tags);
    run_row_free(&w);
    return rc;
}
