/* A run named on the command line: its id, or its name (then the run that counts among
 * the runs of that name, HN_RUN_PREFERENCE), in one results database; and where its
 * checkpoints are (the declared run in <checkpoint.dir>/<name>, a run with overrides in
 * <checkpoint.dir>/<name>@<config hash>). */
#ifndef HN_CLI_RUN_REF_H
#define HN_CLI_RUN_REF_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

typedef struct hn_run_ref {
    int64_t id;
    char name[128];
    char config_hash[17];
    cJSON *config;            /* the resolved config (caller frees with hn_run_ref_free) */
    char checkpoint_dir[1024]; /* "" when the run writes no checkpoints */
} hn_run_ref;

/* Resolves ref (an id or a name) in db_path, which must exist. */
int hn_run_ref_resolve(const char *db_path, const char *ref, hn_run_ref *out, hn_error *err);
void hn_run_ref_free(hn_run_ref *r);

/* 1 when arg names an existing file or folder (a checkpoint given directly). */
int hn_run_ref_is_path(const char *arg);

/* What `hnet sample` and `hnet chunks` load: arg itself when it is a file or folder,
 * else the checkpoint folder of the run arg names (id or name) in db_path. */
int hn_run_ref_checkpoint(const char *arg, const char *db_path, char *out, size_t size, hn_error *err);

#endif
