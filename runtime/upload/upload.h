/* Uploading runs of results.db to a dashboard sink (plugin/sink_abi.h): `hnet upload`
 * and the live upload of `hnet run --upload`.
 *
 * Idempotent and resumable: per (run, sink, destination) the `uploads` table holds the
 * remote run's id and the rowid of the last metric point the sink acknowledged; an
 * upload continues after it, and a finished upload sends nothing again. The remote run
 * is tagged with a stable uid, so a sink can also find it when the local row is lost.
 * Each sink operation is retried with exponential backoff (bounded attempts and total
 * wait) on transient failures; when that runs out, the row is marked 'failed' with the
 * error (shown by `hnet show`) and the cursor stays where it was. */
#ifndef HN_UPLOAD_H
#define HN_UPLOAD_H

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "plugin/sink_abi.h"
#include "results/store.h"

typedef struct hn_upload_options {
    const char *destination;   /* URL (MLflow, W&B) or folder (TensorBoard) */
    const cJSON *sink_options; /* sink-specific settings, may be NULL */
    int max_attempts;          /* per operation, first try included; 0: 6 */
    double backoff_s;          /* first wait, doubled each retry; 0: 0.5 s */
    double max_wait_s;         /* total of the waits per operation; 0: 60 s */
    long timeout_ms;           /* per HTTP request; 0: 30 s */
    const char *(*getenv)(const char *name); /* NULL: the process environment */
    volatile int *abort;       /* when set, stop retrying (live upload shutting down) */
    volatile int *hurry;       /* when set, at most 2 attempts per operation (training ended:
                                  try briefly, leave the rest for `hnet upload`) */
    FILE *log;                 /* retries and progress; NULL: quiet */
} hn_upload_options;

typedef struct hn_upload_result {
    int64_t points;  /* points acknowledged by this call */
    int64_t retries; /* retried operations */
    int ended;       /* the remote run is marked ended (nothing more to do) */
} hn_upload_result;

typedef struct hn_uploader hn_uploader;

/* Creates the sink instance. Refuses a destination URL with credentials in it
 * (user:password@host): credentials come from the environment only. */
int hn_uploader_open(const hn_sink_plugin *sink, const hn_upload_options *opt,
                     hn_uploader **out, hn_error *err);
void hn_uploader_close(hn_uploader *u);


/* Uploads what is new of one run. While the run is 'running' only the steps before
 * its last logged step are sent (a step's points go together); once it has ended,
 * everything, and the remote run is ended with the local status. */
int hn_uploader_run(hn_uploader *u, hn_results *r, int64_t run_id, hn_upload_result *res,
                    hn_error *err);

/* The stable uid of a run: "hnet-" and 16 hex digits hashed from its id, start time,
 * name and config hash (what a resume keeps). out needs 24 bytes. */
int hn_upload_run_uid(hn_results *r, int64_t run_id, char out[24], hn_error *err);

#endif
