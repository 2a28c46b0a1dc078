/* The suite runner: decide what is left to run from results.db, then run it in this
 * process (jobs = 1) or in forked processes, each opening results.db itself. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "results/location.h"
#include "results/store.h"
#include "suite/suite.h"
#include "train/trainer.h"

static const char *str_at(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

const char *hn_suite_db_path(const cJSON *config, const char *override) {
    if (override) return override;
    static _Thread_local char buf[4096];
    const char *db = str_at(config, "log", "db");
    hn_error err;
    if (hn_results_config_path(config, db, buf, sizeof buf, &err) != HN_OK)
        return db ? db : "results/results.db"; /* unresolvable: as written, from the cwd */
    return buf;
}

void hn_suite_config_hash(const cJSON *config, char out[17]) {
    char *text = cJSON_PrintUnformatted(config); /* exactly what the trainer stores */
    hn_results_config_hash(text ? text : "", out);
    free(text);
}

int hn_suite_find_run(const char *db, const char *hash, int64_t *id, char status[16],
                      hn_error *err) {
    *id = 0;
    status[0] = 0;
    if (access(db, F_OK) != 0) return HN_OK; /* no database yet: nothing ran */
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        hn_fail(err, "%s: cannot open results database: %s", db, h ? sqlite3_errmsg(h) : "?");
        sqlite3_close(h);
        return HN_ERR;
    }
    sqlite3_busy_timeout(h, 10000);
    sqlite3_stmt *st;
    /* a file without the runs table (new, or created by a bare `sqlite3 FILE`): no runs */
    int rc = sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
                                -1, &st, NULL);
    int has_runs = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && !has_runs) {
        sqlite3_close(h);
        return HN_OK;
    }
    rc = sqlite3_prepare_v2(h,
                                "SELECT id, status, host, pid FROM runs WHERE config_hash = ?1 "
                                "ORDER BY status = 'finished' DESC, id DESC LIMIT 1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        hn_fail(err, "%s: %s", db, sqlite3_errmsg(h));
        sqlite3_close(h);
        return HN_ERR;
    }
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(status, 16, "%s", (const char *)sqlite3_column_text(st, 1));
        if (!strcmp(status, "running")) {
            /* another hnet process (of this host, or of another that cannot be checked)
             * is training it right now, unless its process is gone */
            char host[256] = "";
            if (gethostname(host, sizeof host - 1) != 0) strcpy(host, "unknown");
            int gone = hn_run_process_gone((const char *)sqlite3_column_text(st, 2), host,
                                           sqlite3_column_int64(st, 3));
            snprintf(status, 16, "%s", gone ? "interrupted" : "active");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return HN_OK;
}

static int count_gpus(void) {
    int n = 0;
    DIR *d = opendir("/dev");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "nvidia", 6) && e->d_name[6] >= '0' && e->d_name[6] <= '9' &&
            strspn(e->d_name + 6, "0123456789") == strlen(e->d_name + 6))
            n++;
    closedir(d);
    return n;
}

static void train_options(hn_train_options *t, const hn_suite_options *opt,
                          const hn_suite_entry *e) {
    memset(t, 0, sizeof *t);
    /* the trainer claims the config in the database itself (atomically): it skips a config
     * finished or being trained meanwhile by another process, and continues an
     * interrupted one from its checkpoint */
    t->claim = 1;
    t->force = opt->force;
    t->db_path = opt->db_path;
    t->experiment_file = opt->experiment_file;
    t->experiment_text = opt->experiment_text;
    t->git_commit = opt->git_commit;
    t->quiet = opt->quiet;
    t->stop = opt->stop;
}

static void report_end(FILE *log, int k, int total, const hn_suite_entry *e, double bpb) {
    int ok = !strcmp(e->status, "finished");
    fprintf(log, "[%d/%d] %s: %s", k, total, e->name,
            ok ? "finished" : !strcmp(e->status, "failed") ? "FAILED" : e->status);
    if (e->run_id) fprintf(log, " (run %lld)", (long long)e->run_id);
    if (ok && bpb > 0) fprintf(log, ", valid BPB %.4f", bpb);
    fputc('\n', log);
    if (!ok && e->error[0]) fprintf(log, "        %s\n", e->error);
    fflush(log);
}

