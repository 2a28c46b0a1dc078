/* MoE forward and backward through the backend: router matmul, routing on the device
 * (be->moe), gather into expert-sorted rows, one SwiGLU per expert, weighted combine
 * back to token order. Only the per-expert offsets and the metric sums come to the
 * host (to size each expert's matrix products). Buffers needed only inside one call
 * come from the backend's shared workspace; the gathered inputs xs and the SwiGLU
 * outputs h are recomputed in the backward (cheaper than keeping them per layer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moe.h"

void moe_release(moe *s) {
    if (s->be) {
        void *bufs[] = {s->p,       s->lse,   s->top,    s->slot, s->w,  s->dw,
                        s->row_tok, s->row_w, s->counts, s->sums, s->ys, s->gu};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) s->be->free(bufs[i]);
    }
    s->p = s->lse = s->w = s->dw = s->row_w = s->ys = s->gu = NULL;
    s->top = s->slot = s->row_tok = s->counts = NULL;
    s->sums = NULL;
    s->cap = 0;
    s->be = NULL;
    s->has_forward = 0;
}

/* Buffers for at least T rows; grows by 1.5x so a varying T (inner stages of an H-Net)
 * reallocates rarely. */
static int reserve(moe *s, const hn_backend *be, int T, hn_error *err) {
    if (T <= s->cap && s->be == be) return HN_OK;
    if (!be->moe || !be->chunk)
        return hn_fail(err, "moe: the %s backend has no moe (or chunk) ops", be->name);
    int cap = s->be == be ? s->cap + s->cap / 2 : 0;
    if (cap < T) cap = T;
    moe_release(s);
    size_t rows = (size_t)cap, A = rows * s->k, D = s->d, H = s->hidden, E = s->E;
    size_t f = sizeof(float), i4 = sizeof(int32_t);
    s->be = be;
    s->p = be->alloc(rows * E * f);
    s->lse = be->alloc(rows * f);
    s->top = be->alloc(A * i4);
    s->slot = be->alloc(A * i4);
    s->w = be->alloc(A * f);
    s->dw = be->alloc(A * f);
    s->row_tok = be->alloc(A * i4);
    s->row_w = be->alloc(A * f);
    s->counts = be->alloc((size_t)HN_MOE_COUNTS(s->E) * i4);
    s->sums = be->alloc((size_t)HN_MOE_SUMS(s->E) * sizeof(double));
    s->ys = be->alloc(A * D * f);
    s->gu = be->alloc(A * 2 * H * f);
    int ok = s->p && s->lse && s->top && s->slot && s->w && s->dw && s->row_tok && s->row_w &&
             s->counts && s->sums && s->ys && s->gu;
    if (!ok) {
        moe_release(s);
        return hn_fail(err, "moe: out of memory for %d rows of work buffers", cap);
    }
    s->cap = cap;
    return HN_OK;
}

/* The host statistics of the routing just computed: offsets, loads, drops, losses. */
static void read_stats(moe *s, int T) {
    const hn_backend *be = s->be;
    int E = s->E, k = s->k;
    moe_routing *r = &s->r;
    be->download(s->counts_h, s->counts, (size_t)HN_MOE_COUNTS(E) * sizeof(int32_t));
    be->download(s->sums_h, s->sums, (size_t)HN_MOE_SUMS(E) * sizeof(double));
    r->T = T;
    r->E = E;
    r->k = k;
    memcpy(r->off, s->counts_h, (size_t)(E + 1) * sizeof(int32_t));
    r->dropped = s->counts_h[2 * E + 1];
    double bal = 0;
    for (int e = 0; e < E; e++) {
        r->routed[e] = s->counts_h[E + 1 + e];
        r->f[e] = T ? (double)r->routed[e] / ((double)T * k) : 0;
        r->P[e] = T ? s->sums_h[e] / T : 0;
        bal += r->f[e] * r->P[e];
    }
    r->balance = E * bal;
    r->z = T ? s->sums_h[E] / T : 0;
}

