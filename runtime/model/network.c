#include "model/network.h"

#include "plugin/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNS 64

int hn_layout_parse(const char *layout, char *letters, int *counts, int max_runs, hn_error *err) {
    int n = 0;
    const char *s = layout;
    if (!*s) return hn_fail(err, "empty layout string");
    while (*s) {
        if (!isalpha((unsigned char)*s))
            return hn_fail(err, "layout \"%s\": expected a layer letter at position %d, found '%c'",
                           layout, (int)(s - layout) + 1, *s);
        char letter = *s++;
        if (!isdigit((unsigned char)*s))
            return hn_fail(err, "layout \"%s\": letter '%c' must be followed by a count", layout,
                           letter);
        long count = strtol(s, (char **)&s, 10);
        if (count <= 0 || count > 100000)
            return hn_fail(err, "layout \"%s\": bad count for '%c'", layout, letter);
        if (n == max_runs) return hn_fail(err, "layout \"%s\": too many runs", layout);
        letters[n] = letter;
        counts[n] = (int)count;
        n++;
    }
    return n;
}

static const cJSON *stage_item(const cJSON *arr, int stage) {
    if (!arr) return NULL;
    if (!cJSON_IsArray(arr)) return arr;
    return cJSON_GetArrayItem(arr, stage);
}

/* Where a sublayer's settings are in the experiment file, for messages: the model
 * constructor's key ("isotropic.attention", "hnet.mlp[2]"; the stage index only when
 * there are several stages). */
static void key_path(char *out, size_t n, const cJSON *model, const char *key, int stage) {
    const cJSON *kind = cJSON_GetObjectItem(model, "kind");
    const cJSON *stages = cJSON_GetObjectItem(model, "stages");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "model";
    if (cJSON_IsNumber(stages) && stages->valueint > 1) snprintf(out, n, "%s.%s[%d]", k, key, stage + 1);
    else snprintf(out, n, "%s.%s", k, key);
}

/* Declares one sublayer: its pre-norm weight, then the plugin's parameters. A plugin's
 * refusal is prefixed with where (its settings' key path). */
static int add_sublayer(hn_network *net, const hn_layer_plugin *p, const cJSON *cfg, int stage,
                        int n_sub_total, hn_param_store *store, const char *block_prefix,
                        const char *norm_name, const char *role_name, const char *where, int group,
                        hn_error *err) {
    hn_sublayer *sl = &net->subs[net->n_sub];
    hn_param norm = {.ndim = 1, .shape = {net->d}, .init = HN_INIT_ONES, .weight_decay = 0};
    snprintf(norm.name, sizeof norm.name, "%s.weight", norm_name);
    sl->norm_param = hn_params_declare(store, block_prefix, &norm, group, NULL, NULL, 0);
    hn_layer_args args = {
        .d_model = net->d, .stage = stage, .layer = net->n_sub, .n_layers = n_sub_total, .cfg = hn_config_view(cfg)};
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s%s.", block_prefix, role_name);
    if (hn_layer_create(&sl->layer, p, &args, store, prefix, group, err))
        return hn_fail_prefix(err, "%s", where);
    net->n_sub++;
    return HN_OK;
}

