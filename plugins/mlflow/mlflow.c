/* MLflow sink: the tracking server's REST API (api/2.0/mlflow), as documented at
 * mlflow.org/docs/latest/rest-api.html:
 *   GET  experiments/get-by-name?experiment_name=N   (404 RESOURCE_DOES_NOT_EXIST: create)
 *   POST experiments/create {name}                    (RESOURCE_ALREADY_EXISTS: look up again)
 *   POST runs/search {experiment_ids, filter: "tags.`hnet.run_uid` = 'UID'", max_results}
 *   POST runs/create {experiment_id, run_name, start_time, tags: [{key, value}]}
 *   POST runs/log-batch {run_id, metrics: [{key, value, timestamp, step}], params: [...]}
 *        limits per request: 1000 metrics, 100 params, 100 tags, 1000 items in all
 *   POST runs/update {run_id, status, end_time}
 *   GET  metrics/get-history?run_id=R&metric_key=K&max_results=N[&page_token=T]
 * One MLflow run per hnet run, tagged hnet.run_uid, so a re-upload finds it (search)
 * even when results.db lost its record.
 *
 * Exactly once: MLflow's file store keeps every point it is sent, a repeated one too,
 * so a batch whose answer was lost must not simply be sent again. Whenever the server
 * may hold points this process has not seen acknowledged (a log-batch that failed in
 * any way, or a remote run this process did not create: an earlier upload may have been
 * killed after the server stored a batch), the next batch first reads back the history
 * of its keys and sends only the points the server lacks (same key, step, timestamp
 * and value; timestamps are the run's start time, so a point is the same every time it
 * is sent). A batch found whole on the server keeps the doubt for the next one; the
 * first one sent clears it (points go in results.db order). Auth: MLFLOW_TRACKING_TOKEN (Bearer), or MLFLOW_TRACKING_USERNAME and
 * MLFLOW_TRACKING_PASSWORD (basic), from the environment only.
 * Options: experiment (default "hnet"), param_value_max (default 500: the limit of
 * older servers; 6000 on MLflow >= 2.x). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "plugin/sink_abi.h"

#define MAX_METRICS 1000
#define MAX_PARAMS 100
#define KEY_MAX 250

/* One key's points on the server, sorted by step, for "is this point there?" */
typedef struct remote_point {
    int64_t step, timestamp;
    double value;
} remote_point;

typedef struct key_history {
    char key[KEY_MAX + 1];
    remote_point *p;
    size_t n;
} key_history;

typedef struct mlflow {
    const hn_sink_env *env;
    char base[1024];       /* .../api/2.0/mlflow */
    char experiment[512];
    char experiment_id[128];
    int param_value_max;
    char auth_header[4200]; /* "Authorization: Bearer ..." (memory only) */
    const char *user, *password;
    char run_id[256];
    int unsure;          /* the server may hold points not acknowledged to this process */
    key_history *hist;   /* histories read back since the last log-batch sent */
    int n_hist;
} mlflow;

static void forget_history(mlflow *m) {
    for (int i = 0; i < m->n_hist; i++) free(m->hist[i].p);
    free(m->hist);
    m->hist = NULL;
    m->n_hist = 0;
}

/* Percent-encoding for a query value. */
static void url_encode(char *out, size_t cap, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
}

/* One request; *out gets the parsed JSON body of a 200. On an error status, *status
 * and error_code (the body's error_code, if any) tell the caller what happened. */
