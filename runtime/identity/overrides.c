/* Command-line overrides applied to the resolved config, and config differences. */
#include "identity/overrides.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replaces (or adds) obj[key] with v; records "path": v in cfg.overrides when it
 * changed the value. Takes ownership of v. */
static int set_value(cJSON *cfg, cJSON *obj, const char *key, const char *path, cJSON *v,
                     hn_error *err) {
    if (!v || !obj) {
        cJSON_Delete(v);
        return hn_fail(err, "%s: out of memory applying a command-line override", path);
    }
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (old && cJSON_Compare(old, v, 1)) {
        cJSON_Delete(v);
        return HN_OK;
    }
    cJSON *rec = cJSON_Duplicate(v, 1);
    if (old) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
    cJSON *ov = cJSON_GetObjectItemCaseSensitive(cfg, "overrides");
    if (!ov) ov = cJSON_AddObjectToObject(cfg, "overrides");
    if (!ov || !rec) {
        cJSON_Delete(rec);
        return hn_fail(err, "%s: out of memory applying a command-line override", path);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ov, path);
    cJSON_AddItemToObject(ov, path, rec);
    return HN_OK;
}

static cJSON *section(cJSON *cfg, const char *key) {
    cJSON *s = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsObject(s) ? s : cJSON_AddObjectToObject(cfg, key);
}

int hn_config_apply_overrides(cJSON *cfg, const hn_config_overrides *o, hn_error *err) {
    if (!o) return HN_OK;
    if (o->steps > 0 &&
        set_value(cfg, section(cfg, "train"), "steps", "train.steps",
                  cJSON_CreateNumber((double)o->steps), err))
        return HN_ERR;
    if (o->batch > 0 &&
        set_value(cfg, section(cfg, "train"), "batch", "train.batch",
                  cJSON_CreateNumber((double)o->batch), err))
        return HN_ERR;
    if (o->device && set_value(cfg, cfg, "backend", "backend", cJSON_CreateString(o->device), err))
        return HN_ERR;
    return HN_OK;
}

int hn_config_is_overridden(const cJSON *cfg) {
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(cfg, "overrides");
    return cJSON_IsObject(ov) && ov->child != NULL;
}

static void value_text(const cJSON *v, char *out, size_t n) {
    if (!v) {
        snprintf(out, n, "absent");
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    snprintf(out, n, "%.60s%s", s ? s : "?", s && strlen(s) > 60 ? "..." : "");
    free(s);
}

static int differ(const cJSON *a, const cJSON *b, char *path, size_t cap, char *out, size_t n) {
    if (a && b && cJSON_Compare(a, b, 1)) return 0;
    size_t len = strlen(path);
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *sides[2] = {a, b};
        for (int s = 0; s < 2; s++)
            for (const cJSON *c = sides[s]->child; c; c = c->next) {
                snprintf(path + len, cap - len, "%s%s", len ? "." : "", c->string);
                if (differ(cJSON_GetObjectItemCaseSensitive(a, c->string),
                           cJSON_GetObjectItemCaseSensitive(b, c->string), path, cap, out, n))
                    return 1;
                path[len] = 0;
            }
    }
    char x[96], y[96];
    value_text(a, x, sizeof x);
    value_text(b, y, sizeof y);
    snprintf(out, n, "%s: %s there, %s here", len ? path : "(config)", x, y);
    return 1;
}

void hn_config_difference(const cJSON *there, const cJSON *here, char *out, size_t n) {
    char path[512] = "";
    out[0] = 0;
    differ(there, here, path, sizeof path, out, n);
}