int hn_network_build(hn_network *net, const char *layout, int d, int stage, const cJSON *model,
                     const hn_registry *reg, hn_param_store *store, const char *prefix,
                     int group, hn_error *err) {
    memset(net, 0, sizeof *net);
    net->d = d;
    const cJSON *eps = cJSON_GetObjectItem(model, "norm_eps");
    net->eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-5f;
    char letters[MAX_RUNS];
    int counts[MAX_RUNS];
    int runs = hn_layout_parse(layout, letters, counts, MAX_RUNS, err);
    if (runs < 0) return HN_ERR;

    const cJSON *mlp = stage_item(cJSON_GetObjectItem(model, "mlp"), stage);
    const hn_layer_plugin *stage_mlp = NULL;
    if (mlp && cJSON_IsObject(mlp)) {
        const cJSON *name = cJSON_GetObjectItem(mlp, "plugin");
        const char *mlp_name = cJSON_IsString(name) ? name->valuestring : "swiglu";
        stage_mlp = hn_registry_find(reg, mlp_name);
        if (!stage_mlp) return hn_fail(err, "model.mlp: no plugin named '%s' is loaded", mlp_name);
    }

    /* count sublayers first so plugins can scale their init by depth */
    int total_sub = 0, total_blocks = 0;
    for (int r = 0; r < runs; r++) {
        const hn_letter_def *def = hn_registry_letter(reg, letters[r]);
        if (!def) return hn_fail(err, "layout \"%s\": unknown layer letter '%c'", layout, letters[r]);
        int has_mlp = def->mlp && (strcmp(def->mlp, "*") || stage_mlp);
        total_sub += counts[r] * (1 + has_mlp);
        total_blocks += counts[r];
    }
    net->subs = calloc((size_t)total_sub, sizeof *net->subs);
    net->n_blocks = total_blocks;

    int block = 0;
    for (int r = 0; r < runs; r++) {
        const hn_letter_def *def = hn_registry_letter(reg, letters[r]);
        const hn_layer_plugin *mixer = hn_registry_find(reg, def->mixer);
        if (!mixer)
            return hn_fail(err, "letter '%c' needs the plugin '%s', which is not loaded", def->letter,
                           def->mixer);
        const hn_layer_plugin *block_mlp = NULL;
        const cJSON *mlp_cfg = mlp;
        if (def->mlp && !strcmp(def->mlp, "*")) {
            block_mlp = stage_mlp;
        } else if (def->mlp) {
            block_mlp = hn_registry_find(reg, def->mlp);
            if (!block_mlp)
                return hn_fail(err, "letter '%c' needs the MLP plugin '%s', which is not loaded",
                               def->letter, def->mlp);
            if (!mlp_cfg || strcmp(block_mlp->name, stage_mlp ? stage_mlp->name : "")) {
                mlp_cfg = stage_item(cJSON_GetObjectItem(cJSON_GetObjectItem(model, "layers"),
                                                         block_mlp->name), stage);
            }
        }
        const cJSON *mixer_cfg = stage_item(
            cJSON_GetObjectItem(cJSON_GetObjectItem(model, "layers"), mixer->name), stage);
        cJSON *empty = NULL;
        if (!mixer_cfg) mixer_cfg = empty = cJSON_CreateObject();
        char mixer_where[128], mlp_where[128];
        key_path(mixer_where, sizeof mixer_where, model, mixer->name, stage);
        key_path(mlp_where, sizeof mlp_where, model,
                 block_mlp && mlp_cfg == mlp ? "mlp" : block_mlp ? block_mlp->name : "mlp", stage);
        for (int i = 0; i < counts[r]; i++, block++) {
            char bp[256];
            snprintf(bp, sizeof bp, "%slayers.%d.", prefix, block);
            if (add_sublayer(net, mixer, mixer_cfg, stage, total_sub, store, bp, "norm1", "mixer",
                             mixer_where, group, err) ||
                (block_mlp && add_sublayer(net, block_mlp, mlp_cfg, stage, total_sub, store, bp,
                                           "norm2", "mlp", mlp_where, group, err))) {
                cJSON_Delete(empty);
                return HN_ERR;
            }
        }
        cJSON_Delete(empty);
    }
    hn_param fin = {.ndim = 1, .shape = {d}, .init = HN_INIT_ONES, .weight_decay = 0};
    snprintf(fin.name, sizeof fin.name, "rmsnorm.weight");
    net->final_norm_param = hn_params_declare(store, prefix, &fin, group, NULL, NULL, 0);
    return HN_OK;
}

