#include "model/stage.h"

#include "core/phase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops_chunk.h"
#include "plugin/config.h"

/* ---------- building ---------- */

static const cJSON *stage_item(const cJSON *v, int stage) {
    if (cJSON_IsArray(v)) return cJSON_GetArrayItem(v, stage);
    return v;
}

static int width_of(const cJSON *model, int depth, hn_error *err) {
    const cJSON *d = stage_item(cJSON_GetObjectItem(model, "d"), depth);
    if (!cJSON_IsNumber(d) || d->valueint <= 0)
        return hn_fail(err, "model.d: no positive width for stage %d", depth);
    return d->valueint;
}

/* The chunker config of one stage: per-stage lists reduced to this stage's entry. */
static cJSON *chunker_config_for(const cJSON *chunker, int depth) {
    cJSON *out = cJSON_CreateObject();
    const cJSON *item;
    cJSON_ArrayForEach(item, chunker) {
        const cJSON *v = stage_item(item, depth);
        if (v) cJSON_AddItemToObject(out, item->string, cJSON_Duplicate(v, 1));
    }
    return out;
}

static const char *chunker_name(const cJSON *chunker) {
    const char *keys[] = {"plugin", "kind", "name"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItem(chunker, keys[i]);
        if (cJSON_IsString(v)) return v->valuestring;
    }
    return NULL;
}

