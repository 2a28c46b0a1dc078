/* Weights & Biases sink, over the HTTP API the wandb client itself uses (public docs are
 * thin; this follows the client's source, wandb/sdk/internal/{internal_api,file_stream}.py):
 *   POST {base}/graphql  {"query": "mutation UpsertBucket(...) { upsertBucket(input: {
 *        name, modelName: project, entityName: entity, displayName, config, state }) {
 *        bucket { id name project { name entity { name } } } inserted } }", "variables"}
 *        -- creates or updates the run whose id (`name`) is given: we give the hnet run
 *        uid, so uploading again reaches the same W&B run.
 *   POST {base}/files/{entity}/{project}/{run}/file_stream
 *        {"files": {"wandb-history.jsonl": {"offset": N, "content": [json lines]}}}
 *        -- history rows from line N on; a repeated request rewrites the same lines, so a
 *        retry cannot duplicate rows. The end: {"complete": true, "exitcode": 0|1}.
 * Auth: HTTP basic, user "api", password WANDB_API_KEY (environment only).
 * Destination: the API base URL (default https://api.wandb.ai). Options: entity (default:
 * the key's default entity, as the server answers), project (default "hnet").
 * History rows: one per step, {"_step", "_timestamp" (s), "_runtime": 0, "bytes", and
 * each "split/name": value}; config: the resolved config's top-level sections as
 * {"section": {"value": ..., "desc": null}} plus "hnet" facts (uid, id, host, commit). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "plugin/sink_abi.h"

#define MAX_POINTS 1000
#define HISTORY "wandb-history.jsonl"

typedef struct wandb {
    const hn_sink_env *env;
    char base[1024];
    char entity[256], project[256];
    const char *key;
    char run[128];                     /* the W&B run id (= hnet run uid) */
    char run_entity[256], run_project[256]; /* as the server answered */
} wandb;

static int post(wandb *w, const char *url, const cJSON *body, cJSON **out, hn_error *err) {
    const char *headers[] = {"Content-Type: application/json"};
    char *text = cJSON_PrintUnformatted(body);
    if (!text) return hn_fail(err, "out of memory");
    hn_http_request req = {"POST", url, headers, 1, text, strlen(text), "api", w->key};
    hn_http_response resp;
    int rc = w->env->http(&req, &resp, err);
    free(text);
    if (rc) return rc;
    long status = resp.status;
    cJSON *json = cJSON_Parse(resp.body);
    if (status == 200 && json) {
        w->env->free_response(&resp);
        *out = json;
        return HN_OK;
    }
    hn_fail(err, "POST %s: HTTP %ld: %.300s", url, status, resp.body);
    cJSON_Delete(json);
    w->env->free_response(&resp);
    if (status == 200) return hn_fail(err, "POST %s: the response is not JSON", url);
    return status == 429 || status >= 500 ? HN_SINK_RETRY : HN_ERR;
}

static int create(const char *destination, const cJSON *options, const hn_sink_env *env,
                  void **self, hn_error *err) {
    const char *key = env->getenv("WANDB_API_KEY");
    if (!key || !*key)
        return hn_fail(err, "WANDB_API_KEY is not set (the API key comes from the environment only)");
    if (strncmp(destination, "http://", 7) && strncmp(destination, "https://", 8))
        return hn_fail(err, "the W&B base URL must start with http:// or https:// (got '%s')",
                       destination);
    wandb *w = calloc(1, sizeof *w);
    if (!w) return hn_fail(err, "out of memory");
    w->env = env;
    w->key = key;
    size_t n = strlen(destination);
    while (n && destination[n - 1] == '/') n--;
    snprintf(w->base, sizeof w->base, "%.*s", (int)n, destination);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(options, "entity");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(options, "project");
    snprintf(w->entity, sizeof w->entity, "%s", cJSON_IsString(e) ? e->valuestring : "");
    snprintf(w->project, sizeof w->project, "%s", cJSON_IsString(p) ? p->valuestring : "hnet");
    *self = w;
    return HN_OK;
}

static const char *UPSERT =
    "mutation UpsertBucket($name: String, $project: String, $entity: String, "
    "$displayName: String, $config: JSONString, $state: String) { "
    "upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, "
    "displayName: $displayName, config: $config, state: $state}) { "
    "bucket { id name displayName project { name entity { name } } } inserted } }";

/* The config as W&B stores it: {"key": {"value": v, "desc": null}}. */
static char *config_text(const hn_sink_run *run) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON *parsed = run->config_json ? cJSON_Parse(run->config_json) : NULL;
    for (cJSON *c = parsed ? parsed->child : NULL; c; c = c->next) {
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddItemToObject(entry, "value", cJSON_Duplicate(c, 1));
        cJSON_AddNullToObject(entry, "desc");
        cJSON_AddItemToObject(cfg, c->string, entry);
    }
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddItemToObject(entry, "value", cJSON_Duplicate(run->tags, 1));
    cJSON_AddNullToObject(entry, "desc");
    cJSON_AddItemToObject(cfg, "hnet", entry);
    char *text = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    cJSON_Delete(parsed);
    return text;
}