/* The status and run id of an entry after its process ended, from the database. */
static void settle_from_db(hn_suite_entry *e, int exit_status) {
    hn_error err;
    int64_t id;
    char status[16];
    if (hn_suite_find_run(e->db, e->hash, &id, status, &err) == HN_OK && id > 0) {
        e->run_id = id;
        snprintf(e->status, sizeof e->status, "%s", !strcmp(status, "active") ? "running" : status);
        if (exit_status == 75) {
            snprintf(e->error, sizeof e->error, "run %lld is being trained by another hnet process",
                     (long long)id);
            return;
        }
    } else {
        snprintf(e->status, sizeof e->status, "failed");
    }
    if (exit_status != 0 && !strcmp(e->status, "finished")) /* an older finished run (--force) */
        snprintf(e->status, sizeof e->status, exit_status == 130 ? "interrupted" : "failed");
    if (exit_status != 0 && !e->error[0])
        snprintf(e->error, sizeof e->error, "%s", exit_status == 130 ? "stopped by a signal"
                                                  : "see the message above");
}

/* A config another process finished or is training since the plan was made. */
static void note_skipped(hn_suite_entry *e, const hn_train_result *res) {
    if (!strcmp(res->status, "finished")) {
        e->skipped = 1;
        snprintf(e->error, sizeof e->error, "finished meanwhile by another hnet process");
    } else {
        snprintf(e->error, sizeof e->error, "run %lld is being trained by another hnet process (%.200s)",
                 (long long)res->run_id, res->owner);
    }
}

static int run_in_process(const cJSON *cfg, const hn_registry *reg, const hn_suite_options *opt,
                          hn_suite_entry *e, int k, int total, FILE *log) {
    hn_train_options t;
    train_options(&t, opt, e);
    hn_train_result res;
    hn_error err = {{0}};
    if (e->resume) fprintf(log, "[%d/%d] %s: resuming (interrupted before)\n", k, total, e->name);
    else fprintf(log, "[%d/%d] %s: training\n", k, total, e->name);
    fflush(log);
    int rc = hn_train(cfg, reg, &t, &res, &err);
    e->run_id = res.run_id;
    snprintf(e->status, sizeof e->status, "%s", rc ? "failed" : res.status);
    if (rc) snprintf(e->error, sizeof e->error, "%.250s", err.msg);
    else if (res.skipped) note_skipped(e, &res);
    report_end(log, k, total, e, rc ? 0 : res.final_valid_bpb);
    return rc;
}

static pid_t fork_run(const cJSON *cfg, const hn_registry *reg, const hn_suite_options *opt,
                      const hn_suite_entry *e, int slot, int gpus) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    const char *backend = str_at(cfg, "backend", NULL);
    if (backend && !strcmp(backend, "cuda") && gpus > 0) {
        char dev[16];
        snprintf(dev, sizeof dev, "%d", slot % gpus);
        setenv("CUDA_VISIBLE_DEVICES", dev, 1);
    }
    hn_train_options t;
    train_options(&t, opt, e);
    t.quiet = 1;
    hn_train_result res;
    hn_error err = {{0}};
    int rc = hn_train(cfg, reg, &t, &res, &err);
    if (rc) fprintf(stderr, "hnet suite: %s: %s\n", e->name, err.msg);
    fflush(NULL);
    /* 75: skipped, another live process is training it (settle_from_db reads which) */
    _exit(rc ? 1 : res.skipped && strcmp(res.status, "finished") ? 75
          : !strcmp(res.status, "interrupted") ? 130 : 0);
}

