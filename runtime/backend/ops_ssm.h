/* Mamba-2 kernels (Dao & Gu 2024): the op family the mamba2 layer plugin reaches through
 * be->ssm. Same conventions as backend.h: forward ops OVERWRITE their outputs, backward
 * ops ACCUMULATE (+=) into every gradient; row strides (`ld`, in elements) let inputs be
 * column slices of one wider row (x, B, C live inside the convolution output, z and dt
 * inside the input projection). All sequences are packed (hn_seqs); every sequence
 * start resets the convolution history and the SSM state.
 *
 * Notation: T rows, H heads of headdim P, G groups (heads h share B, C of group
 * h / (H/G)), state size N, chunk length Q. Per head the SSM is
 *     dt_t = softplus(dt_raw_t + dt_bias),  A = -exp(A_log),
 *     S_t  = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T        (S: [P, N], S_{-1} = 0)
 *     y_t  = S_t C_t + D x_t
 * computed by the chunked SSD algorithm: a quadratic (attention-like) form inside each
 * chunk of Q rows and state passing between chunks. Chunks never cross a sequence
 * boundary: sequence s has ceil(L_s / Q) chunks, numbered in row order. */
#ifndef HN_OPS_SSM_H
#define HN_OPS_SSM_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

typedef struct hn_ssm_dims {
    int heads;   /* H */
    int headdim; /* P */
    int d_state; /* N */
    int ngroups; /* G, divides H */
    int chunk;   /* Q >= 1 */
} hn_ssm_dims;

/* Number of SSD chunks for these sequences (host offsets): the first dimension of the
 * chunk_states buffer. At most ceil(T / Q) + n. */
static inline int hn_ssd_n_chunks(const hn_seqs *s, int chunk) {
    int n = 0;
    for (int i = 0; i < s->n; i++) n += (s->offsets[i + 1] - s->offsets[i] + chunk - 1) / chunk;
    return n;
}

/* ---- parameters of the typed Mamba-2 ops (backend API v2; fields only ever appended) ----
 * Views as backend/tensor.h; the ops return 0, or -1 when shapes or dtypes do not fit.
 * Gradient views follow one rule: a float32 gradient view is ACCUMULATED (+=, as every
 * v1 backward), a bf16 one is OVERWRITTEN (rounding a sum twice would lose the addend),
 * so a caller whose column ranges are each written by one op needs no zeroing in bf16. */
typedef struct hn_conv1d_params {
    hn_tensor x;          /* [T, C] input (a column slice of the in-projection's output) */
    hn_tensor out;        /* forward output [T, C] */
    const float *w, *bias; /* [C, K], [C] float32 */
    const hn_seqs *seqs;
    int K;
    hn_tensor dout;       /* backward input [T, C] */
    hn_tensor dx;         /* backward output [T, C] (the gradient rule above) */
    float *dw, *dbias;    /* accumulated */
} hn_conv1d_params;

typedef struct hn_ssd_params {
    hn_tensor x, B, C;    /* [T, H*P], [T, G*N], [T, G*N] */
    hn_tensor dt_raw;     /* [T, H] */
    const float *dt_bias, *A_log, *D; /* [H] float32 */
    const hn_seqs *seqs;
    const hn_ssm_dims *dims;
    float *ws;            /* ssd_workspace_floats(dims) floats of scratch */
    hn_tensor y;          /* forward output [T, H*P] */
    float *chunk_states;  /* [n_chunks, H, P, N]: written by forward, read by backward */
    hn_tensor dy;         /* backward input [T, H*P] */
    hn_tensor dx, dB, dC, ddt_raw;     /* backward outputs (the gradient rule above) */
    float *ddt_bias, *dA_log, *dD;     /* accumulated */
    int overwrite; /* 1: float32 dx, dB, dC written (=) rather than added to, so a caller
                    * whose buffer starts empty need not clear it (host API 5) */
} hn_ssd_params;

typedef struct hn_gated_norm_params {
    hn_tensor x, z;       /* [T, Dm]: y = x * silu(z) is normalised per group */
    hn_tensor out;        /* forward output [T, Dm] */
    const float *w;       /* [Dm] float32 */
    float *rstd;          /* [T, Dm / group_size] float32: written by forward */
    int group_size;
    float eps;
    hn_tensor dout;       /* backward input [T, Dm] */
    hn_tensor dx, dz;     /* backward outputs (the gradient rule above) */
    float *dw;            /* accumulated */
    int overwrite; /* 1: float32 dx, dz written (=) rather than added to (host API 5) */
} hn_gated_norm_params;

