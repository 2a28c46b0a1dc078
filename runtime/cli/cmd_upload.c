/* hnet upload: send runs of results.db to a dashboard (a sink plugin), idempotently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/upload_cli.h"
#include "cli/util.h"
#include "results/location.h"
#include "results/store_internal.h"
#include "suite/suite.h"
#include "upload/live.h"

#define DEFAULT_DB "results/results.db"

static void usage(FILE *out, const hn_registry *reg) {
    fprintf(out,
            "usage: hnet upload --to SINK [--uri URL | --dir DIR] [RUN_ID ...] [options]\n\n"
            "Uploads runs of results.db (default: every run) and their curves to a dashboard.\n"
            "Uploading again sends only what is new: each run's remote copy and the last\n"
            "point sent are recorded in results.db (table uploads), and the remote run is\n"
            "tagged with a stable run uid. Network failures are retried with exponential\n"
            "backoff; an upload that still fails is recorded and shown by `hnet show`, and\n"
            "the next `hnet upload` resumes it.\n\n"
            "options:\n"
            "  --to SINK          mlflow, wandb, tensorboard, or another sink plugin\n"
            "  --uri URL          MLflow tracking URI (default $MLFLOW_TRACKING_URI) or W&B\n"
            "                     API base (default https://api.wandb.ai)\n"
            "  --dir DIR          TensorBoard: folder for the event files\n"
            "  --db PATH          results database (default: the project's " DEFAULT_DB ",\n"
            "                     found from the current directory, or $HNET_RESULTS)\n"
            "  --experiment NAME  MLflow experiment, found by name or created (default hnet)\n"
            "  --entity NAME      W&B entity (default: the API key's default entity)\n"
            "  --project NAME     W&B project (default hnet)\n"
            "  --set KEY=VALUE    any other sink option\n"
            "  --retries N        attempts per request, first included (default 6)\n"
            "  --timeout S        seconds per HTTP request (default 30)\n"
            "  --max-wait S       total backoff per request before giving up (default 60)\n"
            "  --quiet            no progress lines\n\n"
            "Credentials come from the environment only and are never written anywhere:\n"
            "  MLflow: MLFLOW_TRACKING_TOKEN (bearer), or MLFLOW_TRACKING_USERNAME and\n"
            "          MLFLOW_TRACKING_PASSWORD (basic auth)\n"
            "  W&B:    WANDB_API_KEY\n");
    if (reg) {
        fprintf(out, "\nsinks:\n");
        hn_cli_list_sinks(reg, out);
    }
}

void hn_cli_list_sinks(const hn_registry *reg, FILE *out) {
    for (int i = 0; i < reg->n_sinks; i++)
        fprintf(out, "  %-12s %s (%s)\n", reg->sinks[i].plugin->name,
                reg->sinks[i].plugin->summary ? reg->sinks[i].plugin->summary : "",
                reg->sinks[i].path);
}

int hn_cli_sink_option(cJSON *options, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return HN_ERR;
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    char *end = NULL;
    double v = strtod(eq + 1, &end);
    cJSON_DeleteItemFromObjectCaseSensitive(options, key);
    if (eq[1] && end && !*end) cJSON_AddNumberToObject(options, key, v);
    else cJSON_AddStringToObject(options, key, eq + 1);
    return HN_OK;
}

const char *hn_cli_default_destination(const char *sink) {
    if (!strcmp(sink, "mlflow")) return getenv("MLFLOW_TRACKING_URI");
    if (!strcmp(sink, "wandb")) return getenv("WANDB_BASE_URL") ? getenv("WANDB_BASE_URL")
                                                                 : "https://api.wandb.ai";
    return NULL;
}

struct hn_cli_live {
    hn_live_upload *lu;
    cJSON *options;
    char *sink, *dest;
};

hn_cli_live *hn_cli_live_start(const char *spec, char **sets, int n_sets, const hn_registry *reg,
                               const cJSON *config, const char *db_path) {
    hn_cli_live *live = calloc(1, sizeof *live);
    if (!live) return NULL;
    live->sink = strdup(spec);
    live->options = cJSON_CreateObject();
    char *eq = strchr(live->sink, '=');
    if (eq) *eq = 0;
    const char *dest = eq ? eq + 1 : hn_cli_default_destination(live->sink);
    live->dest = dest ? strdup(dest) : NULL;
    const hn_sink_plugin *sink = hn_registry_find_sink(reg, live->sink);
    hn_error err = {{0}};
    if (!sink) {
        fprintf(stderr, "hnet run: --upload: no sink plugin named '%s'; available:\n", live->sink);
        hn_cli_list_sinks(reg, stderr);
        goto fail;
    }
    if (!live->dest || !*live->dest) {
        fprintf(stderr, "hnet run: --upload %s needs a destination: --upload %s=URL_OR_DIR\n",
                live->sink, live->sink);
        goto fail;
    }
    for (int i = 0; i < n_sets; i++)
        if (hn_cli_sink_option(live->options, sets[i])) {
            fprintf(stderr, "hnet run: --upload-set expects KEY=VALUE, found '%s'\n", sets[i]);
            goto fail;
        }
    if (!db_path) db_path = hn_suite_db_path(config, NULL); /* where the trainer writes */
    hn_upload_options opt = {0};
    opt.destination = live->dest;
    opt.sink_options = live->options;
    if (hn_live_upload_start(db_path, sink, &opt, 5.0, &live->lu, &err)) {
        fprintf(stderr, "hnet run: --upload: %s\n", err.msg);
        goto fail;
    }
    return live;
