/* MoE forward and backward through the backend: router matmul, host routing, gather
 * into expert-sorted rows, one SwiGLU per expert, weighted scatter back. */
#include <stdlib.h>
#include <string.h>

#include "moe.h"

void moe_release(moe *s) {
    if (s->be) {
        float *bufs[] = {s->logits_dev, s->dlogits_dev, s->xs, s->ys, s->gu, s->h,
                         s->dys, s->dh, s->dgu, s->row};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) s->be->free(bufs[i]);
    }
    s->logits_dev = s->dlogits_dev = s->xs = s->ys = s->gu = s->h = NULL;
    s->dys = s->dh = s->dgu = s->row = NULL;
    free(s->dy_h);
    free(s->ys_h);
    free(s->dlogits_h);
    free(s->dw_h);
    s->dy_h = s->ys_h = s->dlogits_h = s->dw_h = NULL;
    moe_routing_free(&s->r);
    s->cap = 0;
    s->be = NULL;
    s->has_forward = 0;
}

/* Work buffers for at least T rows; grows by 1.5x so a varying T (inner stages of an
 * H-Net) reallocates rarely. */
static int reserve(moe *s, const hn_backend *be, int T, hn_error *err) {
    if (T <= s->cap && s->be == be) return HN_OK;
    int cap = s->be == be ? s->cap + s->cap / 2 : 0;
    if (cap < T) cap = T;
    moe_release(s);
    size_t rows = (size_t)cap, A = rows * s->k, D = s->d, H = s->hidden, E = s->E;
    s->be = be;
    s->logits_dev = be->alloc(rows * E * sizeof(float));
    s->dlogits_dev = be->alloc(rows * E * sizeof(float));
    s->xs = be->alloc(A * D * sizeof(float));
    s->ys = be->alloc(A * D * sizeof(float));
    s->gu = be->alloc(A * 2 * H * sizeof(float));
    s->h = be->alloc(A * H * sizeof(float));
    s->dys = be->alloc(rows * D * sizeof(float));
    s->dh = be->alloc(rows * H * sizeof(float));
    s->dgu = be->alloc(rows * 2 * H * sizeof(float));
    s->row = be->alloc(D * sizeof(float));
    s->dy_h = malloc(rows * D * sizeof(float));
    s->ys_h = malloc(A * D * sizeof(float));
    s->dlogits_h = malloc(rows * E * sizeof(float));
    s->dw_h = malloc(A * sizeof(float));
    int ok = s->logits_dev && s->dlogits_dev && s->xs && s->ys && s->gu && s->h && s->dys &&
             s->dh && s->dgu && s->row && s->dy_h && s->ys_h && s->dlogits_h && s->dw_h;
    if (!ok || moe_routing_reserve(&s->r, cap, s->E, s->k)) {
        moe_release(s);
        return hn_fail(err, "moe: out of memory for %d rows of work buffers", cap);
    }
    s->cap = cap;
    return HN_OK;
}

