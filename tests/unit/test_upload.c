/* Dashboard uploads (runtime/upload, plugins/{mlflow,wandb,tensorboard}) against a fake
 * MLflow / W&B server (tests/upload/fake_dashboard.py) started here on 127.0.0.1. The
 * server checks every request against the documented API and records violations; it
 * injects HTTP 500s (before and after doing the work), answers later than the client's
 * timeout, and drops connections; a port with nothing listening gives refused
 * connections. Checked: nothing lost, nothing duplicated, idempotent re-upload, resume
 * after a failure, failures recorded and shown, credentials never written, live upload
 * never holding the training thread, TensorBoard files read back with CRCs checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/rng.h"
#include "plugin/registry.h"
#include "results/store_internal.h"
#include "results/uploads.h"
#include "upload/http.h"
#include "upload/live.h"
#include "upload/upload.h"
#include "support/fixtures.h"

#define TOKEN "tok-SECRET-mlflow-4711"
#define WKEY "wk-SECRET-wandb-0815"

static char exe_dir[PATH_MAX];
static hn_registry reg;
/* servers and folders of the current test, cleaned up by its teardown even when an
 * assertion ended it early */
static pid_t live_servers[4];
static char live_dirs[4][PATH_MAX];

/* ---- the fake server ---- */

typedef struct server {
    pid_t pid;
    int port;
    char url[64];
} server;

static void server_start(server *sv, int port) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char script[PATH_MAX + 64], portstr[16];
    snprintf(script, sizeof script, "%s/../../tests/upload/fake_dashboard.py", exe_dir);
    snprintf(portstr, sizeof portstr, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        setenv("FAKE_MLFLOW_TOKEN", TOKEN, 1);
        setenv("FAKE_WANDB_KEY", WKEY, 1);
        execlp("python3", "python3", script, portstr, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    for (int i = 0; i < 4; i++)
        if (!live_servers[i]) {
            live_servers[i] = pid;
            break;
        }
    char line[64] = {0};
    size_t n = 0;
    struct pollfd p = {fds[0], POLLIN, 0};
    while (n < sizeof line - 1 && !strchr(line, '\n') && poll(&p, 1, 10000) == 1) {
        ssize_t r = read(fds[0], line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fds[0]);
    sv->pid = pid;
    if (sscanf(line, "PORT %d", &sv->port) != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the fake server did not start (is python3 installed?): '%s'", line);
    }
    snprintf(sv->url, sizeof sv->url, "http://127.0.0.1:%d", sv->port);
}

static void server_stop(server *sv) {
    if (sv->pid <= 0) return;
    for (int i = 0; i < 4; i++)
        if (live_servers[i] == sv->pid) live_servers[i] = 0;
    kill(sv->pid, SIGTERM);
    for (int i = 0; i < 100; i++) { /* bounded: 2 s, then SIGKILL */
        if (waitpid(sv->pid, NULL, WNOHANG) == sv->pid) {
            sv->pid = 0;
            return;
        }
        usleep(20000);
    }
    kill(sv->pid, SIGKILL);
    waitpid(sv->pid, NULL, 0);
    sv->pid = 0;
}

static cJSON *server_call(server *sv, const char *path, const char *body) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", sv->url, path);
    const char *h[] = {"Content-Type: application/json"};
    hn_http_request req = {body ? "POST" : "GET", url, h, 1, body, body ? strlen(body) : 0, NULL, NULL};
    hn_http_response resp;
    hn_error err;
    hn_http_set_timeout_ms(5000);
    assert_int_equal(hn_http_perform(&req, &resp, &err), HN_OK);
    assert_int_equal(resp.status, 200);
    cJSON *j = cJSON_Parse(resp.body);
    hn_http_free_response(&resp);
    assert_non_null(j);
    return j;
}

static void inject(server *sv, const char *path, const char *mode, int count, int after, double delay) {
    char body[256];
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"mode\":\"%s\",\"count\":%d,\"after\":%d,\"delay\":%g}",
             path, mode, count, after, delay);
    cJSON_Delete(server_call(sv, "/_control/fail", body));
}

static cJSON *server_state(server *sv) {
    cJSON *s = server_call(sv, "/_state", NULL);
    cJSON *v = cJSON_GetObjectItem(s, "violations");
    if (cJSON_GetArraySize(v) > 0) {
        char *t = cJSON_Print(v);
        fprintf(stderr, "API violations: %s\n", t);
        free(t);
    }
    assert_int_equal(cJSON_GetArraySize(v), 0);
    return s;
}

