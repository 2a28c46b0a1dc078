/* The attention plugin's inference step with a key/value cache.
 *
 * Per-sequence state: a ring of R rows of keys [R, D], a ring of R rows of values
 * [R, D], and one counter (positions stepped so far). R = min(window + 1, max_len)
 * (max_len for global attention), with max_len taken from the last state_floats()
 * call: the ABI passes no length to step, so the caller must size states with the
 * same max_len it steps with. Position p lives in ring slot p % R; keys are stored
 * already rotated.
 *
 * The projections and the rotation run through the backend, the attention over the
 * cache through its attention_step op (cpu and cuda). A row at a negative position is a
 * sequence that does not advance in this call (batched H-Net generation): its cache is
 * left as it is. */
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

static int check_positions(const hn_attn *a, const float *state, size_t stride, size_t R,
                           const int32_t *pos, int n_seqs, hn_error *err) {
    int D = a->d;
    for (int i = 0; i < n_seqs; i++) {
        if (pos[i] < 0) continue; /* not advancing now */
        const float *counter = state + (size_t)i * stride + 2 * (size_t)D * R;
        size_t p = (size_t)pos[i];
        if (p > 0 && (double)*counter != (double)p)
            return hn_fail(err,
                           "attention: sequence %d steps position %zu but its state holds %.0f "
                           "positions (states must start zeroed and advance one at a time)",
                           i, p, (double)*counter);
        if (p >= R && (a->window < 0 || R < (size_t)a->window + 1))
            return hn_fail(err, "attention: position %zu is past the %zu positions the state was "
                                "sized for (state_floats max_len)", p, R);
    }
    return HN_OK;
}

int hn_attn_step(void *self, const hn_backend *be, const float *x, float *y, float *state,
                 const int32_t *pos, int n_seqs, hn_error *err) {
    hn_attn *a = self;
    if (!be->attention_step)
        return hn_fail(err, "attention: the %s backend cannot step attention (no attention_step "
                            "op)", be->name);
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
    /* the cpu state is host memory: check it is stepped as sized and in order (on a
     * device the generator keeps the positions within max_len itself) */
    if (be->kind == HN_DEVICE_CPU && check_positions(a, state, stride, R, pos, n_seqs, err))
        return HN_ERR;
    be->attention_step(att, qkv, state, stride, (int)R, pos, n_seqs, a->heads, a->head_dim,
                       a->scale);
    be->matmul(0, 1, n_seqs, D, D, 1.0f, att, a->wo, 0.0f, y);
    return HN_OK;
}