void hn_network_bind(hn_network *net, const hn_param_store *store) {
    net->store = store;
    for (int i = 0; i < net->n_sub; i++) hn_layer_bind(&net->subs[i].layer, store);
}

static void free_buffers(hn_network *net, const hn_backend *be) {
    if (net->resid)
        for (int i = 0; i <= net->n_sub; i++)
            if (net->resid[i] && !(net->again && net->again[i])) be->free(net->resid[i]);
    if (net->rstd)
        for (int i = 0; i <= net->n_sub; i++)
            if (net->rstd[i]) be->free(net->rstd[i]);
    if (net->normed) be->free(net->normed);
    free(net->resid);
    free(net->rstd);
    free(net->again);
    net->again = NULL;
    if (net->d_resid) be->free(net->d_resid);
    if (net->d_normed) be->free(net->d_normed);
    if (net->d_resid16) be->free(net->d_resid16);
    net->resid = net->rstd = NULL;
    net->normed = net->d_resid = net->d_normed = NULL;
    net->d_resid16 = net->out16 = NULL;
    net->max_T = 0;
    net->full = 0;
}

void hn_network_free(hn_network *net, const hn_backend *be) {
    free_buffers(net, be);
    for (int i = 0; i < net->n_sub; i++) hn_layer_destroy(&net->subs[i].layer, be);
    free(net->subs);
    memset(net, 0, sizeof *net);
}

/* The dtype the backend keeps activations in (float32 for a table without typed ops) */
static hn_dtype activation_dtype(const hn_backend *be) {
    return be->activation_dtype ? be->activation_dtype(be) : HN_F32;
}

/* A sublayer with the typed hooks reads its input (and its backward's dy) in the
 * activation dtype, rounded once by the norm that makes it; any other takes float32. */
static hn_dtype input_dtype(const hn_sublayer *sl, const hn_backend *be) {
    return sl->layer.plugin->forward_t ? activation_dtype(be) : HN_F32;
}

/* Which residuals a training forward makes again instead of keeping (hn_network.again):
 * resid[k+1] when sublayer k offers output_again, pairs never overlapping (resid[k+2],
 * whose buffer holds resid[k+1], is kept) and the last residual always kept. */
static void plan_again(hn_network *net) {
    for (int k = 0; k + 1 < net->n_sub; k++)
        if (!net->keep_resid && net->subs[k].layer.plugin->output_again) net->again[++k] = 1;
}

/* Sizes the activation buffers for T rows; grows geometrically so a varying T (dynamic
 * chunking) settles after a few steps. An inference forward needs two residual buffers,
 * one rstd and no gradients; a training forward (full) all of them, less the residuals
 * it makes again (plan_again). One [T, d] normed buffer in the widest input dtype of the
 * sublayers serves every sublayer and, once they are done, the final norm's bf16 out16. */
