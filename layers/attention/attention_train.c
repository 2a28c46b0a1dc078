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

/* The attention op's view of qkv (the q, k and v column slices) and of att. */
static hn_attention_params att_params(const hn_attn *a, const hn_seqs *seqs, hn_tensor qkv,
                                      hn_tensor att) {
    int D = a->d;
    hn_attention_params p = {.q = hn_tensor_cols(qkv, 0, D), .k = hn_tensor_cols(qkv, D, D),
                             .v = hn_tensor_cols(qkv, 2 * D, D), .out = att, .lse = a->lse,
                             .seqs = seqs, .heads = a->heads, .head_dim = a->head_dim,
                             .window = a->window, .scale = a->scale};
    return p;
}

/* rope on the q and k slices of a [T, 3D] view (inverse: the backward's): one call, q and
 * k side by side as 2 * heads heads (a launch a layer fewer than a call each) */
static int rope_qk(const hn_attn *a, const hn_backend *be, const hn_seqs *seqs, hn_tensor x,
                   int inverse) {
    if (a->rot_dim <= 0) return HN_OK;
    hn_rope_params p = {.x = hn_tensor_cols(x, 0, 2 * a->d), .heads = 2 * a->heads,
                        .head_dim = a->head_dim, .rot_dim = a->rot_dim, .pos = seqs->pos_dev,
                        .theta = a->theta, .inverse = inverse};
    return be->rope_t(be, &p) ? HN_ERR : HN_OK;
}

/* dqkv's q and k rotated back: in place when out is g itself, else g -> out (another
 * dtype) in one pass: q and k are 2 * heads heads of one rope, the v columns after them
 * copied by the same launch */
static int rope_back(const hn_attn *a, const hn_backend *be, const hn_seqs *seqs, hn_tensor g,
                     hn_tensor out) {
    if (out.data == g.data) return rope_qk(a, be, seqs, g, 1);
    hn_rope_params p = {.x = g, .heads = 2 * a->heads, .head_dim = a->head_dim,
                        .rot_dim = a->rot_dim, .pos = seqs->pos_dev,
                        .theta = a->theta, .inverse = 1};
    return be->rope_to_t(be, &p, out) ? HN_ERR : HN_OK;
}

/* qkv and att are kept in the backend's activation dtype, written there by the ops
 * themselves (the product, rope in place, attention) and read as they are in backward. */
int hn_attn_forward_t(void *self, const hn_layer_ctx *ctx, hn_tensor x, float *y,
                      hn_error *err) {
    hn_attn *a = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total, D = a->d;
    a->x = x;
    a->T = T;
    if (T == 0) return HN_OK;
    if (hn_attn_reserve(a, be, T, err)) return HN_ERR;
    /* an inference forward keeps nothing: qkv and att in workspace slots */
    int inf = ctx->inference;
    a->kept = !inf;
    hn_tensor qkv = inf ? hn_ws_activation(be, HN_WS_LAYER0, T, 3 * D)
                        : hn_stash_tensor_begin(&a->qkv_s, be, T, 3 * D);
    hn_tensor att = inf ? hn_ws_activation(be, HN_WS_LAYER1, T, D)
                        : hn_stash_tensor_begin(&a->att_s, be, T, D);
    if (!qkv.data || !att.data)
        return hn_fail(err, "attention: out of %s memory for %d rows of activations", be->name, T);
    hn_matmul_params proj = {.a = x, .b = hn_tensor_f32(a->wqkv, 3 * D, D),
                             .c = qkv, .trans_b = 1, .alpha = 1.0f};
    hn_attention_params ap = att_params(a, seqs, qkv, att);
    hn_matmul_params out = {.a = att, .b = hn_tensor_f32(a->wo, D, D), .c = hn_tensor_f32(y, T, D),
                            .trans_b = 1, .alpha = 1.0f};
    if (be->matmul_t(be, &proj) || rope_qk(a, be, seqs, qkv, 0) ||
        be->attention_forward_t(be, &ap) || be->matmul_t(be, &out))
        return hn_fail_op(err, be, "attention", "a forward op");
    return HN_OK;
}

/* y = att Wo^T again: the forward's last product, on the same operands (att kept, the
 * weights unchanged until the step's optimizer), so the same bits */
int hn_attn_output_again(void *self, const hn_layer_ctx *ctx, float *y, hn_error *err) {
    hn_attn *a = self;
    const hn_backend *be = ctx->be;
    int T = ctx->seqs->total, D = a->d;
    if (T != a->T)
        return hn_fail(err, "attention: output again over %d rows follows a forward over %d", T, a->T);
    if (!a->kept && T) return hn_fail(err, "attention: output again without a training forward before it");
    if (T == 0) return HN_OK;
    hn_matmul_params out = {.a = hn_stash_tensor(&a->att_s), .b = hn_tensor_f32(a->wo, D, D),
                            .c = hn_tensor_f32(y, T, D), .trans_b = 1, .alpha = 1.0f};
    return be->matmul_t(be, &out) ? hn_fail_op(err, be, "attention", "its output again") : HN_OK;
}

int hn_attn_forward(void *self, const hn_layer_ctx *ctx, const float *x, float *y,
                    hn_error *err) {
    return hn_attn_forward_t(self, ctx, hn_tensor_f32(x, ctx->seqs->total, ((hn_attn *)self)->d),
                             y, err);
}