static int flag(const cJSON *cfg, const char *key, int fallback) {
    const cJSON *v = cJSON_GetObjectItem(cfg, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}
static double number(const cJSON *cfg, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItem(cfg, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static int setup_chunker(hn_stage *st, const cJSON *model, const hn_registry *reg,
                         hn_param_store *store, const char *prefix, hn_error *err) {
    const cJSON *chunker = cJSON_GetObjectItem(model, "chunker");
    const char *name = chunker_name(chunker);
    if (!name) return hn_fail(err, "model.chunker: a hierarchical model needs a chunker (dc{}, space{} or pool{})");
    st->chunker = hn_registry_find_chunker(reg, name);
    if (!st->chunker) return hn_fail(err, "model.chunker: no chunker plugin named '%s' is loaded", name);
    cJSON *given = chunker_config_for(chunker, st->depth);
    cJSON_DeleteItemFromObject(given, "plugin"); /* the name, not a setting */
    cJSON_DeleteItemFromObject(given, "kind");
    st->chunker_cfg = hn_config_with_defaults(given, st->chunker->config_keys,
                                              st->chunker->n_config_keys, name, err);
    cJSON_Delete(given);
    if (!st->chunker_cfg) return hn_fail_prefix(err, "model.chunker");
    const cJSON *cfg = st->chunker_cfg;
    st->smoothing = flag(cfg, "smoothing", st->chunker->differentiable);
    st->ste = flag(cfg, "ste", st->chunker->differentiable);
    st->ratio_target = number(cfg, "ratio", 0);
    st->alpha = st->chunker->differentiable ? number(cfg, "alpha", 0.03) : 0;
    const cJSON *ds = cJSON_GetObjectItem(cfg, "downsample");
    const char *mode = cJSON_IsString(ds) ? ds->valuestring : "select";
    if (!strcmp(mode, "select")) st->downsample = HN_DOWNSAMPLE_SELECT;
    else if (!strcmp(mode, "mean")) st->downsample = HN_DOWNSAMPLE_MEAN;
    else if (!strcmp(mode, "max")) st->downsample = HN_DOWNSAMPLE_MAX;
    else return hn_fail(err, "model.chunker.downsample: expected select, mean or max, found '%s'", mode);

    hn_chunker_args args = {.d_model = st->d, .stage = st->depth, .cfg = hn_config_view(cfg)};
    if (st->chunker->create(&args, &st->chunker_self, err))
        return hn_fail_prefix(err, "chunker %s at stage %d", name, st->depth);
    st->chunker_n = st->chunker->param_count(st->chunker_self);
    st->chunker_first = store->n;
    if (st->chunker_n > 0) {
        hn_param *specs = calloc((size_t)st->chunker_n, sizeof *specs);
        st->chunker->describe_params(st->chunker_self, specs);
        char p[256];
        snprintf(p, sizeof p, "%srouting_module.", prefix);
        for (int i = 0; i < st->chunker_n; i++) {
            hn_params_declare(store, p, &specs[i], st->depth, st->chunker->init_custom,
                              st->chunker_self, i);
        }
        free(specs);
    }
    return HN_OK;
}

int hn_stage_build(hn_stage *st, const cJSON *layout, int depth, const cJSON *model,
                   const hn_registry *reg, hn_param_store *store, const char *prefix,
                   hn_error *err) {
    memset(st, 0, sizeof *st);
    st->depth = depth;
    st->residual_param = st->residual_bias_param = st->pad_param = -1;
    int d = width_of(model, depth, err);
    if (d < 0) return HN_ERR;
    st->d = d;
    int n = cJSON_GetArraySize(layout);
    if (!cJSON_IsArray(layout) || (n != 1 && n != 3))
        return hn_fail(err, "model.layout: stage %d must be a list of 1 (main network) or 3 "
                            "(encoder, inner, decoder) entries", depth);
    char p[256];
    if (n == 1) {
        const cJSON *main = cJSON_GetArrayItem(layout, 0);
        if (!cJSON_IsString(main))
            return hn_fail(err, "model.layout: the main network of stage %d must be a layout string", depth);
        st->innermost = 1;
        /* the reference wraps the innermost Isotropic as P.main_network */
        snprintf(p, sizeof p, "%smain_network.", prefix);
        return hn_network_build(&st->main, main->valuestring, d, depth, model, reg, store, p,
                                depth, err);
    }
    const cJSON *enc = cJSON_GetArrayItem(layout, 0), *dec = cJSON_GetArrayItem(layout, 2);
    if (!cJSON_IsString(enc) || !cJSON_IsString(dec))
        return hn_fail(err, "model.layout: the encoder and decoder of stage %d must be layout strings", depth);
    snprintf(p, sizeof p, "%sencoder.", prefix);
    if (hn_network_build(&st->encoder, enc->valuestring, d, depth, model, reg, store, p, depth, err))
        return HN_ERR;
    st->encoder.want_out16 = 1; /* for the routing and residual projections */
    if (setup_chunker(st, model, reg, store, prefix, err)) return HN_ERR;

    st->inner = calloc(1, sizeof *st->inner);
    snprintf(p, sizeof p, "%smain_network.", prefix);
    if (hn_stage_build(st->inner, cJSON_GetArrayItem(layout, 1), depth + 1, model, reg, store, p, err))
        return HN_ERR;
    st->d_inner = st->inner->d;
    if (st->d_inner < d)
        return hn_fail(err, "model.d: widths must not shrink inwards (stage %d: %d, stage %d: %d)",
                       depth, d, depth + 1, st->d_inner);
    if (st->d_inner > d) {
        hn_param pad = {.name = "pad_dimension", .ndim = 1, .shape = {st->d_inner - d},
                        .init = HN_INIT_ZEROS, .weight_decay = 0};
        st->pad_param = hn_params_declare(store, p, &pad, depth, NULL, NULL, 0); /* the inner stage's, as in the reference */
    }
    /* H-Net: a Linear on the residual path, starting at zero (Section 2.3.1); the
     * original SpaceByte adds the encoder output unchanged */
    const cJSON *kind = cJSON_GetObjectItem(model, "kind");
    st->residual_identity = cJSON_IsString(kind) && !strcmp(kind->valuestring, "spacebyte");
    if (!st->residual_identity) {
        /* the reference's nn.Linear(d, d): weight zeroed, bias left at PyTorch's default
         * uniform(+-1/sqrt(d)), and trained */
        hn_param res = {.name = "residual_proj.weight", .ndim = 2, .shape = {d, d},
                        .init = HN_INIT_ZEROS, .weight_decay = 1};
        st->residual_param = hn_params_declare(store, prefix, &res, depth, NULL, NULL, 0);
        float bound = 1.0f / sqrtf((float)d);
        hn_param bias = {.name = "residual_proj.bias", .ndim = 1, .shape = {d},
                         .init = HN_INIT_UNIFORM, .a = -bound, .b = bound, .weight_decay = 0};
        st->residual_bias_param = hn_params_declare(store, prefix, &bias, depth, NULL, NULL, 0);
    }
    snprintf(p, sizeof p, "%sdecoder.", prefix);
    if (hn_network_build(&st->decoder, dec->valuestring, d, depth, model, reg, store, p, depth, err))
        return HN_ERR;
    st->decoder.want_din16 = !st->residual_identity; /* the residual projection's backward */
    return HN_OK;
}

void hn_stage_bind(hn_stage *st, const hn_param_store *store) {
    st->store = store;
    if (st->innermost) {
        hn_network_bind(&st->main, store);
        return;
    }
    hn_network_bind(&st->encoder, store);
    hn_network_bind(&st->decoder, store);
    if (st->chunker_n > 0) {
        hn_param *bound = calloc((size_t)st->chunker_n, sizeof *bound);
        hn_params_slice(store, st->chunker_first, st->chunker_n, bound);
        st->chunker->bind(st->chunker_self, bound);
        free(bound);
    } else {
        st->chunker->bind(st->chunker_self, NULL);
    }
    hn_stage_bind(st->inner, store);
}

/* ---------- buffers ---------- */

#define DEV_FLOAT_BUFS(X) X(xhat, D) X(p, 1) X(dp, 1) X(P, 1) X(dP, 1) X(x_sel, D) X(x_in, DI) \
    X(z, DI) X(z_n, D) X(zbar, D) X(dec_in, D) X(d_xhat, D) X(d_dec_in, D) X(d_zbar, D) \
    X(d_zn, D) X(d_z, DI) X(d_xin, DI) X(d_xsel, D)
#define DEV_INT_BUFS(X) X(b, 1) X(idx, 1) X(chunk, 1) X(first, 1) X(argmax, D) X(bytes_in, 1) \
    X(pos_in, 1)
#define HOST_INT_BUFS(X) X(b_h) X(idx_h) X(chunk_h) X(first_h) X(bytes_in_h) X(pos_in_h)

/* The plan's readback buffer: sum_p, then the inner offsets (8-byte aligned). */
static size_t plan_readback_bytes(int n_seqs) {
    return sizeof(double) + ((size_t)n_seqs + 1) * sizeof(int32_t);
}
static int32_t *plan_offsets(void *plan) { return (int32_t *)((char *)plan + sizeof(double)); }

static void free_buffers(hn_stage *st, const hn_backend *be) {
#define FREE_DEV(name, w) if (st->name) be->free(st->name); st->name = NULL;
#define FREE_HOST(name) free(st->name); st->name = NULL;
    DEV_FLOAT_BUFS(FREE_DEV)
    DEV_INT_BUFS(FREE_DEV)
    HOST_INT_BUFS(FREE_HOST)
    if (st->plan) be->free(st->plan);
    free(st->plan_h);
    free(st->p_h);
    st->plan = st->plan_h = NULL;
    st->offsets_in = st->offsets_in_h = NULL;
    st->p_h = NULL;
    st->cap = 0;
}

/* Every buffer has cap rows (the inner length never exceeds the outer one); offsets
 * need one more entry than sequences, and sequences never outnumber rows. */
static int ensure_buffers(hn_stage *st, const hn_backend *be, int T, hn_error *err) {
    if (T <= st->cap) return HN_OK;
    int cap = st->cap ? st->cap : T;
    while (cap < T) cap *= 2;
    free_buffers(st, be);
    size_t rows = (size_t)cap + 1, D = (size_t)st->d, DI = (size_t)st->d_inner;
    int ok = 1;
#define ALLOC_DEV_F(name, w) ok &= !!(st->name = be->alloc(rows * (w) * sizeof(float)));
#define ALLOC_DEV_I(name, w) ok &= !!(st->name = be->alloc(rows * (w) * sizeof(int32_t)));
#define ALLOC_HOST(name) ok &= !!(st->name = malloc(rows * sizeof(int32_t)));
    DEV_FLOAT_BUFS(ALLOC_DEV_F)
    DEV_INT_BUFS(ALLOC_DEV_I)
    HOST_INT_BUFS(ALLOC_HOST)
    ok &= !!(st->p_h = malloc(rows * sizeof(float)));
    size_t plan_bytes = plan_readback_bytes(cap); /* sequences never outnumber rows */
    ok &= !!(st->plan = be->alloc(plan_bytes));
    ok &= !!(st->plan_h = calloc(1, plan_bytes));
    if (!ok) {
        free_buffers(st, be);
        return hn_fail(err, "out of %s memory for stage %d buffers (%d rows)", be->name, st->depth, cap);
    }
    st->offsets_in = plan_offsets(st->plan);
    st->offsets_in_h = plan_offsets(st->plan_h);
    st->cap = cap;
    return HN_OK;
}

void hn_stage_free(hn_stage *st, const hn_backend *be) {
    if (st->innermost) {
        hn_network_free(&st->main, be);
    } else {
        free_buffers(st, be);
        hn_network_free(&st->encoder, be);
        hn_network_free(&st->decoder, be);
        if (st->chunker && st->chunker_self) st->chunker->destroy(st->chunker_self, be);
        cJSON_Delete(st->chunker_cfg);
        if (st->inner) {
            hn_stage_free(st->inner, be);
            free(st->inner);
        }
    }
    memset(st, 0, sizeof *st);
}

/* ---------- forward ---------- */

static const float *pval(const hn_stage *st, int i) { return st->store->entries[i].p.value; }
static float *pgrad(const hn_stage *st, int i) { return st->store->entries[i].p.grad; }

/* The chunk plan on the device (hn_ops_chunk.plan), then the one readback the host
 * needs: the inner offsets (K = offsets[n], the packing the inner stage's launches and
 * chunkers read on the host) and the sum of p for the ratio loss. Returns K, or -1. */
static int plan_chunks(hn_stage *st, const hn_backend *be, const hn_seqs *seqs,
                       const int32_t *bytes_dev, double *sum_p, hn_error *err) {
    hn_chunk_plan_params pp = {.seqs = seqs, .p = st->p, .bytes = bytes_dev,
                               .fixed_every = st->fixed_every, .b = st->b, .chunk = st->chunk,
                               .idx = st->idx, .first = st->first, .pos_in = st->pos_in,
                               .bytes_in = bytes_dev ? st->bytes_in : NULL,
                               .offsets_in = st->offsets_in, .sum_p = (double *)st->plan};
    if (!be->chunk->plan || be->chunk->plan(&pp))
        return hn_fail(err, "stage %d: the %s backend could not plan the chunks", st->depth, be->name);
    be->download(st->plan_h, st->plan, plan_readback_bytes(seqs->n));
    memcpy(sum_p, st->plan_h, sizeof *sum_p);
    int K = st->offsets_in_h[seqs->n], max_len = 0;
    for (int s = 0; s < seqs->n; s++) {
        int len = st->offsets_in_h[s + 1] - st->offsets_in_h[s];
        if (len > max_len) max_len = len;
    }
    st->inner_seqs = (hn_seqs){.n = seqs->n, .total = K, .max_len = max_len,
                               .offsets = st->offsets_in_h, .offsets_dev = st->offsets_in,
                               .pos_dev = st->pos_in};
    return K;
}

/* This stage's plan of the last forward onto the host (T outer, K inner rows). */
static void download_stage_plan(hn_stage *st, const hn_backend *be, int T, int K) {
    size_t i4 = sizeof(int32_t);
    be->download(st->p_h, st->p, (size_t)T * sizeof(float));
    be->download(st->b_h, st->b, (size_t)T * i4);
    be->download(st->chunk_h, st->chunk, (size_t)T * i4);
    be->download(st->idx_h, st->idx, (size_t)K * i4);
    be->download(st->first_h, st->first, (size_t)K * i4);
    be->download(st->pos_in_h, st->pos_in, (size_t)K * i4);
    be->download(st->bytes_in_h, st->bytes_in, (size_t)K * i4);
}

void hn_stage_download_plan(hn_stage *st, const hn_backend *be) {
    for (; st && !st->innermost && st->cap; st = st->inner)
        download_stage_plan(st, be, (int)st->stats.outer_len, st->inner_seqs.total);
}

/* Eq. 10 and its derivative with respect to G. */
static double ratio_loss(double N, double F, double G, double *dG) {
    if (N <= 1) {
        *dG = 0;
        return 0;
    }
    double k = N / (N - 1);
    *dG = k * ((N - 1) * F - (1 - F));
    return k * ((N - 1) * F * G + (1 - F) * (1 - G));
}

static void downsample_forward(hn_stage *st, const hn_backend *be, int K) {
    const hn_ops_chunk *ck = be->chunk;
    switch (st->downsample) {
    case HN_DOWNSAMPLE_SELECT: ck->gather_rows(st->x_sel, st->xhat, st->idx, K, st->d); break;
    case HN_DOWNSAMPLE_MEAN: ck->pool_mean_forward(st->x_sel, st->xhat, st->first, st->idx, K, st->d); break;
    case HN_DOWNSAMPLE_MAX:
        ck->pool_max_forward(st->x_sel, st->argmax, st->xhat, st->first, st->idx, K, st->d);
        break;
    }
}

hn_network *hn_stage_input_network(hn_stage *st) {
    return st->innermost ? &st->main : &st->encoder;
}

hn_network *hn_stage_output_network(hn_stage *st) {
    return st->innermost ? &st->main : &st->decoder;
}

int hn_stage_forward(hn_stage *st, const hn_backend *be, const hn_seqs *seqs, const float *x,
                     const int32_t *bytes_dev, float *y, double *aux, hn_error *err) {
    if (st->innermost) {
        hn_phase_enter(HN_PHASE_MAIN, st->depth);
        if (hn_network_forward(&st->main, be, seqs, x, y, err)) return HN_ERR;
        *aux += st->main.aux;
        return HN_OK;
    }
    const hn_ops_chunk *ck = be->chunk;
    if (!ck) return hn_fail(err, "the %s backend has no dynamic-chunking ops", be->name);
    int T = seqs->total, D = st->d, DI = st->d_inner;
    if (ensure_buffers(st, be, T, err)) return HN_ERR;

    hn_phase_enter(HN_PHASE_ENCODER, st->depth);
    if (hn_network_forward(&st->encoder, be, seqs, x, st->xhat, err)) return HN_ERR;
    *aux += st->encoder.aux;
    hn_phase_enter(HN_PHASE_CHUNKING, st->depth);
    /* x̂ as the encoder's final norm wrote it in bf16 too (when it did): the routing and
     * residual projections read it as it is */
    hn_tensor xhat_t = hn_network_output(&st->encoder, st->xhat, T);
    hn_chunker_ctx cctx = {.be = be, .seqs = seqs, .bytes = bytes_dev,
                           .x_typed = xhat_t.dtype == HN_F32 ? (hn_tensor){0} : xhat_t};
    if (st->chunker->forward(st->chunker_self, &cctx, st->xhat, st->p, err))
        return hn_fail_prefix(err, "chunker %s", st->chunker->name);
    double sum_p;
    int K = plan_chunks(st, be, seqs, bytes_dev, &sum_p, err);
    if (K < 0) return HN_ERR;

    /* statistics and the ratio loss (Eq. 10), over the whole batch when several
     * processes share it: rows, chunks and the sum of p */
    double n[3] = {T, K, sum_p};
    if (st->group && st->group->sum(st->group->ctx, n, 3, err))
        return hn_fail_prefix(err, "summing the ratio loss's statistics of stage %d", st->depth);
    double G = n[2] / n[0], F = n[1] / n[0], dG;
    st->ratio_denominator = st->group ? n[0] * st->group->share : n[0];
    double L = st->alpha > 0 ? ratio_loss(st->ratio_target, F, G, &dG) : 0;
    st->stats = (hn_stage_stats){.outer_len = T, .inner_len = K, .compression = F, .mean_p = G,
                                 .ratio_loss = L};
    *aux += st->alpha * L;

    downsample_forward(st, be, K);
    ck->gather_rows(st->P, st->p, st->idx, K, 1);
    if (DI > D) ck->widen_forward(st->x_in, st->x_sel, pval(st, st->pad_param), K, D, DI);
    else be->copy(st->x_in, st->x_sel, (size_t)K * D * sizeof(float));

    if (hn_stage_forward(st->inner, be, &st->inner_seqs, st->x_in, bytes_dev ? st->bytes_in : NULL,
                         st->z, aux, err))
        return HN_ERR;

    hn_phase_enter(HN_PHASE_DECHUNKING, st->depth);
    if (DI > D) ck->narrow_forward(st->z_n, st->z, K, D, DI);
    else be->copy(st->z_n, st->z, (size_t)K * D * sizeof(float));
    if (st->smoothing) ck->ema_forward(st->zbar, st->z_n, st->P, &st->inner_seqs, D);
    else be->copy(st->zbar, st->z_n, (size_t)K * D * sizeof(float));
    ck->upsample_forward(st->dec_in, st->zbar, st->chunk, st->p, st->b, st->ste, T, D);
    /* + Linear(x̂): dec_in += x̂ W^T (or + x̂) */
    if (st->residual_identity) be->add(st->dec_in, st->xhat, (size_t)T * D);
    else {
        hn_matmul_params rp = {.a = xhat_t, .b = hn_tensor_f32(pval(st, st->residual_param), D, D),
                               .c = hn_tensor_f32(st->dec_in, T, D), .trans_b = 1, .alpha = 1.0f,
                               .beta = 1.0f};
        if (be->matmul_t(be, &rp))
            return hn_fail(err, "stage %d: the %s backend refused the residual projection",
                           st->depth, be->name);
        be->add_bias(st->dec_in, pval(st, st->residual_bias_param), T, D);
    }
    hn_phase_enter(HN_PHASE_DECODER, st->depth);
    if (hn_network_forward(&st->decoder, be, seqs, st->dec_in, y, err)) return HN_ERR;
    *aux += st->decoder.aux;
    return HN_OK;
}

/* ---------- backward ---------- */

static void downsample_backward(hn_stage *st, const hn_backend *be, int K) {
    const hn_ops_chunk *ck = be->chunk;
    switch (st->downsample) {
    case HN_DOWNSAMPLE_SELECT: ck->gather_rows_backward(st->d_xhat, st->d_xsel, st->idx, K, st->d); break;
    case HN_DOWNSAMPLE_MEAN:
        ck->pool_mean_backward(st->d_xhat, st->d_xsel, st->first, st->idx, K, st->d);
        break;
    case HN_DOWNSAMPLE_MAX: ck->pool_max_backward(st->d_xhat, st->d_xsel, st->argmax, K, st->d); break;
    }
}

int hn_stage_backward(hn_stage *st, const hn_backend *be, const hn_seqs *seqs, const float *dy,
                      float *dx, hn_error *err) {
    if (st->innermost) {
        hn_phase_enter(HN_PHASE_MAIN, st->depth);
        return hn_network_backward(&st->main, be, seqs, dy, dx, err);
    }
    const hn_ops_chunk *ck = be->chunk;
    int T = seqs->total, D = st->d, DI = st->d_inner, K = st->inner_seqs.total;
    size_t f = sizeof(float), TD = (size_t)T * D, KD = (size_t)K * D, KDI = (size_t)K * DI;

    hn_phase_enter(HN_PHASE_DECODER, st->depth);
    be->zero(st->d_dec_in, TD * f);
    if (hn_network_backward(&st->decoder, be, seqs, dy, st->d_dec_in, err)) return HN_ERR;
    hn_phase_enter(HN_PHASE_DECHUNKING, st->depth);
    /* residual path */
    be->zero(st->d_xhat, TD * f);
    if (st->residual_identity) {
        be->add(st->d_xhat, st->d_dec_in, TD);
    } else {
        /* d_dec_in as the decoder's first pre-norm rounded it (d_dec_in was zero) */
        hn_tensor ddi = hn_network_input_grad(&st->decoder, st->d_dec_in, T);
        hn_matmul_params dw = {.a = ddi,
                               .b = hn_network_output(&st->encoder, st->xhat, T),
                               .c = hn_tensor_f32(pgrad(st, st->residual_param), D, D),
                               .trans_a = 1, .alpha = 1.0f, .beta = 1.0f};
        if (be->matmul_t(be, &dw))
            return hn_fail(err, "stage %d: the %s backend refused the residual projection's backward",
                           st->depth, be->name);
        be->bias_backward(pgrad(st, st->residual_bias_param), st->d_dec_in, T, D);
        hn_matmul_params dxh = {.a = ddi, .b = hn_tensor_f32(pval(st, st->residual_param), D, D),
                                .c = hn_tensor_f32(st->d_xhat, T, D), .alpha = 1.0f, .beta = 1.0f};
        if (be->matmul_t(be, &dxh))
            return hn_fail(err, "stage %d: the %s backend refused the residual projection's backward",
                           st->depth, be->name);
    }
    /* dechunk: upsampling with confidence, then smoothing */
    be->zero(st->d_zbar, KD * f);
    be->zero(st->dp, (size_t)T * f);
    ck->upsample_backward(st->d_zbar, st->dp, st->d_dec_in, st->zbar, st->chunk, st->p, st->b,
                          st->ste, T, D);
    be->zero(st->d_zn, KD * f);
    if (st->smoothing) {
        be->zero(st->dP, (size_t)K * f);
        ck->ema_backward(st->d_zn, st->dP, st->d_zbar, st->z_n, st->zbar, st->P, &st->inner_seqs, D);
        ck->gather_rows_backward(st->dp, st->dP, st->idx, K, 1);
    } else {
        be->add(st->d_zn, st->d_zbar, KD);
    }
    /* the inner stage, between the width changes */
    be->zero(st->d_z, KDI * f);
    if (DI > D) ck->narrow_backward(st->d_z, st->d_zn, K, D, DI);
    else be->add(st->d_z, st->d_zn, KD);
    be->zero(st->d_xin, KDI * f);
    if (hn_stage_backward(st->inner, be, &st->inner_seqs, st->d_z, st->d_xin, err)) return HN_ERR;
    hn_phase_enter(HN_PHASE_CHUNKING, st->depth);
    be->zero(st->d_xsel, KD * f);
    if (DI > D) ck->widen_backward(st->d_xsel, pgrad(st, st->pad_param), st->d_xin, K, D, DI);
    else be->add(st->d_xsel, st->d_xin, KD);
    downsample_backward(st, be, K);
    /* ratio loss: alpha * dL/dG * dG/dp_t, with G the mean of p */
    if (st->alpha > 0) {
        double dG;
        ratio_loss(st->ratio_target, st->stats.compression, st->stats.mean_p, &dG);
        ck->add_scalar(st->dp, (float)(st->alpha * dG / st->ratio_denominator), (size_t)T);
    }
    hn_chunker_ctx cctx = {.be = be, .seqs = seqs, .bytes = NULL};
    if (st->chunker->backward(st->chunker_self, &cctx, st->dp, st->d_xhat, err))
        return hn_fail_prefix(err, "chunker %s backward", st->chunker->name);
    hn_phase_enter(HN_PHASE_ENCODER, st->depth);
    return hn_network_backward(&st->encoder, be, seqs, st->d_xhat, dx, err);
}

/* ---------- accounting ---------- */

/* Sequence lengths of a packing (caller frees). */
static int32_t *lengths_of(const hn_seqs *seqs) {
    int32_t *lens = malloc((size_t)(seqs->n ? seqs->n : 1) * sizeof *lens);
    for (int s = 0; s < seqs->n; s++) lens[s] = seqs->offsets[s + 1] - seqs->offsets[s];
    return lens;
}

double hn_stage_flops(const hn_stage *st, const hn_seqs *seqs) {
    int32_t *lens = lengths_of(seqs);
    double f;
    if (st->innermost) {
        f = hn_network_flops(&st->main, lens, seqs->n);
    } else {
        double T = seqs->total;
        f = hn_network_flops(&st->encoder, lens, seqs->n) + hn_network_flops(&st->decoder, lens, seqs->n);
        f += st->chunker->flops(st->chunker_self, seqs->total);
        if (!st->residual_identity) f += 2.0 * T * st->d * st->d; /* residual projection (matmul FLOPs only, as Appendix B) */
        f += hn_stage_flops(st->inner, &st->inner_seqs);
    }
    free(lens);
    return f;
}

int hn_stage_count(const hn_stage *st) { return st->innermost ? 0 : 1 + hn_stage_count(st->inner); }

void hn_stage_hold_routing(hn_stage *st, int on) {
    for (; st && !st->innermost; st = st->inner)
        st->fixed_every = on && st->ratio_target > 0 ? (int)lround(st->ratio_target) : 0;
}

void hn_stage_set_inference(hn_stage *st, int on) {
    for (; st; st = st->inner) {
        if (st->innermost) {
            st->main.inference = on;
            break;
        }
        st->encoder.inference = st->decoder.inference = on;
    }
}

void hn_stage_set_group(hn_stage *st, const hn_batch_group *group) {
    for (; st && !st->innermost; st = st->inner) st->group = group;
}

int hn_stage_stats_collect(const hn_stage *st, hn_stage_stats *stats, int max) {
    int n = 0;
    for (const hn_stage *s = st; s && !s->innermost && n < max; s = s->inner) stats[n++] = s->stats;
    return n;
}
