/* cpu causal attention over packed sequences with an optional sliding window.
 *
 * Row t of a sequence starting at row s0 attends to keys j in
 * [max(s0, t - window), t] (window < 0: [s0, t]). Work is one pass per (row, head)
 * over its key range, so the cost is O(T * min(window+1, len) * head_dim) and no
 * T x T matrix ever exists.
 *
 * Forward uses an online softmax (running max and sum, rescaling the partial output
 * when the max grows), writing straight into out; it saves lse = m + log(sum) per
 * (row, head). Backward recomputes each probability as exp(score - lse) and uses the
 * flash-attention identity dS = P * (dP - D) with D_t = sum(dout_t * out_t), which
 * equals sum_j P_tj dP_tj. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

static inline int key_start(int t, int seq_start, int window) {
    if (window < 0) return seq_start;
    int lo = t - window;
    return lo > seq_start ? lo : seq_start;
}

static inline float dotf(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpyf(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void hn_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, int ld, const hn_seqs *seqs, int heads,
                              int head_dim, int window, float scale) {
    int width = heads * head_dim;
    for (int s = 0; s < seqs->n; s++) {
        int s0 = seqs->offsets[s], s1 = seqs->offsets[s + 1];
        for (int t = s0; t < s1; t++) {
            int j0 = key_start(t, s0, window);
            for (int h = 0; h < heads; h++) {
                const float *qt = q + (size_t)t * ld + (size_t)h * head_dim;
                float *o = out + (size_t)t * width + (size_t)h * head_dim;
                for (int d = 0; d < head_dim; d++) o[d] = 0.0f;
                float m = -INFINITY, l = 0.0f;
                for (int j = j0; j <= t; j++) {
                    size_t off = (size_t)j * ld + (size_t)h * head_dim;
                    float sc = scale * dotf(qt, k + off, head_dim);
                    if (sc > m) {
                        /* new running max: rescale what was accumulated so far */
                        float r = expf(m - sc);
                        l *= r;
                        for (int d = 0; d < head_dim; d++) o[d] *= r;
                        m = sc;
                    }
                    float p = expf(sc - m);
                    l += p;
                    axpyf(o, p, v + off, head_dim);
                }
                float inv = 1.0f / l;
                for (int d = 0; d < head_dim; d++) o[d] *= inv;
                lse[(size_t)t * heads + h] = m + logf(l);
            }
        }
    }
}

void hn_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, int ld,
                               const float *out, const float *lse, const hn_seqs *seqs,
                               int heads, int head_dim, int window, float scale) {
    int width = heads * head_dim;
    for (int s = 0; s < seqs->n; s++) {
        int s0 = seqs->offsets[s], s1 = seqs->offsets[s + 1];
        for (int t = s0; t < s1; t++) {
            int j0 = key_start(t, s0, window);
            for (int h = 0; h < heads; h++) {
                size_t toff = (size_t)t * ld + (size_t)h * head_dim;
                size_t ooff = (size_t)t * width + (size_t)h * head_dim;
                const float *qt = q + toff, *g = dout + ooff;
                float *dqt = dq + toff;
                float D = dotf(g, out + ooff, head_dim);
                float L = lse[(size_t)t * heads + h];
                for (int j = j0; j <= t; j++) {
                    size_t off = (size_t)j * ld + (size_t)h * head_dim;
                    float p = expf(scale * dotf(qt, k + off, head_dim) - L);
                    float dp = dotf(g, v + off, head_dim);
                    float ds = scale * p * (dp - D);
                    axpyf(dv + off, p, g, head_dim);
                    axpyf(dqt, ds, k + off, head_dim);
                    axpyf(dk + off, ds, qt, head_dim);
                }
            }
        }
    }
}
