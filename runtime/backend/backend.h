/* The backend operation table: the only way the runtime and the plugins touch a device.
 *
 * One table per device kind (cpu: float32 + OpenBLAS, the reference; cuda: later).
 * All pointers passed to these ops are device pointers of that backend (host pointers
 * on the cpu backend). Shapes are row-major; a "packed" tensor is [T, ...] holding the
 * tokens of several sequences back to back, described by hn_seqs.
 *
 * Conventions every op follows (so callers never have to guess):
 *  - forward ops OVERWRITE their outputs;
 *  - backward ops ACCUMULATE (+=) into every gradient they produce, activation and
 *    parameter gradients alike; callers zero a gradient buffer before its first use.
 *  - `ld` arguments are row strides in elements (lets q, k, v live inside one qkv row).
 */
#ifndef HN_BACKEND_H
#define HN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/tensor.h"
#include "core/grow.h"

typedef enum hn_device_kind { HN_DEVICE_CPU = 0, HN_DEVICE_CUDA = 1 } hn_device_kind;

/* Packed variable-length sequences (cu_seqlens style). Sequence i occupies rows
 * [offsets[i], offsets[i+1]). Sequence starts reset recurrent state and attention. */
typedef struct hn_seqs {
    int n;                  /* number of sequences */
    int total;              /* T = offsets[n] */
    int max_len;            /* longest sequence */
    const int32_t *offsets; /* host copy, n + 1 entries */
    const int32_t *offsets_dev; /* device copy, n + 1 entries */
    const int32_t *pos_dev; /* device: position of each row within its sequence, [T] */
} hn_seqs;

/* Slots of the shared transient workspace (hn_backend.workspace). Layer plugins use
 * them for buffers that live only inside one forward or backward call; never keep a
 * workspace pointer across calls (a later, larger request moves the buffer). */
enum {
    HN_WS_LAYER0 = 0,
    HN_WS_LAYER1,
    HN_WS_LAYER2,
    HN_WS_LAYER3,
    HN_WS_LAYER4,
    HN_WS_LAYER5,
    HN_WS_LAYER6,
    HN_WS_LAYER7,
    HN_WS_SLOTS
};

/* ---- parameters of the typed ops (backend API v2; fields are only ever appended) ----
 * Typed ops take the backend they belong to, a params struct of typed views
 * (backend/tensor.h), return 0 (HN_OK) or -1 when the arguments are unusable (shapes or
 * dtypes that do not fit: the message is in the backend's device_error where it has
 * one), and on the cuda backend enqueue their work without synchronising. */
typedef struct hn_matmul_params {
    /* c = alpha * op(a) op(b) + beta * c; op(a) is [m, k] (a is [k, m] when trans_a),
     * op(b) is [k, n], c is [m, n]. Any mix of float32 and bf16 views; arithmetic and
     * accumulation are float32 (bf16 operands on tensor cores on the cuda backend). */
    hn_tensor a, b, c;
    int trans_a, trans_b;
    float alpha, beta;
} hn_matmul_params;

typedef struct hn_swiglu_params {
    hn_tensor gu;   /* [T, 2H] = [value | gate] */
    hn_tensor h;    /* forward output [T, H] = value * silu(gate), overwritten */
    hn_tensor dh;   /* backward input [T, H] */
    hn_tensor dgu;  /* backward output [T, 2H] */
    int accumulate; /* backward: 1 adds into dgu (float32 only), 0 overwrites it */
} hn_swiglu_params;

/* Rotary embedding in place on x's first rot_dim dims of each head (as the v1 rope). */
typedef struct hn_rope_params {
    hn_tensor x; /* [T, heads * head_dim] view (q or k inside a qkv row) */
    int heads, head_dim, rot_dim;
    const int32_t *pos; /* device: position of each row within its sequence */
    float theta;
    int inverse;
    /* no field may follow: plugins built for layer ABI 3 pass this struct as it ends
     * here (rope_to_t takes its output view as an argument instead) */
} hn_rope_params;

