#include "model/generate.h"

#include "backend/ops_chunk.h"

#include <stdlib.h>
#include <string.h>

/* A network's inference state: one state buffer per sublayer, and its scratch rows. */
typedef struct gen_net {
    float **state;
    float *resid, *normed, *f_out, *rstd;
    int32_t *pos_dev;
} gen_net;

struct hn_gen_stage {
    const hn_stage *st;
    gen_net main, enc, dec;
    float *route_state, *p_dev;
    hn_gen_stage *inner;
    long pos, inner_pos;
    float *xhat, *x_sel, *x_in, *z, *zbar, *dec_in, *acc; /* one row each */
    int acc_n;
};

static void net_free(gen_net *g, const hn_network *net, const hn_backend *be) {
    if (g->state)
        for (int i = 0; i < net->n_sub; i++)
            if (g->state[i]) be->free(g->state[i]);
    free(g->state);
    void *bufs[] = {g->resid, g->normed, g->f_out, g->rstd, g->pos_dev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(bufs[i]);
    memset(g, 0, sizeof *g);
}

static int net_init(gen_net *g, const hn_network *net, const hn_backend *be, int max_len,
                    hn_error *err) {
    memset(g, 0, sizeof *g);
    size_t row = (size_t)net->d * sizeof(float);
    g->state = calloc((size_t)net->n_sub + 1, sizeof *g->state);
    g->resid = be->alloc(row);
    g->normed = be->alloc(row);
    g->f_out = be->alloc(row);
    g->rstd = be->alloc(sizeof(float));
    g->pos_dev = be->alloc(sizeof(int32_t));
    if (!g->state || !g->resid || !g->normed || !g->f_out || !g->rstd || !g->pos_dev)
        return hn_fail(err, "out of memory for the generation state");
    for (int i = 0; i < net->n_sub; i++) {
        const hn_layer *l = &net->subs[i].layer;
        if (!l->plugin->step || !l->plugin->state_floats)
            return hn_fail(err, "layer plugin %s cannot step (no step function), so this model "
                                "cannot generate", l->plugin->name);
        size_t n = l->plugin->state_floats(l->self, max_len);
        g->state[i] = be->alloc((n ? n : 1) * sizeof(float));
        if (!g->state[i]) return hn_fail(err, "out of memory for the %s state", l->plugin->name);
        be->zero(g->state[i], (n ? n : 1) * sizeof(float));
    }
    return HN_OK;
}

static const float *pv(const hn_param_store *s, int i) { return s->entries[i].p.value; }

/* y = RMSNorm(stack(x)) for one row at position pos, as hn_network_forward row by row. */
static int net_step(gen_net *g, const hn_network *net, const hn_backend *be, const float *x,
                    float *y, long pos, hn_error *err) {
    int D = net->d;
    int32_t p32 = (int32_t)pos;
    be->upload(g->pos_dev, &p32, sizeof p32);
    be->copy(g->resid, x, (size_t)D * sizeof(float));
    for (int i = 0; i < net->n_sub; i++) {
        const hn_sublayer *sl = &net->subs[i];
        be->rmsnorm_forward(g->normed, g->rstd, g->resid, pv(net->store, sl->norm_param), 1, D,
                            net->eps);
        if (sl->layer.plugin->step(sl->layer.self, be, g->normed, g->f_out, g->state[i],
                                   g->pos_dev, 1, err))
            return hn_fail_prefix(err, "%s step", sl->layer.plugin->name);
        be->add(g->resid, g->f_out, (size_t)D);
    }
    be->rmsnorm_forward(y, g->rstd, g->resid, pv(net->store, net->final_norm_param), 1, D,
                        net->eps);
    return HN_OK;
}

static void stage_free(hn_gen_stage *gs, const hn_backend *be) {
    if (!gs) return;
    const hn_stage *st = gs->st;
    if (st->innermost) {
        net_free(&gs->main, &st->main, be);
    } else {
        net_free(&gs->enc, &st->encoder, be);
        net_free(&gs->dec, &st->decoder, be);
        void *bufs[] = {gs->route_state, gs->p_dev, gs->xhat, gs->x_sel, gs->x_in,
                        gs->z, gs->zbar, gs->dec_in, gs->acc};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) be->free(bufs[i]);
        stage_free(gs->inner, be);
    }
    free(gs);
}

