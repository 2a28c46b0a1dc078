/* The attention plugin's training path: forward over packed sequences and backward.
 *
 *   qkv = x Wqkv^T           [T, 3D], rows [q | k | v]
 *   q, k <- rope(q, k, pos)  in place
 *   att = attention(q, k, v) [T, D], lse saved
 *   y   = att Wo^T
 *
 * Backward runs these in reverse; the rope of dq and dk is undone with the inverse
 * rotation (the rotation is orthogonal). */
#include "attention.h"

void hn_attn_release(hn_attn *a) {
    if (a->be && a->lse) a->be->free(a->lse);
    a->lse = NULL;
    hn_stash_free(&a->qkv_s);
    hn_stash_free(&a->att_s);
    a->cap = 0;
    a->be = NULL;
}

int hn_attn_reserve(hn_attn *a, const hn_backend *be, int T, hn_error *err) {
    if (T <= a->cap && a->be == be) return HN_OK;
    int cap = a->be == be ? a->cap + a->cap / 2 : 0; /* grow by 1.5x at least */
    if (cap < T) cap = T;
    hn_attn_release(a);
    size_t rows = (size_t)cap;
    a->be = be;
    a->lse = be->alloc(rows * (size_t)a->heads * sizeof(float));
    if (!a->lse) {
        hn_attn_release(a);
        return hn_fail(err, "attention: out of %s memory for %d rows of work buffers", be->name,
                       cap);
    }
    a->cap = cap;
    return HN_OK;
}

int hn_attn_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                    hn_error *err) {
    hn_attn *a = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total, D = a->d;
    a->x = x;
    a->T = T;
    if (T == 0) return HN_OK;
    if (hn_attn_reserve(a, be, T, err)) return HN_ERR;
    float *qkv = hn_stash_begin(&a->qkv_s, be, HN_WS_LAYER2, (size_t)T * 3 * D);
    float *att = hn_stash_begin(&a->att_s, be, HN_WS_LAYER3, (size_t)T * D);
    if (!qkv || !att)
        return hn_fail(err, "attention: out of %s memory for %d rows of activations", be->name, T);
    be->matmul(0, 1, T, 3 * D, D, 1.0f, x, a->wqkv, 0.0f, qkv);
    if (a->rot_dim > 0) {
        be->rope(qkv, 3 * D, T, a->heads, a->head_dim, a->rot_dim, seqs->pos_dev, a->theta, 0);
        be->rope(qkv + D, 3 * D, T, a->heads, a->head_dim, a->rot_dim, seqs->pos_dev, a->theta, 0);
    }
    be->attention_forward(att, a->lse, qkv, qkv + D, qkv + 2 * D, 3 * D, seqs, a->heads,
                          a->head_dim, a->window, a->scale);
    be->matmul(0, 1, T, D, D, 1.0f, att, a->wo, 0.0f, y);
    hn_stash_end(&a->qkv_s);
    hn_stash_end(&a->att_s);
    return HN_OK;
}

int hn_attn_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                     hn_error *err) {
    hn_attn *a = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total, D = a->d;
    if (T != a->T)
        return hn_fail(err, "attention: backward over %d rows follows a forward over %d", T, a->T);
    if (T == 0) return HN_OK;
    /* gradient buffers live only in this call: the backend's shared workspace */
    float *datt = be->workspace(HN_WS_LAYER0, (size_t)T * D * sizeof(float));
    float *dqkv = be->workspace(HN_WS_LAYER1, (size_t)T * 3 * D * sizeof(float));
    const float *qkv = hn_stash_get(&a->qkv_s, HN_WS_LAYER2);
    const float *att = hn_stash_get(&a->att_s, HN_WS_LAYER3);
    if (!datt || !dqkv || !qkv || !att)
        return hn_fail(err, "attention: out of %s memory for %d rows of gradients", be->name, T);
    /* out_proj: dWo += dy^T att, datt = dy Wo */
    be->matmul(1, 0, D, D, T, 1.0f, dy, att, 1.0f, a->gwo);
    be->matmul(0, 0, T, D, D, 1.0f, dy, a->wo, 0.0f, datt);
    be->zero(dqkv, (size_t)T * 3 * D * sizeof(float));
    be->attention_backward(dqkv, dqkv + D, dqkv + 2 * D, datt, qkv, qkv + D, qkv + 2 * D,
                           3 * D, att, a->lse, seqs, a->heads, a->head_dim,
                           a->window, a->scale);
    if (a->rot_dim > 0) {
        be->rope(dqkv, 3 * D, T, a->heads, a->head_dim, a->rot_dim, seqs->pos_dev, a->theta, 1);
        be->rope(dqkv + D, 3 * D, T, a->heads, a->head_dim, a->rot_dim, seqs->pos_dev,
                 a->theta, 1);
    }
    /* Wqkv: dW += dqkv^T x, dx += dqkv Wqkv */
    be->matmul(1, 0, 3 * D, D, T, 1.0f, dqkv, a->x, 1.0f, a->gwqkv);
    be->matmul(0, 0, T, D, 3 * D, 1.0f, dqkv, a->wqkv, 1.0f, dx);
    return HN_OK;
}
