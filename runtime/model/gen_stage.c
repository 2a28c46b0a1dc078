#include "model/gen_stage.h"

#include <stdlib.h>
#include <string.h>

#include "backend/ops_chunk.h"

/* A network's inference state: one state buffer per sublayer ([n, state_floats]), and
 * its scratch rows. */
typedef struct gen_net {
    float **state;
    float *resid, *normed, *f_out, *rstd;
} gen_net;

struct hn_gen_stage {
    const hn_stage *st;
    int n;
    gen_net main, enc, dec;
    hn_gen_stage *inner;
    /* host [n] */
    int32_t *ctl;      /* [4n]: positions | b | pooled count | P (float bits): uploaded */
    float *p;          /* the boundary probabilities read back */
    long *inner_pos;   /* rows each sequence has fed the inner stage */
    int32_t *pooled;   /* rows of each sequence's open chunk (mean / max pooling) */
    /* device */
    int32_t *ctl_dev, *ident_dev;
    float *route_state, *p_dev;
    float *xhat, *x_sel, *acc, *x_in, *z, *zbar, *dec_in; /* [n, width] each */
};

static void free_all(const hn_backend *be, void **bufs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (bufs[i]) be->free(bufs[i]);
}

static void net_free(gen_net *g, const hn_network *net, const hn_backend *be) {
    if (g->state)
        for (int i = 0; i < net->n_sub; i++)
            if (g->state[i]) be->free(g->state[i]);
    free(g->state);
    void *bufs[] = {g->resid, g->normed, g->f_out, g->rstd};
    free_all(be, bufs, sizeof bufs / sizeof bufs[0]);
    memset(g, 0, sizeof *g);
}

static int net_init(gen_net *g, const hn_network *net, const hn_backend *be, int n, int max_len,
                    hn_error *err) {
    memset(g, 0, sizeof *g);
    size_t rows = (size_t)n * net->d * sizeof(float);
    g->state = calloc((size_t)net->n_sub + 1, sizeof *g->state);
    g->resid = be->alloc(rows);
    g->normed = be->alloc(rows);
    g->f_out = be->alloc(rows);
    g->rstd = be->alloc((size_t)n * sizeof(float));
    if (!g->state || !g->resid || !g->normed || !g->f_out || !g->rstd)
        return hn_fail(err, "out of %s memory for the generation state", be->name);
    for (int i = 0; i < net->n_sub; i++) {
        const hn_layer *l = &net->subs[i].layer;
        if (!l->plugin->step || !l->plugin->state_floats)
            return hn_fail(err, "layer plugin %s cannot step (no step function), so this model "
                                "cannot generate", l->plugin->name);
        size_t per = l->plugin->state_floats(l->self, max_len), bytes;
        bytes = (size_t)n * (per ? per : 1) * sizeof(float);
        g->state[i] = be->alloc(bytes);
        if (!g->state[i])
            return hn_fail(err, "out of %s memory for the generation state: a %s layer's state "
                                "for %d sequences of up to %d bytes takes %.2f GiB (fewer "
                                "sequences or bytes)", be->name, l->plugin->name, n, max_len,
                           (double)bytes / (1u << 30));
        be->zero(g->state[i], bytes);
    }
    return HN_OK;
}

static const float *pv(const hn_param_store *s, int i) { return s->entries[i].p.value; }

/* y = RMSNorm(stack(x)) for n rows at positions pos (device), as hn_network_forward
 * row by row. */
static int net_step(gen_net *g, const hn_network *net, const hn_backend *be, const float *x,
                    float *y, const int32_t *pos, int n, hn_error *err) {
    int D = net->d;
    be->copy(g->resid, x, (size_t)n * D * sizeof(float));
    for (int i = 0; i < net->n_sub; i++) {
        const hn_sublayer *sl = &net->subs[i];
        be->rmsnorm_forward(g->normed, g->rstd, g->resid, pv(net->store, sl->norm_param), n, D,
                            net->eps);
        if (sl->layer.plugin->step(sl->layer.self, be, g->normed, g->f_out, g->state[i], pos, n,
                                   err))
            return hn_fail_prefix(err, "%s step", sl->layer.plugin->name);
        be->add(g->resid, g->f_out, (size_t)n * D);
    }
    be->rmsnorm_forward(y, g->rstd, g->resid, pv(net->store, net->final_norm_param), n, D,
                        net->eps);
    return HN_OK;
}

