/* cpu depthwise causal convolution + SiLU over packed sequences (Mamba-2's conv1d).
 *   out[t, c] = silu(pre[t, c]),  pre[t, c] = bias[c] + sum_k w[c, k] x[t - (K-1) + k, c]
 * with rows before the sequence start taken as zero: the convolution history resets at
 * every sequence start. Weight layout [C, K] is PyTorch's conv1d.weight [C, 1, K]. */
#include <math.h>
#include <string.h>

#include "backend/cpu/ssm_ops.h"

static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Pre-activation of one channel at row t of a sequence starting at row t0. */
static inline float conv_pre(const float *x, int ld_x, const float *wc, float b, int t, int t0,
                             int c, int K) {
    float acc = b;
    for (int k = 0; k < K; k++) {
        int r = t - (K - 1) + k;
        if (r >= t0) acc += wc[k] * x[(size_t)r * ld_x + c];
    }
    return acc;
}

void hn_cpu_conv1d_forward(float *out, const float *x, int ld_x, const float *w,
                           const float *bias, const hn_seqs *seqs, int C, int K) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        for (int t = t0; t < t1; t++) {
            float *o = out + (size_t)t * C;
            for (int c = 0; c < C; c++) {
                float p = conv_pre(x, ld_x, w + (size_t)c * K, bias[c], t, t0, c, K);
                o[c] = p * sigmoid(p);
            }
        }
    }
}

void hn_cpu_conv1d_backward(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                            const float *x, int ld_x, const float *w, const float *bias,
                            const hn_seqs *seqs, int C, int K) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        for (int t = t0; t < t1; t++) {
            const float *go = dout + (size_t)t * C;
            for (int c = 0; c < C; c++) {
                const float *wc = w + (size_t)c * K;
                float p = conv_pre(x, ld_x, wc, bias[c], t, t0, c, K);
                float sg = sigmoid(p);
                /* d silu(p) / dp = sg * (1 + p (1 - sg)) */
                float g = go[c] * sg * (1.0f + p * (1.0f - sg));
                dbias[c] += g;
                for (int k = 0; k < K; k++) {
                    int r = t - (K - 1) + k;
                    if (r < t0) continue;
                    dw[(size_t)c * K + k] += g * x[(size_t)r * ld_x + c];
                    dx[(size_t)r * ld_dx + c] += g * wc[k];
                }
            }
        }
    }
}

void hn_cpu_conv1d_state(float *conv_state, size_t stride, const float *x, int ld_x,
                         const hn_seqs *seqs, int C, int K) {
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], t1 = seqs->offsets[s + 1];
        float *st = conv_state + (size_t)s * stride;
        for (int k = 0; k < K - 1; k++) {
            int r = t1 - (K - 1) + k;
            if (r >= t0) memcpy(st + (size_t)k * C, x + (size_t)r * ld_x, (size_t)C * sizeof(float));
            else memset(st + (size_t)k * C, 0, (size_t)C * sizeof(float));
        }
    }
}

void hn_cpu_conv1d_step(float *out, float *conv_state, size_t stride, const float *x, int ld_x,
                        const float *w, const float *bias, const int32_t *pos, int n, int C,
                        int K) {
    for (int i = 0; i < n; i++) {
        float *st = conv_state + (size_t)i * stride; /* [K-1, C], oldest first */
        const float *xi = x + (size_t)i * ld_x;
        float *o = out + (size_t)i * C;
        if (pos[i] < 0) { /* not advancing now */
            memset(o, 0, (size_t)C * sizeof(float));
            continue;
        }
        if (pos[i] == 0) memset(st, 0, (size_t)(K - 1) * C * sizeof(float));
        for (int c = 0; c < C; c++) {
            const float *wc = w + (size_t)c * K;
            float p = bias[c] + wc[K - 1] * xi[c];
            for (int k = 0; k < K - 1; k++) p += wc[k] * st[(size_t)k * C + c];
            o[c] = p * sigmoid(p);
        }
        if (K > 1) {
            memmove(st, st + C, (size_t)(K - 2) * C * sizeof(float));
            memcpy(st + (size_t)(K - 2) * C, xi, (size_t)C * sizeof(float));
        }
    }
}
