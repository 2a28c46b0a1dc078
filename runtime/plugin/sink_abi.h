/* The dashboard sink plugin ABI (plugins/): where `hnet upload` sends a run and its
 * curves (MLflow, Weights & Biases, TensorBoard event files, ...).
 *
 * A sink is a shared object exporting hn_plugin_entry (plugin/plugin.h).
 * The runtime (runtime/upload) owns everything generic: reading results.db, batching,
 * the per-destination cursor that makes uploads idempotent and resumable, retries with
 * backoff, and recording failures. A sink only translates: one call per step below,
 * each of which must be safe to repeat (the runtime retries an operation whose result
 * it never saw, e.g. after a timeout).
 *
 * Credentials: a sink reads them only through env->getenv, never stores them in
 * remote_id / offset (which go to results.db) and never puts them in error messages. */
#ifndef HN_SINK_ABI_H
#define HN_SINK_ABI_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

#define HN_SINK_ABI_VERSION 2u /* 2: plugin API v2 (entry hn_plugin_entry, host API) */

/* A third result besides HN_OK / HN_ERR: a transient failure (connection refused,
 * timeout, HTTP 429 or 5xx); the runtime retries the same call with backoff. HN_ERR
 * is permanent (bad credentials, a rejected request) and is not retried. */
#define HN_SINK_RETRY 1

/* One HTTP exchange, performed by the runtime with libcurl (timeouts, TLS, proxies
 * in one place). basic_user/basic_password: HTTP basic auth, or NULL. */
typedef struct hn_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    int n_headers;
    const char *body; /* NULL: no body */
    size_t body_len;
    const char *basic_user, *basic_password;
} hn_http_request;

typedef struct hn_http_response {
    long status; /* HTTP status code */
    char *body;  /* NUL-terminated; free with env->free_response */
    size_t len;
} hn_http_response;

/* What the runtime lends a sink. */
typedef struct hn_sink_env {
    const char *(*getenv)(const char *name);
    /* HN_OK when a response arrived (whatever its status); HN_SINK_RETRY on a
     * transport failure (refused, timed out, reset), with err saying which. */
    int (*http)(const hn_http_request *req, hn_http_response *resp, hn_error *err);
    void (*free_response)(hn_http_response *resp);
} hn_sink_env;

/* The run being uploaded. */
typedef struct hn_sink_run {
    const char *uid;  /* stable across uploads and machines: tag the remote run with it */
    const char *name; /* runs.name */
    int64_t local_id; /* runs.id */
    const char *status; /* running | finished | failed | interrupted */
    int64_t start_ms, end_ms; /* unix ms; end_ms 0 while running */
    const char *config_json; /* the resolved config (may be NULL) */
    const cJSON *params; /* flat object "model.d.0": "512", from the config and run facts */
    const cJSON *tags;   /* flat object of string tags (host, git commit, ...) */
} hn_sink_run;

/* One curve point. key is "split/name" (e.g. "train/bpb"). value is NaN when results.db
 * holds NULL (a non-finite value). timestamp_ms is deterministic (the run's start), so
 * a repeated send carries identical points. */
typedef struct hn_sink_metric {
    const char *key;
    int64_t step;
    int64_t bytes;
    double value;
    int64_t timestamp_ms;
} hn_sink_metric;

typedef struct hn_sink_plugin {
    uint32_t abi_version; /* HN_SINK_ABI_VERSION */
    const char *name;     /* what --to names */
    const char *version;
    const char *summary;  /* one line for `hnet plugins` / `hnet upload --help` */
    int max_batch;        /* the most metrics one log_batch call may carry (>= 1) */

    /* destination: the URL or folder given with --uri / --dir. options: sink-specific
     * settings (e.g. {"experiment": "hnet"}), may be NULL. */
    int (*create)(const char *destination, const cJSON *options, const hn_sink_env *env,
                  void **self, hn_error *err);
    /* Finds or creates the remote run for run->uid. remote_id (in/out, size bytes) holds
     * what an earlier upload returned ("" the first time); offset (in/out) is a number
     * the sink owns (W&B: history lines sent; TensorBoard: bytes written) and the
     * runtime stores with the cursor. */
    int (*begin_run)(void *self, const hn_sink_run *run, char *remote_id, size_t size,
                     int64_t *offset, hn_error *err);
    /* Sends n (1..max_batch) points in results.db order. On HN_OK the runtime records
     * them as uploaded together with *offset. */
    int (*log_batch)(void *self, const hn_sink_metric *m, int n, int64_t *offset,
                     hn_error *err);
    /* Marks the remote run ended with the local status. */
    int (*end_run)(void *self, const hn_sink_run *run, int64_t *offset, hn_error *err);
    void (*destroy)(void *self);
} hn_sink_plugin;

#endif