static int upsert(wandb *w, const hn_sink_run *run, const char *state, hn_error *err) {
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "query", UPSERT);
    cJSON *vars = cJSON_AddObjectToObject(body, "variables");
    cJSON_AddStringToObject(vars, "name", run->uid);
    cJSON_AddStringToObject(vars, "project", w->project);
    if (w->entity[0]) cJSON_AddStringToObject(vars, "entity", w->entity);
    else cJSON_AddNullToObject(vars, "entity");
    cJSON_AddStringToObject(vars, "displayName", run->name);
    char *cfg = config_text(run);
    if (cfg) cJSON_AddStringToObject(vars, "config", cfg);
    free(cfg);
    cJSON_AddStringToObject(vars, "state", state);
    char url[1100];
    snprintf(url, sizeof url, "%s/graphql", w->base);
    cJSON *out = NULL;
    int rc = post(w, url, body, &out, err);
    cJSON_Delete(body);
    if (rc) return rc;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(out, "errors");
    if (cJSON_GetArraySize(errors) > 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(errors, 0), "message");
        hn_fail(err, "upsertBucket: %s", cJSON_IsString(msg) ? msg->valuestring : "error");
        cJSON_Delete(out);
        return HN_ERR;
    }
    const cJSON *bucket = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "data"), "upsertBucket"),
        "bucket");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(bucket, "name");
    const cJSON *project = cJSON_GetObjectItemCaseSensitive(bucket, "project");
    const cJSON *pname = cJSON_GetObjectItemCaseSensitive(project, "name");
    const cJSON *ename = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(project, "entity"), "name");
    if (!cJSON_IsString(name) || !cJSON_IsString(pname) || !cJSON_IsString(ename)) {
        cJSON_Delete(out);
        return hn_fail(err, "upsertBucket: the answer has no bucket name, project or entity");
    }
    snprintf(w->run, sizeof w->run, "%s", name->valuestring);
    snprintf(w->run_project, sizeof w->run_project, "%s", pname->valuestring);
    snprintf(w->run_entity, sizeof w->run_entity, "%s", ename->valuestring);
    cJSON_Delete(out);
    return HN_OK;
}

static int begin_run(void *self, const hn_sink_run *run, char *remote_id, size_t size,
                     int64_t *offset, hn_error *err) {
    wandb *w = self;
    int rc = upsert(w, run, "running", err);
    if (rc) return rc;
    snprintf(remote_id, size, "%s/%s/%s", w->run_entity, w->run_project, w->run);
    (void)offset; /* history lines sent so far: kept by the runtime */
    return HN_OK;
}

static int stream(wandb *w, cJSON *body, hn_error *err) {
    char url[2048];
    snprintf(url, sizeof url, "%s/files/%s/%s/%s/file_stream", w->base, w->run_entity,
             w->run_project, w->run);
    cJSON *out = NULL;
    int rc = post(w, url, body, &out, err);
    cJSON_Delete(out);
    return rc;
}

/* Appends one number; W&B's own client writes non-finite values as NaN / Infinity. */
static void add_value(char *line, size_t cap, size_t *len, const char *key, double v) {
    cJSON *ks = cJSON_CreateString(key);
    char *kt = ks ? cJSON_PrintUnformatted(ks) : NULL;
    char num[64];
    if (isnan(v)) snprintf(num, sizeof num, "NaN");
    else if (isinf(v)) snprintf(num, sizeof num, v > 0 ? "Infinity" : "-Infinity");
    else snprintf(num, sizeof num, "%.17g", v);
    if (kt) *len += (size_t)snprintf(line + *len, *len < cap ? cap - *len : 0, ",%s:%s", kt, num);
    free(kt);
    cJSON_Delete(ks);
}

static int log_batch(void *self, const hn_sink_metric *m, int n, int64_t *offset,
                     hn_error *err) {
    wandb *w = self;
    cJSON *body = cJSON_CreateObject(), *files = cJSON_AddObjectToObject(body, "files");
    cJSON *hist = cJSON_AddObjectToObject(files, HISTORY);
    cJSON_AddNumberToObject(hist, "offset", (double)*offset);
    cJSON *content = cJSON_AddArrayToObject(hist, "content");
    int lines = 0;
    size_t cap = 64 * 1024;
    char *line = malloc(cap);
    if (!line) {
        cJSON_Delete(body);
        return hn_fail(err, "out of memory");
    }
    for (int i = 0; i < n;) { /* one row per step: the runtime keeps a step's points together */
        int j = i;
        size_t len = (size_t)snprintf(line, cap, "{\"_step\":%lld,\"_timestamp\":%.3f,\"_runtime\":0,"
                                      "\"bytes\":%lld", (long long)m[i].step,
                                      (double)m[i].timestamp_ms / 1000.0, (long long)m[i].bytes);
        for (; j < n && m[j].step == m[i].step; j++) add_value(line, cap, &len, m[j].key, m[j].value);
        if (len + 2 >= cap) {
            free(line);
            cJSON_Delete(body);
            return hn_fail(err, "a history row of step %lld is over %zu bytes", (long long)m[i].step, cap);
        }
        strcpy(line + len, "}");
        cJSON_AddItemToArray(content, cJSON_CreateString(line));
        lines++;
        i = j;
    }
    free(line);
    int rc = stream(w, body, err);
    cJSON_Delete(body);
    if (rc == HN_OK) *offset += lines;
    return rc;
}

static int end_run(void *self, const hn_sink_run *run, int64_t *offset, hn_error *err) {
    wandb *w = self;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddBoolToObject(body, "complete", 1);
    cJSON_AddNumberToObject(body, "exitcode", strcmp(run->status, "finished") ? 1 : 0);
    int rc = stream(w, body, err);
    cJSON_Delete(body);
    return rc;
}

static void destroy(void *self) { free(self); }

static const hn_sink_plugin plugin = {
    .abi_version = HN_SINK_ABI_VERSION,
    .name = "wandb",
    .version = "1.0",
    .summary = "Weights & Biases, GraphQL + file_stream (--uri https://api.wandb.ai)",
    .max_batch = MAX_POINTS,
    .create = create,
    .begin_run = begin_run,
    .log_batch = log_batch,
    .end_run = end_run,
    .destroy = destroy,
};

HN_PLUGIN_SINK(&plugin, 1)
