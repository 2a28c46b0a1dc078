/* Dechunking: the smoothing EMA (Eq. 5) over inner rows and the confidence-weighted
 * causal upsampling (Eq. 6-9). */
#include "backend/cpu/chunk_ops.h"

/* Columns per pass of the EMA backward: the carried gradients stay on the stack while
 * rows are still read contiguously. */
#define EMA_COL_BLOCK 256

void hn_cpu_ema_forward(float *zbar, const float *z, const float *P, const hn_seqs *seqs, int D) {
    for (int s = 0; s < seqs->n; s++) {
        int k0 = seqs->offsets[s], k1 = seqs->offsets[s + 1];
        for (int k = k0; k < k1; k++) {
            const float *zk = z + (size_t)k * D;
            float *out = zbar + (size_t)k * D;
            float a = hn_ema_clamp(P[k]), c = 1.0f - a;
            if (k == k0)
                for (int d = 0; d < D; d++) out[d] = a * zk[d];
            else {
                const float *prev = out - D;
                for (int d = 0; d < D; d++) out[d] = a * zk[d] + c * prev[d];
            }
        }
    }
}

/* Reverse scan: g[k] = dzbar[k] + (1 - P[k+1]) g[k+1] is the total gradient reaching
 * zbar[k]; then dz[k] = P[k] g[k] and dP[k] = g[k] . (z[k] - zbar[k-1]). */
void hn_cpu_ema_backward(float *dz, float *dP, const float *dzbar, const float *z,
                         const float *zbar, const float *P, const hn_seqs *seqs, int D) {
    float carry[EMA_COL_BLOCK];
    for (int s = 0; s < seqs->n; s++) {
        int k0 = seqs->offsets[s], k1 = seqs->offsets[s + 1];
        for (int d0 = 0; d0 < D; d0 += EMA_COL_BLOCK) {
            int w = D - d0 < EMA_COL_BLOCK ? D - d0 : EMA_COL_BLOCK;
            for (int d = 0; d < w; d++) carry[d] = 0;
            for (int k = k1 - 1; k >= k0; k--) {
                size_t row = (size_t)k * D + d0;
                float a = hn_ema_clamp(P[k]), c = 1.0f - a;
                int live = a == P[k]; /* the clamp passes no gradient */
                double dpk = 0;
                for (int d = 0; d < w; d++) {
                    float g = dzbar[row + d] + carry[d];
                    float prev = k > k0 ? zbar[row - D + d] : 0.0f;
                    dz[row + d] += a * g;
                    dpk += (double)g * (z[row + d] - prev);
                    carry[d] = c * g;
                }
                if (live) dP[k] += (float)dpk;
            }
        }
    }
}

/* w[t]: 1 under the STE (its forward value), else the confidence c[t] (Eq. 6). */
static inline float weight(const float *p, const int32_t *b, int ste, int t) {
    if (ste) return 1.0f;
    return b[t] ? p[t] : 1.0f - p[t];
}

void hn_cpu_upsample_forward(float *out, const float *zbar, const int32_t *chunk,
                             const float *p, const int32_t *b, int ste, int T, int D) {
    for (int t = 0; t < T; t++) {
        float w = weight(p, b, ste, t);
        const float *src = zbar + (size_t)chunk[t] * D;
        float *o = out + (size_t)t * D;
        for (int d = 0; d < D; d++) o[d] = w * src[d];
    }
}

/* Both with and without the STE, d out[t] / d c[t] = zbar[chunk[t]] (the STE's
 * stop-gradient term carries none), and dc/dp = +1 at boundaries, -1 elsewhere. */
void hn_cpu_upsample_backward(float *dzbar, float *dp, const float *dout, const float *zbar,
                              const int32_t *chunk, const float *p, const int32_t *b, int ste,
                              int T, int D) {
    for (int t = 0; t < T; t++) {
        float w = weight(p, b, ste, t);
        const float *src = zbar + (size_t)chunk[t] * D;
        const float *g = dout + (size_t)t * D;
        float *dst = dzbar + (size_t)chunk[t] * D;
        double acc = 0;
        for (int d = 0; d < D; d++) {
            dst[d] += w * g[d];
            acc += (double)g[d] * src[d];
        }
        dp[t] += (float)(b[t] ? acc : -acc);
    }
}