static int ensure_buffers(hn_network *net, const hn_backend *be, int T, int full, hn_error *err) {
    if (T <= net->max_T && (net->full || !full)) return HN_OK;
    int cap = net->max_T ? net->max_T : T;
    while (cap < T) cap *= 2;
    full |= net->full; /* a training run's validation keeps the training buffers */
    free_buffers(net, be);
    size_t row = (size_t)net->d * sizeof(float), normed_row = (size_t)net->d * 2;
    for (int i = 0; i < net->n_sub; i++)
        if (input_dtype(&net->subs[i], be) == HN_F32) normed_row = row;
    if (activation_dtype(be) == HN_F32) normed_row = row;
    int n_resid = full || net->n_sub < 1 ? net->n_sub + 1 : 2;
    net->resid = calloc((size_t)net->n_sub + 1, sizeof(float *));
    net->rstd = calloc((size_t)net->n_sub + 1, sizeof(float *));
    net->again = calloc((size_t)net->n_sub + 1, 1);
    int ok = net->resid && net->rstd && net->again;
    if (ok && full) plan_again(net);
    for (int i = net->n_sub; ok && i >= 0; i--) { /* from the last: again[i] takes i+1's */
        if (i < n_resid)
            ok &= !!(net->resid[i] = net->again[i] ? net->resid[i + 1] : be->alloc(row * (size_t)cap));
        if (i == 0 || full) ok &= !!(net->rstd[i] = be->alloc(sizeof(float) * (size_t)cap));
    }
    ok &= !!(net->normed = be->alloc(normed_row * (size_t)cap));
    if (full) {
        ok &= !!(net->d_resid = be->alloc(row * (size_t)cap));
        if (!net->dy_spare) ok &= !!(net->d_normed = be->alloc(row * (size_t)cap));
        if (activation_dtype(be) == HN_BF16) /* bf16 copies: half a float32 row */
            ok &= !!(net->d_resid16 = be->alloc(row / 2 * (size_t)cap));
    }
    /* the final norm writes it after the last sublayer has read normed, and the owner
     * reads it before the backward makes normed again */
    if (activation_dtype(be) == HN_BF16 && net->want_out16) net->out16 = net->normed;
    if (!ok) {
        free_buffers(net, be);
        return hn_fail(err, "out of %s memory for activations (%d rows x %d)", be->name, cap, net->d);
    }
    net->max_T = cap;
    net->full = full;
    return HN_OK;
}

static const float *param_value(const hn_network *net, int idx) {
    return net->store->entries[idx].p.value;
}
static float *param_grad(const hn_network *net, int idx) { return net->store->entries[idx].p.grad; }

static int sublayer_forward(hn_sublayer *sl, const hn_layer_ctx *ctx, hn_tensor x, float *y,
                            hn_error *err) {
    const hn_layer_plugin *p = sl->layer.plugin;
    int rc = p->forward_t ? p->forward_t(sl->layer.self, ctx, x, y, err)
                          : p->forward(sl->layer.self, ctx, (const float *)x.data, y, err);
    return rc ? hn_fail_prefix(err, "%s forward", p->name) : HN_OK;
}

/* the norm's failure: arguments the typed op refused (a bug, not a user error) */
static int norm_failed(const hn_backend *be, const char *what, hn_error *err) {
    const char *why = be->device_error ? be->device_error() : NULL;
    return hn_fail(err, "%s: the %s backend refused it%s%s", what, be->name, why ? ": " : "",
                   why ? why : "");
}

