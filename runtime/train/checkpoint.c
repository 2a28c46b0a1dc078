#include "train/checkpoint.h"

#include "core/fs.h"
#include "results/location.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#define OPT_M_PREFIX "optimizer.exp_avg."
#define OPT_V_PREFIX "optimizer.exp_avg_sq."
#define RES_BIAS_SUFFIX "residual_proj.bias"

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static float *download_all(const hn_backend *be, const float *dev, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (h && n) be->download(h, dev, n * sizeof *h);
    return h;
}

static void meta_double(cJSON *meta, const char *key, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%a", v);
    cJSON_AddStringToObject(meta, key, buf);
}
static void meta_long(cJSON *meta, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    cJSON_AddStringToObject(meta, key, buf);
}

static cJSON *train_metadata(const char *config_json, const char *run_name, const hn_ckpt_train *tr) {
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", HN_CHECKPOINT_FORMAT);
    if (config_json) cJSON_AddStringToObject(meta, "config", config_json);
    if (run_name) cJSON_AddStringToObject(meta, "run_name", run_name);
    if (!tr) return meta;
    meta_long(meta, "step", tr->step);
    meta_long(meta, "run_id", (long long)tr->run_id);
    if (tr->run_uuid[0]) cJSON_AddStringToObject(meta, "run_uuid", tr->run_uuid);
    if (tr->config_hash[0]) cJSON_AddStringToObject(meta, "config_hash", tr->config_hash);
    char rng[80];
    snprintf(rng, sizeof rng, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64,
             tr->data_rng.s[0], tr->data_rng.s[1], tr->data_rng.s[2], tr->data_rng.s[3]);
    cJSON_AddStringToObject(meta, "data_rng", rng);
    meta_double(meta, "bpb_sum", tr->bpb_sum);
    meta_double(meta, "flops_sum", tr->flops_sum);
    meta_double(meta, "aux_sum", tr->aux_sum);
    meta_long(meta, "bpb_n", tr->bpb_n);
    meta_long(meta, "flops_n", tr->flops_n);
    meta_double(meta, "first_valid_bpb", tr->first_valid_bpb);
    meta_double(meta, "final_valid_bpb", tr->final_valid_bpb);
    meta_double(meta, "bpic", tr->bpic);
    meta_double(meta, "final_train_bpb", tr->final_train_bpb);
    meta_long(meta, "world_size", tr->world_size > 0 ? tr->world_size : 1);
    return meta;
}

int hn_checkpoint_save(const char *path, const hn_model *m, const float *opt_m,
                       const float *opt_v, const char *config_json, const char *run_name,
                       const hn_ckpt_train *tr, hn_error *err) {
    const hn_param_store *ps = &m->params;
    int with_opt = opt_m && opt_v;
    int max = ps->n * (with_opt ? 3 : 1) + ps->n;
    hn_st_tensor *t = calloc((size_t)max, sizeof *t);
    char **names = calloc((size_t)max, sizeof *names);
    float *w = download_all(m->be, ps->values, ps->total);
    float *mh = with_opt ? download_all(m->be, opt_m, ps->total) : NULL;
    float *vh = with_opt ? download_all(m->be, opt_v, ps->total) : NULL;
    int rc = HN_ERR, n = 0;
    if (!t || !names || !w || (with_opt && (!mh || !vh))) {
        hn_fail(err, "%s: out of memory for the checkpoint", path);
        goto done;
    }
    for (int i = 0; i < ps->n; i++) {
        const hn_param_entry *e = &ps->entries[i];
        t[n] = (hn_st_tensor){.name = e->p.name, .ndim = e->p.ndim, .data = w + e->offset};
        memcpy(t[n].shape, e->p.shape, sizeof t[n].shape);
        n++;
    }
    for (int pass = 0; with_opt && pass < 2; pass++) {
        for (int i = 0; i < ps->n; i++) {
            const hn_param_entry *e = &ps->entries[i];
            const char *pre = pass ? OPT_V_PREFIX : OPT_M_PREFIX;
            names[n] = malloc(strlen(pre) + strlen(e->p.name) + 1);
            sprintf(names[n], "%s%s", pre, e->p.name);
            t[n] = (hn_st_tensor){.name = names[n], .ndim = e->p.ndim,
                                  .data = (pass ? vh : mh) + e->offset};
            memcpy(t[n].shape, e->p.shape, sizeof t[n].shape);
            n++;
        }
    }
    cJSON *meta = train_metadata(config_json, run_name, tr);
    rc = hn_safetensors_write(path, t, n, meta, err);
    cJSON_Delete(meta);
done:
    if (names)
        for (int i = 0; i < max; i++) free(names[i]);
    free(names);
    free(t);
    free(w);
    free(mh);
    free(vh);
    return rc;
}

