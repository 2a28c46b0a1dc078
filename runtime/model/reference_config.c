#include "model/reference_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The value of stage s of a per-stage entry (a list, or one value for every stage). */
static const cJSON *at_stage(const cJSON *v, int s) {
    return cJSON_IsArray(v) ? cJSON_GetArrayItem(v, s) : v;
}

static int known_keys(const cJSON *obj, const char *const *keys, const char *name,
                      const char *what, hn_error *err) {
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        int ok = 0;
        for (const char *const *k = keys; *k && !ok; k++) ok = !strcmp(it->string, *k);
        if (!ok) {
            char list[256] = "";
            for (const char *const *k = keys; *k; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k == keys ? "" : ", ", *k);
            return hn_fail(err, "%s: %s: unknown key '%s'; known keys: %s", name, what, it->string, list);
        }
    }
    return HN_OK;
}

/* A per-stage list of S integers (or one integer) -> a JSON list of S numbers. */
static int stage_ints(const cJSON *v, int S, const char *name, const char *key, cJSON **out,
                      hn_error *err) {
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) != S)
        return hn_fail(err, "%s: %s: expected %d entries (one per stage), found %d", name, key, S,
                       cJSON_GetArraySize(v));
    *out = cJSON_CreateArray();
    for (int s = 0; s < S; s++) {
        const cJSON *x = at_stage(v, s);
        if (!cJSON_IsNumber(x) || x->valuedouble != (double)(long)x->valuedouble) {
            cJSON_Delete(*out);
            return hn_fail(err, "%s: %s[%d]: expected an integer", name, key, s);
        }
        cJSON_AddItemToArray(*out, cJSON_CreateNumber((double)(long)x->valuedouble));
    }
    return HN_OK;
}

/* Depth of the nested arch_layout ([enc, [inner], dec] -> 2); which letters it uses. */
static int layout_stages(const cJSON *layout, int *mamba, int *attention) {
    if (!cJSON_IsArray(layout)) return -1;
    int n = cJSON_GetArraySize(layout);
    if (n != 1 && n != 3) return -1;
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(layout, i);
        if (cJSON_IsString(e)) {
            for (const char *c = e->valuestring; *c; c++) {
                if (*c == 'm' || *c == 'M') *mamba = 1;
                if (*c == 't' || *c == 'T') *attention = 1;
            }
        } else if (!(n == 3 && i == 1)) {
            return -1;
        }
    }
    if (n == 1) return 1;
    int inner = layout_stages(cJSON_GetArrayItem(layout, 1), mamba, attention);
    return inner < 0 ? -1 : inner + 1;
}

static int convert_ssm(const cJSON *ssm, const char *name, cJSON *args, hn_error *err) {
    static const char *const keys[] = {"d_state", "d_conv", "expand", "chunk_size", "headdim",
                                       "ngroups", NULL};
    static const double defaults[] = {128, 4, 2, 256, 64, 1};
    if (ssm && !cJSON_IsObject(ssm)) return hn_fail(err, "%s: ssm_cfg: expected an object", name);
    if (ssm && known_keys(ssm, keys, name, "ssm_cfg", err)) return HN_ERR;
    cJSON *m = cJSON_AddObjectToObject(args, "mamba2");
    for (int i = 0; keys[i]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ssm, keys[i]);
        if (v && (!cJSON_IsNumber(v) || v->valuedouble < 1))
            return hn_fail(err, "%s: ssm_cfg.%s: expected a positive integer", name, keys[i]);
        cJSON_AddNumberToObject(m, keys[i], v ? v->valuedouble : defaults[i]);
    }
    return HN_OK;
}

static int convert_attention(const cJSON *attn, int S, const char *name, cJSON *args,
                             hn_error *err) {
    static const char *const keys[] = {"num_heads", "rotary_emb_dim", "window_size", NULL};
    if (!cJSON_IsObject(attn))
        return hn_fail(err, "%s: attn_cfg: the layout has attention blocks, so attn_cfg "
                            "{num_heads, ...} is required", name);
    if (known_keys(attn, keys, name, "attn_cfg", err)) return HN_ERR;
    const cJSON *heads = cJSON_GetObjectItem(attn, "num_heads");
    if (!heads) return hn_fail(err, "%s: attn_cfg.num_heads: required", name);
    cJSON *zero = cJSON_CreateNumber(0), *global = cJSON_CreateNumber(-1);
    const cJSON *rot = cJSON_GetObjectItem(attn, "rotary_emb_dim");
    const cJSON *win = cJSON_GetObjectItem(attn, "window_size");
    cJSON *h = NULL, *r = NULL, *w = NULL;
    int rc = stage_ints(heads, S, name, "attn_cfg.num_heads", &h, err) ||
             stage_ints(rot ? rot : zero, S, name, "attn_cfg.rotary_emb_dim", &r, err) ||
             stage_ints(win ? win : global, S, name, "attn_cfg.window_size", &w, err);
    cJSON_Delete(zero);
    cJSON_Delete(global);
    if (rc) {
        cJSON_Delete(h);
        cJSON_Delete(r);
        cJSON_Delete(w);
        return HN_ERR;
    }
    cJSON *window = cJSON_CreateArray(); /* flash-attn's -1: global */
    const cJSON *it;
    cJSON_ArrayForEach(it, w) {
        if (it->valuedouble < 0) cJSON_AddItemToArray(window, cJSON_CreateString("global"));
        else cJSON_AddItemToArray(window, cJSON_CreateNumber(it->valuedouble));
    }
    cJSON_Delete(w);
    cJSON *a = cJSON_AddObjectToObject(args, "attention");
    cJSON_AddItemToObject(a, "heads", h);
    cJSON_AddItemToObject(a, "rotary_dim", r);
    cJSON_AddItemToObject(a, "window", window);
    return HN_OK;
}