static int call(mlflow *m, const char *method, const char *path, const cJSON *body,
                cJSON **out, long *status, char *error_code, size_t code_cap, hn_error *err) {
    char url[2048];
    snprintf(url, sizeof url, "%s/%s", m->base, path);
    const char *headers[2];
    int nh = 0;
    headers[nh++] = "Content-Type: application/json";
    if (m->auth_header[0]) headers[nh++] = m->auth_header;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (body && !text) return hn_fail(err, "out of memory");
    hn_http_request req = {method, url, headers, nh, text, text ? strlen(text) : 0, m->user,
                           m->password};
    hn_http_response resp;
    int rc = m->env->http(&req, &resp, err);
    free(text);
    if (rc) return rc;
    *status = resp.status;
    if (error_code) error_code[0] = 0;
    cJSON *json = cJSON_Parse(resp.body);
    if (resp.status == 200) {
        m->env->free_response(&resp);
        if (!json) return hn_fail(err, "%s %s: the response is not JSON", method, path);
        *out = json;
        return HN_OK;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(json, "error_code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(json, "message");
    if (error_code && cJSON_IsString(code)) snprintf(error_code, code_cap, "%s", code->valuestring);
    hn_fail(err, "%s %s: HTTP %ld %s%s%.300s", method, path, resp.status,
            cJSON_IsString(code) ? code->valuestring : "", cJSON_IsString(msg) ? ": " : "",
            cJSON_IsString(msg) ? msg->valuestring : (json ? "" : resp.body));
    cJSON_Delete(json);
    m->env->free_response(&resp);
    /* 429 and 5xx are the server's transient trouble; the rest is ours */
    return resp.status == 429 || resp.status >= 500 ? HN_SINK_RETRY : HN_ERR;
}

static int create(const char *destination, const cJSON *options, const hn_sink_env *env,
                  void **self, hn_error *err) {
    mlflow *m = calloc(1, sizeof *m);
    if (!m) return hn_fail(err, "out of memory");
    m->env = env;
    size_t n = strlen(destination);
    while (n && destination[n - 1] == '/') n--;
    if (strncmp(destination, "http://", 7) && strncmp(destination, "https://", 8)) {
        free(m);
        return hn_fail(err, "the tracking URI must start with http:// or https:// (got '%s')",
                       destination);
    }
    snprintf(m->base, sizeof m->base, "%.*s/api/2.0/mlflow", (int)n, destination);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(options, "experiment");
    snprintf(m->experiment, sizeof m->experiment, "%s", cJSON_IsString(e) ? e->valuestring : "hnet");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(options, "param_value_max");
    m->param_value_max = cJSON_IsNumber(pv) && pv->valueint > 0 ? pv->valueint : 500;
    const char *token = env->getenv("MLFLOW_TRACKING_TOKEN");
    if (token && *token) {
        if (strlen(token) > 4000) {
            free(m);
            return hn_fail(err, "MLFLOW_TRACKING_TOKEN is longer than 4000 characters");
        }
        snprintf(m->auth_header, sizeof m->auth_header, "Authorization: Bearer %s", token);
    } else if (env->getenv("MLFLOW_TRACKING_USERNAME")) {
        m->user = env->getenv("MLFLOW_TRACKING_USERNAME");
        m->password = env->getenv("MLFLOW_TRACKING_PASSWORD");
    }
    *self = m;
    return HN_OK;
}

static int find_experiment(mlflow *m, hn_error *err) {
    if (m->experiment_id[0]) return HN_OK;
    char enc[1600], path[1800], code[64];
    url_encode(enc, sizeof enc, m->experiment);
    snprintf(path, sizeof path, "experiments/get-by-name?experiment_name=%s", enc);
    for (int tries = 0; tries < 2; tries++) {
        cJSON *out = NULL;
        long status = 0;
        int rc = call(m, "GET", path, NULL, &out, &status, code, sizeof code, err);
        if (rc == HN_OK) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(out, "experiment"), "experiment_id");
            if (cJSON_IsString(id)) snprintf(m->experiment_id, sizeof m->experiment_id, "%s", id->valuestring);
            cJSON_Delete(out);
            return m->experiment_id[0] ? HN_OK : hn_fail(err, "get-by-name: no experiment_id in the answer");
        }
        if (rc == HN_SINK_RETRY || strcmp(code, "RESOURCE_DOES_NOT_EXIST")) return rc;
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "name", m->experiment);
        rc = call(m, "POST", "experiments/create", body, &out, &status, code, sizeof code, err);
        cJSON_Delete(body);
        if (rc == HN_OK) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(out, "experiment_id");
            if (cJSON_IsString(id)) snprintf(m->experiment_id, sizeof m->experiment_id, "%s", id->valuestring);
            cJSON_Delete(out);
            return m->experiment_id[0] ? HN_OK : hn_fail(err, "experiments/create: no experiment_id");
        }
        /* someone else created it meanwhile: look it up again */
        if (rc == HN_SINK_RETRY || strcmp(code, "RESOURCE_ALREADY_EXISTS")) return rc;
    }
    return hn_fail(err, "experiment '%s' neither found nor created", m->experiment);
}