/* ---------- loading ---------- */

/* Copies tensor name (shape must equal the parameter's) into host + offset. */
static int take(const hn_safetensors *f, const char *name, const hn_param_entry *e, float *host,
                hn_error *err) {
    int ndim;
    int64_t shape[HN_ST_MAX_DIMS];
    const uint8_t *src = hn_safetensors_find(f, name, &ndim, shape);
    /* older hnet kept the residual bias at zero and wrote no moments for it; files
     * written elsewhere may lack it too: it stays zero */
    if (!src && ends_with(name, RES_BIAS_SUFFIX)) return HN_OK;
    if (!src)
        return hn_fail(err, "%s has no tensor '%s' (saved by a model of another layout?)", f->path,
                       name);
    int same = ndim == e->p.ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == e->p.shape[d];
    if (!same) {
        char a[96] = "", b[96] = "";
        for (int d = 0; d < ndim && d < HN_ST_MAX_DIMS; d++)
            snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", d ? "," : "", (long long)shape[d]);
        for (int d = 0; d < e->p.ndim; d++)
            snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", d ? "," : "", (long long)e->p.shape[d]);
        return hn_fail(err, "%s: tensor '%s' has shape [%s]; the model expects [%s]", f->path, name,
                       a, b);
    }
    memcpy(host + e->offset, src, e->numel * sizeof(float));
    return HN_OK;
}

/* Every tensor in the file is a parameter or a moment. */
static int check_extras(const hn_safetensors *f, const hn_model *m, hn_error *err) {
    const cJSON *it;
    cJSON_ArrayForEach(it, f->header) {
        const char *nm = it->string;
        if (!strcmp(nm, "__metadata__") || !strncmp(nm, "optimizer.", 10)) continue;
        if (hn_params_find(&m->params, nm) >= 0) continue;
        return hn_fail(err, "%s has a tensor '%s' that this model does not have (another layout?)",
                       f->path, nm);
    }
    return HN_OK;
}

int hn_checkpoint_check_format(const hn_safetensors *f, hn_error *err) {
    const char *fmt = hn_safetensors_meta(f, "format");
    if (!fmt)
        return hn_fail(err, "%s is not an hnet checkpoint (its metadata has no 'format')", f->path);
    if (!strcmp(fmt, HN_CHECKPOINT_FORMAT)) {
        if (f->sealed != HN_ST_SEALED)
            return hn_fail(err, "%s is damaged: an %s file must carry the checksum '%s' of its "
                                "header and data, and this one does not", f->path, fmt,
                           HN_ST_SHA_KEY);
        return HN_OK;
    }
    if (!strcmp(fmt, HN_CHECKPOINT_FORMAT_V1)) {
        if (f->sealed == HN_ST_UNSEALED)
            return hn_fail(err, "%s is damaged: an %s file must carry the checksum '%s' of its "
                                "data, and this one does not", f->path, fmt, HN_ST_DATA_SHA_KEY);
        return HN_OK;
    }
    return hn_fail(err, "%s has checkpoint format '%.64s'; this hnet reads %s and %s (written by "
                        "a newer hnet?)", f->path, fmt, HN_CHECKPOINT_FORMAT, HN_CHECKPOINT_FORMAT_V1);
}