/* One line of a forked run's live state, from what it has flushed to results.db. */
static void live_line(FILE *log, const hn_suite_entry *e, const cJSON *cfg) {
    int64_t id = 0;
    char status[16];
    hn_error err;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "train"), "steps");
    long total = cJSON_IsNumber(steps) ? (long)steps->valuedouble : 0;
    if (hn_suite_find_run(e->db, e->hash, &id, status, &err) || id <= 0 || access(e->db, F_OK)) {
        fprintf(log, "  %-28s starting\n", e->name);
        return;
    }
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long step = 0;
    double train = NAN, valid = NAN;
    if (sqlite3_open_v2(e->db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT (SELECT max(step) FROM metrics WHERE run_id = ?1), "
                              "(SELECT value FROM metrics WHERE run_id = ?1 AND split = 'train' AND name = 'bpb' "
                              " ORDER BY step DESC LIMIT 1), "
                              "(SELECT value FROM metrics WHERE run_id = ?1 AND split = 'valid' AND name = 'bpb' "
                              " ORDER BY step DESC LIMIT 1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 2000);
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            step = (long)sqlite3_column_int64(st, 0);
            if (sqlite3_column_type(st, 1) != SQLITE_NULL) train = sqlite3_column_double(st, 1);
            if (sqlite3_column_type(st, 2) != SQLITE_NULL) valid = sqlite3_column_double(st, 2);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    fprintf(log, "  %-28s run %lld  step %ld/%ld", e->name, (long long)id, step, total);
    if (!isnan(train)) fprintf(log, "  train %.3f", train);
    if (!isnan(valid)) fprintf(log, "  valid %.3f", valid);
    fputc('\n', log);
}

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_forked(const cJSON *runs, const int *todo, int n_todo, const hn_registry *reg,
                       const hn_suite_options *opt, hn_suite_entry *entries, FILE *log) {
    int jobs = opt->jobs, gpus = opt->gpus > 0 ? opt->gpus : count_gpus();
    pid_t *pid = calloc((size_t)jobs, sizeof *pid);
    int *which = calloc((size_t)jobs, sizeof *which);
    int next = 0, running = 0, ended = 0, forwarded = 0;
    double every = opt->status_every > 0 ? opt->status_every : 10, last_status = mono_now();
    while (next < n_todo || running > 0) {
        for (int s = 0; s < jobs && next < n_todo && !(opt->stop && *opt->stop); s++) {
            if (pid[s]) continue;
            int i = todo[next++];
            hn_suite_entry *e = &entries[i];
            pid[s] = fork_run(cJSON_GetArrayItem(runs, i), reg, opt, e, s, gpus);
            if (pid[s] < 0) {
                pid[s] = 0;
                snprintf(e->status, sizeof e->status, "failed");
                snprintf(e->error, sizeof e->error, "fork: %s", strerror(errno));
                report_end(log, ++ended, n_todo, e, 0);
                continue;
            }
            which[s] = i;
            running++;
            fprintf(log, "[started] %s (process %d%s)\n", e->name, (int)pid[s],
                    e->resume ? ", resuming" : "");
            fflush(log);
        }
        if (opt->stop && *opt->stop) next = n_todo; /* start nothing more */
        if (running == 0) break;
        int st;
        pid_t done = waitpid(-1, &st, WNOHANG);
        if (done == 0) { /* all still running: the live state now and then, else a short nap */
            if (mono_now() - last_status >= every) {
                fprintf(log, "[running] %d of %d runs:\n", running, n_todo - ended);
                for (int s = 0; s < jobs; s++)
                    if (pid[s]) live_line(log, &entries[which[s]], cJSON_GetArrayItem(runs, which[s]));
                fflush(log);
                last_status = mono_now();
            }
            struct timespec nap = {0, 50 * 1000 * 1000};
            nanosleep(&nap, NULL); /* a signal ends it early: the stop is handled below */
            if (opt->stop && *opt->stop && !forwarded) {
                for (int s = 0; s < jobs; s++)
                    if (pid[s]) kill(pid[s], SIGTERM);
                forwarded = 1;
            }
            continue;
        }
        if (done < 0) {
            if (errno == EINTR && opt->stop && *opt->stop && !forwarded) {
                /* ask the running trainers to stop and record themselves as interrupted */
                for (int s = 0; s < jobs; s++)
                    if (pid[s]) kill(pid[s], SIGTERM);
                forwarded = 1;
            }
            if (errno == ECHILD) break;
            continue;
        }
        for (int s = 0; s < jobs; s++)
            if (pid[s] == done) {
                hn_suite_entry *e = &entries[which[s]];
                int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                if (WIFSIGNALED(st))
                    snprintf(e->error, sizeof e->error, "process killed by signal %d", WTERMSIG(st));
                settle_from_db(e, code);
                report_end(log, ++ended, n_todo, e, 0);
                pid[s] = 0;
                running--;
            }
    }
    free(pid);
    free(which);
}

int hn_suite_plan(const cJSON *runs, const hn_suite_options *opt, hn_suite_entry *entries,
                  int *todo, int *n_todo, hn_error *err) {
    FILE *log = opt->log ? opt->log : stderr;
    int n = cJSON_GetArraySize(runs);
    *n_todo = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *cfg = cJSON_GetArrayItem(runs, i);
        hn_suite_entry *e = &entries[i];
        memset(e, 0, sizeof *e);
        const char *name = str_at(cfg, "name", NULL);
        snprintf(e->name, sizeof e->name, "%s", name ? name : "?");
        snprintf(e->db, sizeof e->db, "%s", hn_suite_db_path(cfg, opt->db_path));
        hn_suite_config_hash(cfg, e->hash);
        snprintf(e->status, sizeof e->status, "not run");
        int64_t id;
        char status[16];
        if (hn_suite_find_run(e->db, e->hash, &id, status, err)) return HN_ERR;
        if (id > 0 && !strcmp(status, "finished") && !opt->force) {
            e->run_id = id;
            e->skipped = 1;
            snprintf(e->status, sizeof e->status, "finished");
            continue;
        }
        if (id > 0 && !strcmp(status, "active")) { /* never train one config twice at once */
            e->run_id = id;
            snprintf(e->status, sizeof e->status, "running");
            snprintf(e->error, sizeof e->error, "run %lld is being trained by another hnet process",
                     (long long)id);
            fprintf(log, "skipping %s: %s\n", e->name, e->error);
            continue;
        }
        /* an interrupted run continues (same run id) from its newest checkpoint; a failed
         * one starts again */
        e->resume = id > 0 && !strcmp(status, "interrupted");
        todo[(*n_todo)++] = i;
    }
    return HN_OK;
}