void hn_gen_stage_free(hn_gen_stage *gs, const hn_backend *be) {
    if (!gs) return;
    const hn_stage *st = gs->st;
    if (st->innermost) {
        net_free(&gs->main, &st->main, be);
    } else {
        net_free(&gs->enc, &st->encoder, be);
        net_free(&gs->dec, &st->decoder, be);
        void *bufs[] = {gs->ident_dev, gs->route_state, gs->p_dev, gs->xhat, gs->x_sel,
                        gs->acc, gs->x_in, gs->z, gs->zbar, gs->dec_in};
        free_all(be, bufs, sizeof bufs / sizeof bufs[0]);
        hn_gen_stage_free(gs->inner, be);
    }
    if (gs->ctl_dev) be->free(gs->ctl_dev);
    free(gs->ctl);
    free(gs->p);
    free(gs->inner_pos);
    free(gs->pooled);
    free(gs);
}

int32_t *hn_gen_stage_positions(hn_gen_stage *gs) { return gs->ctl; }

const int32_t *hn_gen_stage_boundaries(const hn_gen_stage *gs, int stage) {
    for (; stage > 0 && gs; stage--) gs = gs->inner;
    return gs && !gs->st->innermost ? gs->ctl + gs->n : NULL;
}

void hn_gen_stage_clear(hn_gen_stage *gs) {
    for (; gs && !gs->st->innermost; gs = gs->inner)
        memset(gs->ctl + gs->n, 0, (size_t)gs->n * sizeof(int32_t));
}

int hn_gen_stage_init(hn_gen_stage **out, const hn_stage *st, const hn_backend *be, int n,
                      int max_len, hn_error *err) {
    hn_gen_stage *gs = calloc(1, sizeof *gs);
    *out = gs;
    if (!gs) return hn_fail(err, "out of memory for the generation state");
    gs->st = st;
    gs->n = n;
    gs->ctl = calloc(4 * (size_t)n, sizeof *gs->ctl);
    gs->ctl_dev = be->alloc(4 * (size_t)n * sizeof(int32_t));
    if (!gs->ctl || !gs->ctl_dev) return hn_fail(err, "out of memory for the generation state");
    if (st->innermost) return net_init(&gs->main, &st->main, be, n, max_len, err);
    if (!st->chunker->step || !st->chunker->step_state_floats)
        return hn_fail(err, "chunker %s cannot step (no step function), so this model cannot "
                            "generate", st->chunker->name);
    if (!be->chunk || !be->chunk->ema_step)
        return hn_fail(err, "backend %s has no chunking step ops, so it cannot generate with "
                            "an H-Net", be->name);
    if (net_init(&gs->enc, &st->encoder, be, n, max_len, err) ||
        net_init(&gs->dec, &st->decoder, be, n, max_len, err))
        return HN_ERR;
    size_t rs = st->chunker->step_state_floats(st->chunker_self);
    size_t D = (size_t)st->d, DI = (size_t)st->d_inner, f = sizeof(float), N = (size_t)n;
    gs->p = calloc(N, sizeof *gs->p);
    gs->inner_pos = calloc(N, sizeof *gs->inner_pos);
    gs->pooled = calloc(N, sizeof *gs->pooled);
    int32_t *ident = malloc(N * sizeof *ident);
    gs->ident_dev = be->alloc(N * sizeof(int32_t));
    gs->route_state = be->alloc(N * (rs ? rs : 1) * f);
    gs->p_dev = be->alloc(N * f);
    gs->xhat = be->alloc(N * D * f);
    gs->x_sel = be->alloc(N * D * f);
    gs->acc = be->alloc(N * D * f);
    gs->x_in = be->alloc(N * DI * f);
    gs->z = be->alloc(N * DI * f);
    gs->zbar = be->alloc(N * D * f); /* zeroed: the first inner row's EMA starts from 0 */
    gs->dec_in = be->alloc(N * D * f);
    int ok = gs->p && gs->inner_pos && gs->pooled && ident && gs->ident_dev && gs->route_state &&
             gs->p_dev && gs->xhat && gs->x_sel && gs->acc && gs->x_in && gs->z && gs->zbar &&
             gs->dec_in;
    if (ok) {
        for (int i = 0; i < n; i++) ident[i] = i;
        be->upload(gs->ident_dev, ident, N * sizeof *ident);
    }
    free(ident);
    if (!ok) return hn_fail(err, "out of %s memory for the generation state", be->name);
    return hn_gen_stage_init(&gs->inner, st->inner, be, n, max_len, err);
}

/* The decisions of this step from the routing probabilities read back: which
 * sequences draw a boundary (and so advance the inner stage, at which of its
 * positions), the EMA coefficient of those that do, and the pooled-row counts. Fills
 * ctl[n, 4n) and the inner stage's positions; answers how many advance. */