/* Copies every parameter's tensor `prefix`NAME into host (params.total floats). */
static int gather(const hn_safetensors *f, const hn_model *m, const char *prefix, float *host,
                  hn_error *err) {
    const hn_param_store *ps = &m->params;
    for (int i = 0; i < ps->n; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, ps->entries[i].p.name);
        if (take(f, name, &ps->entries[i], host, err)) return HN_ERR;
    }
    return HN_OK;
}

int hn_checkpoint_load_weights(const hn_safetensors *f, hn_model *m, hn_error *err) {
    hn_param_store *ps = &m->params;
    if (hn_checkpoint_check_format(f, err) || check_extras(f, m, err)) return HN_ERR;
    float *w = calloc(ps->total ? ps->total : 1, sizeof *w); /* padding between params: 0 */
    if (!w) return hn_fail(err, "out of memory loading %s", f->path);
    int rc = gather(f, m, "", w, err);
    if (!rc) m->be->upload(ps->values, w, ps->total * sizeof *w);
    free(w);
    return rc;
}

/* Metadata numbers are read strictly: the whole string, no spaces, no overflow. Every
 * value is range-checked before the trainer sees it (a crafted or damaged file must not
 * make it index, divide or overflow). */
static int meta_get_double(const hn_safetensors *f, const char *key, double *out, hn_error *err) {
    const char *v = hn_safetensors_meta(f, key);
    char *end;
    if (!v || !*v || *v == ' ' || (*out = strtod(v, &end), *end) || !isfinite(*out))
        return hn_fail(err, "%s: metadata '%s' is missing or not a finite number", f->path, key);
    return HN_OK;
}
static int meta_get_long(const hn_safetensors *f, const char *key, long lo, long hi, long *out,
                         hn_error *err) {
    const char *v = hn_safetensors_meta(f, key);
    const char *p = v && *v == '-' ? v + 1 : v;
    int digits = p && *p;
    for (const char *q = p; digits && *q; q++) digits = *q >= '0' && *q <= '9';
    if (!digits) return hn_fail(err, "%s: metadata '%s' is missing or malformed", f->path, key);
    errno = 0;
    long long x = strtoll(v, NULL, 10);
    if (errno == ERANGE || x < lo || x > hi)
        return hn_fail(err, "%s: metadata '%s' is %s; expected %ld..%ld (a damaged or crafted "
                            "checkpoint?)", f->path, key, v, lo, hi);
    *out = (long)x;
    return HN_OK;
}

/* train.steps of the config a checkpoint carries (LONG_MAX when it has none). */
static long config_steps(const char *config_text) {
    cJSON *cfg = config_text ? cJSON_Parse(config_text) : NULL;
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "train"), "steps");
    long steps = LONG_MAX;
    if (cJSON_IsNumber(st) && st->valuedouble >= 0 && st->valuedouble < 9.2e18)
        steps = (long)st->valuedouble;
    cJSON_Delete(cfg);
    return steps;
}

