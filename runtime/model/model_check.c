#include "model/model_check.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "model/model.h"
#include "model/sublayers.h"

static const char *chunker_name(const cJSON *model) {
    const cJSON *chunker = cJSON_GetObjectItem(model, "chunker");
    const char *keys[] = {"plugin", "kind", "name"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItem(chunker, keys[i]);
        if (cJSON_IsString(v)) return v->valuestring;
    }
    return NULL;
}

static int chunker_missing(const cJSON *model, const hn_registry *reg) {
    const char *name = chunker_name(model);
    return name && !hn_registry_find_chunker(reg, name);
}

int hn_model_check(const cJSON *model, const hn_registry *reg, const char *path, hn_error *err) {
    if (!reg || chunker_missing(model, reg)) return HN_OK;
    hn_model m;
    int rc = hn_model_plan(&m, model, reg, hn_backend_cpu(), err);
    hn_model_free(&m);
    if (rc && strncmp(err->msg, path, strlen(path))) hn_fail_prefix(err, "%s", path);
    return rc;
}

static void count_sublayer(const hn_layer *l, const char *prefix, void *ctx) { ++*(long *)ctx; }

static double number_at(const cJSON *j, const char *section, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, section), key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

double hn_experiment_memory_estimate(const cJSON *exp, const hn_registry *reg,
                                     double *param_bytes, double *activation_bytes) {
    const cJSON *model = cJSON_GetObjectItem(exp, "model");
    hn_model m;
    hn_error err;
    *param_bytes = *activation_bytes = 0;
    if (!reg || chunker_missing(model, reg) || hn_model_plan(&m, model, reg, hn_backend_cpu(), &err)) {
        if (reg && !chunker_missing(model, reg)) hn_model_free(&m);
        return 0;
    }
    long n_sub = 0;
    hn_model_visit_sublayers(&m, count_sublayer, &n_sub);
    double params = (double)hn_model_param_count(&m);
    hn_model_free(&m);
    double d_max = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(model, "d")) if (d->valuedouble > d_max) d_max = d->valuedouble;
    double vocab = number_at(exp, "model", "vocab", 256);
    double batch = number_at(exp, "train", "batch", 1), eval_batch = number_at(exp, "eval", "batch", 1);
    /* a model over tokens: data.seq_tokens when given, else seq_len bytes bound its tokens
     * (each token stands for one byte at least) */
    double positions = number_at(exp, "data", "seq_tokens", number_at(exp, "data", "seq_len", 1));
    double rows = (batch > eval_batch ? batch : eval_batch) * positions;
    /* fp32 value, gradient and two AdamW moments per parameter; per row, the residual
     * stream, the norm's output and the plugin's kept buffers of every sublayer (8
     * widths each, generous for attention's q/k/v/out and Mamba-2's expanded inputs),
     * the model's own x/h/dh/dx and the logits with their gradient */
    *param_bytes = 16.0 * params;
    *activation_bytes = 4.0 * rows * (8.0 * (double)n_sub * d_max + 4.0 * d_max + 2.0 * vocab);
    return *param_bytes + *activation_bytes;
}

static double machine_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

#define GIB (1024.0 * 1024.0 * 1024.0)

int hn_experiment_memory_check(const cJSON *exp, const hn_registry *reg, hn_error *err) {
    double params, acts;
    double need = hn_experiment_memory_estimate(exp, reg, &params, &acts);
    double have = machine_bytes();
    if (need <= 0 || have <= 0 || need <= have) return HN_OK;
    if (acts >= params)
        return hn_fail(err, "train.batch: a batch of %.0f x %.0f bytes needs about %.0f GiB of "
                            "memory (activations %.0f GiB, parameters and optimizer state %.1f "
                            "GiB), more than this machine's %.0f GiB; lower train.batch or "
                            "data.seq_len",
                       number_at(exp, "train", "batch", 1), number_at(exp, "data", "seq_len", 1),
                       need / GIB, acts / GIB, params / GIB, have / GIB);
    return hn_fail(err, "model: this model needs about %.0f GiB of memory to train (%.3g "
                        "parameters: %.0f GiB with their gradients and optimizer state; "
                        "activations %.0f GiB), more than this machine's %.0f GiB",
                   need / GIB, params / 16.0, params / GIB, acts / GIB, have / GIB);
}
