#include "model/model.h"

#include "core/phase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int json_int(const cJSON *o, const char *key, int fallback) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valueint : fallback;
}


int hn_model_plan(hn_model *m, const cJSON *cfg, const hn_registry *reg, const hn_backend *be,
                  hn_error *err) {
    memset(m, 0, sizeof *m);
    m->be = be;
    hn_params_init(&m->params, be);
    const cJSON *kind = cJSON_GetObjectItem(cfg, "kind");
    snprintf(m->kind, sizeof m->kind, "%s", cJSON_IsString(kind) ? kind->valuestring : "isotropic");
    m->vocab = json_int(cfg, "vocab", 256);
    if (m->vocab < 256)
        return hn_fail(err, "model.vocab: expected at least 256 (inputs are bytes), found %d", m->vocab);
    const cJSON *d = cJSON_GetObjectItem(cfg, "d");
    if (cJSON_IsArray(d)) d = cJSON_GetArrayItem(d, 0);
    m->d = cJSON_IsNumber(d) ? d->valueint : 0;
    if (m->d <= 0) return hn_fail(err, "model.d: expected a positive width");

    hn_param emb = {.name = "embeddings.weight", .ndim = 2, .shape = {m->vocab, m->d},
                    .init = HN_INIT_NORMAL, .a = 0.02f, .weight_decay = 1};
    m->emb_param = hn_params_declare(&m->params, "", &emb, 0, NULL, NULL, 0);
    const cJSON *layout = cJSON_GetObjectItem(cfg, "layout");
    cJSON *wrapped = NULL;
    if (cJSON_IsString(layout)) { /* "T4" is shorthand for {"T4"} */
        wrapped = cJSON_CreateArray();
        cJSON_AddItemToArray(wrapped, cJSON_CreateString(layout->valuestring));
        layout = wrapped;
    }
    int rc = hn_stage_build(&m->backbone, layout, 0, cfg, reg, &m->params, "backbone.", err);
    cJSON_Delete(wrapped);
    if (rc) return HN_ERR;
    hn_stage_output_network(&m->backbone)->want_out16 = 1; /* the LM head's operand */
    hn_stage_output_network(&m->backbone)->dy_spare = 1;   /* dh: the model's scratch */
    m->n_stages = hn_stage_count(&m->backbone);
    hn_param head = {.name = "lm_head.weight", .ndim = 2, .shape = {m->vocab, m->d},
                     .init = HN_INIT_NORMAL, .a = 0.02f, .weight_decay = 1};
    m->head_param = hn_params_declare(&m->params, "", &head, 0, NULL, NULL, 0);
    return HN_OK;
}

/* A stage's own entries (routing, residual projection, pad) get their gradients in
 * hn_stage_backward after the decoder and the inner stage and before the encoder's
 * backward, which reports them final at its start. (Set here, not in stage.c, from the
 * stage's public indices; stage.c is the natural owner.) */
static void mark_final_at_encoder_start(hn_stage *st) {
    for (; st && !st->innermost; st = st->inner) {
        hn_network *enc = &st->encoder;
        int ranges[HN_NETWORK_FINAL_AT_START][2] = {{st->chunker_first, st->chunker_n},
                                                    {st->residual_param, 1},
                                                    {st->residual_bias_param, 1},
                                                    {st->pad_param, 1}};
        for (int r = 0; r < HN_NETWORK_FINAL_AT_START; r++) {
            enc->final_at_start[r].first = ranges[r][0];
            enc->final_at_start[r].count = ranges[r][0] >= 0 ? ranges[r][1] : 0;
        }
    }
}

int hn_model_build(hn_model *m, const cJSON *cfg, const hn_registry *reg, const hn_backend *be,
                   uint64_t seed, hn_error *err) {
    if (hn_model_plan(m, cfg, reg, be, err)) return HN_ERR;
    if (hn_params_allocate(&m->params, seed, err)) return HN_ERR;
    hn_stage_bind(&m->backbone, &m->params);
    mark_final_at_encoder_start(&m->backbone);
    return HN_OK;
}

/* loss_host is where the backend may copy the losses without a wait (alloc_host: cuda's
 * pinned memory); plain host memory where it has no such op */
static void *alloc_host(const hn_backend *be, size_t bytes) {
    return be->alloc_host ? be->alloc_host(bytes) : calloc(1, bytes);
}
static void free_host(const hn_backend *be, void *p) {
    if (!p) return;
    if (be->free_host) be->free_host(p);
    else free(p);
}

