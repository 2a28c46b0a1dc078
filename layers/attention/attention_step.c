/* The attention plugin's inference step with a key/value cache.
 *
 * Per-sequence state: a ring of R rows of keys [R, D], a ring of R rows of values
 * [R, D], and one counter (positions stepped so far). R = min(window + 1, max_len)
 * (max_len for global attention), with max_len taken from the last state_floats()
 * call: the ABI passes no length to step, so the caller must size states with the
 * same max_len it steps with. Position p lives in ring slot p % R; keys are stored
 * already rotated.
 *
 * The projections and the rotation run through the backend; the attention over the
 * cache is a host loop, so stepping needs host-addressable memory (the cpu backend)
 * until the backend gains a cached-attention op. */
#include <math.h>

#include "attention.h"

static size_t ring_rows(const hn_attn *a, int max_len) {
    if (a->window >= 0 && a->window + 1 < max_len) return (size_t)a->window + 1;
    return (size_t)max_len;
}

size_t hn_attn_state_floats(void *self, int max_len) {
    hn_attn *a = self;
    if (max_len < 1) max_len = 1;
    a->step_len = max_len;
    return 2 * (size_t)a->d * ring_rows(a, max_len) + 1;
}

/* One query against n cached rows (chronological ring slots first..first+n-1 mod R);
 * the same online softmax as the parallel forward, in the same key order. */
static void attend_cached(float *o, const float *q, const float *kc, const float *vc, size_t R,
                          size_t first, size_t n, int D, int head_dim, float scale) {
    for (int d = 0; d < head_dim; d++) o[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (size_t i = 0; i < n; i++) {
        size_t off = ((first + i) % R) * (size_t)D;
        const float *k = kc + off, *v = vc + off;
        float s = 0.0f;
        for (int d = 0; d < head_dim; d++) s += q[d] * k[d];
        s *= scale;
        if (s > m) {
            float r = expf(m - s);
            l *= r;
            for (int d = 0; d < head_dim; d++) o[d] *= r;
            m = s;
        }
        float p = expf(s - m);
        l += p;
        for (int d = 0; d < head_dim; d++) o[d] += p * v[d];
    }
    float inv = 1.0f / l;
    for (int d = 0; d < head_dim; d++) o[d] *= inv;
}

int hn_attn_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
                 const int32_t *pos, int n_seqs, hn_error *err) {
    hn_attn *a = self;
    if (be->kind != HN_DEVICE_CPU)
        return hn_fail(err, "attention: stepping (kv cache) is implemented on the cpu backend "
                            "only, not on %s", be->name);
    if (a->step_len <= 0)
        return hn_fail(err, "attention: step called before state_floats sized the state");
    if (n_seqs <= 0) return HN_OK;
    int D = a->d;
    size_t R = ring_rows(a, a->step_len), stride = 2 * (size_t)D * R + 1;
    float *qkv = be->workspace(HN_WS_LAYER2, (size_t)n_seqs * 3 * D * sizeof(float));
    float *att = be->workspace(HN_WS_LAYER3, (size_t)n_seqs * D * sizeof(float));
    if (!qkv || !att) return hn_fail(err, "attention: out of %s memory for a step", be->name);
    be->matmul(0, 1, n_seqs, 3 * D, D, 1.0f, x, a->wqkv, 0.0f, qkv);
    if (a->rot_dim > 0) {
        be->rope(qkv, 3 * D, n_seqs, a->heads, a->head_dim, a->rot_dim, pos, a->theta, 0);
        be->rope(qkv + D, 3 * D, n_seqs, a->heads, a->head_dim, a->rot_dim, pos, a->theta, 0);
    }
    for (int i = 0; i < n_seqs; i++) {
        float *st = state + (size_t)i * stride, *kc = st, *vc = st + (size_t)D * R;
        float *counter = st + 2 * (size_t)D * R;
        size_t p = pos[i] < 0 ? 0 : (size_t)pos[i];
        if (pos[i] < 0)
            return hn_fail(err, "attention: step at negative position %d", pos[i]);
        if (p > 0 && (double)*counter != (double)p)
            return hn_fail(err,
                           "attention: sequence %d steps position %zu but its state holds %.0f "
                           "positions (states must start zeroed and advance one at a time)",
                           i, p, (double)*counter);
        if (p >= R && (a->window < 0 || R < (size_t)a->window + 1))
            return hn_fail(err, "attention: position %zu is past the %zu positions the state was "
                                "sized for (state_floats max_len)", p, R);
        const float *row = qkv + (size_t)i * 3 * D;
        size_t slot = p % R;
        for (int d = 0; d < D; d++) {
            kc[slot * D + d] = row[D + d];
            vc[slot * D + d] = row[2 * D + d];
        }
        *counter = (float)(p + 1);
        size_t n = p + 1 < R ? p + 1 : R;
        size_t first = (p + 1 - n) % R;
        for (int h = 0; h < a->heads; h++) {
            size_t ho = (size_t)h * a->head_dim;
            attend_cached(att + (size_t)i * D + ho, row + ho, kc + ho, vc + ho, R, first, n, D,
                          a->head_dim, a->scale);
        }
    }
    be->matmul(0, 1, n_seqs, D, D, 1.0f, att, a->wo, 0.0f, y);
    return HN_OK;
}