static int read_position(const hn_safetensors *f, hn_ckpt_train *tr, hn_error *err) {
    long step, run_id, bpb_n, flops_n;
    long max_steps = config_steps(hn_safetensors_meta(f, "config"));
    if (meta_get_long(f, "step", 0, max_steps, &step, err) ||
        meta_get_long(f, "run_id", 1, LONG_MAX, &run_id, err) ||
        meta_get_long(f, "bpb_n", 0, step, &bpb_n, err) ||
        meta_get_long(f, "flops_n", 0, step, &flops_n, err) ||
        meta_get_double(f, "bpb_sum", &tr->bpb_sum, err) ||
        meta_get_double(f, "flops_sum", &tr->flops_sum, err) ||
        meta_get_double(f, "aux_sum", &tr->aux_sum, err) ||
        meta_get_double(f, "first_valid_bpb", &tr->first_valid_bpb, err) ||
        meta_get_double(f, "final_valid_bpb", &tr->final_valid_bpb, err) ||
        meta_get_double(f, "bpic", &tr->bpic, err) ||
        meta_get_double(f, "final_train_bpb", &tr->final_train_bpb, err))
        return HN_ERR;
    tr->step = step;
    tr->run_id = run_id;
    const char *uuid = hn_safetensors_meta(f, "run_uuid"), *hash = hn_safetensors_meta(f, "config_hash");
    snprintf(tr->run_uuid, sizeof tr->run_uuid, "%s", uuid ? uuid : "");
    snprintf(tr->config_hash, sizeof tr->config_hash, "%s", hash ? hash : "");
    tr->bpb_n = bpb_n;
    tr->flops_n = flops_n;
    tr->world_size = 1; /* older files: one process */
    if (hn_safetensors_meta(f, "world_size")) {
        long world;
        if (meta_get_long(f, "world_size", 1, 1L << 24, &world, err)) return HN_ERR;
        tr->world_size = (int)world;
    }
    const char *rng = hn_safetensors_meta(f, "data_rng");
    unsigned long long s[4];
    char tail;
    if (!rng || strlen(rng) != 67 ||
        sscanf(rng, "%16llx,%16llx,%16llx,%16llx%c", &s[0], &s[1], &s[2], &s[3], &tail) != 4 ||
        !(s[0] | s[1] | s[2] | s[3]))
        return hn_fail(err, "%s: metadata 'data_rng' is missing or malformed", f->path);
    for (int i = 0; i < 4; i++) tr->data_rng.s[i] = s[i];
    return HN_OK;
}

int hn_checkpoint_load_train(const hn_safetensors *f, hn_model *m, float *opt_m, float *opt_v,
                             hn_ckpt_train *tr, hn_error *err) {
    /* everything is read and checked before anything is stored: a file that fails to
     * load leaves the model, the moments and tr as they were */
    hn_ckpt_train at;
    memset(&at, 0, sizeof at);
    if (hn_checkpoint_check_format(f, err) || read_position(f, &at, err) ||
        check_extras(f, m, err))
        return HN_ERR;
    hn_param_store *ps = &m->params;
    size_t n = ps->total ? ps->total : 1;
    float *w = calloc(n, sizeof *w), *hm = calloc(n, sizeof *hm), *hv = calloc(n, sizeof *hv);
    int rc = !w || !hm || !hv ? hn_fail(err, "out of memory loading %s", f->path) : HN_OK;
    if (!rc) rc = gather(f, m, "", w, err);
    if (!rc) rc = gather(f, m, OPT_M_PREFIX, hm, err);
    if (!rc) rc = gather(f, m, OPT_V_PREFIX, hv, err);
    if (!rc) {
        m->be->upload(ps->values, w, ps->total * sizeof *w);
        m->be->upload(opt_m, hm, ps->total * sizeof *hm);
        m->be->upload(opt_v, hv, ps->total * sizeof *hv);
        *tr = at;
    }
    free(w);
    free(hm);
    free(hv);
    return rc;
}

/* ---------- folders ---------- */

void hn_checkpoint_run_dir(char *out, size_t n, const char *dir, const char *run_name) {
    snprintf(out, n, "%s/", dir);
    size_t k = strlen(out);
    /* a run name is free text: keep it one path component */
    for (const char *p = run_name; *p && k + 1 < n; p++)
        out[k++] = (*p == '/' || *p == '\\' || (p == run_name && *p == '.')) ? '_' : *p;
    out[k] = 0;
}

void hn_checkpoint_file(char *out, size_t n, const char *run_dir, long step) {
    snprintf(out, n, "%s/step-%08ld.safetensors", run_dir, step);
}

static int by_step_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

int hn_checkpoint_list(const char *run_dir, long *steps, int max) {
    DIR *d = opendir(run_dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        long step;
        char tail[32];
        if (sscanf(e->d_name, "step-%ld.%31s", &step, tail) == 2 && !strcmp(tail, "safetensors"))
            steps[n++] = step;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, by_step_desc);
    return n;
}