static int requests(const cJSON *st, const char *key) {
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "requests"), key);
    return n ? n->valueint : 0;
}

/* ---- a results.db with runs ---- */

typedef struct fixture {
    char dir[PATH_MAX], db[PATH_MAX + 32];
    hn_results *r;
} fixture;

static const char *const KEYS[] = {"bpb", "loss", "lr"};

static void fixture_open(fixture *f) {
    snprintf(f->dir, sizeof f->dir, "/tmp/hnet-upload-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int i = 0; i < 4; i++)
        if (!live_dirs[i][0]) {
            snprintf(live_dirs[i], sizeof live_dirs[i], "%s", f->dir);
            break;
        }
    snprintf(f->db, sizeof f->db, "%s/results.db", f->dir);
    hn_error err;
    assert_int_equal(hn_results_open(f->db, &f->r, &err), HN_OK);
}

static void fixture_close(fixture *f) {
    hn_results_close(f->r);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* A config with more than 100 leaves (several param requests) and one long value. */
static char *big_config(void) {
    char *s = malloc(64 * 1024);
    size_t n = (size_t)sprintf(s, "{\"name\":\"t\",\"model\":{\"d\":[512,768],\"widths\":[");
    for (int i = 0; i < 150; i++) n += (size_t)sprintf(s + n, "%s%d", i ? "," : "", i * 7);
    n += (size_t)sprintf(s + n, "]},\"notes\":\"");
    for (int i = 0; i < 700; i++) s[n++] = 'a' + i % 26;
    sprintf(s + n, "\",\"train\":{\"lr\":0.000625,\"steps\":%d}}", 1);
    return s;
}

/* Logs steps [from, to) of three metrics plus a valid point every 100 steps; step 7 of
 * "loss" is NaN (stored as NULL). Returns the number of points. */
static int log_steps(fixture *f, int64_t run, int from, int to, hn_rng *rng) {
    int n = 0;
    for (int s = from; s < to; s++) {
        for (int k = 0; k < 3; k++) {
            double v = (s == 7 && k == 1) ? NAN : 1.0 + hn_rng_uniform(rng);
            hn_results_log(f->r, run, s, (int64_t)s * 4096, "train", KEYS[k], v);
            n++;
        }
        if (s % 100 == 0) {
            hn_results_log(f->r, run, s, (int64_t)s * 4096, "valid", "bpb", 2.0 - s * 1e-3);
            n++;
        }
    }
    hn_error err;
    assert_int_equal(hn_results_flush(f->r, &err), HN_OK);
    return n;
}

static int64_t make_run(fixture *f, const char *name, int steps, int *points, int end) {
    char *cfg = big_config();
    hn_run_info info = {.name = name, .config_json = cfg, .seed = 1, .n_params = 12345,
                        .git_commit = "abc123", .device = "cpu"};
    int64_t id;
    hn_error err;
    assert_int_equal(hn_results_begin_run(f->r, &info, &id, &err), HN_OK);
    free(cfg);
    hn_rng rng;
    hn_rng_seed(&rng, 42 + (uint64_t)id);
    *points = log_steps(f, id, 0, steps, &rng);
    if (end) assert_int_equal(hn_results_end_run(f->r, id, "finished", NULL, &err), HN_OK);
    return id;
}

static const char *test_getenv(const char *name) {
    if (!strcmp(name, "MLFLOW_TRACKING_TOKEN")) return TOKEN;
    if (!strcmp(name, "WANDB_API_KEY")) return WKEY;
    return NULL;
}

static hn_upload_options fast_opts(const char *dest) {
    hn_upload_options o = {0};
    o.destination = dest;
    o.max_attempts = 6;
    o.backoff_s = 0.01;
    o.max_wait_s = 5;
    o.timeout_ms = 400;
    o.getenv = test_getenv;
    return o;
}

static int upload(const char *sink, hn_results *r, const hn_upload_options *o, int64_t run,
                  hn_upload_result *res, hn_error *err) {
    const hn_sink_plugin *p = hn_registry_find_sink(&reg, sink);
    assert_non_null(p);
    hn_uploader *u = NULL;
    if (hn_uploader_open(p, o, &u, err)) return HN_ERR;
    int rc = hn_uploader_run(u, r, run, res, err);
    hn_uploader_close(u);
    if (rc) fprintf(stderr, "(upload to %s failed, as it may be meant to: %s)\n", sink, err->msg);
    return rc;
}

static const cJSON *only_mlflow_run(const cJSON *st) {
    const cJSON *runs = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "mlflow"), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    return runs->child;
}

/* Every local point is on the server exactly once (one value per key and step). */
static void check_mlflow_points(const cJSON *run, int expected) {
    const cJSON *m = cJSON_GetObjectItem(run, "metrics");
    assert_int_equal(cJSON_GetArraySize(m), expected);
    int n = cJSON_GetArraySize(m);
    char (*seen)[96] = calloc((size_t)n, sizeof *seen);
    int i = 0;
    for (const cJSON *p = m->child; p; p = p->next, i++)
        snprintf(seen[i], sizeof seen[i], "%s@%d", cJSON_GetObjectItem(p, "key")->valuestring,
                 cJSON_GetObjectItem(p, "step")->valueint);
    qsort(seen, (size_t)n, sizeof *seen, (int (*)(const void *, const void *))strcmp);
    for (i = 1; i < n; i++) assert_string_not_equal(seen[i - 1], seen[i]);
    free(seen);
}

/* ---- tests ---- */

static void test_crc32c_vectors(void **state) {
    /* RFC 3720 B.4 and the usual check value */
    assert_int_equal(hn_crc32c(0, "123456789", 9), 0xE3069283u);
    unsigned char z[32] = {0}, ff[32];
    memset(ff, 0xff, sizeof ff);
    assert_int_equal(hn_crc32c(0, z, 32), 0x8A9136AAu);
    assert_int_equal(hn_crc32c(0, ff, 32), 0x62A8AB43u);
    unsigned char inc[32];
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    assert_int_equal(hn_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(hn_crc32c(hn_crc32c(0, inc, 10), inc + 10, 22), 0x46DD794Eu); /* continues */
    assert_int_not_equal(hn_crc32c(0, "123456780", 9), 0xE3069283u);
    assert_int_equal(hn_crc32c_mask(0), 0xa282ead8u);
}

static void test_registry_checks_sink_abi(void **state) {
    static hn_sink_plugin bad = {.abi_version = 99, .name = "bogus", .version = "1", .max_batch = 1};
    hn_registry r2;
    hn_registry_init(&r2);
    hn_error err;
    assert_int_equal(hn_registry_add_sink(&r2, &bad, "bogus.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "sink ABI version 99"));
    bad.abi_version = HN_SINK_ABI_VERSION;
    assert_int_equal(hn_registry_add_sink(&r2, &bad, "bogus.so", &err), HN_ERR);
    assert_non_null(strstr(err.msg, "create"));
    hn_registry_close(&r2);
    for (const char *const *n = (const char *const[]){"mlflow", "wandb", "tensorboard", NULL}; *n; n++)
        assert_non_null(hn_registry_find_sink(&reg, *n));
}

static void test_schema_migrates_v1_to_v2(void **state) {
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "old", 5, &pts, 1);
    hn_results_close(f.r);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, HN_TEST_UNDO_V3 "DROP TABLE uploads; PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    hn_error err;
    if (hn_results_open(f.db, &f.r, &err)) fail_msg("%s", err.msg);
    hn_upload_state st;
    assert_int_equal(hn_uploads_get(f.r, id, "x", "y", &st, &err), HN_OK);
    assert_int_equal(st.exists, 0);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(hn_results_sqlite(f.r), "SELECT count(*) FROM metrics", -1, &q, NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), pts);
    sqlite3_finalize(q);
    fixture_close(&f);
}

static void test_mlflow_batches_and_idempotent(void **state) {
    server sv;
    server_start(&sv, 0);
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "big run", 700, &pts, 1); /* 2107 points: 3 requests */
    hn_upload_options o = fast_opts(sv.url);
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts);
    assert_true(res.ended);
    cJSON *st = server_state(&sv);
    const cJSON *run = only_mlflow_run(st);
    check_mlflow_points(run, pts);
    assert_string_equal(cJSON_GetObjectItem(run, "status")->valuestring, "FINISHED");
    assert_string_equal(cJSON_GetObjectItem(run, "name")->valuestring, "big run");
    char uid[24];
    assert_int_equal(hn_upload_run_uid(f.r, id, uid, &err), HN_OK);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "tags"), "hnet.run_uid")->valuestring, uid);
    const cJSON *params = cJSON_GetObjectItem(run, "params");
    assert_true(cJSON_GetArraySize(params) > 150);
    assert_string_equal(cJSON_GetObjectItem(params, "model.widths.3")->valuestring, "21");
    assert_int_equal(strlen(cJSON_GetObjectItem(params, "notes")->valuestring), 500); /* cut */
    int batches = requests(st, "POST /api/2.0/mlflow/runs/log-batch");
    assert_int_equal(batches, 2 + 3); /* 152 params in 2 requests, 2107 points in 3 */
    cJSON_Delete(st);

    /* again: nothing is sent, nothing created */
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, 0);
    st = server_state(&sv);
    assert_int_equal(requests(st, "POST /api/2.0/mlflow/runs/log-batch"), batches);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "mlflow"), "runs_created")->valueint, 1);
    cJSON_Delete(st);

    /* the local record lost: the remote run is found by its uid tag, points not doubled */
    assert_int_equal(hn_results_exec(f.r, "DELETE FROM uploads", "test", &err), HN_OK);
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts);
    st = server_state(&sv);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "mlflow"), "runs_created")->valueint, 1);
    check_mlflow_points(only_mlflow_run(st), pts);
    cJSON_Delete(st);
    fixture_close(&f);
    server_stop(&sv);
}

