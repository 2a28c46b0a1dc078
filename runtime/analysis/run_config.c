/* A run's resolved config as the views read it: corpus, seed group, differences. */
#include <stdlib.h>
#include <string.h>

#include "analysis/run_config.h"
#include "results/store.h"

void hn_config_corpus(const cJSON *config, char *out, size_t size) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(config, "data");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(data, "source");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(data, "name");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(data, "path");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(data, "seed");
    if (!cJSON_IsString(src)) snprintf(out, size, "?");
    else if (!strcmp(src->valuestring, "synthetic") && cJSON_IsNumber(seed))
        snprintf(out, size, "synthetic(seed=%.0f)", seed->valuedouble);
    else if (!strcmp(src->valuestring, "named") && cJSON_IsString(name))
        snprintf(out, size, "%s", name->valuestring);
    else if (cJSON_IsString(path))
        snprintf(out, size, "%s", path->valuestring);
    else
        snprintf(out, size, "%s", src->valuestring);
}

void hn_config_seed_group(const cJSON *config, char out[17]) {
    static const char *const where_not_what[] = {"name", "seed", "overrides", "log", "checkpoint"};
    cJSON *c = cJSON_Duplicate(config, 1);
    for (size_t i = 0; c && i < sizeof where_not_what / sizeof where_not_what[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(c, where_not_what[i]);
    char *text = c ? cJSON_PrintUnformatted(c) : NULL;
    hn_results_config_hash(text ? text : "", out);
    free(text);
    cJSON_Delete(c);
}

/* ---- diff: both configs flattened to sorted (path, value) lists, then merged ---- */

typedef struct leaf {
    char *path, *value;
} leaf;

typedef struct leaves {
    leaf *v;
    int n, cap;
} leaves;

static void add_leaf(leaves *l, const char *path, const cJSON *item) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n].path = strdup(path);
    l->v[l->n].value = cJSON_PrintUnformatted(item);
    l->n++;
}

static void flatten(leaves *l, const char *prefix, const cJSON *item) {
    int is_obj = cJSON_IsObject(item), is_arr = cJSON_IsArray(item);
    if ((!is_obj && !is_arr) || !item->child) {
        add_leaf(l, *prefix ? prefix : "(config)", item);
        return;
    }
    int k = 0;
    for (const cJSON *c = item->child; c; c = c->next, k++) {
        size_t n = strlen(prefix) + (c->string ? strlen(c->string) : 0) + 32;
        char *p = malloc(n);
        if (is_obj) snprintf(p, n, "%s%s%s", prefix, *prefix ? "." : "", c->string ? c->string : "?");
        else snprintf(p, n, "%s[%d]", prefix, k + 1); /* 1-based, as in the Lua file */
        flatten(l, p, c);
        free(p);
    }
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const leaf *)a)->path, ((const leaf *)b)->path);
}

static void free_leaves(leaves *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].value);
    }
    free(l->v);
}

int hn_config_diff(const cJSON *a, const cJSON *b, FILE *out) {
    leaves la = {0}, lb = {0};
    flatten(&la, "", a);
    flatten(&lb, "", b);
    qsort(la.v, (size_t)la.n, sizeof *la.v, by_path);
    qsort(lb.v, (size_t)lb.n, sizeof *lb.v, by_path);
    int i = 0, j = 0, n = 0;
    while (i < la.n || j < lb.n) {
        int c = i >= la.n ? 1 : j >= lb.n ? -1 : strcmp(la.v[i].path, lb.v[j].path);
        if (c < 0) {
            fprintf(out, "%s: %s -> (absent)\n", la.v[i].path, la.v[i].value), n++, i++;
        } else if (c > 0) {
            fprintf(out, "%s: (absent) -> %s\n", lb.v[j].path, lb.v[j].value), n++, j++;
        } else {
            if (strcmp(la.v[i].value, lb.v[j].value))
                fprintf(out, "%s: %s -> %s\n", la.v[i].path, la.v[i].value, lb.v[j].value), n++;
            i++, j++;
        }
    }
    free_leaves(&la);
    free_leaves(&lb);
    return n;
}
