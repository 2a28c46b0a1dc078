/* cpu causal attention over packed sequences with an optional sliding window.
 *
 * Row t of a sequence starting at row s0 attends to keys j in
 * [max(s0, t - window), t] (window < 0: [s0, t]).
 *
 * Work is tiled: for each sequence, head and block of BLOCK query rows, the keys any
 * row of the block may see form one contiguous range, so the scores are one small
 * matrix product (OpenBLAS) of BLOCK x range, masked, soft-maxed row by row, and
 * multiplied back into the values. Memory is one tile, never T x T; cost is
 * O(T * (BLOCK + window) * head_dim). Forward saves lse = max + log(sum) per (row, head);
 * backward recomputes P = exp(S - lse) and uses the flash-attention identity
 * dS = P * (dP - D), D_t = sum(dout_t * out_t). Tiles run in a fixed order, so results
 * are deterministic. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_ops.h"

#define BLOCK 64

/* The key range [j0, j1) that rows [r0, r1) of a sequence starting at s0 can see. */
static void key_range(int r0, int r1, int s0, int window, int *j0, int *j1) {
    int lo = window < 0 ? s0 : r0 - window;
    *j0 = lo > s0 ? lo : s0;
    *j1 = r1;
}

static inline int visible(int t, int j, int window) { return j <= t && (window < 0 || t - j <= window); }

/* Scores S[i, j - j0] = scale * q[r0+i] . k[j] for one head, masked to -inf. */
static void scores(float *S, const float *q, const float *k, int ld, int h, int head_dim, int r0,
                   int nr, int j0, int nk, int window, float scale) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, head_dim, scale,
                q + (size_t)r0 * ld + (size_t)h * head_dim, ld,
                k + (size_t)j0 * ld + (size_t)h * head_dim, ld, 0.0f, S, nk);
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nk; j++)
            if (!visible(r0 + i, j0 + j, window)) S[(size_t)i * nk + j] = -INFINITY;
}

/* The most keys one block of rows can see. */
static size_t tile_span(int window, int max_len) {
    int span = window < 0 ? max_len : (BLOCK + window < max_len ? BLOCK + window : max_len);
    return span < 1 ? 1 : (size_t)span;
}

/* Two BLOCK x span tiles (scores/probabilities and their gradients). */
static float *tile_buffer(int window, int max_len) {
    return malloc(2 * (size_t)BLOCK * tile_span(window, max_len) * sizeof(float));
}

void hn_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, int ld, const hn_seqs *seqs, int heads,
                              int head_dim, int window, float scale) {
    int width = heads * head_dim;
    float *S = tile_buffer(window, seqs->max_len);
    for (int s = 0; s < seqs->n; s++) {
        int s0 = seqs->offsets[s], s1 = seqs->offsets[s + 1];
        for (int r0 = s0; r0 < s1; r0 += BLOCK) {
            int r1 = r0 + BLOCK < s1 ? r0 + BLOCK : s1, nr = r1 - r0, j0, j1;
            key_range(r0, r1, s0, window, &j0, &j1);
            int nk = j1 - j0;
            for (int h = 0; h < heads; h++) {
                scores(S, q, k, ld, h, head_dim, r0, nr, j0, nk, window, scale);
                for (int i = 0; i < nr; i++) {
                    float *row = S + (size_t)i * nk, m = -INFINITY, sum = 0.0f;
                    for (int j = 0; j < nk; j++) m = row[j] > m ? row[j] : m;
                    for (int j = 0; j < nk; j++) {
                        row[j] = expf(row[j] - m); /* exp(-inf) = 0 for masked keys */
                        sum += row[j];
                    }
                    float inv = 1.0f / sum;
                    for (int j = 0; j < nk; j++) row[j] *= inv;
                    lse[(size_t)(r0 + i) * heads + h] = m + logf(sum);
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, head_dim, nk, 1.0f, S,
                            nk, v + (size_t)j0 * ld + (size_t)h * head_dim, ld, 0.0f,
                            out + (size_t)r0 * width + (size_t)h * head_dim, width);
            }
        }
    }
    free(S);
}

void hn_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, int ld,
                               const float *out, const float *lse, const hn_seqs *seqs,
                               int heads, int head_dim, int window, float scale) {
    int width = heads * head_dim;
    float *P = tile_buffer(window, seqs->max_len);
    float *dS = P + (size_t)BLOCK * tile_span(window, seqs->max_len);
    for (int s = 0; s < seqs->n; s++) {
        int s0 = seqs->offsets[s], s1 = seqs->offsets[s + 1];
        for (int r0 = s0; r0 < s1; r0 += BLOCK) {
            int r1 = r0 + BLOCK < s1 ? r0 + BLOCK : s1, nr = r1 - r0, j0, j1;
            key_range(r0, r1, s0, window, &j0, &j1);
            int nk = j1 - j0;
            for (int h = 0; h < heads; h++) {
                size_t qoff = (size_t)h * head_dim;
                const float *g = dout + (size_t)r0 * width + qoff;
                scores(P, q, k, ld, h, head_dim, r0, nr, j0, nk, window, scale);
                for (int i = 0; i < nr; i++) {
                    float L = lse[(size_t)(r0 + i) * heads + h];
                    float *row = P + (size_t)i * nk;
                    for (int j = 0; j < nk; j++) row[j] = expf(row[j] - L);
                }
                /* dP = dout V^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, head_dim, 1.0f, g,
                            width, v + (size_t)j0 * ld + qoff, ld, 0.0f, dS, nk);
                for (int i = 0; i < nr; i++) {
                    const float *gi = g + (size_t)i * width;
                    const float *oi = out + (size_t)(r0 + i) * width + qoff;
                    float D = 0.0f;
                    for (int d = 0; d < head_dim; d++) D += gi[d] * oi[d];
                    float *prow = P + (size_t)i * nk, *drow = dS + (size_t)i * nk;
                    for (int j = 0; j < nk; j++) drow[j] = scale * prow[j] * (drow[j] - D);
                }
                /* dV += P^T dout; dQ += dS K; dK += dS^T Q */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, head_dim, nr, 1.0f, P, nk,
                            g, width, 1.0f, dv + (size_t)j0 * ld + qoff, ld);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, head_dim, nk, 1.0f, dS,
                            nk, k + (size_t)j0 * ld + qoff, ld, 1.0f, dq + (size_t)r0 * ld + qoff,
                            ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, head_dim, nr, 1.0f, dS, nk,
                            q + (size_t)r0 * ld + qoff, ld, 1.0f, dk + (size_t)j0 * ld + qoff, ld);
            }
        }
    }
    free(P);
}