static void free_buffers(hn_model *m) {
    const hn_backend *be = m->be;
    void *bufs[] = {m->tok_dev, m->tgt_dev, m->offsets_dev, m->pos_dev, m->x,
                    m->logits, m->loss, m->dlogits}; /* h and dh are x's buffer */
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(bufs[i]);
    free(m->offsets_host);
    free_host(be, m->loss_host);
    m->tok_dev = m->tgt_dev = m->offsets_dev = m->pos_dev = NULL;
    m->x = m->h = m->logits = m->loss = m->dlogits = m->dh = NULL;
    m->offsets_host = NULL;
    m->loss_host = NULL;
    m->max_T = m->max_seqs = 0;
    m->grad_buffers = 0;
    m->seqs = (hn_seqs){0}; /* the packing lived in the freed buffers */
}

void hn_model_free(hn_model *m) {
    if (!m->be) return;
    free_buffers(m);
    hn_stage_free(&m->backbone, m->be);
    hn_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static hn_dtype activation_dtype(const hn_backend *be) {
    return be->activation_dtype ? be->activation_dtype(be) : HN_F32;
}

/* The batch's buffers; the gradients' (dlogits, dh) only for a training forward
 * (full): an evaluation never needs them. One [T, d] float32 buffer serves x, h and dh
 * in turn: x is read only at the start of the backbone's forward (its first network
 * copies it, or an inference forward reads it before its first residual), h is written
 * at the end and read by the head (its backward's dW before dh overwrites it), and dh
 * is read at the start of the backbone's backward; the input gradient is left in the
 * first network (dx NULL), so there is no dx. */
static int ensure_buffers(hn_model *m, int T, int n_seqs, int full, hn_error *err) {
    if (T <= m->max_T && n_seqs <= m->max_seqs && (m->grad_buffers || !full)) return HN_OK;
    full |= m->grad_buffers;
    if (T < m->max_T) T = m->max_T; /* growing the gradients only: keep the rows */
    if (n_seqs < m->max_seqs) n_seqs = m->max_seqs;
    free_buffers(m);
    const hn_backend *be = m->be;
    size_t t = (size_t)T, d = (size_t)m->d, v = (size_t)m->vocab;
    m->tok_dev = be->alloc(t * sizeof(int32_t));
    m->tgt_dev = be->alloc(t * sizeof(int32_t));
    m->pos_dev = be->alloc(t * sizeof(int32_t));
    m->offsets_dev = be->alloc(((size_t)n_seqs + 1) * sizeof(int32_t));
    m->x = m->h = be->alloc(t * d * sizeof(float));
    if (full) {
        m->dh = m->x;
        m->dlogits = be->alloc(t * v * hn_dtype_size(activation_dtype(be)));
    }
    m->logits = be->alloc(t * v * sizeof(float));
    m->loss = be->alloc(t * sizeof(float));
    m->offsets_host = malloc(((size_t)n_seqs + 1) * sizeof(int32_t));
    m->loss_host = alloc_host(be, t * sizeof(float));
    if (!m->tok_dev || !m->tgt_dev || !m->pos_dev || !m->offsets_dev || !m->x ||
        (full && !m->dlogits) || !m->logits || !m->loss ||
        !m->offsets_host || !m->loss_host) {
        free_buffers(m);
        return hn_fail(err, "out of %s memory for a batch of %d bytes", be->name, T);
    }
    m->max_T = T;
    m->max_seqs = n_seqs;
    m->grad_buffers = full;
    return HN_OK;
}

/* Packs n_seqs equal-length sequences: offsets and per-row positions, uploaded only
 * when the shape changes (training and evaluation batches keep theirs). */
static int pack_sequences(hn_model *m, int n_seqs, int seq_len, hn_error *err) {
    int T = n_seqs * seq_len;
    if (m->seqs.n == n_seqs && m->seqs.max_len == seq_len && m->seqs.total == T) return HN_OK;
    int32_t *pos = malloc((size_t)T * sizeof *pos);
    if (!pos) return hn_fail(err, "out of host memory packing a batch of %d bytes", T);
    for (int i = 0; i <= n_seqs; i++) m->offsets_host[i] = i * seq_len;
    for (int t = 0; t < T; t++) pos[t] = t % seq_len;
    m->be->upload(m->offsets_dev, m->offsets_host, ((size_t)n_seqs + 1) * sizeof(int32_t));
    m->be->upload(m->pos_dev, pos, (size_t)T * sizeof *pos);
    free(pos);
    m->seqs = (hn_seqs){.n = n_seqs, .total = T, .max_len = seq_len,
                        .offsets = m->offsets_host, .offsets_dev = m->offsets_dev,
                        .pos_dev = m->pos_dev};
    return HN_OK;
}

/* dlogits as the loss writes it and the head's products read it: in the activation dtype
 * (bf16 on cuda), its buffer sized so */
static hn_tensor dlogits_view(const hn_model *m, int T) {
    return hn_tensor_of(m->dlogits, activation_dtype(m->be), T, m->vocab);
}

static const float *value(const hn_model *m, int idx) { return m->params.entries[idx].p.value; }
static float *grad(const hn_model *m, int idx) { return m->params.entries[idx].p.grad; }

/* The forward up to the per-token losses, written to loss_dev (device, [T]). With
 * no_grad it is an inference forward (nothing kept for a backward, no dlogits). */
static int forward_losses(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                          int seq_len, float *loss_dev, double *aux, hn_error *err) {
    const hn_backend *be = m->be;
    int T = n_seqs * seq_len, inf = m->no_grad;
    if (ensure_buffers(m, T, n_seqs, !inf, err)) return HN_ERR;
    if (pack_sequences(m, n_seqs, seq_len, err)) return HN_ERR;
    if (!loss_dev) loss_dev = m->loss;
    hn_phase_enter(HN_PHASE_HEAD, 0);
    be->upload(m->tok_dev, tok, (size_t)T * sizeof(int32_t));
    be->upload(m->tgt_dev, tgt, (size_t)T * sizeof(int32_t));
    be->embedding_forward(m->x, value(m, m->emb_param), m->tok_dev, T, m->d);
    *aux = 0;
    hn_stage_set_group(&m->backbone, inf ? NULL : m->group);
    hn_stage_set_inference(&m->backbone, inf);
    m->last_inference = inf;
    if (hn_stage_forward(&m->backbone, be, &m->seqs, m->x, m->tok_dev, m->h, aux, err))
        return HN_ERR;
    hn_phase_enter(HN_PHASE_HEAD, 0);
    /* h as the output norm wrote it (bf16 too where activations are): no rounding here */
    hn_tensor h = hn_network_output(hn_stage_output_network(&m->backbone), m->h, T);
    hn_matmul_params head = {.a = h, .b = hn_tensor_f32(value(m, m->head_param), m->vocab, m->d),
                             .c = hn_tensor_f32(m->logits, T, m->vocab), .trans_b = 1,
                             .alpha = 1.0f};
    if (be->matmul_t(be, &head))
        return hn_fail(err, "the LM head: the %s backend refused its product", be->name);
    /* training: the loss and its gradient in one pass (backward starts from dlogits);
     * inference: the loss alone */
    if (inf) {
        be->xent_forward(loss_dev, m->logits, m->tgt_dev, T, m->vocab);
    } else {
        hn_xent_params xp = {.logits = hn_tensor_f32(m->logits, T, m->vocab), .target = m->tgt_dev,
                             .loss = loss_dev, .dlogits = dlogits_view(m, T),
                             .scale = 1.0f / (float)T};
        if (be->xent_fused_t(be, &xp))
            return hn_fail(err, "the loss: the %s backend refused it", be->name);
        m->dlogits_t = xp.dlogits;
    }
    hn_phase_stop();
    return HN_OK;
}

int hn_model_forward(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                     int seq_len, hn_loss *loss, hn_error *err) {
    int T = n_seqs * seq_len;
    double aux;
    if (forward_losses(m, tok, tgt, n_seqs, seq_len, NULL, &aux, err)) return HN_ERR;
    m->be->download(m->loss_host, m->loss, (size_t)T * sizeof(float));
    /* an evaluation through this synchronous call also gets each stage's chunk plan on
     * the host (the trainer scores boundaries from b_h and chunk_h); training steps and
     * hn_model_forward_to, the fast evaluation, leave it on the device */
    if (m->no_grad) hn_stage_download_plan(&m->backbone, m->be);
    loss->ce_nats = hn_model_sum_losses(m->loss_host, T);
    loss->count = T;
    loss->aux = aux;
    return HN_OK;
}

int hn_model_forward_start(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                           int seq_len, hn_loss *loss, hn_error *err) {
    const hn_backend *be = m->be;
    if (!be->download_async || !be->download_wait)
        return hn_fail(err, "the %s backend has no asynchronous download", be->name);
    int T = n_seqs * seq_len;
    double aux;
    if (forward_losses(m, tok, tgt, n_seqs, seq_len, NULL, &aux, err)) return HN_ERR;
    be->download_async(m->loss_host, m->loss, (size_t)T * sizeof(float));
    loss->ce_nats = NAN; /* hn_model_forward_finish sums it */
    loss->count = T;
    loss->aux = aux;
    return HN_OK;
}

void hn_model_forward_finish(hn_model *m, hn_loss *loss) {
    m->be->download_wait();
    loss->ce_nats = hn_model_sum_losses(m->loss_host, loss->count);
}

double hn_model_sum_losses(const float *loss, long n) {
    double sum = 0;
    for (long t = 0; t < n; t++) sum += loss[t];
    return sum;
}

int hn_model_forward_to(hn_model *m, const int32_t *tok, const int32_t *tgt, int n_seqs,
                        int seq_len, float *loss_dev, hn_error *err) {
    if (!m->no_grad)
        return hn_fail(err, "hn_model_forward_to is an evaluation's forward: set no_grad");
    double aux;
    return forward_losses(m, tok, tgt, n_seqs, seq_len, loss_dev, &aux, err);
}

int hn_model_backward(hn_model *m, hn_error *err) {
    const hn_backend *be = m->be;
    if (m->last_inference || !m->dlogits)
        return hn_fail(err, "backward after an evaluation's forward (no_grad: nothing was kept "
                            "for it): run a training forward first");
    int T = m->seqs.total;
    hn_phase_enter(HN_PHASE_HEAD, 0);
    /* dlogits = (softmax - onehot) / T was written by the forward's fused loss */
    /* logits = h W^T: dW += dlogits^T h, then dh = dlogits W over h (one buffer) */
    hn_matmul_params dw = {.a = m->dlogits_t,
                           .b = hn_network_output(hn_stage_output_network(&m->backbone), m->h, T),
                           .c = hn_tensor_f32(grad(m, m->head_param), m->vocab, m->d),
                           .trans_a = 1, .alpha = 1.0f, .beta = 1.0f};
    if (be->matmul_t(be, &dw))
        return hn_fail(err, "the LM head's backward: the %s backend refused its product", be->name);
    hn_matmul_params dh = {.a = m->dlogits_t,
                           .b = hn_tensor_f32(value(m, m->head_param), m->vocab, m->d),
                           .c = hn_tensor_f32(m->dh, T, m->d), .alpha = 1.0f};
    if (be->matmul_t(be, &dh))
        return hn_fail(err, "the LM head's backward: the %s backend refused its product", be->name);
    hn_params_grads_done(&m->params, m->head_param, 1);
    /* dx NULL: the input gradient stays in the first network, read there */
    if (hn_stage_backward(&m->backbone, be, &m->seqs, m->dh, NULL, err)) return HN_ERR;
    hn_phase_enter(HN_PHASE_HEAD, 0);
    be->embedding_backward(grad(m, m->emb_param), hn_network_input_grad_f32(hn_stage_input_network(&m->backbone)),
                           m->tok_dev, T, m->d);
    hn_params_grads_done(&m->params, m->emb_param, 1);
    hn_phase_stop();
    return HN_OK;
}

void hn_model_set_group(hn_model *m, const hn_batch_group *group) { m->group = group; }

double hn_model_flops_per_byte(const hn_model *m) {
    double T = m->seqs.total;
    if (T <= 0) return 0;
    double f = hn_stage_flops(&m->backbone, &m->seqs);
    f += 2.0 * 2.0 * T * (double)m->d * (double)m->vocab; /* embeddings and LM head */
    return f / T;
}

int hn_model_stage_stats(const hn_model *m, hn_stage_stats *stats, int max) {
    return hn_stage_stats_collect(&m->backbone, stats, max);
}

void hn_model_hold_routing(hn_model *m, int on) { hn_stage_hold_routing(&m->backbone, on); }

long hn_model_param_count(const hn_model *m) {
    long n = 0;
    for (int i = 0; i < m->params.n; i++) n += (long)m->params.entries[i].numel;
    return n;
}