int hn_network_forward(hn_network *net, const hn_backend *be, const hn_seqs *seqs,
                       const float *x, float *y, hn_error *err) {
    int T = seqs->total, D = net->d, inf = net->inference;
    if (ensure_buffers(net, be, T, !inf, err)) return HN_ERR;
    size_t n = (size_t)T * (size_t)D;
    hn_layer_ctx ctx = {.be = be, .seqs = seqs, .inference = inf};
    net->last_inference = inf;
    /* training keeps resid[i] for every sublayer; inference reads x itself first, then
     * alternates resid[1] and resid[0] (nothing is read back later) */
    /* an inference forward reads x where it is, unless y is x's buffer (the model's) */
    int read_x = inf && x != y;
    if (!read_x) be->copy(net->resid[0], x, n * sizeof(float));
    net->aux = 0;
    hn_rmsnorm_params np = {.eps = net->eps};
    const float *in = read_x ? x : net->resid[0];
    if (net->n_sub == 0) { /* only the final norm */
        np.x = hn_tensor_f32(in, T, D);
        np.w = param_value(net, net->final_norm_param);
        np.rstd = net->rstd[0];
        np.y = hn_tensor_f32(y, T, D);
        np.y2 = net->out16 ? hn_tensor_of(net->out16, HN_BF16, T, D) : (hn_tensor){0};
        return be->rmsnorm_forward_t(be, &np) ? norm_failed(be, "the final norm", err) : HN_OK;
    }
    np.x = hn_tensor_f32(in, T, D);
    np.w = param_value(net, net->subs[0].norm_param);
    np.rstd = net->rstd[0];
    np.y = hn_tensor_of(net->normed, input_dtype(&net->subs[0], be), T, D);
    if (be->rmsnorm_forward_t(be, &np)) return norm_failed(be, "the first pre-norm", err);
    for (int i = 0; i < net->n_sub; i++) {
        hn_sublayer *sl = &net->subs[i];
        float *out = inf ? net->resid[(i + 1) & 1] : net->resid[i + 1];
        /* the branch is written straight into the next residual; the fused op adds the
         * residual to it and makes the next norm in the same pass. Where resid[i] is made
         * again (it lives in resid[i+1]'s buffer) the branch goes to d_resid and is added
         * into resid[i] in place: the same sum (x + b = b + x), in resid[i+1]'s buffer. */
        int swap = !inf && net->again[i]; /* then out == in, resid[i]'s buffer */
        float *branch = swap ? net->d_resid : out;
        if (sublayer_forward(sl, &ctx, hn_tensor_of(net->normed, input_dtype(sl, be), T, D),
                             branch, err))
            return HN_ERR;
        if (sl->layer.plugin->aux_loss) net->aux += sl->layer.plugin->aux_loss(sl->layer.self);
        int last = i + 1 == net->n_sub;
        np = (hn_rmsnorm_params){.x = hn_tensor_f32(out, T, D),
                                 .branch = hn_tensor_f32(swap ? branch : in, T, D),
                                 .rstd = net->rstd[inf ? 0 : i + 1], .eps = net->eps};
        if (last) {
            np.w = param_value(net, net->final_norm_param);
            np.y = hn_tensor_f32(y, T, D);
            np.y2 = net->out16 ? hn_tensor_of(net->out16, HN_BF16, T, D) : (hn_tensor){0};
        } else {
            np.w = param_value(net, net->subs[i + 1].norm_param);
            np.y = hn_tensor_of(net->normed, input_dtype(&net->subs[i + 1], be), T, D);
        }
        if (be->add_rmsnorm_forward_t(be, &np)) return norm_failed(be, "a residual add + norm", err);
        in = out;
    }
    return HN_OK;
}

hn_tensor hn_network_output(const hn_network *net, const float *y, int T) {
    if (net->out16) return hn_tensor_of(net->out16, HN_BF16, T, net->d);
    return hn_tensor_f32(y, T, net->d);
}

/* dx2 of a norm's backward: d_resid rounded for sublayer `next` (the one whose dy it is
 * now) when that sublayer takes a typed dy in bf16; none otherwise */
static hn_tensor dy_copy(const hn_network *net, const hn_backend *be, int next, int T) {
    int want = next < 0 ? net->want_din16 : input_dtype(&net->subs[next], be) == HN_BF16;
    if (!want || !net->d_resid16) return (hn_tensor){0};
    return hn_tensor_of(net->d_resid16, HN_BF16, T, net->d);
}

hn_tensor hn_network_input_grad(const hn_network *net, const float *dx, int T) {
    if (net->want_din16 && net->d_resid16) return hn_tensor_of(net->d_resid16, HN_BF16, T, net->d);
    return hn_tensor_f32(dx, T, net->d);
}