/* Causal windowed attention over packed sequences (as the v1 attention ops). q, k and v
 * share one dtype and one row stride; dq, dk and dv share one dtype and one row stride:
 * float32, or bf16 when overwrite is set (see attention_grads_bf16). */
typedef struct hn_attention_params {
    hn_tensor q, k, v;   /* [T, heads * head_dim] */
    hn_tensor out;       /* forward output (overwritten); a backward input */
    float *lse;          /* [T, heads] float32: written by forward, read by backward */
    const hn_seqs *seqs;
    int heads, head_dim, window; /* window < 0: global */
    float scale;
    hn_tensor dout;      /* backward input */
    hn_tensor dq, dk, dv; /* backward outputs, accumulated (+=) */
    int overwrite;        /* backward: 1 = dq, dk, dv written (=) instead, so that a caller
                           * whose buffers start empty need not clear them first */
} hn_attention_params;

/* RMSNorm over rows, y = x r w with r = 1 / sqrt(mean(x^2) + eps) (the v1 rmsnorm ops on
 * typed views). add_rmsnorm_forward_t is the network's residual step fused with the next
 * pre-norm: x += branch (x float32: the residual stream), then the norm of the sum; its
 * backward is rmsnorm_backward_t (the residual passes dx through unchanged). */
typedef struct hn_rmsnorm_params {
    hn_tensor x;      /* [T, D] input; add_rmsnorm_forward_t: float32, updated in place */
    hn_tensor branch; /* add_rmsnorm_forward_t: [T, D] added into x first (any dtype) */
    const float *w;   /* [D] float32 */
    float *rstd;      /* [T] float32: written by forward, read by backward */
    float eps;
    hn_tensor y;      /* forward output [T, D], overwritten (any dtype) */
    hn_tensor y2;     /* optional (data NULL: none): a second forward output, the same
                       * values in another dtype (float32 to keep, bf16 for a product) */
    hn_tensor dy;     /* backward input [T, D] (any dtype) */
    hn_tensor dx;     /* backward output [T, D] float32, accumulated (+=) */
    float *dw;        /* [D] float32, accumulated (+=) */
    hn_tensor dx2;    /* optional (data NULL: none): dx after the accumulation, written
                       * again in another dtype (bf16: the next backward's product operand) */
} hn_rmsnorm_params;

/* The training step's LM-head loss as xent_fused: loss[t] in nats and dlogits
 * OVERWRITTEN with scale * (softmax(logits) - onehot(target)), in one pass over the
 * logits, dlogits in any dtype (bf16: the head's two products read it as it is). */
typedef struct hn_xent_params {
    hn_tensor logits;      /* [T, V] */
    const int32_t *target; /* [T] device */
    float *loss;           /* [T] float32 */
    hn_tensor dlogits;     /* [T, V], overwritten */
    float scale;
} hn_xent_params;

/* The clipping of one optimizer update as the device computes it (grad_clip), read by
 * adamw_clipped on the device and by the host afterwards (logging, the non-finite norm's
 * failure). */
typedef struct hn_grad_clip {
    double sum_squares; /* of the gradient, in double */
    double norm;        /* sqrt(sum_squares) */
    float scale;        /* hn_grad_clip_scale(norm, max_norm) */
    int32_t skip;       /* the norm is not finite: the update leaves p, m and v untouched */
} hn_grad_clip;

#ifdef __CUDACC__
#define HN_CLIP_RULE __host__ __device__ /* one rule for the device and the host */
#else
#define HN_CLIP_RULE
#endif
/* The gradient's factor when clipped to max_norm by its global norm (1: no clip; a
 * non-finite norm gives 1 too, its update being skipped or refused). */
static inline HN_CLIP_RULE float hn_grad_clip_scale(double norm, double max_norm) {
    return (max_norm > 0 && norm > max_norm) ? (float)(max_norm / norm) : 1.0f;
}

struct hn_ops_ssm;   /* Mamba-2 kernels: runtime/backend/ops_ssm.h */
struct hn_ops_chunk; /* dynamic chunking kernels (H-Net stages) */
struct hn_ops_moe;   /* Mixture-of-Experts routing and dispatch: ops_moe.h */

