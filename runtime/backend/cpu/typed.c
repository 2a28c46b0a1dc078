/* cpu typed ops: the float32 reference of the typed ops (backend.h, "_t"). A bf16 view
 * is read by widening it exactly and written by rounding once, so a bf16 result here is
 * the float32 result rounded to bf16: what the cuda backend is compared against. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_view.h"

hn_dtype hn_cpu_activation_dtype(const hn_backend *be) {
    (void)be;
    return hn_cpu_stash_bf16() ? HN_BF16 : HN_F32;
}

int hn_cpu_convert(const hn_backend *be, hn_tensor dst, hn_tensor src) {
    (void)be;
    if (dst.rows != src.rows || dst.cols != src.cols) return -1;
    for (int r = 0; r < src.rows; r++)
        for (int c = 0; c < src.cols; c++) hn_view_put(dst, r, c, hn_view_get(src, r, c));
    return 0;
}

/* t as float32: its own memory when it is float32, else a widened packed copy (*owned
 * set; free it). NULL when out of memory. */
static const float *as_f32(hn_tensor t, int *ld, float **owned) {
    *owned = NULL;
    if (t.dtype == HN_F32) {
        *ld = t.ld;
        return t.data;
    }
    float *w = hn_cpu_widen(t);
    if (!w) return NULL;
    *ld = t.cols;
    *owned = w;
    return w;
}

int hn_cpu_matmul_t(const hn_backend *be, const hn_matmul_params *p) {
    (void)be;
    int m = p->trans_a ? p->a.cols : p->a.rows, k = p->trans_a ? p->a.rows : p->a.cols;
    int n = p->trans_b ? p->b.rows : p->b.cols, kb = p->trans_b ? p->b.cols : p->b.rows;
    if (k != kb || p->c.rows != m || p->c.cols != n) return -1;
    if (m <= 0 || n <= 0) return 0;
    int lda = 0, ldb = 0, ldc = 0, status = -1;
    float *fa, *fb, *fc;
    const float *a = as_f32(p->a, &lda, &fa), *b = as_f32(p->b, &ldb, &fb);
    float *c = (float *)as_f32(p->c, &ldc, &fc);
    if (!a || !b || !c) goto done;
    if (k <= 0) { /* only the beta term remains; beta == 0 overwrites (as BLAS) */
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++) {
                float *x = &c[(size_t)r * ldc + j];
                *x = p->beta == 0.0f ? 0.0f : p->beta * *x;
            }
    } else {
        cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                    p->trans_b ? CblasTrans : CblasNoTrans, m, n, k, p->alpha, a, lda, b, ldb,
                    p->beta, c, ldc);
    }
    if (fc) /* round the float32 result into the bf16 output once */
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++) hn_view_put(p->c, r, j, fc[(size_t)r * ldc + j]);
    status = 0;
done:
    free(fa);
    free(fb);
    free(fc);
    return status;
}

static inline float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

int hn_cpu_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->h.rows != T || p->h.cols != H) return -1;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++) {
            float v = hn_view_get(p->gu, t, i), g = hn_view_get(p->gu, t, H + i);
            hn_view_put(p->h, t, i, v * g * sigmoidf(g));
        }
    return 0;
}

int hn_cpu_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->dh.rows != T || p->dh.cols != H || p->dgu.rows != T ||
        p->dgu.cols != 2 * H || (p->accumulate && p->dgu.dtype != HN_F32))
        return -1;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++) {
            float v = hn_view_get(p->gu, t, i), g = hn_view_get(p->gu, t, H + i), d = hn_view_get(p->dh, t, i);
            float s = sigmoidf(g), dv = d * g * s, dg = d * v * s * (1.0f + g * (1.0f - s));
            if (p->accumulate) {
                dv += hn_view_get(p->dgu, t, i);
                dg += hn_view_get(p->dgu, t, H + i);
            }
            hn_view_put(p->dgu, t, i, dv);
            hn_view_put(p->dgu, t, H + i, dg);
        }
    return 0;
}

/* ---- rope and attention: the v1 float32 ops on widened copies ---- */

float *hn_cpu_widen(hn_tensor t) {
    float *w = malloc(((size_t)t.rows * t.cols + 1) * sizeof(float));
    if (!w) return NULL;
    for (int r = 0; r < t.rows; r++)
        for (int c = 0; c < t.cols; c++) w[(size_t)r * t.cols + c] = hn_view_get(t, r, c);
    return w;
}

void hn_cpu_store(hn_tensor dst, const float *src, int add) {
    for (int r = 0; r < dst.rows; r++)
        for (int c = 0; c < dst.cols; c++)
            hn_view_put(dst, r, c, src[(size_t)r * dst.cols + c] + (add ? hn_view_get(dst, r, c) : 0.0f));
}

/* out of place: x widened, rotated, stored into out */
int hn_cpu_rope_to_t(const hn_backend *be, const hn_rope_params *p, hn_tensor out) {
    (void)be;
    if (p->x.cols < p->heads * p->head_dim || p->rot_dim > p->head_dim || !out.data ||
        out.rows != p->x.rows || out.cols != p->x.cols)
        return -1;
    float *x = hn_cpu_widen(p->x);
    if (!x) return -1;
    hn_cpu_rope(x, p->x.cols, p->x.rows, p->heads, p->head_dim, p->rot_dim, p->pos, p->theta,
                p->inverse);
    hn_cpu_store(out, x, 0);
    free(x);
    return 0;
}

