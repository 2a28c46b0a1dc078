#include "upload/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "results/store_internal.h"

#define MAX_RUNS 64

struct hn_live_upload {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, done;
    volatile int abort, hurry;
    double interval_s;
    hn_results *db;
    hn_uploader *up;
    int64_t runs[MAX_RUNS]; /* this process's runs not yet uploaded to the end */
    int n_runs;
    int64_t max_seen; /* newest run id seen: a newer one of ours is new even if ended */
    int last_rc;
    hn_error last_err;
};

/* Adds this process's runs to the list: the running ones (a resumed run counts too)
 * and the ones begun since the last look (a short run may have ended meanwhile). */
static void find_runs(hn_live_upload *lu) {
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(hn_results_sqlite(lu->db),
                           "SELECT id FROM runs WHERE (status = 'running' OR id > ?)"
                           " AND pid = ? AND host = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(q, 1, lu->max_seen);
    sqlite3_bind_int64(q, 2, (int64_t)getpid());
    sqlite3_bind_text(q, 3, lu->db->host, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        if (id > lu->max_seen) lu->max_seen = id;
        int known = 0;
        for (int i = 0; i < lu->n_runs; i++) known |= lu->runs[i] == id;
        if (!known && lu->n_runs < MAX_RUNS) lu->runs[lu->n_runs++] = id;
    }
    sqlite3_finalize(q);
}

static void pass(hn_live_upload *lu) {
    find_runs(lu);
    lu->last_rc = HN_OK;
    for (int i = 0; i < lu->n_runs; i++) {
        hn_upload_result res;
        hn_error e = {{0}};
        if (hn_uploader_run(lu->up, lu->db, lu->runs[i], &res, &e)) {
            lu->last_rc = HN_ERR;
            lu->last_err = e;
            continue;
        }
        if (res.ended) { /* uploaded to the end: drop it from the list */
            lu->runs[i--] = lu->runs[--lu->n_runs];
        }
    }
}

static void *thread_main(void *arg) {
    hn_live_upload *lu = arg;
    pthread_mutex_lock(&lu->mu);
    while (!lu->stop) {
        pthread_mutex_unlock(&lu->mu);
        pass(lu);
        pthread_mutex_lock(&lu->mu);
        if (lu->stop) break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = (double)until.tv_sec + until.tv_nsec * 1e-9 + lu->interval_s;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
        while (!lu->stop && pthread_cond_timedwait(&lu->cv, &lu->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&lu->mu);
    pass(lu); /* the last one: the run has ended by now */
    pthread_mutex_lock(&lu->mu);
    lu->done = 1;
    pthread_cond_broadcast(&lu->cv);
    pthread_mutex_unlock(&lu->mu);
    return NULL;
}

int hn_live_upload_start(const char *db_path, const hn_sink_plugin *sink,
                         const hn_upload_options *opt, double interval_s,
                         hn_live_upload **out, hn_error *err) {
    *out = NULL;
    hn_live_upload *lu = calloc(1, sizeof *lu);
    if (!lu) return hn_fail(err, "out of memory");
    lu->interval_s = interval_s > 0 ? interval_s : 5.0;
    hn_upload_options o = *opt;
    o.abort = &lu->abort;
    o.hurry = &lu->hurry;
    if (hn_results_open(db_path, &lu->db, err) || hn_uploader_open(sink, &o, &lu->up, err)) {
        hn_results_close(lu->db);
        free(lu);
        return HN_ERR;
    }
    /* runs that exist already are not ours to discover, unless running */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(hn_results_sqlite(lu->db), "SELECT coalesce(max(id), 0) FROM runs", -1,
                           &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        lu->max_seen = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    pthread_mutex_init(&lu->mu, NULL);
    pthread_cond_init(&lu->cv, NULL);
    if (pthread_create(&lu->thread, NULL, thread_main, lu) != 0) {
        hn_uploader_close(lu->up);
        hn_results_close(lu->db);
        free(lu);
        return hn_fail(err, "cannot start the live upload thread");
    }
    *out = lu;
    return HN_OK;
}

int hn_live_upload_stop(hn_live_upload *lu, double grace_s, hn_error *err) {
    if (!lu) return HN_OK;
    lu->hurry = 1; /* training is over: retry briefly, then leave it to `hnet upload` */
    pthread_mutex_lock(&lu->mu);
    lu->stop = 1;
    pthread_cond_broadcast(&lu->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double t = (double)until.tv_sec + until.tv_nsec * 1e-9 + (grace_s > 0 ? grace_s : 0);
    until.tv_sec = (time_t)t;
    until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
    while (!lu->done && pthread_cond_timedwait(&lu->cv, &lu->mu, &until) != ETIMEDOUT) {
    }
    int finished = lu->done;
    pthread_mutex_unlock(&lu->mu);
    if (!finished) lu->abort = 1; /* stop retrying; the rest stays for `hnet upload` */
    pthread_join(lu->thread, NULL);
    int rc = lu->last_rc;
    if (rc) *err = lu->last_err;
    else if (!finished || lu->n_runs > 0)
        rc = hn_fail(err, "live upload did not finish within %.0f s; run `hnet upload` to send "
                          "the rest", grace_s);
    hn_uploader_close(lu->up);
    hn_results_close(lu->db);
    pthread_cond_destroy(&lu->cv);
    pthread_mutex_destroy(&lu->mu);
    free(lu);
    return rc;
}