static void test_mlflow_failures_retried_without_duplicates(void **state) {
    server sv;
    server_start(&sv, 0);
    inject(&sv, "get-by-name", "500", 1, 0, 0);
    inject(&sv, "runs/create", "delay", 1, 0, 1.5); /* created, but the answer comes too late */
    /* past the 2 params requests: the 1st metrics batch is stored while the client is
     * told 500, the 2nd is stored and its answer comes too late, the 3rd's connection
     * is closed unanswered. A plain re-send of the first two would store them twice
     * (the fake keeps duplicates, as MLflow's file store does). */
    inject(&sv, "log-batch", "500_after", 1, 2, 0);
    inject(&sv, "log-batch", "delay", 1, 3, 1.5);
    inject(&sv, "log-batch", "close", 1, 4, 0);
    inject(&sv, "runs/update", "delay", 1, 0, 1.5);
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "flaky", 700, &pts, 1);
    hn_upload_options o = fast_opts(sv.url);
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_true(res.retries >= 6);
    cJSON *st = server_state(&sv);
    assert_int_equal(cJSON_GetObjectItem(st, "failures_injected")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "mlflow"), "runs_created")->valueint, 1);
    const cJSON *run = only_mlflow_run(st);
    check_mlflow_points(run, pts);
    assert_string_equal(cJSON_GetObjectItem(run, "status")->valuestring, "FINISHED");
    cJSON_Delete(st);
    fixture_close(&f);
    server_stop(&sv);
}