int hn_cpu_rope_t(const hn_backend *be, const hn_rope_params *p) {
    (void)be;
    if (p->x.cols < p->heads * p->head_dim || p->rot_dim > p->head_dim) return -1;
    if (p->x.dtype == HN_F32) { /* in place, as the v1 op */
        hn_cpu_rope(p->x.data, p->x.ld, p->x.rows, p->heads, p->head_dim, p->rot_dim, p->pos,
                    p->theta, p->inverse);
        return 0;
    }
    float *x = hn_cpu_widen(p->x);
    if (!x) return -1;
    hn_cpu_rope(x, p->x.cols, p->x.rows, p->heads, p->head_dim, p->rot_dim, p->pos, p->theta,
                p->inverse);
    hn_cpu_store(p->x, x, 0);
    free(x);
    return 0;
}

static int attention_shapes_fit(const hn_attention_params *p, int backward) {
    int T = p->seqs->total, D = p->heads * p->head_dim;
    const hn_tensor *in[] = {&p->q, &p->k, &p->v, &p->out, &p->dout, &p->dq, &p->dk, &p->dv};
    for (int i = 0; i < (backward ? 8 : 4); i++)
        if (in[i]->rows != T || in[i]->cols != D) return 0;
    return !backward || (p->dq.dtype == HN_F32 && p->dk.dtype == HN_F32 && p->dv.dtype == HN_F32);
}

/* float32 views the v1 ops take as they are: q, k, v (and, in backward, dq, dk, dv)
 * with one row stride, out and dout packed */
static int v1_views(const hn_attention_params *p, int backward) {
    int ld = p->q.ld;
    int ok = p->q.dtype == HN_F32 && p->k.dtype == HN_F32 && p->v.dtype == HN_F32 &&
             p->out.dtype == HN_F32 && p->k.ld == ld && p->v.ld == ld && hn_tensor_packed(p->out);
    if (backward)
        ok = ok && p->dout.dtype == HN_F32 && hn_tensor_packed(p->dout) && p->dq.ld == ld &&
             p->dk.ld == ld && p->dv.ld == ld;
    return ok;
}

/* q, k, v widened into one [T, 3D] buffer (the v1 ops take one row stride) */
static float *qkv_f32(const hn_attention_params *p) {
    int T = p->seqs->total, D = p->heads * p->head_dim;
    float *x = malloc(((size_t)T * 3 * D + 1) * sizeof(float));
    if (!x) return NULL;
    const hn_tensor *in[] = {&p->q, &p->k, &p->v};
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < T; r++)
            for (int c = 0; c < D; c++) x[(size_t)r * 3 * D + i * D + c] = hn_view_get(*in[i], r, c);
    return x;
}

int hn_cpu_attention_forward_t(const hn_backend *be, const hn_attention_params *p) {
    (void)be;
    if (!attention_shapes_fit(p, 0)) return -1;
    if (v1_views(p, 0)) { /* no copies on the float32 reference path */
        hn_cpu_attention_forward(p->out.data, p->lse, p->q.data, p->k.data, p->v.data, p->q.ld,
                                 p->seqs, p->heads, p->head_dim, p->window, p->scale);
        return 0;
    }
    int T = p->seqs->total, D = p->heads * p->head_dim;
    float *x = qkv_f32(p), *out = malloc(((size_t)T * D + 1) * sizeof(float));
    int status = -1;
    if (x && out) {
        hn_cpu_attention_forward(out, p->lse, x, x + D, x + 2 * D, 3 * D, p->seqs, p->heads,
                                 p->head_dim, p->window, p->scale);
        hn_cpu_store(p->out, out, 0);
        status = 0;
    }
    free(x);
    free(out);
    return status;
}

int hn_cpu_attention_backward_t(const hn_backend *be, const hn_attention_params *p) {
    (void)be;
    if (!attention_shapes_fit(p, 1)) return -1;
    if (p->overwrite) { /* = as += onto zeros: the same bits */
        hn_cpu_view_zero(p->dq);
        hn_cpu_view_zero(p->dk);
        hn_cpu_view_zero(p->dv);
    }
    if (v1_views(p, 1)) {
        hn_cpu_attention_backward(p->dq.data, p->dk.data, p->dv.data, p->dout.data, p->q.data,
                                  p->k.data, p->v.data, p->q.ld, p->out.data, p->lse, p->seqs,
                                  p->heads, p->head_dim, p->window, p->scale);
        return 0;
    }
    int T = p->seqs->total, D = p->heads * p->head_dim;
    float *x = qkv_f32(p), *out = hn_cpu_widen(p->out), *dout = hn_cpu_widen(p->dout);
    float *g = calloc((size_t)T * 3 * D + 1, sizeof(float));
    int status = -1;
    if (x && out && dout && g) {
        hn_cpu_attention_backward(g, g + D, g + 2 * D, dout, x, x + D, x + 2 * D, 3 * D, out,
                                  p->lse, p->seqs, p->heads, p->head_dim, p->window, p->scale);
        const hn_tensor *grad[] = {&p->dq, &p->dk, &p->dv};
        for (int i = 0; i < 3; i++)
            for (int r = 0; r < T; r++)
                for (int c = 0; c < D; c++)
                    hn_view_put(*grad[i], r, c, hn_view_get(*grad[i], r, c) + g[(size_t)r * 3 * D + i * D + c]);
        status = 0;
    }
    free(x);
    free(out);
    free(dout);
    free(g);
    return status;
}