static int search_run(mlflow *m, const char *uid, hn_error *err) {
    cJSON *body = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(body, "experiment_ids");
    cJSON_AddItemToArray(ids, cJSON_CreateString(m->experiment_id));
    char filter[256];
    snprintf(filter, sizeof filter, "tags.`hnet.run_uid` = '%s'", uid);
    cJSON_AddStringToObject(body, "filter", filter);
    cJSON_AddNumberToObject(body, "max_results", 1);
    cJSON *out = NULL;
    long status;
    int rc = call(m, "POST", "runs/search", body, &out, &status, NULL, 0, err);
    cJSON_Delete(body);
    if (rc) return rc;
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(out, "runs");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "info"), "run_id");
    if (cJSON_IsString(id)) snprintf(m->run_id, sizeof m->run_id, "%s", id->valuestring);
    cJSON_Delete(out);
    return HN_OK;
}

static int create_run(mlflow *m, const hn_sink_run *run, hn_error *err) {
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "experiment_id", m->experiment_id);
    cJSON_AddStringToObject(body, "run_name", run->name);
    cJSON_AddNumberToObject(body, "start_time", (double)run->start_ms);
    cJSON *tags = cJSON_AddArrayToObject(body, "tags");
    for (const cJSON *t = run->tags ? run->tags->child : NULL; t; t = t->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", t->string);
        cJSON_AddStringToObject(o, "value", t->valuestring);
        cJSON_AddItemToArray(tags, o);
    }
    cJSON *out = NULL;
    long status;
    int rc = call(m, "POST", "runs/create", body, &out, &status, NULL, 0, err);
    cJSON_Delete(body);
    if (rc) return rc;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "run"), "info"),
        "run_id");
    if (cJSON_IsString(id)) snprintf(m->run_id, sizeof m->run_id, "%s", id->valuestring);
    cJSON_Delete(out);
    return m->run_id[0] ? HN_OK : hn_fail(err, "runs/create: no run_id in the answer");
}

static int log_batch_json(mlflow *m, cJSON *body, hn_error *err) {
    cJSON_AddStringToObject(body, "run_id", m->run_id);
    cJSON *out = NULL;
    long status;
    int rc = call(m, "POST", "runs/log-batch", body, &out, &status, NULL, 0, err);
    cJSON_Delete(out);
    return rc;
}

/* Params in requests of at most MAX_PARAMS; keys and values cut to the API's limits
 * (a cut value ends in "..."). Logging an identical param again is allowed. */
static int log_params(mlflow *m, const cJSON *params, hn_error *err) {
    const cJSON *p = params ? params->child : NULL;
    char *value = malloc((size_t)m->param_value_max + 1);
    if (!value) return hn_fail(err, "out of memory");
    int rc = HN_OK;
    while (p && rc == HN_OK) {
        cJSON *body = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(body, "params");
        for (int n = 0; p && n < MAX_PARAMS; p = p->next, n++) {
            char key[KEY_MAX + 1];
            snprintf(key, sizeof key, "%s", p->string);
            size_t len = strlen(p->valuestring);
            if ((int)len > m->param_value_max && m->param_value_max > 3)
                snprintf(value, (size_t)m->param_value_max + 1, "%.*s...", m->param_value_max - 3,
                         p->valuestring);
            else snprintf(value, (size_t)m->param_value_max + 1, "%s", p->valuestring);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "key", key);
            cJSON_AddStringToObject(o, "value", value);
            cJSON_AddItemToArray(list, o);
        }
        rc = log_batch_json(m, body, err);
        cJSON_Delete(body);
    }
    free(value);
    return rc;
}

