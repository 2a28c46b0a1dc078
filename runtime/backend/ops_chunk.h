/* Dynamic-chunking kernels of an H-Net stage (paper Sections 2.2, Eq. 4-9), as an op
 * family of the backend table (be->chunk). Same conventions as backend.h: forward ops
 * overwrite their outputs, backward ops ACCUMULATE (+=) into every gradient.
 *
 * Notation: T rows at the outer resolution in sequences `seqs`; b[t] in {0,1} boundary
 * indicators (int32); the K = sum(b) boundary rows, in order, are the inner rows;
 * idx[k] is the outer row of inner row k; chunk[t] is the inner row whose chunk covers
 * outer row t (the last boundary at or before t in t's sequence; every sequence starts
 * with a boundary). */
#ifndef HN_OPS_CHUNK_H
#define HN_OPS_CHUNK_H

#include "backend/backend.h"

/* A boundary where the routing probability exceeds 1/2 (Eq. 4's b_t; the reference takes
 * the argmax of (1 - p, p), so p = 1/2 is no boundary). The plan op below decides it on
 * the device; generation decides it on the host (gen_stage.c). */
#ifdef __CUDACC__
#define HN_CHUNK_RULE __host__ __device__ /* one rule for the cuda plan and the host */
#else
#define HN_CHUNK_RULE
#endif
static inline HN_CHUNK_RULE int32_t hn_chunk_boundary(float p) { return p > 0.5f; }

/* The smoothing reads P clamped to [HN_EMA_P_MIN, 1 - HN_EMA_P_MIN], as the reference's
 * DeChunkLayer does (so a sequence start, p = 1, keeps 0.9999 of its row); a clamped P
 * gets no gradient. */
#define HN_EMA_P_MIN 1e-4f
static inline float hn_ema_clamp(float p) {
    return p < HN_EMA_P_MIN ? HN_EMA_P_MIN : p > 1.0f - HN_EMA_P_MIN ? 1.0f - HN_EMA_P_MIN : p;
}

/* The chunk plan of a stage (the plan op), computed on the device from p so that the
 * host does not wait mid-forward. Every sequence start is a boundary; otherwise b[t] =
 * hn_chunk_boundary(p[t]), or with fixed_every > 0 a boundary every fixed_every rows of
 * each sequence (p then only enters sum_p). K = sum(b). Outputs (device):
 *   b, chunk [T]: the indicators and each row's inner row (ops_chunk.h's notation);
 *   idx, first, pos_in, bytes_in [K] (room for T): each inner row's outer row, the first
 *     outer row its chunk pools over, its position in its inner sequence, and the byte
 *     of its outer row (bytes_in is left alone when bytes is NULL);
 *   offsets_in [n + 1]: the inner sequences (offsets_in[n] = K);
 *   sum_p [1]: the sum of p over the T rows (float64), for the ratio loss.
 * offsets_in and sum_p are what the host needs back (K, the inner packing): the stage
 * keeps them in one buffer and reads it back with one small download. The op reads
 * seqs->offsets on the cpu and seqs->offsets_dev and seqs->pos_dev on the cuda backend. */
typedef struct hn_chunk_plan_params {
    const hn_seqs *seqs; /* the outer sequences */
    const float *p;
    const int32_t *bytes; /* [T] the byte of each row, or NULL */
    int fixed_every;
    int32_t *b, *chunk;
    int32_t *idx, *first, *pos_in, *bytes_in;
    int32_t *offsets_in;
    double *sum_p;
} hn_chunk_plan_params;