typedef struct hn_ops_ssm {
    /* ---- depthwise causal convolution + SiLU over packed sequences ----
     * x: [T, C] rows of stride ld_x; w: [C, K] (PyTorch conv1d.weight [C, 1, K]);
     * bias: [C]; out: [T, C] contiguous.
     *   out[t, c] = silu(bias[c] + sum_k w[c, k] * x[t - (K-1) + k, c])
     * where rows before the start of t's sequence count as zero. */
    void (*conv1d_forward)(float *out, const float *x, int ld_x, const float *w,
                           const float *bias, const hn_seqs *seqs, int C, int K);
    /* dx ([T, C], stride ld_dx), dw [C, K], dbias [C] += gradients for dout [T, C]. */
    void (*conv1d_backward)(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                            const float *x, int ld_x, const float *w, const float *bias,
                            const hn_seqs *seqs, int C, int K);

    /* ---- the chunked SSD scan ----
     * x: [T, H*P], B, C: [T, G*N], all three with row stride ld_xbc; dt_raw: [T, H] with
     * stride ld_dt; dt_bias, A_log, D: [H]. Writes y: [T, H*P] contiguous and
     * chunk_states: [n_chunks, H, P, N], the state entering each chunk (what backward
     * needs). final_state (may be NULL): the state after the last row of sequence i is
     * written to final_state + i * final_stride ([H, P, N]), e.g. into the step state
     * after a prefill. ws: ssd_workspace_floats(dims) floats of scratch. */
    size_t (*ssd_workspace_floats)(const hn_ssm_dims *dims);
    void (*ssd_forward)(float *y, float *chunk_states, float *final_state, size_t final_stride,
                        const float *x, const float *B, const float *C, int ld_xbc,
                        const float *dt_raw, int ld_dt, const float *dt_bias,
                        const float *A_log, const float *D, const hn_seqs *seqs,
                        const hn_ssm_dims *dims, float *ws);
    /* Accumulates dx, dB, dC (stride ld_dxbc), ddt_raw (stride ld_ddt), ddt_bias,
     * dA_log, dD for dy: [T, H*P]; chunk_states as written by ssd_forward. */
    void (*ssd_backward)(float *dx, float *dB, float *dC, int ld_dxbc, float *ddt_raw,
                         int ld_ddt, float *ddt_bias, float *dA_log, float *dD,
                         const float *dy, const float *x, const float *B, const float *C,
                         int ld_xbc, const float *dt_raw, int ld_dt, const float *dt_bias,
                         const float *A_log, const float *D, const float *chunk_states,
                         const hn_seqs *seqs, const hn_ssm_dims *dims, float *ws);

    /* ---- gated RMSNorm (Mamba-2, norm_before_gate = False) ----
     * x: [T, Dm] contiguous; z: [T, Dm] with stride ld_z; w: [Dm]. Per row and per group
     * of group_size columns: g = x * silu(z), out = g / sqrt(mean(g^2) + eps) * w.
     * rstd: [T, Dm / group_size], saved for backward. */
    void (*gated_rmsnorm_forward)(float *out, float *rstd, const float *x, const float *z,
                                  int ld_z, const float *w, int T, int Dm, int group_size,
                                  float eps);
    /* dx [T, Dm], dz (stride ld_dz), dw [Dm] += gradients for dout [T, Dm]. */
    void (*gated_rmsnorm_backward)(float *dx, float *dz, int ld_dz, float *dw,
                                   const float *dout, const float *x, const float *z,
                                   int ld_z, const float *w, const float *rstd, int T, int Dm,
                                   int group_size);

    /* ---- inference: one new row for each of n independent sequences ----
     * States live in per-sequence blocks: sequence i's conv state is
     * conv_state + i * stride ([K-1, C], oldest input first), its SSM state
     * ssm_state + i * stride ([H, P, N]). pos[i] (device) is the new row's position in
     * its sequence; pos 0 clears the state first; pos < 0: sequence i does not advance
     * (its state is left, its output row is zero). */

    /* The conv state a parallel forward leaves behind: for each sequence, its last K-1
     * input rows (zeros where the sequence is shorter). x as in conv1d_forward. */
    void (*conv1d_state)(float *conv_state, size_t stride, const float *x, int ld_x,
                         const hn_seqs *seqs, int C, int K);
    /* out: [n, C]; x: [n, C] with stride ld_x. Updates the conv state. */
    void (*conv1d_step)(float *out, float *conv_state, size_t stride, const float *x,
                        int ld_x, const float *w, const float *bias, const int32_t *pos,
                        int n, int C, int K);
    /* y: [n, H*P]; x, B, C: one row per sequence with stride ld_xbc; dt_raw stride
     * ld_dt. Updates the SSM state (the recurrence above, one step). */
    void (*ssd_step)(float *y, float *ssm_state, size_t stride, const float *x, const float *B,
                     const float *C, int ld_xbc, const float *dt_raw, int ld_dt,
                     const float *dt_bias, const float *A_log, const float *D,
                     const int32_t *pos, int n, const hn_ssm_dims *dims);

    /* ---- typed forms (v2) of the training ops above, same arithmetic. On the cuda
     * backend the SSD's dy is float32 and x, B, C are float32 or (the three alike) bf16
     * (the tensor-core form rounds them to bf16 as it stages them anyway; the other
     * kernels get float32 copies), as are dx, dB, dC; dt_raw and y may be bf16. ---- */
    int (*conv1d_forward_t)(const hn_backend *be, const hn_conv1d_params *p);
    int (*conv1d_backward_t)(const hn_backend *be, const hn_conv1d_params *p);
    int (*ssd_forward_t)(const hn_backend *be, const hn_ssd_params *p);
    int (*ssd_backward_t)(const hn_backend *be, const hn_ssd_params *p);
    int (*gated_rmsnorm_forward_t)(const hn_backend *be, const hn_gated_norm_params *p);
    int (*gated_rmsnorm_backward_t)(const hn_backend *be, const hn_gated_norm_params *p);

    /* The dtype this backend's SSD would have x, B, C and dx, dB, dC in, so the dtype of
     * the convolution output the mamba2 layer hands it and of that output's gradient
     * (NULL: float32). The cuda backend answers bf16 (unless HNET_CUDA_XBC=fp32) with bf16
     * activations (its tensor-core SSD reads and writes either). Host API 5. */
    hn_dtype (*xbc_dtype)(const hn_backend *be);
} hn_ops_ssm;

#endif