void hn_checkpoint_prune(const char *run_dir, int keep) {
    long steps[1024];
    int n = hn_checkpoint_list(run_dir, steps, 1024);
    for (int i = keep; i < n; i++) {
        char path[1024];
        hn_checkpoint_file(path, sizeof path, run_dir, steps[i]);
        unlink(path);
    }
}

void hn_checkpoint_remove_stale(const char *run_dir) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step, pid;
        int end = 0;
        if (sscanf(e->d_name, "step-%ld.safetensors.tmp.%ld%n", &step, &pid, &end) != 2 ||
            e->d_name[end] || pid <= 0 || pid > INT32_MAX)
            continue;
        /* this process writes checkpoints one at a time: its own leftovers are stale too */
        int gone = pid == (long)getpid() || (kill((pid_t)pid, 0) == -1 && errno == ESRCH);
        if (!gone) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
        if (!unlink(path))
            fprintf(stderr, "hnet: removed %s (left by a writer that was killed)\n", path);
    }
    closedir(d);
}

/* What a use of a checkpoint decided. */
enum { USE_OK, USE_SKIP, USE_FATAL };
typedef int (*ckpt_use)(hn_safetensors *f, void *ctx, hn_error *err);

/* Offers use() each checkpoint of run_dir, newest first, that reads back intact and is of
 * a format hnet reads, until one is taken (1) or one is fatal (-1); a damaged file or a
 * skipped one is reported to warn and the previous one is tried (0: none was taken; err
 * says why the last one was not). */
static int newest_usable(const char *run_dir, ckpt_use use, void *ctx, FILE *warn,
                         hn_error *err) {
    long steps[1024];
    int n = hn_checkpoint_list(run_dir, steps, 1024);
    hn_error why;
    for (int i = 0; i < n; i++) {
        char path[1100];
        hn_checkpoint_file(path, sizeof path, run_dir, steps[i]);
        hn_safetensors f;
        int got = USE_SKIP;
        if (!hn_safetensors_read(path, &f, &why)) {
            got = hn_checkpoint_check_format(&f, &why) ? USE_SKIP : use(&f, ctx, &why);
            hn_safetensors_free(&f);
        }
        if (got == USE_OK) return 1;
        if (got == USE_FATAL) {
            if (err) *err = why;
            return -1;
        }
        if (warn)
            fprintf(warn, "hnet: refusing checkpoint %s\n  %s\n  %s\n", path, why.msg,
                    i + 1 < n ? "falling back to the previous checkpoint" : "no older checkpoint left");
        if (err) *err = why;
    }
    if (n == 0 && err) hn_fail(err, "%s: no checkpoints", run_dir);
    return 0;
}

static int take_file(hn_safetensors *f, void *out, hn_error *err) {
    *(hn_safetensors *)out = *f;
    memset(f, 0, sizeof *f); /* now the caller's */
    return USE_OK;
}

int hn_checkpoint_latest(const char *run_dir, hn_safetensors *out, FILE *warn, hn_error *err) {
    int rc = newest_usable(run_dir, take_file, out, warn, err);
    return rc < 0 ? 0 : rc;
}

/* The seed a checkpoint's config gives its model (1 when it has none). */
static int config_seed(const cJSON *cfg, const char *path, uint64_t *seed, hn_error *err) {
    const cJSON *v = cJSON_GetObjectItem(cfg, "seed");
    *seed = 1;
    if (!v) return HN_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0))
        return hn_fail(err, "%s: its config's seed is not an integer in [0, 2^53]", path);
    *seed = (uint64_t)v->valuedouble;
    return HN_OK;
}

typedef struct open_ctx {
    const hn_registry *reg;
    const hn_backend *be;
    hn_model *m;
    cJSON *cfg;
} open_ctx;

