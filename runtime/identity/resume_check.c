/* A resume continues a run under the config it was started with. */
#include "identity/resume_check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/overrides.h"
#include "results/store.h"
#include "train/checkpoint.h"

void hn_identity_checkpoint_dir(hn_ckpt_settings *cs, const cJSON *cfg, const char *hash) {
    if (!hn_config_is_overridden(cfg)) return;
    size_t n = strlen(cs->run_dir);
    snprintf(cs->run_dir + n, sizeof cs->run_dir - n, "@%s", hash);
}

/* The config stored in the newest good checkpoint of run_dir (NULL: none); the uuid of
 * its run into uuid when given. */
static cJSON *checkpoint_config(const char *run_dir, char *uuid, char *path, size_t path_n) {
    hn_safetensors f;
    hn_error e;
    if (uuid) uuid[0] = 0;
    if (hn_checkpoint_latest(run_dir, &f, NULL, &e) != 1) return NULL;
    const char *text = hn_safetensors_meta(&f, "config"), *u = hn_safetensors_meta(&f, "run_uuid");
    if (uuid) snprintf(uuid, 33, "%s", u ? u : "");
    if (path) snprintf(path, path_n, "%s", f.path);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    hn_safetensors_free(&f);
    return cfg;
}

void hn_identity_checkpoint_uuid(const char *run_dir, char uuid[33]) {
    cJSON_Delete(checkpoint_config(run_dir, uuid, NULL, 0));
}

static int refuse(const char *path, const cJSON *there, const cJSON *cfg, const char *what_to_do,
                  hn_error *err) {
    char diff[400];
    hn_config_difference(there, cfg, diff, sizeof diff);
    return hn_fail(err, "cannot resume with a changed config: %s was written by a run whose config "
                        "differs from this one (%s). A resume continues a run with the config it "
                        "was started with; %s",
                   path, diff[0] ? diff : "unreadable config", what_to_do);
}

int hn_identity_check_resume(const hn_ckpt_settings *cs, const cJSON *cfg, const char *name,
                             const char *hash, hn_error *err) {
    char path[1200];
    long steps[1];
    if (hn_checkpoint_list(cs->run_dir, steps, 1) > 0) {
        cJSON *there = checkpoint_config(cs->run_dir, NULL, path, sizeof path);
        if (!there) return HN_OK; /* nothing readable: the trainer's resume reports it */
        char *text = cJSON_PrintUnformatted(there);
        char h[17];
        hn_results_config_hash(text ? text : "", h);
        free(text);
        int rc = HN_OK;
        if (strcmp(h, hash))
            rc = refuse(path, there, cfg, "run with the experiment as it was, or start a new "
                                          "run without --resume", err);
        cJSON_Delete(there);
        return rc;
    }
    if (!hn_config_is_overridden(cfg)) return HN_OK; /* nothing yet: start afresh */
    /* the run this override meant to continue: the declared one, or another override */
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", cs->run_dir);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    if (slash) *slash = 0;
    char own[1024];
    snprintf(own, sizeof own, "%s", base);
    DIR *d = opendir(slash ? parent : ".");
    if (!d) return HN_OK;
    size_t nlen = strlen(name);
    int rc = HN_OK;
    struct dirent *e;
    while (rc == HN_OK && (e = readdir(d))) {
        if (strncmp(e->d_name, name, nlen) || (e->d_name[nlen] && e->d_name[nlen] != '@') ||
            !strcmp(e->d_name, own))
            continue;
        char dir[2100];
        snprintf(dir, sizeof dir, "%s/%s", slash ? parent : ".", e->d_name);
        cJSON *there = checkpoint_config(dir, NULL, path, sizeof path);
        if (there)
            rc = refuse(path, there, cfg, "resume without the changed options (hnet run FILE "
                                          "--resume), or start a new run without --resume", err);
        cJSON_Delete(there);
    }
    closedir(d);
    return rc;
}
