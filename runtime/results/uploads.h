/* The `uploads` table of results.db (schema version 2): per run, sink and destination,
 * the cursor of what was uploaded and the last failure. Used by runtime/upload and by
 * `hnet show`. Credentials never pass through here. */
#ifndef HN_RESULTS_UPLOADS_H
#define HN_RESULTS_UPLOADS_H

#include <stdint.h>
#include <stdio.h>

#include "results/store.h"

typedef struct hn_upload_state {
    int exists;          /* a row was found */
    char remote_id[256]; /* the sink's id of the remote run ("" before the first upload) */
    int64_t last_row;    /* metrics.rowid of the last uploaded point (0: none) */
    int64_t n_points;    /* points uploaded so far */
    int64_t offset;      /* the sink's own position (W&B history lines, TensorBoard bytes) */
    char status[16];     /* pending | partial | done | failed */
    int64_t attempts;    /* failed attempts since the last success */
} hn_upload_state;

/* Reads the row; a missing row gives exists = 0 and zeros. */
int hn_uploads_get(hn_results *r, int64_t run_id, const char *sink, const char *destination,
                   hn_upload_state *st, hn_error *err);

/* Inserts or replaces the row in one short write transaction. error may be NULL. */
int hn_uploads_put(hn_results *r, int64_t run_id, const char *sink, const char *destination,
                   const hn_upload_state *st, const char *error, hn_error *err);

/* Prints one line per failed upload ("upload of run 3 to mlflow http://...: failed
 * after 6 attempts: ..."); nothing when there is none. */
int hn_uploads_print_failures(hn_results *r, FILE *out, hn_error *err);

#endif