/* An uploader killed after the server stored a batch but before results.db recorded
 * it: the next upload reads back what the server has and sends only the rest (the fake
 * keeps duplicates, as MLflow's file store does; get-history pages of 300 points). */
static void test_mlflow_killed_upload_exactly_once(void **state) {
    setenv("FAKE_MLFLOW_HISTORY_PAGE", "300", 1);
    server sv;
    server_start(&sv, 0);
    unsetenv("FAKE_MLFLOW_HISTORY_PAGE");
    /* 2 params requests, 1 metrics batch, then the 2nd batch: stored, its answer held */
    inject(&sv, "log-batch", "delay", 1, 3, 20);
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "killed", 700, &pts, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hn_results *r = NULL;
        hn_error e;
        if (hn_results_open(f.db, &r, &e)) _exit(2);
        hn_upload_options o = fast_opts(sv.url);
        o.timeout_ms = 60000;
        hn_upload_result res;
        upload("mlflow", r, &o, id, &res, &e);
        _exit(0);
    }
    int held = 0;
    for (int i = 0; i < 400 && !held; i++) {
        cJSON *st = server_state(&sv);
        held = cJSON_GetObjectItem(st, "failures_injected")->valueint >= 1;
        cJSON_Delete(st);
        if (!held) usleep(25000);
    }
    assert_true(held);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cJSON *st = server_state(&sv);
    const cJSON *run = only_mlflow_run(st);
    int stored = cJSON_GetArraySize(cJSON_GetObjectItem(run, "metrics")); /* 2 batches */
    assert_true(stored > 1500 && stored < pts);
    cJSON_Delete(st);

    hn_upload_options o = fast_opts(sv.url);
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    st = server_state(&sv);
    run = only_mlflow_run(st);
    check_mlflow_points(run, pts);
    assert_string_equal(cJSON_GetObjectItem(run, "status")->valuestring, "FINISHED");
    cJSON_Delete(st);
    fixture_close(&f);
    server_stop(&sv);
}