/* Builds the model the checkpoint's config describes and loads its weights. */
static int open_one(hn_safetensors *f, void *ctx, hn_error *err) {
    open_ctx *c = ctx;
    const char *text = hn_safetensors_meta(f, "config");
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    const cJSON *model = cJSON_GetObjectItem(cfg, "model");
    uint64_t seed;
    if (!cJSON_IsObject(model)) {
        hn_fail(err, "%s carries no model config in its metadata (not written by hnet?)", f->path);
        cJSON_Delete(cfg);
        return USE_SKIP;
    }
    if (config_seed(cfg, f->path, &seed, err)) {
        cJSON_Delete(cfg);
        return USE_SKIP;
    }
    if (hn_model_build(c->m, model, c->reg, c->be, seed, err)) {
        hn_fail_prefix(err, "building the model of %s", f->path);
        cJSON_Delete(cfg);
        return USE_SKIP;
    }
    if (hn_checkpoint_load_weights(f, c->m, err)) {
        hn_model_free(c->m);
        cJSON_Delete(cfg);
        return USE_SKIP;
    }
    c->cfg = cfg;
    return USE_OK;
}

int hn_checkpoint_open_model(const char *path, const hn_registry *reg, const hn_backend *be,
                             hn_model *m, cJSON **config, hn_error *err) {
    open_ctx c = {.reg = reg, .be = be, .m = m};
    struct stat sb;
    *config = NULL;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) {
        if (newest_usable(path, open_one, &c, stderr, err) != 1) return HN_ERR;
    } else {
        hn_safetensors f;
        if (hn_safetensors_read(path, &f, err)) return HN_ERR;
        int rc = hn_checkpoint_check_format(&f, err) ? USE_SKIP : open_one(&f, &c, err);
        hn_safetensors_free(&f);
        if (rc != USE_OK) return HN_ERR;
    }
    *config = c.cfg;
    return HN_OK;
}

/* ---------- the trainer's use ---------- */

void hn_checkpoint_settings(const cJSON *cfg, const char *run_name, hn_ckpt_settings *cs) {
    const cJSON *c = cJSON_GetObjectItem(cfg, "checkpoint");
    const cJSON *every = cJSON_GetObjectItem(c, "every"), *keep = cJSON_GetObjectItem(c, "keep");
    const cJSON *dir = cJSON_GetObjectItem(c, "dir");
    cs->every = cJSON_IsNumber(every) ? (long)every->valuedouble : 0;
    cs->keep = cJSON_IsNumber(keep) && keep->valueint > 0 ? keep->valueint : 2;
    cs->world_size = 1;
    /* relative to the experiment's project, not the current directory (results/location.h) */
    char base[4096];
    const char *configured = cJSON_IsString(dir) ? dir->valuestring : "results/checkpoints";
    hn_error ignored;
    if (hn_results_config_path(cfg, configured, base, sizeof base, &ignored) != HN_OK)
        snprintf(base, sizeof base, "%s", configured);
    hn_checkpoint_run_dir(cs->run_dir, sizeof cs->run_dir, base, run_name);
}

/* The sections that decide what a run computes must be the same as when it stopped. */
static int same_experiment(const cJSON *cfg, const hn_safetensors *f, hn_error *err) {
    const char *text = hn_safetensors_meta(f, "config");
    cJSON *old = text ? cJSON_Parse(text) : NULL;
    const char *keys[] = {"seed", "data", "model", "train"};
    int rc = HN_OK;
    for (size_t i = 0; i < 4 && rc == HN_OK; i++) {
        const cJSON *was = cJSON_GetObjectItem(old, keys[i]), *now = cJSON_GetObjectItem(cfg, keys[i]);
        if (!old || ((was || now) && !cJSON_Compare(was, now, 1)))
            rc = hn_fail(err, "%s was written by a different experiment (its '%s' section differs); "
                              "resume with the same experiment file, or delete %s to start afresh",
                         f->path, keys[i], f->path);
    }
    cJSON_Delete(old);
    return rc;
}

/* A resume continues with the processes that wrote the checkpoint: with another number
 * the global batch is the same but summed in another order, so the curve would differ
 * from the uninterrupted one in the last bits. */