static int decide(hn_generator *g, hn_gen_stage *gs, int depth) {
    const hn_stage *st = gs->st;
    int n = gs->n, advancing = 0;
    int32_t *pos = gs->ctl, *b = gs->ctl + n, *cnt = gs->ctl + 2 * n, *Pbits = gs->ctl + 3 * n;
    int32_t *inner = hn_gen_stage_positions(gs->inner);
    for (int i = 0; i < n; i++) {
        float P = -1.0f;
        b[i] = 0;
        cnt[i] = -1;
        inner[i] = -1;
        if (pos[i] >= 0) {
            b[i] = hn_chunk_boundary(gs->p[i]) || pos[i] == 0; /* every sequence opens a chunk */
            if (st->downsample != HN_DOWNSAMPLE_SELECT) {
                cnt[i] = gs->pooled[i];
                gs->pooled[i] = b[i] ? 0 : gs->pooled[i] + 1;
            }
            if (b[i]) {
                P = st->smoothing ? hn_ema_clamp(gs->p[i]) : 1.0f;
                inner[i] = (int32_t)gs->inner_pos[i]++;
                advancing++;
            }
            if (i == 0) {
                g->b[depth] = b[i];
                g->p[depth] = gs->p[i];
            }
        }
        memcpy(&Pbits[i], &P, sizeof P);
    }
    return advancing;
}

int hn_gen_stage_step(hn_generator *g, hn_gen_stage *gs, int depth, const float *x,
                      const int32_t *bytes, float *y, hn_error *err) {
    const hn_stage *st = gs->st;
    const hn_backend *be = g->m->be;
    int n = gs->n;
    const int32_t *pos = gs->ctl;
    int reached = 0;
    for (int i = 0; i < n; i++) reached += pos[i] >= 0;
    g->reached[depth] += reached;
    if (!reached) return HN_OK;
    be->upload(gs->ctl_dev, pos, (size_t)n * sizeof(int32_t));
    if (st->innermost) return net_step(&gs->main, &st->main, be, x, y, gs->ctl_dev, n, err);
    int D = st->d, DI = st->d_inner;
    const hn_param_store *ps = st->store;

    /* encoder, then the routing module */
    if (net_step(&gs->enc, &st->encoder, be, x, gs->xhat, gs->ctl_dev, n, err)) return HN_ERR;
    if (st->chunker->step(st->chunker_self, be, gs->xhat, bytes, pos, gs->route_state, gs->p_dev,
                          n, err))
        return hn_fail_prefix(err, "chunker %s step", st->chunker->name);
    /* read back: the boundary decisions pick the sequences the inner stage advances,
     * on the host, as in training (hn_chunk_boundary) */
    be->download(gs->p, gs->p_dev, (size_t)n * sizeof(float));
    int advancing = decide(g, gs, depth);
    be->upload(gs->ctl_dev + n, gs->ctl + n, 3 * (size_t)n * sizeof(int32_t));
    const int32_t *b_dev = gs->ctl_dev + n, *cnt_dev = gs->ctl_dev + 2 * n;
    const float *P_dev = (const float *)(gs->ctl_dev + 3 * n);

    const float *sel = gs->xhat;
    if (st->downsample != HN_DOWNSAMPLE_SELECT) {
        be->chunk->pool_step(gs->acc, gs->x_sel, gs->xhat, cnt_dev, b_dev,
                             st->downsample == HN_DOWNSAMPLE_MAX, n, D);
        sel = gs->x_sel;
    }
    if (advancing) { /* the inner stage advances only at boundaries */
        if (DI > D) be->chunk->widen_forward(gs->x_in, sel, pv(ps, st->pad_param), n, D, DI);
        else be->copy(gs->x_in, sel, (size_t)n * D * sizeof(float));
        if (hn_gen_stage_step(g, gs->inner, depth + 1, gs->x_in, bytes, gs->z, err)) return HN_ERR;
        /* dechunk EMA (Eq. 5) over the inner rows; zbar starts at zero */
        be->chunk->ema_step(gs->zbar, gs->z, DI, P_dev, n, D);
    }
    /* causal upsampling with confidence (Eq. 6-9): row i holds its own last chunk */
    be->chunk->upsample_forward(gs->dec_in, gs->zbar, gs->ident_dev, gs->p_dev, b_dev, st->ste,
                                n, D);
    /* + Linear(x̂) */
    if (st->residual_identity) be->add(gs->dec_in, gs->xhat, (size_t)n * D);
    else {
        be->matmul(0, 1, n, D, D, 1.0f, gs->xhat, pv(ps, st->residual_param), 1.0f, gs->dec_in);
        be->add_bias(gs->dec_in, pv(ps, st->residual_bias_param), n, D);
    }
    return net_step(&gs->dec, &st->decoder, be, gs->dec_in, y, gs->ctl_dev, n, err);
}