int hn_suite_run(const cJSON *runs, const hn_registry *reg, const hn_suite_options *opt,
                 hn_suite_entry *entries, hn_error *err) {
    FILE *log = opt->log ? opt->log : stderr;
    int n = cJSON_GetArraySize(runs), n_todo = 0;
    int *todo = calloc((size_t)(n ? n : 1), sizeof *todo);
    if (!todo) return hn_fail(err, "out of memory");
    if (hn_suite_plan(runs, opt, entries, todo, &n_todo, err)) {
        free(todo);
        return HN_ERR;
    }
    int jobs = opt->jobs > 1 ? opt->jobs : 1;
    if (jobs > n_todo) jobs = n_todo > 0 ? n_todo : 1;
    fprintf(log, "suite: %d runs, %d already finished, %d to run", n, n - n_todo, n_todo);
    if (n_todo > 1 && jobs > 1) fprintf(log, ", %d at once", jobs);
    fputc('\n', log);
    fflush(log);
    if (jobs == 1) {
        for (int k = 0; k < n_todo; k++) {
            if (opt->stop && *opt->stop) break;
            run_in_process(cJSON_GetArrayItem(runs, todo[k]), reg, opt, &entries[todo[k]], k + 1,
                           n_todo, log);
        }
    } else {
        hn_suite_options o = *opt;
        o.jobs = jobs;
        run_forked(runs, todo, n_todo, reg, &o, entries, log);
    }
    free(todo);
    int failed = 0, unfinished = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(entries[i].status, "failed")) failed++;
        else if (strcmp(entries[i].status, "finished")) unfinished++;
    }
    if (failed || unfinished)
        return hn_fail(err, "%d of %d runs failed, %d not finished%s", failed, n, unfinished,
                       unfinished ? " (the same command again finishes them)" : "");
    return HN_OK;
}