static int stage_init(hn_gen_stage **out, const hn_stage *st, const hn_backend *be, int max_len,
                      hn_error *err) {
    hn_gen_stage *gs = calloc(1, sizeof *gs);
    *out = gs;
    if (!gs) return hn_fail(err, "out of memory for the generation state");
    gs->st = st;
    if (st->innermost) return net_init(&gs->main, &st->main, be, max_len, err);
    if (!st->chunker->step || !st->chunker->step_state_floats)
        return hn_fail(err, "chunker %s cannot step (no step function), so this model cannot "
                            "generate", st->chunker->name);
    if (net_init(&gs->enc, &st->encoder, be, max_len, err) ||
        net_init(&gs->dec, &st->decoder, be, max_len, err))
        return HN_ERR;
    size_t rs = st->chunker->step_state_floats(st->chunker_self);
    size_t D = (size_t)st->d, DI = (size_t)st->d_inner, f = sizeof(float);
    gs->route_state = be->alloc((rs ? rs : 1) * f);
    gs->p_dev = be->alloc(f);
    gs->xhat = be->alloc(D * f);
    gs->x_sel = be->alloc(D * f);
    gs->x_in = be->alloc(DI * f);
    gs->z = be->alloc(DI * f);
    gs->zbar = be->alloc(D * f);
    gs->dec_in = be->alloc(D * f);
    gs->acc = be->alloc(D * f);
    if (!gs->route_state || !gs->p_dev || !gs->xhat || !gs->x_sel || !gs->x_in ||
        !gs->z || !gs->zbar || !gs->dec_in || !gs->acc)
        return hn_fail(err, "out of memory for the generation state");
    be->zero(gs->zbar, D * f);
    return stage_init(&gs->inner, st->inner, be, max_len, err);
}

/* Mean / max downsampling pools the rows since the previous boundary, this one included;
 * acc holds their running sum or maximum (host arithmetic: cpu memory). */
static void pool_add(hn_gen_stage *gs, const float *row, int D) {
    if (gs->acc_n == 0) memcpy(gs->acc, row, (size_t)D * sizeof(float));
    else if (gs->st->downsample == HN_DOWNSAMPLE_MEAN)
        for (int d = 0; d < D; d++) gs->acc[d] += row[d];
    else
        for (int d = 0; d < D; d++) gs->acc[d] = row[d] > gs->acc[d] ? row[d] : gs->acc[d];
    gs->acc_n++;
}