int hn_network_backward(hn_network *net, const hn_backend *be, const hn_seqs *seqs,
                        const float *dy, float *dx, hn_error *err) {
    int T = seqs->total, D = net->d;
    if (net->last_inference)
        return hn_fail(err, "backward after an inference forward (evaluation keeps no "
                            "activations): run a training forward first");
    size_t n = (size_t)T * (size_t)D;
    hn_layer_ctx ctx = {.be = be, .seqs = seqs};
    for (int r = 0; r < HN_NETWORK_FINAL_AT_START; r++)
        hn_params_grads_done(net->store, net->final_at_start[r].first, net->final_at_start[r].count);
    be->zero(net->d_resid, n * sizeof(float));
    hn_rmsnorm_params np = {.x = hn_tensor_f32(net->resid[net->n_sub], T, D),
                            .w = param_value(net, net->final_norm_param),
                            .rstd = net->rstd[net->n_sub], .dy = hn_tensor_f32(dy, T, D),
                            .dx = hn_tensor_f32(net->d_resid, T, D),
                            .dw = param_grad(net, net->final_norm_param),
                            .dx2 = dy_copy(net, be, net->n_sub - 1, T)};
    if (be->rmsnorm_backward_t(be, &np)) return norm_failed(be, "the final norm's backward", err);
    hn_params_grads_done(net->store, net->final_norm_param, 1);
    float *d_normed = net->dy_spare ? (float *)dy : net->d_normed; /* dy is read: spent */
    for (int i = net->n_sub - 1; i >= 0; i--) {
        hn_sublayer *sl = &net->subs[i];
        const hn_layer_plugin *p = sl->layer.plugin;
        hn_dtype it = input_dtype(sl, be);
        if (net->again[i]) { /* resid[i] = resid[i-1] + f(...) again, over spent resid[i+1] */
            const hn_sublayer *prev = &net->subs[i - 1];
            if (prev->layer.plugin->output_again(prev->layer.self, &ctx, net->resid[i], err))
                return hn_fail_prefix(err, "%s output again", prev->layer.plugin->name);
            be->add(net->resid[i], net->resid[i - 1], n);
        }
        /* d_resid holds dL/d resid[i+1]; the residual passes it through unchanged and
         * the sublayer adds its branch */
        /* the sublayer's input again, at the address its forward saw (one normed
         * buffer serves every sublayer; recomputing it is cheaper than keeping n_sub) */
        np = (hn_rmsnorm_params){.x = hn_tensor_f32(net->resid[i], T, D),
                                 .w = param_value(net, sl->norm_param), .rstd = net->rstd[i],
                                 .eps = net->eps, .y = hn_tensor_of(net->normed, it, T, D)};
        if (be->rmsnorm_forward_t(be, &np)) return norm_failed(be, "a pre-norm again", err);
        /* d_normed starts empty: a plugin that can writes it, for the others it is cleared */
        hn_layer_ctx bctx = ctx;
        bctx.write_dx = p->writes_dx;
        if (!bctx.write_dx) be->zero(d_normed, n * sizeof(float));
        int rc;
        if (p->backward_t) {
            hn_tensor dyt = it == HN_BF16 && net->d_resid16
                                ? hn_tensor_of(net->d_resid16, HN_BF16, T, D)
                                : hn_tensor_f32(net->d_resid, T, D);
            rc = p->backward_t(sl->layer.self, &bctx, dyt, d_normed, err);
        } else {
            rc = p->backward(sl->layer.self, &bctx, net->d_resid, d_normed, err);
        }
        if (rc) return hn_fail_prefix(err, "%s backward", p->name);
        np.dy = hn_tensor_f32(d_normed, T, D);
        np.dx = hn_tensor_f32(net->d_resid, T, D);
        np.dw = param_grad(net, sl->norm_param);
        np.dx2 = dy_copy(net, be, i - 1, T);
        if (be->rmsnorm_backward_t(be, &np)) return norm_failed(be, "a pre-norm's backward", err);
        /* this sublayer's parameters and its pre-norm are done with */
        hn_params_grads_done(net->store, sl->layer.first_param, sl->layer.n_params);
        hn_params_grads_done(net->store, sl->norm_param, 1);
    }
    if (dx) be->add(dx, net->d_resid, n);
    return HN_OK;
}

const float *hn_network_input_grad_f32(const hn_network *net) { return net->d_resid; }

double hn_network_flops(const hn_network *net, const int32_t *lens, int n) {
    double f = 0;
    for (int i = 0; i < net->n_sub; i++)
        f += net->subs[i].layer.plugin->flops(net->subs[i].layer.self, lens, n);
    return f;
}