/* In the bf16 activation dtype dy is bf16 for its two products (rounded here once when it
 * comes as float32) and the attention output's gradient is bf16; dqkv stays float32 (the
 * attention backward writes it whole: ap.overwrite). */
int hn_attn_backward_t(void *self, const hn_layer_ctx *ctx, hn_tensor dy, float *dx,
                       hn_error *err) {
    hn_attn *a = self;
    const hn_backend *be = ctx->be;
    const hn_seqs *seqs = ctx->seqs;
    int T = seqs->total, D = a->d;
    if (T != a->T)
        return hn_fail(err, "attention: backward over %d rows follows a forward over %d", T, a->T);
    if (!a->kept && T)
        return hn_fail(err, "attention: backward without a training forward before it (after an "
                            "inference forward, or a second backward: the first spent what the "
                            "forward kept)");
    if (T == 0) return HN_OK;
    hn_dtype at = be->activation_dtype(be);
    /* gradient buffers live only in this call: the backend's shared workspace */
    hn_tensor datt = hn_ws_tensor(be, HN_WS_LAYER0, at, T, D);
    hn_tensor dyt = dy;
    if (dy.dtype != at) dyt = hn_ws_tensor(be, HN_WS_LAYER2, at, T, D);
    hn_tensor qkv = hn_stash_tensor(&a->qkv_s), att = hn_stash_tensor(&a->att_s);
    hn_attention_params ap = att_params(a, seqs, qkv, att);
    ap.dout = datt;
    ap.overwrite = 1; /* dqkv is written whole by it: no clearing pass before */
    /* dqkv in bf16 where the backend makes it so itself (cuDNN's backward): rope rotates
     * q and k back in place and the products read it; half the memory and no float32
     * pass. The shape is asked with a bf16 view at the workspace's address to be. */
    int bf16_grads = 0;
    if (at == HN_BF16 && be->attention_grads_bf16) {
        hn_tensor probe = {qkv.data, HN_BF16, T, 3 * D, 3 * D};
        ap.dq = hn_tensor_cols(probe, 0, D);
        ap.dk = hn_tensor_cols(probe, D, D);
        ap.dv = hn_tensor_cols(probe, 2 * D, D);
        bf16_grads = be->attention_grads_bf16(be, &ap) == 1;
    }
    hn_tensor g = bf16_grads ? hn_ws_tensor(be, HN_WS_LAYER1, HN_BF16, T, 3 * D)
                             : hn_tensor_f32(be->workspace(HN_WS_LAYER1,
                                                           (size_t)T * 3 * D * sizeof(float)),
                                             T, 3 * D);
    if (!datt.data || !g.data || !dyt.data || !qkv.data || !att.data)
        return hn_fail(err, "attention: out of %s memory for %d rows of gradients", be->name, T);
    /* the products' dqkv: bf16 in the bf16 activation dtype. From a float32 g it is made
     * in one pass as rope rotates q and k back (v copied by the same pass), so no product
     * rounds it, written over the kept qkv, which nothing reads after the attention
     * backward (the stash is spent: a second backward needs a new forward) */
    hn_tensor gp = at == HN_F32 || bf16_grads ? g : qkv;
    ap.dq = hn_tensor_cols(g, 0, D);
    ap.dk = hn_tensor_cols(g, D, D);
    ap.dv = hn_tensor_cols(g, 2 * D, D);
    /* out_proj: dWo += dy^T att, datt = dy Wo */
    hn_matmul_params dwo = {.a = dyt, .b = att, .c = hn_tensor_f32(a->gwo, D, D), .trans_a = 1,
                            .alpha = 1.0f, .beta = 1.0f};
    hn_matmul_params dap = {.a = dyt, .b = hn_tensor_f32(a->wo, D, D), .c = datt, .alpha = 1.0f};
    /* Wqkv: dW += dqkv^T x, dx += dqkv Wqkv */
    hn_matmul_params dw = {.a = gp, .b = a->x,
                           .c = hn_tensor_f32(a->gwqkv, 3 * D, D), .trans_a = 1, .alpha = 1.0f,
                           .beta = 1.0f};
    hn_matmul_params dxp = {.a = gp, .b = hn_tensor_f32(a->wqkv, 3 * D, D),
                            .c = hn_tensor_f32(dx, T, D), .alpha = 1.0f,
                            .beta = ctx->write_dx ? 0.0f : 1.0f};
    if ((dy.dtype != at && be->convert(be, dyt, dy)) ||
        be->matmul_t(be, &dwo) || be->matmul_t(be, &dap) || be->attention_backward_t(be, &ap) ||
        rope_back(a, be, seqs, g, gp) || be->matmul_t(be, &dw) || be->matmul_t(be, &dxp))
        return hn_fail_op(err, be, "attention", "a backward op");
    a->kept = 0; /* spent: in bf16, gp overwrote qkv */
    return HN_OK;
}

int hn_attn_backward(void *self, const hn_layer_ctx *ctx, const float *dy, float *dx,
                     hn_error *err) {
    return hn_attn_backward_t(self, ctx, hn_tensor_f32(dy, ctx->seqs->total, ((hn_attn *)self)->d),
                              dx, err);
}