static int stage_step(hn_generator *g, hn_gen_stage *gs, int depth, const float *x, int32_t byte,
                      float *y, hn_error *err) {
    const hn_stage *st = gs->st;
    const hn_backend *be = g->m->be;
    long pos = gs->pos++;
    g->reached[depth]++;
    if (st->innermost) return net_step(&gs->main, &st->main, be, x, y, pos, err);
    int D = st->d, DI = st->d_inner;
    const hn_param_store *ps = st->store;

    /* encoder, then the routing module */
    if (net_step(&gs->enc, &st->encoder, be, x, gs->xhat, pos, err)) return HN_ERR;
    int32_t p32 = (int32_t)pos;
    if (st->chunker->step(st->chunker_self, be, gs->xhat, &byte, &p32, gs->route_state, gs->p_dev,
                          1, err))
        return hn_fail_prefix(err, "chunker %s step", st->chunker->name);
    float p;
    be->download(&p, gs->p_dev, sizeof p);
    int32_t b = hn_chunk_boundary(p);
    if (pos == 0) b = 1; /* every sequence opens a chunk */
    g->b[depth] = b;
    g->p[depth] = p;
    if (st->downsample != HN_DOWNSAMPLE_SELECT) pool_add(gs, gs->xhat, D);

    if (b) { /* the main network advances only at boundaries */
        const float *sel = gs->xhat;
        if (st->downsample == HN_DOWNSAMPLE_MEAN) {
            float inv = 1.0f / (float)gs->acc_n;
            for (int d = 0; d < D; d++) gs->x_sel[d] = gs->acc[d] * inv;
            sel = gs->x_sel;
        } else if (st->downsample == HN_DOWNSAMPLE_MAX) {
            sel = gs->acc;
        }
        if (DI > D) be->chunk->widen_forward(gs->x_in, sel, pv(ps, st->pad_param), 1, D, DI);
        else be->copy(gs->x_in, sel, (size_t)D * sizeof(float));
        gs->acc_n = 0;
        if (stage_step(g, gs->inner, depth + 1, gs->x_in, byte, gs->z, err)) return HN_ERR;
        /* dechunk EMA (Eq. 5) over the inner rows, the first one starting from zero */
        float a = st->smoothing ? hn_ema_clamp(p) : 1.0f, c = 1.0f - a;
        if (gs->inner_pos == 0 || !st->smoothing)
            for (int d = 0; d < D; d++) gs->zbar[d] = a * gs->z[d];
        else
            for (int d = 0; d < D; d++) gs->zbar[d] = a * gs->z[d] + c * gs->zbar[d];
        gs->inner_pos++;
    }
    /* causal upsampling with confidence (Eq. 6-9), then + Linear(x̂) */
    float w = st->ste ? 1.0f : (b ? p : 1.0f - p);
    for (int d = 0; d < D; d++) gs->dec_in[d] = w * gs->zbar[d];
    if (st->residual_identity) be->add(gs->dec_in, gs->xhat, (size_t)D);
    else {
        be->matmul(0, 1, 1, D, D, 1.0f, gs->xhat, pv(ps, st->residual_param), 1.0f, gs->dec_in);
        be->add_bias(gs->dec_in, pv(ps, st->residual_bias_param), 1, D);
    }
    return net_step(&gs->dec, &st->decoder, be, gs->dec_in, y, pos, err);
}

int hn_generator_init(hn_generator *g, hn_model *m, int max_len, hn_error *err) {
    memset(g, 0, sizeof *g);
    g->m = m;
    g->max_len = max_len;
    const hn_backend *be = m->be;
    if (be->kind != HN_DEVICE_CPU)
        return hn_fail(err, "generation runs on the cpu backend only (this model is on %s)", be->name);
    g->depth = m->n_stages + 1;
    if (g->depth > HN_GEN_MAX_DEPTH) return hn_fail(err, "generation: too many stages");
    g->x = be->alloc((size_t)m->d * sizeof(float));
    g->h = be->alloc((size_t)m->d * sizeof(float));
    g->logits = be->alloc((size_t)m->vocab * sizeof(float));
    g->tok_dev = be->alloc(sizeof(int32_t));
    if (!g->x || !g->h || !g->logits || !g->tok_dev) {
        hn_generator_free(g);
        return hn_fail(err, "out of memory for generation");
    }
    if (stage_init(&g->root, &m->backbone, be, max_len, err)) {
        hn_generator_free(g);
        return HN_ERR;
    }
    return HN_OK;
}

void hn_generator_free(hn_generator *g) {
    if (!g->m) return;
    const hn_backend *be = g->m->be;
    stage_free(g->root, be);
    void *bufs[] = {g->x, g->h, g->logits, g->tok_dev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(bufs[i]);
    memset(g, 0, sizeof *g);
}

int hn_generator_step(hn_generator *g, int byte, float *logits, hn_error *err) {
    hn_model *m = g->m;
    const hn_backend *be = m->be;
    if (g->pos >= g->max_len)
        return hn_fail(err, "generation: past the %d bytes the state was sized for", g->max_len);
    if (byte < 0 || byte >= m->vocab) return hn_fail(err, "generation: byte %d out of range", byte);
    int32_t tok = byte;
    be->upload(g->tok_dev, &tok, sizeof tok);
    be->embedding_forward(g->x, m->params.entries[m->emb_param].p.value, g->tok_dev, 1, m->d);
    for (int s = 0; s < g->depth; s++) g->b[s] = 0;
    if (stage_step(g, g->root, 0, g->x, tok, g->h, err)) return HN_ERR;
    be->matmul(0, 1, 1, m->vocab, m->d, 1.0f, g->h, m->params.entries[m->head_param].p.value, 0.0f,
               g->logits);
    if (logits) be->download(logits, g->logits, (size_t)m->vocab * sizeof(float));
    g->pos++;
    return HN_OK;
}