static void test_refused_then_resumed_and_shown(void **state) {
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "offline", 700, &pts, 1);
    int port = free_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    hn_upload_options o = fast_opts(url);
    o.max_attempts = 3;
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "gave up after 3 attempts"));
    hn_upload_state us;
    assert_int_equal(hn_uploads_get(f.r, id, "mlflow", url, &us, &err), HN_OK);
    assert_string_equal(us.status, "failed");
    assert_int_equal(us.attempts, 3);
    /* hnet show lists it */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(hn_results_print_runs(f.r, out, 1, &err), HN_OK);
    fclose(out);
    assert_non_null(strstr(text, "failed uploads"));
    assert_non_null(strstr(text, url));
    free(text);

    /* the server comes up on that port, fails part-way (after the first point batch) */
    server sv;
    server_start(&sv, port);
    inject(&sv, "log-batch", "500", 3, 3, 0); /* 2 param + 1 point batch pass, then 3 x 500 */
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_ERR);
    assert_int_equal(hn_uploads_get(f.r, id, "mlflow", url, &us, &err), HN_OK);
    assert_string_equal(us.status, "failed");
    assert_true(us.n_points > 0 && us.n_points < pts);
    int64_t first = us.n_points;
    /* resumed: only the rest is sent */
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts - first);
    assert_int_equal(hn_uploads_get(f.r, id, "mlflow", url, &us, &err), HN_OK);
    assert_string_equal(us.status, "done");
    cJSON *st = server_state(&sv);
    check_mlflow_points(only_mlflow_run(st), pts);
    cJSON_Delete(st);
    /* no longer shown as failed */
    out = open_memstream(&text, &len);
    assert_int_equal(hn_results_print_runs(f.r, out, 1, &err), HN_OK);
    fclose(out);
    assert_null(strstr(text, "failed uploads"));
    free(text);
    fixture_close(&f);
    server_stop(&sv);
}

static void test_wandb_history_once_per_step(void **state) {
    server sv;
    server_start(&sv, 0);
    inject(&sv, "file_stream", "500_after", 2, 1, 0);
    inject(&sv, "file_stream", "delay", 1, 0, 1.5);
    inject(&sv, "graphql", "close", 1, 0, 0);
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "wb", 700, &pts, 1);
    hn_upload_options o = fast_opts(sv.url);
    cJSON *opts = cJSON_Parse("{\"project\":\"proj\",\"entity\":\"team\"}");
    o.sink_options = opts;
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("wandb", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts);
    assert_int_equal(upload("wandb", f.r, &o, id, &res, &err), HN_OK); /* again: nothing */
    assert_int_equal(res.points, 0);
    cJSON *st = server_state(&sv);
    const cJSON *runs = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "wandb"), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    char uid[24], key[128];
    assert_int_equal(hn_upload_run_uid(f.r, id, uid, &err), HN_OK);
    snprintf(key, sizeof key, "team/proj/%s", uid);
    const cJSON *run = cJSON_GetObjectItem(runs, key);
    assert_non_null(run);
    const cJSON *hist = cJSON_GetObjectItem(run, "history");
    assert_int_equal(cJSON_GetArraySize(hist), 700); /* one row per step, none twice */
    int step = 0, values = 0;
    for (const cJSON *row = hist->child; row; row = row->next, step++) {
        assert_int_equal(cJSON_GetObjectItem(row, "_step")->valueint, step);
        for (const cJSON *c = row->child; c; c = c->next) values += strchr(c->string, '/') != NULL;
    }
    assert_int_equal(values, pts);
    assert_int_equal(cJSON_GetObjectItem(run, "complete")->valueint, 0);
    assert_string_equal(cJSON_GetObjectItem(run, "displayName")->valuestring, "wb");
    cJSON_Delete(st);
    cJSON_Delete(opts);

    /* no key in the environment: a clear error, nothing sent */
    hn_upload_options o2 = o;
    o2.getenv = NULL;
    unsetenv("WANDB_API_KEY");
    assert_int_equal(upload("wandb", f.r, &o2, id, &res, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "WANDB_API_KEY"));
    fixture_close(&f);
    server_stop(&sv);
}

/* ---- TensorBoard: our own reader, CRC-checked ---- */