int moe_forward(moe *s, const hn_backend *be, const float *x, float *y, int T, int training,
                hn_error *err) {
    s->has_forward = 0;
    if (T == 0) return HN_OK;
    if (reserve(s, be, T, err)) return HN_ERR;
    int D = s->d, H = s->hidden, E = s->E, k = s->k;
    size_t f = sizeof(float);
    float *h = be->workspace(HN_WS_LAYER0, (size_t)T * H * f); /* one expert at a time */
    float *logits = be->workspace(HN_WS_LAYER1, (size_t)T * E * f);
    float *xs = be->workspace(HN_WS_LAYER2, (size_t)T * k * D * f);
    if (!h || !logits || !xs) return hn_fail(err, "moe: out of %s memory for %d rows", be->name, T);
    double cf = training ? s->capacity_factor : 0;
    /* cf <= 0: dropless; any capacity >= T keeps every pair (an expert gets <= T) */
    long cap = cf > 0 ? (long)ceil(cf * (double)T * k / E) : (long)T;
    if (cap > T) cap = T;
    be->matmul(0, 1, T, E, D, 1.0f, x, s->wr, 0.0f, logits);
    be->moe->route(s->p, s->lse, s->top, s->w, s->slot, s->row_tok, s->row_w, s->counts,
                   s->sums, logits, T, E, k, s->renormalize, (int)cap);
    read_stats(s, T);

    const moe_routing *r = &s->r;
    be->chunk->gather_rows(xs, x, s->row_tok, r->off[E], D);
    for (int e = 0; e < E; e++) {
        int o = r->off[e], n = r->off[e + 1] - o;
        if (n == 0) continue;
        float *gu = s->gu + (size_t)o * 2 * H;
        be->matmul(0, 1, n, 2 * H, D, 1.0f, xs + (size_t)o * D, s->w1[e], 0.0f, gu);
        be->swiglu_forward(h, gu, n, H);
        be->matmul(0, 1, n, D, H, 1.0f, h, s->w2[e], 0.0f, s->ys + (size_t)o * D);
    }
    be->moe->combine(y, s->ys, s->w, s->slot, T, k, D);
    s->has_forward = training;
    return HN_OK;
}

int moe_backward(moe *s, const hn_backend *be, const float *dy, float *dx, int T, hn_error *err) {
    if (T == 0) return HN_OK;
    if (!s->has_forward || T != s->r.T || be != s->be)
        return hn_fail(err, "moe: backward over %d rows follows no matching forward", T);
    int D = s->d, H = s->hidden, E = s->E, k = s->k;
    const moe_routing *r = &s->r;
    int A = r->off[E];
    size_t f = sizeof(float), th = (size_t)T * H * f;
    float *h = be->workspace(HN_WS_LAYER0, th), *dh = be->workspace(HN_WS_LAYER1, th);
    float *xs = be->workspace(HN_WS_LAYER2, (size_t)T * k * D * f);
    float *dys = be->workspace(HN_WS_LAYER3, (size_t)T * k * D * f);
    float *dgu = be->workspace(HN_WS_LAYER4, 2 * th);
    float *dlogits = be->workspace(HN_WS_LAYER5, (size_t)T * E * f);
    if (!h || !dh || !xs || !dys || !dgu || !dlogits)
        return hn_fail(err, "moe: out of %s memory for %d rows of gradients", be->name, T);

    /* dys = w * dy in expert-sorted rows; dw = d loss / d combination weight */
    be->zero(dys, (size_t)A * D * f);
    be->zero(s->dw, (size_t)T * k * f);
    be->moe->combine_backward(dys, s->dw, dy, s->ys, s->slot, s->row_tok, s->row_w, T, k, A, D);
    be->chunk->gather_rows(xs, s->x, s->row_tok, A, D); /* again: cheaper than keeping it */
    for (int e = 0; e < E; e++) {
        int o = r->off[e], n = r->off[e + 1] - o;
        if (n == 0) continue;
        float *dys_e = dys + (size_t)o * D;
        const float *gu = s->gu + (size_t)o * 2 * H, *xs_e = xs + (size_t)o * D;
        be->swiglu_forward(h, gu, n, H);                                  /* h again */
        be->matmul(1, 0, D, H, n, 1.0f, dys_e, h, 1.0f, s->g2[e]);        /* dfc2 += dys^T h */
        be->matmul(0, 0, n, H, D, 1.0f, dys_e, s->w2[e], 0.0f, dh);       /* dh = dys fc2 */
        be->zero(dgu, (size_t)n * 2 * H * f);
        be->swiglu_backward(dgu, dh, gu, n, H);
        be->matmul(1, 0, 2 * H, D, n, 1.0f, dgu, xs_e, 1.0f, s->g1[e]);    /* dfc1 += dgu^T xs */
        be->matmul(0, 0, n, D, 2 * H, 1.0f, dgu, s->w1[e], 0.0f, dys_e);   /* dxs, in place */
    }
    be->moe->gather_backward(dx, dys, s->slot, T, k, D);

    /* the router: through the combination weights and the auxiliary losses */
    be->zero(dlogits, (size_t)T * E * f);
    be->moe->route_backward(dlogits, s->dw, s->p, s->lse, s->top, s->w, s->counts, T, E, k,
                            s->renormalize, s->balance_weight, s->z_weight);
    be->matmul(1, 0, E, D, T, 1.0f, dlogits, s->x, 1.0f, s->gr); /* drouter += dl^T x */
    be->matmul(0, 0, T, D, E, 1.0f, dlogits, s->wr, 1.0f, dx);   /* dx += dl router */
    return HN_OK;
}