typedef struct hn_backend {
    const char *name;
    hn_device_kind kind;

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes); /* zero-filled; NULL on failure */
    void (*free)(void *p);
    void (*upload)(void *dst_dev, const void *src_host, size_t bytes);
    void (*download)(void *dst_host, const void *src_dev, size_t bytes);
    /* dst == src moves nothing: it tells the backend that something else (a collective)
     * wrote those bytes, so a copy it derives from them (cuda: the bf16 parameters) is
     * made again */
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*zero)(void *p, size_t bytes);
    void (*sync)(void);
    /* The first device failure since the last call (a message; it is cleared), or NULL
     * when there was none. May be NULL for a backend whose ops cannot fail (the cpu). */
    const char *(*device_error)(void);
    /* A buffer of at least `bytes` owned by the backend and shared by every caller of
     * the same slot: valid until the next workspace() call with that slot; contents are
     * undefined. For buffers that live only inside one op sequence (a layer's gradient
     * buffers in its backward), so that they exist once, not once per layer. Grows by
     * at least 1.5x, so varying sizes settle; NULL when out of memory. */
    void *(*workspace)(int slot, size_t bytes);
    /* A hint (may be NULL): values[0, n) are a model's parameters (on = 1; 0 when they
     * are freed). A backend may keep a lower-precision copy for its matrix products
     * (cuda: bf16), kept equal to the rounded values across every write. */
    void (*params_arena)(const float *values, size_t n, int on);

    /* ---- dense algebra ----
     * C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, packed (lda/ldb/ldc
     * implied: op(A) is [m,k], op(B) is [k,n]; trans_a means A is stored [k,m]). */
    void (*matmul)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                   const float *a, const float *b, float beta, float *c);

    /* ---- elementwise and reductions ---- */
    void (*fill)(float *x, float value, size_t n);
    void (*add)(float *y, const float *x, size_t n);          /* y += x */
    void (*scale)(float *x, float s, size_t n);               /* x *= s */
    double (*sum_squares)(const float *x, size_t n);          /* result on host */
    void (*add_bias)(float *y, const float *b, int rows, int cols);     /* y[r,:] += b */
    void (*bias_backward)(float *db, const float *dy, int rows, int cols); /* db += sum_r dy */

    /* ---- embedding: out[t,:] = table[tok[t],:] ---- */
    void (*embedding_forward)(float *out, const float *table, const int32_t *tok, int T, int D);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *tok, int T, int D);

    /* ---- RMSNorm: y = x / rms(x) * w; rstd[t] saved for backward ---- */
    void (*rmsnorm_forward)(float *y, float *rstd, const float *x, const float *w, int T, int D,
                            float eps);
    void (*rmsnorm_backward)(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, const float *rstd, int T, int D);

    /* ---- SwiGLU activation: gu is [T, 2H] = [value | gate]; h = value * silu(gate) ---- */
    void (*swiglu_forward)(float *h, const float *gu, int T, int H);
    void (*swiglu_backward)(float *dgu, const float *dh, const float *gu, int T, int H);

    /* ---- rotary embedding, in place, GPT-NeoX half-split on the first rot_dim dims of
     * each head; pos[t] is the position within its sequence. inverse=1 rotates by -angle
     * (the backward of the forward rotation). ---- */
    void (*rope)(float *x, int ld, int T, int heads, int head_dim, int rot_dim,
                 const int32_t *pos, float theta, int inverse);

    /* ---- causal attention over packed sequences with a sliding window ----
     * q, k, v: [T, heads, head_dim] rows with stride ld; out: [T, heads*head_dim] contiguous;
     * lse: [T, heads] log-sum-exp of the scaled scores, saved for backward.
     * Row t of sequence s attends to rows j of s with t - window <= j <= t
     * (window < 0: global). This is flash-attn's window_size = (window, 0). */
    void (*attention_forward)(float *out, float *lse, const float *q, const float *k,
                              const float *v, int ld, const hn_seqs *seqs, int heads,
                              int head_dim, int window, float scale);
    void (*attention_backward)(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, int ld,
                               const float *out, const float *lse, const hn_seqs *seqs,
                               int heads, int head_dim, int window, float scale);

    /* ---- softmax cross-entropy over V classes; loss[t] in nats ---- */
    void (*xent_forward)(float *loss, const float *logits, const int32_t *target, int T, int V);
    /* dlogits += scale * (softmax(logits) - onehot(target)) */
    void (*xent_backward)(float *dlogits, const float *logits, const int32_t *target, int T,
                          int V, float scale);
    /* Both in one pass over the logits (the training step's LM-head loss): loss[t] as
     * xent_forward, and dlogits OVERWRITTEN with scale * (softmax - onehot). */
    void (*xent_fused)(float *loss, float *dlogits, const float *logits,
                       const int32_t *target, int T, int V, float scale);

    /* ---- AdamW on a contiguous parameter range (decoupled weight decay) ----
     * g is multiplied by grad_scale first (gradient clipping); bc1/bc2 are the bias
     * corrections 1 - beta^step. */
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2,
                  float grad_scale);

    /* ---- bf16 storage of the activations a layer keeps from forward to backward ----
     * stash_bf16() is 1 when this backend keeps them in bf16 now (cuda in its bf16
     * matmul mode; the cpu only when a test asks), 0 for float32 (runtime/core/stash.h
     * does the bookkeeping). pack rounds n floats to bf16 (to nearest even; NaN stays
     * NaN), unpack widens them back exactly. */
    int (*stash_bf16)(void);
    void (*pack_bf16)(uint16_t *dst, const float *src, size_t n);
    void (*unpack_bf16)(float *dst, const uint16_t *src, size_t n);

    /* ---- typed ops (v2: the backend, a params struct of typed views, a status) ----
     * activation_dtype: the storage type this backend keeps activations in now (bf16 on
     * cuda in its bf16 matmul mode, float32 otherwise; the cpu only when a test asks).
     * convert: dst = src elementwise between any two dtypes (same shape). */
    hn_dtype (*activation_dtype)(const struct hn_backend *be);
    int (*matmul_t)(const struct hn_backend *be, const hn_matmul_params *p);
    int (*swiglu_forward_t)(const struct hn_backend *be, const hn_swiglu_params *p);
    int (*swiglu_backward_t)(const struct hn_backend *be, const hn_swiglu_params *p);
    int (*convert)(const struct hn_backend *be, hn_tensor dst, hn_tensor src);
    int (*rope_t)(const struct hn_backend *be, const hn_rope_params *p);
    int (*attention_forward_t)(const struct hn_backend *be, const hn_attention_params *p);
    int (*attention_backward_t)(const struct hn_backend *be, const hn_attention_params *p);

    /* ---- op families owned by other concerns (NULL until implemented) ---- */
    const struct hn_ops_ssm *ssm;
    const struct hn_ops_chunk *chunk;
    const struct hn_ops_moe *moe;

    /* ---- generation (model/generate.c): one new row for each of n sequences ----
     * pos[i] (device, [n]) is the new row's position in sequence i; pos[i] < 0 marks a
     * sequence that does not advance in this call (batched H-Net generation steps an
     * inner network for all sequences when any of them reached it): its state is left
     * as it is and its output row is zero (so no stale values travel on).
     *
     * attention_step: qkv [n, 3D] rows (q | k | v, D = heads * head_dim, q and k
     * already rotated). Sequence i's cache is state + i * stride: keys [R, D], values
     * [R, D], then a counter (positions stepped, as a float); position p lives in ring
     * slot p % R. Writes the new key and value into slot pos % R, the counter pos + 1,
     * and out[i] ([n, D]) = softmax(scale q k^T) v over the last min(pos + 1, R)
     * positions, per head. */
    void (*attention_step)(float *out, const float *qkv, float *state, size_t stride, int R,
                           const int32_t *pos, int n, int heads, int head_dim, float scale);
    /* sample: one draw per row of logits [n, V]: softmax(logits / temperature)
     * restricted to the smallest set of most likely entries (ties: lower index first)
     * whose mass reaches top_p of the whole; the entry where u[i] * (kept mass) falls,
     * in that order. temperature <= 0: the most likely entry (lowest index on ties).
     * Arithmetic in double. u (device, [n]): uniforms in [0, 1) drawn by the caller, so
     * every backend draws the same byte from the same logits and seed. out: [n] int32.
     * The cuda op takes V <= HN_SAMPLE_DEVICE_MAX_V. */
    void (*sample)(int32_t *out, const float *logits, const double *u, int n, int V,
                   double temperature, double top_p);

    /* ---- typed ops appended later (fields are only ever appended) ----
     * RMSNorm on typed views, and the residual add fused with it (hn_rmsnorm_params) */
    int (*rmsnorm_forward_t)(const struct hn_backend *be, const hn_rmsnorm_params *p);
    int (*add_rmsnorm_forward_t)(const struct hn_backend *be, const hn_rmsnorm_params *p);
    int (*rmsnorm_backward_t)(const struct hn_backend *be, const hn_rmsnorm_params *p);
    /* the LM-head loss with a typed dlogits (hn_xent_params) */
    int (*xent_fused_t)(const struct hn_backend *be, const hn_xent_params *p);
    /* rope_t out of place: x rotated is written to out ([T, x.cols]) instead, every
     * column (the dims rope leaves alone copied), in out's dtype; x is only read. A
     * float32 gradient rotated back and rounded for its products in one pass. */
    int (*rope_to_t)(const struct hn_backend *be, const hn_rope_params *p, hn_tensor out);
    /* ---- the training step's statistics without a host wait (runtime/train/step_stats.h) ----
     * alloc_host: zero-filled host memory a download_async may write (cuda: pinned, so the
     * copy does not wait for the device; NULL on failure); free_host releases it.
     * download_async: enqueues the copy of bytes from the device into dst_host (memory of
     * alloc_host) and returns at once (the cpu copies before it returns); dst_host holds
     * them after the next download_wait, which waits for every download_async before it. */
    void *(*alloc_host)(size_t bytes);
    void (*free_host)(void *p);
    void (*download_async)(void *dst_host, const void *src_dev, size_t bytes);
    void (*download_wait)(void);
    /* grad_clip: c (device) gets the sum of squares of g[0, n) in double (as sum_squares),
     * its square root, the clip scale for max_norm and the skip flag (hn_grad_clip),
     * without a host wait. adamw_clipped: adamw with grad_scale c->scale read on the
     * device, and nothing written where c->skip. */
    void (*grad_clip)(hn_grad_clip *c, const float *g, size_t n, double max_norm);
    void (*adamw_clipped)(float *p, const float *g, float *m, float *v, size_t n, float lr,
                          float beta1, float beta2, float eps, float weight_decay, float bc1,
                          float bc2, const hn_grad_clip *c);
    /* attention_grads_bf16: 1 where attention_backward_t with these params (dq, dk, dv
     * bf16 views with one row stride, overwrite set) makes the bf16 gradients itself, so
     * a caller that wants them in bf16 need not keep a float32 copy (cuda: cuDNN's fused
     * backward); 0 where it would round a float32 result (it still accepts them). NULL:
     * always 0. */
    int (*attention_grads_bf16)(const struct hn_backend *be, const hn_attention_params *p);
} hn_backend;

/* The largest vocabulary the cuda backend's sample op takes (a byte model's 256 fits;
 * larger token vocabularies are sampled on the host). */
#define HN_SAMPLE_DEVICE_MAX_V 2048

/* The backends compiled into this build. hn_backend_get returns NULL for a kind that
 * was not built (e.g. cuda without nvcc). */
const hn_backend *hn_backend_cpu(void);

/* The workspace behind hn_backend.workspace, one pool per backend (backend.c). */
typedef struct hn_ws_pool {
    hn_grow_buf slot[HN_WS_SLOTS];
} hn_ws_pool;
void *hn_ws_pool_get(hn_ws_pool *pool, void *(*alloc)(size_t), void (*release)(void *),
                     int slot, size_t bytes);
const hn_backend *hn_backend_get(const char *name);
/* Why hn_backend_get(name) answered NULL, where the backend says ("" otherwise). */
const char *hn_backend_why_unavailable(const char *name);

#endif