typedef struct tb_point {
    char tag[64];
    int64_t step;
    float value;
} tb_point;

static uint64_t rd_varint(const unsigned char **p, const unsigned char *end) {
    uint64_t v = 0;
    for (int s = 0; *p < end; s += 7) {
        unsigned char c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) break;
    }
    return v;
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Parses one serialized Event: appends its scalars; counts file_version records. */
static void parse_event(const unsigned char *p, const unsigned char *end, tb_point *out, int *n,
                        int *versions) {
    int64_t step = 0;
    const unsigned char *sum = NULL, *sum_end = NULL;
    while (p < end) {
        uint64_t key = rd_varint(&p, end);
        int field = (int)(key >> 3), wt = (int)(key & 7);
        if (wt == 1) p += 8;
        else if (wt == 5) p += 4;
        else if (wt == 0) {
            uint64_t v = rd_varint(&p, end);
            if (field == 2) step = (int64_t)v;
        } else if (wt == 2) {
            uint64_t len = rd_varint(&p, end);
            if (field == 3) {
                assert_memory_equal(p, "brain.Event:2", 13);
                (*versions)++;
            }
            if (field == 5) sum = p, sum_end = p + len;
            p += len;
        } else fail_msg("bad wire type %d", wt);
    }
    while (sum && sum < sum_end) { /* Summary.value */
        uint64_t key = rd_varint(&sum, sum_end);
        assert_int_equal(key, (1 << 3) | 2);
        uint64_t len = rd_varint(&sum, sum_end);
        const unsigned char *v = sum, *v_end = sum + len;
        tb_point *pt = &out[(*n)++];
        memset(pt, 0, sizeof *pt);
        pt->step = step;
        while (v < v_end) {
            uint64_t k = rd_varint(&v, v_end);
            if (k == ((1 << 3) | 2)) {
                uint64_t tl = rd_varint(&v, v_end);
                snprintf(pt->tag, sizeof pt->tag, "%.*s", (int)tl, (const char *)v);
                v += tl;
            } else if (k == ((2 << 3) | 5)) {
                uint32_t u = (uint32_t)rd_le(v, 4);
                memcpy(&pt->value, &u, 4);
                v += 4;
            } else fail_msg("unexpected Value field %llu", (unsigned long long)k);
        }
        sum = v_end;
    }
}

/* Reads every record of an event file, checking both CRCs of each. */
static int read_events(const char *path, tb_point *out, int cap, int *versions) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    int n = 0;
    *versions = 0;
    unsigned char head[12];
    while (fread(head, 1, 12, fp) == 12) {
        uint64_t len = rd_le(head, 8);
        assert_int_equal(rd_le(head + 8, 4), hn_crc32c_mask(hn_crc32c(0, head, 8)));
        unsigned char *data = malloc(len + 4);
        assert_int_equal(fread(data, 1, len + 4, fp), len + 4);
        assert_int_equal(rd_le(data + len, 4), hn_crc32c_mask(hn_crc32c(0, data, len)));
        assert_true(n + 1 < cap);
        parse_event(data, data + len, out, &n, versions);
        free(data);
    }
    assert_true(feof(fp));
    fclose(fp);
    return n;
}

static void event_file(const char *dir, const char *folder, char *out, size_t size) {
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "ls %s/%s/events.out.tfevents.* 2>/dev/null", dir, folder);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(out, (int)size, p));
    pclose(p);
    out[strcspn(out, "\n")] = 0;
}

static void check_tb_points(const char *path, fixture *f, int64_t run, int expected) {
    tb_point *pts = calloc(8192, sizeof *pts);
    int versions;
    int n = read_events(path, pts, 8192, &versions);
    assert_int_equal(versions, 1);
    assert_int_equal(n, expected);
    /* each point equals the database's, and none is there twice */
    sqlite3_stmt *q;
    sqlite3_prepare_v2(hn_results_sqlite(f->r),
                       "SELECT split || '/' || name, step, value FROM metrics WHERE run_id = ?"
                       " ORDER BY rowid LIMIT ?",
                       -1, &q, NULL);
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_int(q, 2, expected);
    int i = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        assert_true(i < n);
        assert_string_equal(pts[i].tag, (const char *)sqlite3_column_text(q, 0));
        assert_int_equal(pts[i].step, sqlite3_column_int64(q, 1));
        if (sqlite3_column_type(q, 2) == SQLITE_NULL) assert_true(isnan(pts[i].value));
        else assert_float_equal(pts[i].value, (float)sqlite3_column_double(q, 2), 0);
        i++;
    }
    sqlite3_finalize(q);
    assert_int_equal(i, n);
    free(pts);
}

