#include "train/init.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "train/checkpoint.h"

int hn_init_settings(const cJSON *cfg, int n_groups, hn_init *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    const cJSON *init = cJSON_GetObjectItem(cfg, "init");
    if (!init) return HN_OK;
    const cJSON *path = cJSON_GetObjectItem(init, "path"), *freeze = cJSON_GetObjectItem(init, "freeze");
    if (!cJSON_IsString(path) || !path->valuestring[0])
        return hn_fail(err, "init: expected checkpoint \"PATH\"");
    out->has = 1;
    snprintf(out->path, sizeof out->path, "%s", path->valuestring);
    const cJSON *s;
    int i = 0;
    cJSON_ArrayForEach(s, freeze) {
        i++;
        if (!cJSON_IsNumber(s) || s->valueint < 0 || s->valueint >= n_groups || s->valueint >= HN_INIT_MAX_GROUPS)
            return hn_fail(err, "init.freeze[%d]: no stage %g in this model (its stages are 0..%d; 0 = "
                                "the outermost with the embedding and LM head)",
                           i, cJSON_IsNumber(s) ? s->valuedouble : -1.0, n_groups - 1);
        if (!out->frozen[s->valueint]) out->n_frozen++;
        out->frozen[s->valueint] = 1;
    }
    return HN_OK;
}

int hn_init_load(const hn_init *in, hn_model *m, hn_error *err) {
    struct stat sb;
    if (stat(in->path, &sb)) return hn_fail(err, "init: %s: no such checkpoint file or folder", in->path);
    hn_safetensors f;
    if (S_ISDIR(sb.st_mode)) {
        if (hn_checkpoint_latest(in->path, &f, stderr, err) != 1)
            return hn_fail_prefix(err, "init: no checkpoint to start from");
    } else if (hn_safetensors_read(in->path, &f, err)) {
        return hn_fail_prefix(err, "init");
    }
    int rc = hn_checkpoint_load_weights(&f, m, err);
    hn_safetensors_free(&f);
    return rc ? hn_fail_prefix(err, "init: the checkpoint does not fit this model") : HN_OK;
}

void hn_init_zero_frozen_grads(const hn_init *in, hn_model *m) {
    if (!in->n_frozen) return;
    for (int i = 0; i < m->params.n; i++) {
        const hn_param_entry *e = &m->params.entries[i];
        if (e->group >= 0 && e->group < HN_INIT_MAX_GROUPS && in->frozen[e->group])
            m->be->zero(e->p.grad, e->numel * sizeof(float));
    }
}