int hn_reference_config_convert(const cJSON *ref, const char *name, cJSON **out, hn_error *err) {
    static const char *const keys[] = {"arch_layout", "d_model", "d_intermediate", "vocab_size",
                                       "ssm_cfg", "attn_cfg", "tie_embeddings", NULL};
    *out = NULL;
    if (!cJSON_IsObject(ref)) return hn_fail(err, "%s: expected a JSON object (an HNetConfig)", name);
    if (known_keys(ref, keys, name, "config", err)) return HN_ERR;
    const cJSON *layout = cJSON_GetObjectItem(ref, "arch_layout");
    int mamba = 0, attention = 0, S = layout_stages(layout, &mamba, &attention);
    if (S < 1)
        return hn_fail(err, "%s: arch_layout: expected a nested layout such as [\"m4\", [\"T22\"], "
                            "\"m4\"] (lists of 3 with the inner layout in the middle, innermost a list of 1)",
                       name);
    const cJSON *tie = cJSON_GetObjectItem(ref, "tie_embeddings");
    if (cJSON_IsTrue(tie))
        return hn_fail(err, "%s: tie_embeddings: true is not supported (hnet's embedding and LM "
                            "head are separate tensors)", name);
    if (tie && !cJSON_IsBool(tie)) return hn_fail(err, "%s: tie_embeddings: expected true or false", name);

    cJSON *res = cJSON_CreateObject(), *args = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "kind", S == 1 ? "isotropic" : "hnet");
    cJSON_AddItemToObject(res, "args", args);
    cJSON_AddItemToObject(args, "layout", cJSON_Duplicate(S == 1 ? cJSON_GetArrayItem(layout, 0) : layout, 1));
    cJSON *d = NULL, *mlp = NULL;
    const cJSON *dm = cJSON_GetObjectItem(ref, "d_model"), *di = cJSON_GetObjectItem(ref, "d_intermediate");
    if (!dm) {
        hn_fail(err, "%s: d_model: required (one width per stage)", name);
        goto fail;
    }
    if (stage_ints(dm, S, name, "d_model", &d, err)) goto fail;
    cJSON_AddItemToObject(args, "d", S == 1 ? cJSON_Duplicate(cJSON_GetArrayItem(d, 0), 1) : d);
    if (S == 1) cJSON_Delete(d);
    cJSON *zero = cJSON_CreateNumber(0);
    int rc = stage_ints(di ? di : zero, S, name, "d_intermediate", &mlp, err);
    cJSON_Delete(zero);
    if (rc) goto fail;
    cJSON *it;
    cJSON_ArrayForEach(it, mlp) { /* the reference's SwiGLU: multiple_of = 128 */
        long h = (long)it->valuedouble;
        cJSON_SetNumberValue(it, h <= 0 ? 0 : (double)((h + 127) / 128 * 128));
    }
    cJSON_AddItemToObject(args, "mlp", S == 1 ? cJSON_Duplicate(cJSON_GetArrayItem(mlp, 0), 1) : mlp);
    if (S == 1) cJSON_Delete(mlp);
    const cJSON *vocab = cJSON_GetObjectItem(ref, "vocab_size");
    if (vocab && !cJSON_IsNumber(vocab)) {
        hn_fail(err, "%s: vocab_size: expected an integer", name);
        goto fail;
    }
    cJSON_AddNumberToObject(args, "vocab", vocab ? vocab->valuedouble : 256);
    cJSON_AddNumberToObject(args, "norm_eps", 1e-5);
    const cJSON *ssm = cJSON_GetObjectItem(ref, "ssm_cfg"), *attn = cJSON_GetObjectItem(ref, "attn_cfg");
    if (mamba && convert_ssm(ssm, name, args, err)) goto fail;
    if (attention && convert_attention(attn, S, name, args, err)) goto fail;
    *out = res;
    return HN_OK;
fail:
    cJSON_Delete(res);
    return HN_ERR;
}

int hn_reference_config_read(const char *path, cJSON **out, hn_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return hn_fail(err, "reference config %s: cannot open it", path);
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) {
                free(text);
                fclose(f);
                return hn_fail(err, "reference config %s: larger than 16 MB, not a config", path);
            }
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return hn_fail(err, "reference config %s: out of memory", path);
            }
            text = grown;
        }
        size_t got = fread(text + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    fclose(f);
    text[n] = 0;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    if (!ref) return hn_fail(err, "reference config %s: not valid JSON", path);
    int rc = hn_reference_config_convert(ref, path, out, err);
    cJSON_Delete(ref);
    return rc;
}