static int same_world_size(const hn_safetensors *f, int world, hn_error *err) {
    long was = 1;
    if (hn_safetensors_meta(f, "world_size") && meta_get_long(f, "world_size", 1, 1L << 24, &was, err))
        return HN_ERR;
    if (was == world) return HN_OK;
    char how[64];
    if (was == 1) snprintf(how, sizeof how, "as one process (hnet run FILE --resume)");
    else snprintf(how, sizeof how, "with mpirun -np %ld hnet run FILE --resume", was);
    return hn_fail(err,
                   "%s was written by a run of %ld process%s and this one has %d: a run resumes with "
                   "the number of processes it was trained with (its curve then continues exactly); "
                   "resume it %s",
                   f->path, was, was == 1 ? "" : "es (data parallel)", world, how);
}

typedef struct resume_ctx {
    const cJSON *cfg;
    int world_size;
    hn_model *m;
    float *opt_m, *opt_v;
    hn_ckpt_train *tr;
} resume_ctx;

/* Another experiment's checkpoint is the user's mistake (fatal); a file that does not
 * load is passed over for the previous one. */
static int resume_one(hn_safetensors *f, void *ctx, hn_error *err) {
    resume_ctx *c = ctx;
    if (same_experiment(c->cfg, f, err) || same_world_size(f, c->world_size, err)) return USE_FATAL;
    if (hn_checkpoint_load_train(f, c->m, c->opt_m, c->opt_v, c->tr, err)) return USE_SKIP;
    fprintf(stderr, "hnet: resuming from %s (step %ld)\n", f->path, c->tr->step);
    return USE_OK;
}

int hn_checkpoint_resume(const hn_ckpt_settings *cs, const cJSON *cfg, hn_model *m, float *opt_m,
                         float *opt_v, hn_ckpt_train *tr, int *resumed, hn_error *err) {
    *resumed = 0;
    hn_checkpoint_remove_stale(cs->run_dir);
    long steps[1];
    if (hn_checkpoint_list(cs->run_dir, steps, 1) == 0) return HN_OK; /* nothing yet */
    resume_ctx c = {.cfg = cfg, .world_size = cs->world_size > 0 ? cs->world_size : 1, .m = m,
                    .opt_m = opt_m, .opt_v = opt_v, .tr = tr};
    hn_error why;
    int rc = newest_usable(cs->run_dir, resume_one, &c, stderr, &why);
    if (rc < 0) {
        *err = why;
        return HN_ERR;
    }
    if (rc == 0) {
        fprintf(stderr, "hnet: no usable checkpoint in %s; starting the run afresh\n", cs->run_dir);
        return HN_OK;
    }
    *resumed = 1;
    return HN_OK;
}

int hn_checkpoint_write(const hn_ckpt_settings *cs, const cJSON *cfg, const char *run_name,
                        const hn_model *m, const float *opt_m, const float *opt_v,
                        const hn_ckpt_train *tr, hn_error *err) {
    if (hn_mkdir_p(cs->run_dir, err)) return hn_fail_prefix(err, "checkpoints");
    hn_checkpoint_remove_stale(cs->run_dir);
    char path[1100];
    hn_checkpoint_file(path, sizeof path, cs->run_dir, tr->step);
    char *text = cJSON_PrintUnformatted(cfg);
    int rc = hn_checkpoint_save(path, m, opt_m, opt_v, text, run_name, tr, err);
    free(text);
    if (rc) return HN_ERR;
    hn_checkpoint_prune(cs->run_dir, cs->keep);
    return HN_OK;
}

void hn_checkpoint_test_kill(long step) {
    const char *v = getenv("HNET_TEST_SIGKILL_AT_STEP");
    if (v && *v && atol(v) == step) raise(SIGKILL);
}

int hn_checkpoint_test_nan_grad(long step) {
    const char *v = getenv("HNET_TEST_NAN_GRAD_AT_STEP");
    return v && *v && atol(v) == step;
}

void hn_checkpoint_test_stop(long step, int rank) {
    const char *v = getenv("HNET_TEST_SIGTERM_AFTER_FORWARD");
    if (!v || !*v || atol(v) != step) return;
    const char *at = strchr(v, '@');
    if (!at || atol(at + 1) == rank) raise(SIGTERM);
}