fail:
    hn_cli_live_stop(live);
    return NULL;
}

void hn_cli_live_stop(hn_cli_live *live) {
    if (!live) return;
    hn_error err = {{0}};
    if (live->lu && hn_live_upload_stop(live->lu, 30, &err))
        fprintf(stderr, "hnet run: live upload to %s %s incomplete (%s); `hnet upload --to %s` "
                        "sends the rest\n", live->sink, live->dest, err.msg, live->sink);
    cJSON_Delete(live->options);
    free(live->sink);
    free(live->dest);
    free(live);
}

static int parse_seconds(const char *s, double *out) {
    char *end = NULL;
    *out = strtod(s, &end);
    return end && !*end && *out > 0 ? HN_OK : HN_ERR;
}

/* Every run id, oldest first. */
static int all_runs(hn_results *r, int64_t **ids, int *n, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(hn_results_sqlite(r), "SELECT id FROM runs ORDER BY id", -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "listing runs");
    int cap = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *a = realloc(*ids, (size_t)cap * sizeof *a);
            if (!a) {
                sqlite3_finalize(q);
                return hn_fail(err, "out of memory");
            }
            *ids = a;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? HN_OK : hn_results_sql_fail(r, err, rc, "listing runs");
}

int hn_cmd_upload(int argc, char **argv) {
    const char *sink_name = NULL, *dest = NULL, *db = NULL;
    char default_db[4096];
    hn_upload_options opt = {0};
    cJSON *options = cJSON_CreateObject();
    int64_t *ids = NULL;
    int n_ids = 0, quiet = 0, status = 2, help = 0;
    hn_registry reg;
    hn_registry_init(&reg);
    hn_results *r = NULL;
    hn_uploader *up = NULL;
    hn_error err = {{0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double sec;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!v && a[0] == '-') {
            fprintf(stderr, "hnet upload: %s needs a value (see hnet upload --help)\n", a);
            goto done;
        } else if (!strcmp(a, "--to")) {
            sink_name = argv[++i];
        } else if (!strcmp(a, "--uri") || !strcmp(a, "--dir")) {
            dest = argv[++i];
        } else if (!strcmp(a, "--db")) {
            db = argv[++i];
        } else if (!strcmp(a, "--experiment") || !strcmp(a, "--entity") || !strcmp(a, "--project")) {
            cJSON_DeleteItemFromObjectCaseSensitive(options, a + 2);
            cJSON_AddStringToObject(options, a + 2, argv[++i]);
        } else if (!strcmp(a, "--set")) {
            if (hn_cli_sink_option(options, argv[++i])) {
                fprintf(stderr, "hnet upload: --set expects KEY=VALUE, found '%s'\n", argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "--retries")) {
            long n;
            if (hn_parse_long(argv[++i], &n) || n < 1) {
                fprintf(stderr, "hnet upload: --retries expects a positive integer\n");
                goto done;
            }
            opt.max_attempts = (int)n;
        } else if (!strcmp(a, "--timeout") || !strcmp(a, "--max-wait")) {
            if (parse_seconds(argv[++i], &sec)) {
                fprintf(stderr, "hnet upload: %s expects a positive number of seconds\n", a);
                goto done;
            }
            if (a[2] == 't') opt.timeout_ms = (long)(sec * 1000);
            else opt.max_wait_s = sec;
        } else if (a[0] == '-') {
            fprintf(stderr, "hnet upload: unknown option '%s' (see hnet upload --help)\n", a);
            goto done;
        } else {
            long id;
            if (hn_parse_long(a, &id) || id < 1) {
                fprintf(stderr, "hnet upload: '%s' is not a run id\n", a);
                goto done;
            }
            int64_t *x = realloc(ids, (size_t)(n_ids + 1) * sizeof *x);
            if (!x) goto done;
            ids = x;
            ids[n_ids++] = id;
        }
    }
    status = 1;
    if (hn_registry_load_default(&reg, &err)) {
        if (help) usage(stdout, NULL), status = 0;
        else fprintf(stderr, "hnet upload: %s\n", err.msg);
        goto done;
    }
    if (help) {
        usage(stdout, &reg);
        status = 0;
        goto done;
    }
    if (!sink_name) {
        usage(stderr, &reg);
        status = 2;
        goto done;
    }
    const hn_sink_plugin *sink = hn_registry_find_sink(&reg, sink_name);
    if (!sink) {
        fprintf(stderr, "hnet upload: no sink plugin named '%s'; available:\n", sink_name);
        hn_cli_list_sinks(&reg, stderr);
        goto done;
    }
    if (!dest) dest = hn_cli_default_destination(sink_name);
    if (!dest || !*dest) {
        fprintf(stderr, "hnet upload: --to %s needs a destination (--uri URL or --dir DIR)\n", sink_name);
        status = 2;
        goto done;
    }
    if (!db) {
        if (hn_results_default_db(default_db, sizeof default_db, &err)) {
            fprintf(stderr, "hnet upload: %s\n", err.msg);
            goto done;
        }
        db = default_db;
    }
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "hnet upload: no results database at %s (--db picks another)\n", db);
        goto done;
    }
    hn_note_db("upload", db);
    opt.destination = dest;
    opt.sink_options = options;
    opt.log = quiet ? NULL : stderr;
    if (hn_results_open(db, &r, &err) || hn_uploader_open(sink, &opt, &up, &err) ||
        (n_ids == 0 && all_runs(r, &ids, &n_ids, &err))) {
        fprintf(stderr, "hnet upload: %s\n", err.msg);
        goto done;
    }
    int failed = 0;
    for (int i = 0; i < n_ids; i++) {
        hn_upload_result res;
        if (hn_uploader_run(up, r, ids[i], &res, &err)) {
            fprintf(stderr, "hnet upload: run %lld: %s\n", (long long)ids[i], err.msg);
            failed++;
            continue;
        }
        if (!quiet)
            printf("run %lld -> %s %s: %lld points sent%s%s\n", (long long)ids[i], sink_name, dest,
                   (long long)res.points, res.retries ? " (after retries)" : "",
                   res.ended ? ", complete" : ", still running");
    }
    if (failed)
        fprintf(stderr, "hnet upload: %d of %d runs failed; they are recorded (hnet show) and "
                        "the next hnet upload resumes them\n", failed, n_ids);
    status = failed ? 1 : 0;
done:
    hn_uploader_close(up);
    hn_results_close(r);
    hn_registry_close(&reg);
    cJSON_Delete(options);
    free(ids);
    return status;
}