int moe_forward(moe *s, const hn_backend *be, const float *x, float *y, int T, int training,
                hn_error *err) {
    s->has_forward = 0;
    if (T == 0) return HN_OK;
    if (reserve(s, be, T, err)) return HN_ERR;
    int D = s->d, H = s->hidden, E = s->E;
    moe_routing *r = &s->r;
    be->matmul(0, 1, T, E, D, 1.0f, x, s->wr, 0.0f, s->logits_dev);
    be->download(r->logits, s->logits_dev, (size_t)T * E * sizeof(float));
    moe_route(r, T, E, s->k, s->renormalize, training ? s->capacity_factor : 0);

    size_t row = (size_t)D * sizeof(float);
    int A = r->off[E];
    for (int a = 0; a < A; a++)
        be->copy(s->xs + (size_t)a * D, x + (size_t)r->row_tok[a] * D, row);
    for (int e = 0; e < E; e++) {
        int o = r->off[e], n = r->off[e + 1] - o;
        if (n == 0) continue;
        float *gu = s->gu + (size_t)o * 2 * H, *h = s->h + (size_t)o * H;
        be->matmul(0, 1, n, 2 * H, D, 1.0f, s->xs + (size_t)o * D, s->w1[e], 0.0f, gu);
        be->swiglu_forward(h, gu, n, H);
        be->matmul(0, 1, n, D, H, 1.0f, h, s->w2[e], 0.0f, s->ys + (size_t)o * D);
    }
    be->zero(y, (size_t)T * row);
    for (int a = 0; a < A; a++) {
        be->copy(s->row, s->ys + (size_t)a * D, row);
        be->scale(s->row, r->row_w[a], (size_t)D);
        be->add(y + (size_t)r->row_tok[a] * D, s->row, (size_t)D);
    }
    s->has_forward = training;
    return HN_OK;
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

int moe_backward(moe *s, const hn_backend *be, const float *dy, float *dx, int T, hn_error *err) {
    if (T == 0) return HN_OK;
    if (!s->has_forward || T != s->r.T)
        return hn_fail(err, "moe: backward over %d rows follows no matching forward", T);
    int D = s->d, H = s->hidden, E = s->E, k = s->k;
    moe_routing *r = &s->r;
    int A = r->off[E];
    size_t row = (size_t)D * sizeof(float);

    /* d loss / d w[t, j] = dy[t] . expert output (unweighted), on the host */
    be->download(s->dy_h, dy, (size_t)T * row);
    be->download(s->ys_h, s->ys, (size_t)A * row);
    for (int i = 0; i < T * k; i++) {
        int a = r->slot[i];
        s->dw_h[i] = a < 0 ? 0.0f
                           : (float)dot(s->dy_h + (size_t)(i / k) * D, s->ys_h + (size_t)a * D, D);
    }

    for (int e = 0; e < E; e++) {
        int o = r->off[e], n = r->off[e + 1] - o;
        if (n == 0) continue;
        for (int a = o; a < o + n; a++) { /* dys = w * dy, gathered */
            float *dst = s->dys + (size_t)(a - o) * D;
            be->copy(dst, dy + (size_t)r->row_tok[a] * D, row);
            be->scale(dst, r->row_w[a], (size_t)D);
        }
        const float *h = s->h + (size_t)o * H, *gu = s->gu + (size_t)o * 2 * H;
        const float *xs = s->xs + (size_t)o * D;
        be->matmul(1, 0, D, H, n, 1.0f, s->dys, h, 1.0f, s->g2[e]);     /* dfc2 += dys^T h */
        be->matmul(0, 0, n, H, D, 1.0f, s->dys, s->w2[e], 0.0f, s->dh); /* dh = dys fc2 */
        be->zero(s->dgu, (size_t)n * 2 * H * sizeof(float));
        be->swiglu_backward(s->dgu, s->dh, gu, n, H);
        be->matmul(1, 0, 2 * H, D, n, 1.0f, s->dgu, xs, 1.0f, s->g1[e]);  /* dfc1 += dgu^T xs */
        be->matmul(0, 0, n, D, 2 * H, 1.0f, s->dgu, s->w1[e], 0.0f, s->dys); /* dxs (in dys) */
        for (int a = o; a < o + n; a++)
            be->add(dx + (size_t)r->row_tok[a] * D, s->dys + (size_t)(a - o) * D, (size_t)D);
    }

    /* the router: through the combination weights and the auxiliary losses */
    moe_route_backward(r, s->dw_h, s->renormalize, s->balance_weight, s->z_weight, s->dlogits_h);
    be->upload(s->dlogits_dev, s->dlogits_h, (size_t)T * E * sizeof(float));
    be->matmul(1, 0, E, D, T, 1.0f, s->dlogits_dev, s->x, 1.0f, s->gr); /* drouter += dl^T x */
    be->matmul(0, 0, T, D, E, 1.0f, s->dlogits_dev, s->wr, 1.0f, dx);   /* dx += dl router */
    return HN_OK;
}