static void test_tensorboard_events_read_back(void **state) {
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "tb/run", 300, &pts, 0); /* still running */
    char dir[PATH_MAX + 8], path[PATH_MAX * 2], folder[64];
    snprintf(dir, sizeof dir, "%s/tb", f.dir);
    snprintf(folder, sizeof folder, "tb_run-%lld", (long long)id);
    hn_upload_options o = fast_opts(dir);
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("tensorboard", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts - 3); /* the last step is held back while running */
    assert_false(res.ended);
    event_file(dir, folder, path, sizeof path);
    check_tb_points(path, &f, id, pts - 3);

    /* a crash after writing, before recording: garbage past the recorded end */
    FILE *fp = fopen(path, "ab");
    fputs("half a record", fp);
    fclose(fp);
    hn_rng rng;
    hn_rng_seed(&rng, 7);
    pts += log_steps(&f, id, 300, 400, &rng);
    assert_int_equal(hn_results_end_run(f.r, id, "finished", NULL, &err), HN_OK);
    assert_int_equal(upload("tensorboard", f.r, &o, id, &res, &err), HN_OK);
    assert_true(res.ended);
    check_tb_points(path, &f, id, pts);
    struct stat s1, s2;
    stat(path, &s1);
    assert_int_equal(upload("tensorboard", f.r, &o, id, &res, &err), HN_OK); /* idempotent */
    assert_int_equal(res.points, 0);
    stat(path, &s2);
    assert_int_equal(s1.st_size, s2.st_size);
    fixture_close(&f);
}

/* ---- credentials ---- */

static int file_contains(const char *path, const char *needle) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    int found = 0;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n && !found; i++) found = !memcmp(buf + i, needle, k);
    free(buf);
    return found;
}

static void test_credentials_never_written(void **state) {
    server sv;
    server_start(&sv, 0);
    fixture f;
    fixture_open(&f);
    int pts;
    int64_t id = make_run(&f, "secret", 50, &pts, 1);
    char logpath[PATH_MAX + 16];
    snprintf(logpath, sizeof logpath, "%s/upload.log", f.dir);
    FILE *log = fopen(logpath, "w");
    hn_upload_options o = fast_opts(sv.url);
    o.log = log;
    inject(&sv, "log-batch", "500", 1, 1, 0);  /* so retries are logged */
    inject(&sv, "file_stream", "500", 1, 0, 0);
    hn_upload_result res;
    hn_error err;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(upload("wandb", f.r, &o, id, &res, &err), HN_OK);
    fclose(log);
    assert_true(file_contains(logpath, "retrying")); /* the log is not empty */
    hn_results_close(f.r);
    f.r = NULL;
    char wal[PATH_MAX + 40];
    snprintf(wal, sizeof wal, "%s-wal", f.db);
    const char *secrets[] = {TOKEN, WKEY};
    for (int i = 0; i < 2; i++) {
        assert_false(file_contains(f.db, secrets[i]));
        assert_false(file_contains(wal, secrets[i]));
        assert_false(file_contains(logpath, secrets[i]));
    }
    assert_int_equal(hn_results_open(f.db, &f.r, &err), HN_OK);
    /* credentials in the URL are refused before anything is stored */
    char url[128];
    snprintf(url, sizeof url, "http://user:%s@127.0.0.1:%d", TOKEN, sv.port);
    hn_upload_options bad = fast_opts(url);
    assert_int_equal(upload("mlflow", f.r, &bad, id, &res, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "credentials"));
    assert_null(strstr(err.msg, TOKEN));
    fixture_close(&f);
    server_stop(&sv);
}