typedef struct hn_ops_chunk {
    /* ---- routing (Eq. 4): p[t] = (1 - cos(q[t], k[t-1])) / 2, clamped to [0, 1];
     * p = 1 at the first row of every sequence. q, k: [T, D] rows of stride ld. ---- */
    void (*cosine_routing_forward)(float *p, const float *q, const float *k, int ld,
                                   const hn_seqs *seqs, int D);
    void (*cosine_routing_backward)(float *dq, float *dk, const float *dp, const float *q,
                                    const float *k, int ld, const hn_seqs *seqs, int D);

    /* ---- downsampling: gather the boundary rows, out[k,:] = x[idx[k],:] ---- */
    void (*gather_rows)(float *out, const float *x, const int32_t *idx, int K, int D);
    void (*gather_rows_backward)(float *dx, const float *dout, const int32_t *idx, int K, int D);
    /* mean / max over the rows that end at each boundary: the rows after the previous
     * boundary up to and including this one, (idx[k-1], idx[k]] within one sequence
     * (causal: a boundary only pools bytes it has seen). first[k] is the first pooled
     * row. max saves argmax [K, D] for backward. */
    void (*pool_mean_forward)(float *out, const float *x, const int32_t *first,
                              const int32_t *idx, int K, int D);
    void (*pool_mean_backward)(float *dx, const float *dout, const int32_t *first,
                               const int32_t *idx, int K, int D);
    void (*pool_max_forward)(float *out, int32_t *argmax, const float *x, const int32_t *first,
                             const int32_t *idx, int K, int D);
    void (*pool_max_backward)(float *dx, const float *dout, const int32_t *argmax, int K, int D);

    /* ---- smoothing (Eq. 5) over inner rows in inner sequences `seqs`:
     * zbar[k] = P[k] z[k] + (1 - P[k]) zbar[k-1], zbar[-1] = 0 at each sequence start.
     * P [K] is p gathered at the boundaries, read through hn_ema_clamp (dP = 0 where it
     * clamps). ---- */
    void (*ema_forward)(float *zbar, const float *z, const float *P, const hn_seqs *seqs, int D);
    void (*ema_backward)(float *dz, float *dP, const float *dzbar, const float *z,
                         const float *zbar, const float *P, const hn_seqs *seqs, int D);

    /* ---- upsampling with confidence (Eq. 6-9):
     * c[t] = b[t] ? p[t] : 1 - p[t]; out[t,:] = w[t] * zbar[chunk[t],:] with w = 1 when
     * ste (STE(c) is 1 in the forward pass) and w = c otherwise. Backward: dzbar gets
     * w[t] * dout[t]; dp[t] gets +-sum(dout[t] * zbar[chunk[t]]) (the STE passes the
     * gradient of its value 1 straight to c), sign + if b[t] else -. ---- */
    void (*upsample_forward)(float *out, const float *zbar, const int32_t *chunk,
                             const float *p, const int32_t *b, int ste, int T, int D);
    void (*upsample_backward)(float *dzbar, float *dp, const float *dout, const float *zbar,
                              const int32_t *chunk, const float *p, const int32_t *b, int ste,
                              int T, int D);

    /* ---- width changes between stages (Section 2.1) ----
     * widen: out[t] = [x[t] (D1) | pad (D2-D1)]; narrow: out[t] = x[t][:D1] */
    void (*widen_forward)(float *out, const float *x, const float *pad, int T, int D1, int D2);
    void (*widen_backward)(float *dx, float *dpad, const float *dout, int T, int D1, int D2);
    void (*narrow_forward)(float *out, const float *x, int T, int D1, int D2);
    void (*narrow_backward)(float *dx, const float *dout, int T, int D1, int D2);

    /* ---- linear routing (ablation): p[t] = sigmoid(logit[t]), p = 1 at sequence starts ---- */
    void (*sigmoid_routing_forward)(float *p, const float *logit, const hn_seqs *seqs);
    void (*sigmoid_routing_backward)(float *dlogit, const float *dp, const float *p,
                                     const hn_seqs *seqs);

    /* ---- x[i] += s ---- */
    void (*add_scalar)(float *x, float s, size_t n);

    /* ---- generation steps (model/generate.c): one row for each of n sequences, rows
     * contiguous. pos[i] (device) is the row's position in its sequence; pos[i] < 0:
     * sequence i does not advance now, its outputs and state rows are left as they are. */
    /* cosine routing of a new row: p[i] = (1 - cos(q[i], k[i])) / 2 clamped to [0, 1],
     * q the new row's projection, k the previous row's; p = 1 at position 0. */
    void (*cosine_routing_step)(float *p, const float *q, const float *k, const int32_t *pos,
                                int n, int D);
    /* linear routing: p[i] = sigmoid(logit[i]); p = 1 at position 0 */
    void (*sigmoid_routing_step)(float *p, const float *logit, const int32_t *pos, int n);
    /* dst[i] = src[i] where pos[i] >= 0 (a step state holding the last row) */
    void (*copy_rows_step)(float *dst, const float *src, const int32_t *pos, int n, int D);
    /* the smoothing's step (Eq. 5): zbar[i] = P[i] z[i] + (1 - P[i]) zbar[i] where
     * P[i] >= 0 (z: rows of stride ld_z, their first D columns); rows with P[i] < 0 keep
     * zbar. The caller passes P already clamped (hn_ema_clamp), or 1 without smoothing. */
    void (*ema_step)(float *zbar, const float *z, int ld_z, const float *P, int n, int D);
    /* mean / max pooling's step: count[i] rows of the current chunk are in acc[i] before
     * this one (< 0: sequence i has no row now). acc[i] = x[i] when count is 0, else
     * acc + x (mean) or max(acc, x); where b[i], out[i] = acc[i] / (count + 1) (mean) or
     * acc[i] (max): the pooled chunk that boundary closes. */
    void (*pool_step)(float *acc, float *out, const float *x, const int32_t *count,
                      const int32_t *b, int max, int n, int D);

    /* ---- appended later (fields are only ever appended) ----
     * cosine_routing_backward with dq and dk typed [T, D] views OVERWRITTEN, every row
     * (zero where no gradient reaches it), in their dtype: bf16 for the routing
     * projections' products to read as they are. 0, or -1 for views that do not fit. */
    int (*cosine_routing_backward_t)(hn_tensor dq, hn_tensor dk, const float *dp,
                                     const float *q, const float *k, int ld,
                                     const hn_seqs *seqs, int D);
    /* the chunk plan from p (hn_chunk_plan_params above). 0, or -1 when an output is
     * missing. */
    int (*plan)(const hn_chunk_plan_params *pp);
} hn_ops_chunk;

#endif