/* offset: 1 once the params are logged (they are sent once per remote run). */
static int begin_run(void *self, const hn_sink_run *run, char *remote_id, size_t size,
                     int64_t *offset, hn_error *err) {
    mlflow *m = self;
    int rc = find_experiment(m, err);
    if (rc) return rc;
    /* the run this process has been logging to keeps what it knows; any other run may
     * hold points an earlier, killed upload sent */
    int same = m->run_id[0] && !strcmp(m->run_id, remote_id);
    snprintf(m->run_id, sizeof m->run_id, "%s", remote_id);
    if (!same) {
        m->unsure = 1;
        forget_history(m);
    }
    if (!m->run_id[0] && (rc = search_run(m, run->uid, err))) return rc;
    if (!m->run_id[0]) {
        *offset = 0;
        if ((rc = create_run(m, run, err))) return rc;
        m->unsure = 0; /* new: holds nothing yet */
    }
    snprintf(remote_id, size, "%s", m->run_id);
    if (*offset == 0) {
        if ((rc = log_params(m, run->params, err))) return rc;
        *offset = 1;
    }
    return HN_OK;
}

static void metric_key(char key[KEY_MAX + 1], const char *name) {
    /* MLflow takes letters, digits, _ - . space and / in metric names */
    snprintf(key, KEY_MAX + 1, "%s", name);
    for (char *k = key; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              strchr("_-. /", *k)))
            *k = '_';
}

/* A metric value as the server returns it: a number, or "NaN" / "Infinity" / ... */
static double value_of(const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "Infinity")) return INFINITY;
        if (!strcmp(v->valuestring, "-Infinity")) return -INFINITY;
    }
    return NAN;
}

static int by_step(const void *a, const void *b) {
    const remote_point *x = a, *y = b;
    return x->step < y->step ? -1 : x->step > y->step;
}

/* Reads back every point of key, page by page, into a new history entry. */
static int fetch_history(mlflow *m, const char *key, key_history **out, hn_error *err) {
    key_history *grown = realloc(m->hist, (size_t)(m->n_hist + 1) * sizeof *grown);
    if (!grown) return hn_fail(err, "out of memory");
    m->hist = grown;
    key_history *h = &m->hist[m->n_hist];
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    size_t cap = 0;
    char run_enc[800], key_enc[800], token[256] = "", token_enc[800], path[2600];
    url_encode(run_enc, sizeof run_enc, m->run_id);
    url_encode(key_enc, sizeof key_enc, key);
    int rc = HN_OK;
    do {
        url_encode(token_enc, sizeof token_enc, token);
        snprintf(path, sizeof path, "metrics/get-history?run_id=%s&metric_key=%s&max_results=25000%s%s",
                 run_enc, key_enc, token[0] ? "&page_token=" : "", token_enc);
        cJSON *page = NULL;
        long status;
        if ((rc = call(m, "GET", path, NULL, &page, &status, NULL, 0, err))) break;
        const cJSON *pt;
        cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(page, "metrics")) {
            if (h->n == cap) {
                cap = cap ? 2 * cap : 256;
                remote_point *p = realloc(h->p, cap * sizeof *p);
                if (!p) {
                    rc = hn_fail(err, "out of memory");
                    break;
                }
                h->p = p;
            }
            const cJSON *step = cJSON_GetObjectItemCaseSensitive(pt, "step");
            const cJSON *ts = cJSON_GetObjectItemCaseSensitive(pt, "timestamp");
            h->p[h->n++] = (remote_point){cJSON_IsNumber(step) ? (int64_t)step->valuedouble : 0,
                                          cJSON_IsNumber(ts) ? (int64_t)ts->valuedouble : 0,
                                          value_of(cJSON_GetObjectItemCaseSensitive(pt, "value"))};
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(page, "next_page_token");
        snprintf(token, sizeof token, "%s", cJSON_IsString(next) ? next->valuestring : "");
        cJSON_Delete(page);
    } while (rc == HN_OK && token[0]);
    if (rc) {
        free(h->p);
        return rc;
    }
    if (h->n) qsort(h->p, h->n, sizeof *h->p, by_step); /* p is NULL when empty */
    m->n_hist++;
    *out = h;
    return HN_OK;
}

/* Same value as sent: JSON carries 17 significant digits, so equal up to rounding. */
static int same_value(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
}

static int on_server(const key_history *h, const hn_sink_metric *p) {
    size_t lo = 0, hi = h->n;
    while (lo < hi) { /* first point with step >= p->step */
        size_t mid = lo + (hi - lo) / 2;
        if (h->p[mid].step < p->step) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < h->n && h->p[i].step == p->step; i++)
        if (h->p[i].timestamp == p->timestamp_ms && same_value(h->p[i].value, p->value)) return 1;
    return 0;
}