/* ---- live upload ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_live_upload_never_blocks_training(void **state) {
    server sv;
    server_start(&sv, 0);
    /* the first answers come long after the client's timeout */
    inject(&sv, "log-batch", "delay", 3, 1, 2.0);
    fixture f;
    fixture_open(&f);
    hn_upload_options o = fast_opts(sv.url);
    o.timeout_ms = 1000; /* each stall holds the uploader 1 s */
    hn_live_upload *lu = NULL;
    hn_error err;
    assert_int_equal(hn_live_upload_start(f.db, hn_registry_find_sink(&reg, "mlflow"), &o, 0.05, &lu, &err),
                     HN_OK);
    /* the "trainer": 40 logging intervals, each flush timed */
    char *cfg = big_config();
    hn_run_info info = {.name = "live", .config_json = cfg};
    int64_t id;
    assert_int_equal(hn_results_begin_run(f.r, &info, &id, &err), HN_OK);
    free(cfg);
    info.config_json = NULL;
    hn_rng rng;
    hn_rng_seed(&rng, 3);
    int pts = 0;
    double worst = 0, t0 = now_s();
    for (int i = 0; i < 40; i++) {
        double a = now_s();
        pts += log_steps(&f, id, i * 10, i * 10 + 10, &rng);
        double d = now_s() - a;
        if (d > worst) worst = d;
        usleep(20000); /* the "compute" between flushes */
    }
    double total = now_s() - t0;
    assert_int_equal(hn_results_end_run(f.r, id, "finished", NULL, &err), HN_OK);
    /* the uploader was stalled for 1 s at a time meanwhile; the trainer never waited */
    assert_true(worst < 0.5);
    assert_true(total < 40 * 0.02 + 2.0);
    assert_int_equal(hn_live_upload_stop(lu, 20, &err), HN_OK);
    cJSON *st = server_state(&sv);
    const cJSON *run = only_mlflow_run(st);
    check_mlflow_points(run, pts);
    assert_string_equal(cJSON_GetObjectItem(run, "status")->valuestring, "FINISHED");
    assert_int_equal(cJSON_GetObjectItem(st, "failures_injected")->valueint, 3);
    cJSON_Delete(st);

    /* with the server gone, stopping is bounded and leaves the rest for hnet upload */
    server_stop(&sv);
    assert_int_equal(hn_live_upload_start(f.db, hn_registry_find_sink(&reg, "mlflow"), &o, 0.05, &lu, &err),
                     HN_OK);
    assert_int_equal(hn_results_begin_run(f.r, &info, &id, &err), HN_OK);
    pts = log_steps(&f, id, 0, 20, &rng);
    assert_int_equal(hn_results_end_run(f.r, id, "finished", NULL, &err), HN_OK);
    double a = now_s();
    assert_int_equal(hn_live_upload_stop(lu, 0.5, &err), HN_ERR);
    assert_true(now_s() - a < 3.0);
    server_start(&sv, sv.port);
    hn_upload_result res;
    assert_int_equal(upload("mlflow", f.r, &o, id, &res, &err), HN_OK);
    assert_int_equal(res.points, pts);
    fixture_close(&f);
    server_stop(&sv);
}

static int setup(void **state) {
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n <= 0) return -1;
    exe_dir[n] = 0;
    *strrchr(exe_dir, '/') = 0;
    hn_registry_init(&reg);
    const char *names[] = {"mlflow", "wandb", "tensorboard"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX + 64];
        hn_error err;
        snprintf(path, sizeof path, "%s/../plugins/%s.so", exe_dir, names[i]);
        if (hn_registry_load_file(&reg, path, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

static int test_teardown(void **state) {
    for (int i = 0; i < 4; i++) {
        if (live_servers[i]) {
            server sv = {.pid = live_servers[i]};
            server_stop(&sv);
        }
        if (live_dirs[i][0]) {
            char cmd[4 * PATH_MAX + 16];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", live_dirs[i]);
            if (system(cmd)) fprintf(stderr, "could not remove %s\n", live_dirs[i]);
            live_dirs[i][0] = 0;
        }
    }
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crc32c_vectors, test_teardown),
        cmocka_unit_test_teardown(test_registry_checks_sink_abi, test_teardown),
        cmocka_unit_test_teardown(test_schema_migrates_v1_to_v2, test_teardown),
        cmocka_unit_test_teardown(test_mlflow_batches_and_idempotent, test_teardown),
        cmocka_unit_test_teardown(test_mlflow_failures_retried_without_duplicates, test_teardown),
        cmocka_unit_test_teardown(test_mlflow_killed_upload_exactly_once, test_teardown),
        cmocka_unit_test_teardown(test_refused_then_resumed_and_shown, test_teardown),
        cmocka_unit_test_teardown(test_wandb_history_once_per_step, test_teardown),
        cmocka_unit_test_teardown(test_tensorboard_events_read_back, test_teardown),
        cmocka_unit_test_teardown(test_credentials_never_written, test_teardown),
        cmocka_unit_test_teardown(test_live_upload_never_blocks_training, test_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