/* keep[i] = 1 for the points of pts the server lacks; returns how many. */
static int missing_points(mlflow *m, const hn_sink_metric *pts, int n, char *keep, int *count,
                          hn_error *err) {
    *count = 0;
    for (int i = 0; i < n; i++) {
        char key[KEY_MAX + 1];
        metric_key(key, pts[i].key);
        key_history *h = NULL;
        for (int k = 0; k < m->n_hist && !h; k++)
            if (!strcmp(m->hist[k].key, key)) h = &m->hist[k];
        int rc;
        if (!h && (rc = fetch_history(m, key, &h, err))) return rc;
        keep[i] = !on_server(h, &pts[i]);
        *count += keep[i];
    }
    return HN_OK;
}

static int log_batch(void *self, const hn_sink_metric *pts, int n, int64_t *offset,
                     hn_error *err) {
    mlflow *m = self;
    char *keep = malloc((size_t)n);
    if (!keep) return hn_fail(err, "out of memory");
    memset(keep, 1, (size_t)n);
    int rc, sending = n;
    if (m->unsure && (rc = missing_points(m, pts, n, keep, &sending, err))) {
        free(keep);
        return rc;
    }
    if (sending == 0) { /* all there already: the doubt carries on to the next batch */
        free(keep);
        return HN_OK;
    }
    cJSON *body = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(body, "metrics");
    for (int i = 0; i < n; i++) {
        if (!keep[i]) continue;
        cJSON *o = cJSON_CreateObject();
        char key[KEY_MAX + 1];
        metric_key(key, pts[i].key);
        cJSON_AddStringToObject(o, "key", key);
        /* JSON has no NaN; the protobuf JSON mapping MLflow parses takes "NaN" */
        if (isfinite(pts[i].value)) cJSON_AddNumberToObject(o, "value", pts[i].value);
        else cJSON_AddStringToObject(o, "value", isnan(pts[i].value) ? "NaN"
                                                 : pts[i].value > 0 ? "Infinity" : "-Infinity");
        cJSON_AddNumberToObject(o, "timestamp", (double)pts[i].timestamp_ms);
        cJSON_AddNumberToObject(o, "step", (double)pts[i].step);
        cJSON_AddItemToArray(list, o);
    }
    free(keep);
    forget_history(m); /* from here the server may change under what was read back */
    rc = log_batch_json(m, body, err);
    cJSON_Delete(body);
    /* acknowledged: the server holds exactly what was sent; anything else leaves doubt */
    m->unsure = rc != HN_OK;
    return rc;
}

static int end_run(void *self, const hn_sink_run *run, int64_t *offset, hn_error *err) {
    mlflow *m = self;
    const char *status = !strcmp(run->status, "finished") ? "FINISHED"
                         : !strcmp(run->status, "failed") ? "FAILED"
                         : !strcmp(run->status, "interrupted") ? "KILLED" : "RUNNING";
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "run_id", m->run_id);
    cJSON_AddStringToObject(body, "status", status);
    cJSON_AddNumberToObject(body, "end_time", (double)run->end_ms);
    cJSON *out = NULL;
    long st;
    int rc = call(m, "POST", "runs/update", body, &out, &st, NULL, 0, err);
    cJSON_Delete(body);
    cJSON_Delete(out);
    return rc;
}

static void destroy(void *self) {
    mlflow *m = self;
    if (!m) return;
    memset(m->auth_header, 0, sizeof m->auth_header); /* the token: memory only */
    forget_history(m);
    free(m);
}

static const hn_sink_plugin plugin = {
    .abi_version = HN_SINK_ABI_VERSION,
    .name = "mlflow",
    .version = "1.0",
    .summary = "MLflow tracking server, REST API (--uri http://host:5000)",
    .max_batch = MAX_METRICS,
    .create = create,
    .begin_run = begin_run,
    .log_batch = log_batch,
    .end_run = end_run,
    .destroy = destroy,
};

HN_PLUGIN_SINK(&plugin, 1)
