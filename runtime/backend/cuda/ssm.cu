/* cuda Mamba-2 ops (ops_ssm.h): the SSD scan, the single-step (inference) kernels and
 * the op table (the convolution is in ssm_conv.cu, the gated RMSNorm in ssm_norm.cu, the
 * typed SSD entry points in ssd_typed.cu).
 *
 * The SSD scan here is the plain recurrence S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T,
 * y_t = S_t C_t + D x_t, walked in time order by one warp per (sequence, head, group of
 * state rows); the state lives in registers, 16 values per thread (a row p is split
 * over TPR lanes, which meet by shuffles for y). It equals the cpu's chunked form up to rounding
 * and writes the same chunk_states (the state entering each chunk of Q rows).
 * Backward walks the chunks in reverse: it recomputes the chunk's states from its
 * entering state into a scratch buffer, then runs the adjoint recurrence
 * dS_t = dy_t C_t^T + exp(dt_{t+1} A) dS_{t+1}; sums over the state's rows (dB, dC,
 * ddt) meet by shuffles within the warp and by atomicAdd across warps and heads.
 * This is a first, latency-bound version (no tensor cores, a time step at a time). */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define TPB 256
#define NPT 16 /* state values per thread */

/* ---- inference: the convolution's state and one step ---- */
__global__ void k_conv_state(float *st, size_t stride, const float *x, int ld_x,
                             const int32_t *offsets, int n, int C, int K) {
    size_t items = (size_t)n * (K - 1) * C;
    HN_GRID_STRIDE(i, items) {
        int s = (int)(i / ((size_t)(K - 1) * C)), rem = (int)(i % ((size_t)(K - 1) * C));
        int k = rem / C, c = rem % C;
        int r = offsets[s + 1] - (K - 1) + k;
        st[(size_t)s * stride + (size_t)k * C + c] = r >= offsets[s] ? x[(size_t)r * ld_x + c] : 0.0f;
    }
}
static void conv1d_state(float *conv_state, size_t stride, const float *x, int ld_x,
                         const hn_seqs *seqs, int C, int K) {
    size_t items = (size_t)seqs->n * (K - 1) * C;
    if (!items) return;
    k_conv_state<<<hn_blocks(items, TPB), TPB, 0, HN_STREAM>>>(conv_state, stride, x, ld_x, seqs->offsets_dev,
                                                  seqs->n, C, K);
    HN_LAUNCHED("conv1d_state");
}

/* one thread per (sequence, channel): it owns that column of the state */
__global__ void k_conv_step(float *out, float *conv_state, size_t stride, const float *x, int ld_x,
                            const float *w, const float *bias, const int32_t *pos, int n, int C,
                            int K) {
    size_t items = (size_t)n * C;
    HN_GRID_STRIDE(i, items) {
        int s = (int)(i / C), c = (int)(i % C);
        float *st = conv_state + (size_t)s * stride;
        if (pos[s] < 0) { /* not advancing now */
            out[(size_t)s * C + c] = 0.0f;
            continue;
        }
        if (pos[s] == 0)
            for (int k = 0; k < K - 1; k++) st[(size_t)k * C + c] = 0.0f;
        const float *wc = w + (size_t)c * K;
        float xi = x[(size_t)s * ld_x + c], p = bias[c] + wc[K - 1] * xi;
        for (int k = 0; k < K - 1; k++) p += wc[k] * st[(size_t)k * C + c];
        out[(size_t)s * C + c] = p * hn_sigmoidf(p);
        if (K > 1) {
            for (int k = 0; k < K - 2; k++) st[(size_t)k * C + c] = st[(size_t)(k + 1) * C + c];
            st[(size_t)(K - 2) * C + c] = xi;
        }
    }
}
static void conv1d_step(float *out, float *conv_state, size_t stride, const float *x, int ld_x,
                        const float *w, const float *bias, const int32_t *pos, int n, int C, int K) {
    size_t items = (size_t)n * C;
    if (!items) return;
    k_conv_step<<<hn_blocks(items, TPB), TPB, 0, HN_STREAM>>>(out, conv_state, stride, x, ld_x, w, bias, pos, n,
                                                 C, K);
    HN_LAUNCHED("conv1d_step");
}

/* ---- SSD scan ----
 * One warp per (sequence, head, group of 32/tpr state rows): the rows of the state
 * evolve independently, only y (a sum over n, within a row's lanes), dB, dC and ddt
 * (sums over rows) couple them; those meet by shuffles and then atomicAdd across the
 * warps of a head (and across the heads of a group). */
static int ssd_tpr(const hn_ssm_dims *d) {
    int tpr = 1;
    while (tpr * NPT < d->d_state && tpr < 32) tpr *= 2;
    if (tpr * NPT < d->d_state) {
        hn_cuda_note(cudaErrorInvalidValue, "ssd: d_state > 512");
        return 0;
    }
    return tpr;
}

/* the chunked kernels keep a few Q x Q matrices per block and 5 Q floats of shared
 * memory: beyond this chunk size the row recurrence runs instead */
#define SSDC_MAX_CHUNK 512 /* 5 Q floats + ~36 KB of tiles within 48 KB of shared memory */
enum ssd_impl { SSD_SCAN, SSD_CHUNKED, SSD_MMA };
static const char *const g_impl_names[] = {"scan", "chunked", "mma"};
extern "C" const char *hn_cuda_ssd_last_impl(void) {
    return g_impl_names[hn_cuda_cur() ? hn_cuda_cur()->last_ssd_impl : SSD_SCAN];
}
static ssd_impl ssd_pick(const hn_ssm_dims *d) {
    int g_ssd_mode = hn_cuda_ssd_mode_now();
    if (g_ssd_mode == HN_CUDA_SSD_SCAN) return SSD_SCAN;
    int want_mma = g_ssd_mode == HN_CUDA_SSD_MMA ||
                   (g_ssd_mode == HN_CUDA_SSD_AUTO && hn_cuda_get_matmul_mode() == HN_CUDA_MATMUL_BF16);
    if (want_mma && hn_cuda_ssd_mma_supports(d)) return SSD_MMA;
    return d->chunk <= SSDC_MAX_CHUNK ? SSD_CHUNKED : SSD_SCAN;
}

/* The chunk plan of a packing (cuda_ops.cuh). A few recent plans stay on the device:
 * every Mamba-2 layer of a stage, forward and backward, asks for the same one, and an
 * H-Net alternates between its stages' packings within a step. */
#define PLAN_CACHE HN_CUDA_PLANS
/* dev: tiles [4 n_tiles], cb [n_seqs + 1], tab [2 n_chunks]; the cache is the instance's */
#define cached_plan hn_cuda_plan_slot
#define g_plans (hn_cuda_cur()->plans)
#define g_plan_next (hn_cuda_cur()->plan_next)

void hn_cuda_release_plans(hn_cuda_instance *inst) {
    for (int i = 0; i < PLAN_CACHE; i++) {
        hn_cuda_free(inst->plans[i].dev);
        free(inst->plans[i].offsets);
        memset(&inst->plans[i], 0, sizeof inst->plans[i]);
    }
}

int hn_cuda_ssd_plan(hn_ssd_plan *pl, const hn_seqs *seqs, int Q) {
    size_t offs = ((size_t)seqs->n + 1) * sizeof(int32_t);
    for (int i = 0; i < PLAN_CACHE; i++) {
        struct cached_plan *c = &g_plans[i];
        if (c->dev && c->Q == Q && c->n_seqs == seqs->n && !memcmp(c->offsets, seqs->offsets, offs)) {
            *pl = c->plan;
            return 0;
        }
    }
    struct cached_plan *c = &g_plans[g_plan_next];
    g_plan_next = (g_plan_next + 1) % PLAN_CACHE;
    int n = hn_ssd_n_chunks(seqs, Q), n_tiles = 0;
    for (int s = 0; s < seqs->n; s++)
        for (int r = seqs->offsets[s]; r < seqs->offsets[s + 1]; r += Q) {
            int q = seqs->offsets[s + 1] - r < Q ? seqs->offsets[s + 1] - r : Q;
            n_tiles += (q + HN_SSD_TILE_ROWS - 1) / HN_SSD_TILE_ROWS;
        }
    /* the tiles first: the kernels read them as int4 */
    size_t ints = 4 * (size_t)n_tiles + seqs->n + 1 + 2 * (size_t)n;
    int32_t *host = (int32_t *)malloc(ints * sizeof(int32_t));
    if (!host) return -1;
    int32_t *tiles = host, *cb = tiles + 4 * (size_t)n_tiles, *tab = cb + seqs->n + 1;
    int ci = 0, ti = 0;
    for (int s = 0; s < seqs->n; s++) {
        cb[s] = ci;
        for (int r = seqs->offsets[s]; r < seqs->offsets[s + 1]; r += Q, ci++) {
            int q = seqs->offsets[s + 1] - r < Q ? seqs->offsets[s + 1] - r : Q;
            int nk = (q + HN_SSD_TILE_ROWS - 1) / HN_SSD_TILE_ROWS;
            tab[2 * ci] = r;
            tab[2 * ci + 1] = q;
            for (int k = 0; k < nk; k++, ti++) {
                int32_t *t = tiles + 4 * (size_t)ti;
                t[0] = r + k * HN_SSD_TILE_ROWS;
                t[1] = q - k * HN_SSD_TILE_ROWS < HN_SSD_TILE_ROWS ? q - k * HN_SSD_TILE_ROWS : HN_SSD_TILE_ROWS;
                t[2] = ci;
                t[3] = k | nk << 16;
            }
        }
    }
    cb[seqs->n] = ci;
    if (ints * sizeof(int32_t) > c->dev_cap) {
        hn_cuda_free(c->dev);
        c->dev = (int32_t *)hn_cuda_alloc(ints * sizeof(int32_t));
        c->dev_cap = c->dev ? ints * sizeof(int32_t) : 0;
    }
    if (offs > c->off_cap) {
        free(c->offsets);
        c->offsets = (int32_t *)malloc(offs);
        c->off_cap = c->offsets ? offs : 0;
    }
    if (!c->dev || !c->offsets) {
        free(host);
        c->dev_cap = 0;
        hn_cuda_note(cudaErrorMemoryAllocation, "ssd chunk plan");
        return -1;
    }
    /* pageable host memory: staged before cudaMemcpyAsync returns, so host may go */
    HN_CK(cudaMemcpyAsync(c->dev, host, ints * sizeof(int32_t), cudaMemcpyHostToDevice, HN_STREAM));
    free(host);
    memcpy(c->offsets, seqs->offsets, offs);
    c->Q = Q;
    c->n_seqs = seqs->n;
    int32_t *dev_tiles = c->dev, *dev_cb = dev_tiles + 4 * (size_t)n_tiles;
    c->plan = hn_ssd_plan{n, n_tiles, dev_cb, dev_cb + seqs->n + 1, dev_tiles};
    *pl = c->plan;
    return 0;
}

__global__ void __launch_bounds__(32) k_ssd_fwd(float *y, float *chunk_states, float *final_state,
                          size_t final_stride, const float *x, const float *B, const float *C, int ld,
                          const float *dt_raw, int ld_dt, const float *dt_bias, const float *A_log,
                          const float *Dv, const int32_t *offsets, const int32_t *cbase, int H,
                          int P, int N, int G, int Q, int tpr) {
    int s = blockIdx.x, h = blockIdx.y, g = h / (H / G), tid = threadIdx.x;
    int p = blockIdx.z * (32 / tpr) + tid / tpr, lr = tid % tpr, active = p < P;
    if (!active) p = 0;
    int o0 = offsets[s], o1 = offsets[s + 1];
    float A = -expf(A_log[h]), bias = dt_bias[h], Dh = Dv[h];
    size_t PN = (size_t)P * N, HPN = (size_t)H * PN, HP = (size_t)H * P;
    float S[NPT], nB[NPT], nC[NPT], n_raw = 0, n_x = 0;
#pragma unroll
    for (int j = 0; j < NPT; j++) S[j] = nB[j] = nC[j] = 0;
    /* the next row's inputs are loaded one step ahead, so their latency overlaps the
     * current step's arithmetic (the scan is otherwise latency bound) */
#define SSD_LOAD(t)                                                                    \
    {                                                                                  \
        n_raw = dt_raw[(size_t)(t) * ld_dt + h];                                       \
        n_x = active ? x[(size_t)(t) * ld + h * P + p] : 0.0f;                         \
        _Pragma("unroll") for (int j = 0; j < NPT; j++) {                              \
            int n = lr + tpr * j;                                                      \
            nB[j] = n < N ? B[(size_t)(t) * ld + g * N + n] : 0.0f;                    \
            nC[j] = n < N ? C[(size_t)(t) * ld + g * N + n] : 0.0f;                    \
        }                                                                              \
    }
    if (o0 < o1) SSD_LOAD(o0);
    for (int t = o0; t < o1; t++) {
        if ((t - o0) % Q == 0 && active) {
            float *cs = chunk_states + (size_t)(cbase[s] + (t - o0) / Q) * HPN + h * PN + (size_t)p * N;
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                int n = lr + tpr * j;
                if (n < N) cs[n] = S[j];
            }
        }
        float Bt[NPT], Ct[NPT], raw = n_raw, xv = n_x;
#pragma unroll
        for (int j = 0; j < NPT; j++) {
            Bt[j] = nB[j];
            Ct[j] = nC[j];
        }
        if (t + 1 < o1) SSD_LOAD(t + 1);
        float dtv = hn_softplusf(raw + bias), a = expf(dtv * A);
        float wx = dtv * xv, part = 0;
#pragma unroll
        for (int j = 0; j < NPT; j++) {
            S[j] = a * S[j] + wx * Bt[j];
            part += S[j] * Ct[j];
        }
        for (int o = tpr / 2; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
        if (active && lr == 0) y[(size_t)t * HP + h * P + p] = part + Dh * xv;
    }
    if (final_state && active) {
        float *fs = final_state + (size_t)s * final_stride + h * PN + (size_t)p * N;
#pragma unroll
        for (int j = 0; j < NPT; j++) {
            int n = lr + tpr * j;
            if (n < N) fs[n] = S[j];
        }
    }
}

static size_t ssd_ws(const hn_ssm_dims *d) { return 1; }

/* the chunked and the row-recurrence kernels (float32 y and dt_raw) */
static void ssd_forward_f32(ssd_impl impl, float *y, float *chunk_states, float *final_state,
                            size_t final_stride, const float *x, const float *B, const float *C,
                            int ld, const float *dt_raw, int ld_dt, const float *dt_bias,
                            const float *A_log, const float *D, const hn_seqs *seqs,
                            const hn_ssm_dims *d) {
    if (impl == SSD_CHUNKED) {
        hn_cuda_ssdc_forward(y, chunk_states, final_state, final_stride, x, B, C, ld, dt_raw,
                             ld_dt, dt_bias, A_log, D, seqs, d);
        return;
    }
    int tpr = ssd_tpr(d);
    if (seqs->n <= 0 || seqs->total <= 0 || !tpr) return;
    hn_ssd_plan pl;
    if (hn_cuda_ssd_plan(&pl, seqs, d->chunk)) return;
    const int32_t *cb = pl.cb;
    int rows = 32 / tpr;
    dim3 grid(seqs->n, d->heads, (d->headdim + rows - 1) / rows);
    k_ssd_fwd<<<grid, 32, 0, HN_STREAM>>>(y, chunk_states, final_state, final_stride, x, B, C, ld, dt_raw, ld_dt,
                            dt_bias, A_log, D, seqs->offsets_dev, cb, d->heads, d->headdim,
                            d->d_state, d->ngroups, d->chunk, tpr);
    HN_LAUNCHED("ssd_forward");
}

int hn_cuda_ssd_typed_io(const hn_ssm_dims *d) { return ssd_pick(d) == SSD_MMA; }

/* where the kernels take float32 only, views of another kind are refused (ssd_typed.cu
 * makes float32 copies first) */
static int f32_io(hn_tensor a, hn_tensor b, const char *what) {
    if (a.dtype == HN_F32 && b.dtype == HN_F32) return 1;
    hn_cuda_note(cudaErrorInvalidValue, what);
    return 0;
}

void hn_cuda_ssd_forward(hn_tensor y, float *chunk_states, float *final_state,
                         size_t final_stride, const void *x, const void *B, const void *C,
                         int ld, int xbc_bf16, hn_tensor dt_raw, const float *dt_bias,
                         const float *A_log, const float *D, const hn_seqs *seqs,
                         const hn_ssm_dims *d) {
    ssd_impl impl = ssd_pick(d);
    hn_cuda_cur()->last_ssd_impl = impl;
    if (impl == SSD_MMA) {
        hn_cuda_ssd_mma_forward(y, chunk_states, final_state, final_stride, x, B, C, ld, xbc_bf16,
                                dt_raw, dt_bias, A_log, D, seqs, d);
        return;
    }
    if (xbc_bf16) {
        hn_cuda_note(cudaErrorInvalidValue, "ssd_forward: bf16 x, B, C for float32 kernels");
        return;
    }
    if (f32_io(y, dt_raw, "ssd_forward: bf16 y or dt_raw for float32 kernels"))
        ssd_forward_f32(impl, (float *)y.data, chunk_states, final_state, final_stride,
                        (const float *)x, (const float *)B, (const float *)C, ld,
                        (const float *)dt_raw.data, dt_raw.ld, dt_bias, A_log, D, seqs, d);
}

/* the [T, cols] float32 view of a v1 op's argument with row stride ld */
static hn_tensor f32_view(const float *p, int T, int cols, int ld) {
    hn_tensor t = {(void *)p, HN_F32, T, cols, ld};
    return t;
}

static void ssd_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                        const float *x, const float *B, const float *C, int ld,
                        const float *dt_raw, int ld_dt, const float *dt_bias, const float *A_log,
                        const float *D, const hn_seqs *seqs, const hn_ssm_dims *d, float *ws) {
    (void)ws;
    int T = seqs->total, H = d->heads;
    hn_cuda_ssd_forward(f32_view(y, T, H * d->headdim, H * d->headdim), chunk_states, final_state,
                        final_stride, x, B, C, ld, 0, f32_view(dt_raw, T, H, ld_dt), dt_bias, A_log,
                        D, seqs, d);
}

__global__ void __launch_bounds__(32) k_ssd_bwd(float *dx, float *dB, float *dC, int ldd,
                          float *ddt_raw, int ld_ddt, float *ddt_bias, float *dA_log, float *dDv,
                          const float *dy, const float *x, const float *B, const float *C, int ld,
                          const float *dt_raw, int ld_dt, const float *dt_bias, const float *A_log,
                          const float *Dv, const float *chunk_states, const int32_t *offsets,
                          const int32_t *cbase, int H, int P, int N, int G, int Q, int tpr,
                          float *Wbuf, float *part) {
    int s = blockIdx.x, h = blockIdx.y, g = h / (H / G), lane = threadIdx.x;
    /* this warp's slot among the warps that add into one group's dB, dC rows */
    int HG = H / G, nwg = HG * gridDim.z, w = (h % HG) * gridDim.z + blockIdx.z;
    int p = blockIdx.z * (32 / tpr) + lane / tpr, lr = lane % tpr, active = p < P;
    if (!active) p = 0;
    int o0 = offsets[s], o1 = offsets[s + 1];
    float A = -expf(A_log[h]), bias = dt_bias[h], Dh = Dv[h];
    size_t PN = (size_t)P * N, HPN = (size_t)H * PN, HP = (size_t)H * P;
    size_t blk = ((size_t)blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    float *W = Wbuf + blk * (size_t)Q * NPT * 32 + lane;
    float dS[NPT], S0[NPT], Sc[NPT];
#pragma unroll
    for (int j = 0; j < NPT; j++) dS[j] = 0;
    float accA = 0, accBias = 0, accD = 0; /* lane 0's */
    int nch = (o1 - o0 + Q - 1) / Q;
    for (int kc = nch - 1; kc >= 0; kc--) {
        int c0 = o0 + kc * Q, q = min(Q, o1 - c0);
        const float *cs = chunk_states + (size_t)(cbase[s] + kc) * HPN + h * PN + (size_t)p * N;
        float S[NPT];
#pragma unroll
        for (int j = 0; j < NPT; j++) {
            int n = lr + tpr * j;
            S0[j] = S[j] = (active && n < N) ? cs[n] : 0.0f;
        }
        /* recompute the states inside the chunk */
        for (int i = 0; i < q; i++) {
            int t = c0 + i;
            float dtv = hn_softplusf(dt_raw[(size_t)t * ld_dt + h] + bias), a = expf(dtv * A);
            float wx = active ? dtv * x[(size_t)t * ld + h * P + p] : 0.0f;
            const float *Bt = B + (size_t)t * ld + g * N;
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                int n = lr + tpr * j;
                if (n < N) S[j] = a * S[j] + wx * Bt[n];
                W[((size_t)i * NPT + j) * 32] = S[j];
            }
        }
#pragma unroll
        for (int j = 0; j < NPT; j++) Sc[j] = S[j]; /* the state after the chunk's last row */
        /* the adjoint recurrence; row t-1's inputs load while row t computes */
        float n_raw, n_x, n_dy, nB[NPT], nC[NPT], nS[NPT];
#define SSD_BLOAD(i)                                                                   \
    {                                                                                  \
        int tt = c0 + (i);                                                             \
        n_raw = dt_raw[(size_t)tt * ld_dt + h];                                        \
        n_x = active ? x[(size_t)tt * ld + h * P + p] : 0.0f;                          \
        n_dy = active ? dy[(size_t)tt * HP + h * P + p] : 0.0f;                        \
        _Pragma("unroll") for (int j = 0; j < NPT; j++) {                              \
            int n = lr + tpr * j;                                                      \
            nB[j] = n < N ? B[(size_t)tt * ld + g * N + n] : 0.0f;                     \
            nC[j] = n < N ? C[(size_t)tt * ld + g * N + n] : 0.0f;                     \
            nS[j] = (i) > 0 ? W[((size_t)((i) - 1) * NPT + j) * 32] : S0[j];           \
        }                                                                              \
    }
        SSD_BLOAD(q - 1);
        for (int i = q - 1; i >= 0; i--) {
            int t = c0 + i;
            float raw = n_raw + bias, xv = n_x, dyv = n_dy, Bt[NPT], Ct[NPT], Sp[NPT];
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                Bt[j] = nB[j];
                Ct[j] = nC[j];
                Sp[j] = nS[j];
            }
            if (i > 0) SSD_BLOAD(i - 1);
            float dtv = hn_softplusf(raw), a = expf(dtv * A);
            float rowx = 0, s2 = 0, pc[NPT], pb[NPT];
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                float Bn = Bt[j], Cn = Ct[j];
                pc[j] = Sc[j] * dyv;
                dS[j] += dyv * Cn;
                rowx += dS[j] * Bn;
                pb[j] = dtv * dS[j] * xv;
                s2 += dS[j] * Sp[j];
                dS[j] *= a;
                Sc[j] = Sp[j];
            }
            for (int o = tpr / 2; o > 0; o >>= 1) rowx += __shfl_xor_sync(0xffffffffu, rowx, o);
            if (active && lr == 0) dx[(size_t)t * ldd + h * P + p] += Dh * dyv + dtv * rowx;
            float s1 = lr == 0 ? xv * rowx : 0.0f, dd = lr == 0 ? dyv * xv : 0.0f;
            /* sums over the warp's rows: lanes of equal lr */
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                float vc = pc[j], vb = pb[j];
                for (int o = tpr; o < 32; o <<= 1) {
                    vc += __shfl_xor_sync(0xffffffffu, vc, o);
                    vb += __shfl_xor_sync(0xffffffffu, vb, o);
                }
                int n = lr + tpr * j;
                if (lane < tpr && n < N) { /* partial sums; k_ssd_reduce adds them up */
                    float *pp = part + (((size_t)t * G + g) * nwg + w) * 2 * N;
                    pp[n] = vc;
                    pp[N + n] = vb;
                }
            }
            s1 = hn_warp_sum(s1);
            s2 = hn_warp_sum(s2);
            dd = hn_warp_sum(dd);
            if (lane == 0) {
                float ddt = s1 + A * a * s2, gr = ddt * hn_sigmoidf(raw);
                accA += dtv * a * s2;
                atomicAdd(ddt_raw + (size_t)t * ld_ddt + h, gr);
                accBias += gr;
                accD += dd;
            }
        }
    }
    if (lane == 0) {
        atomicAdd(ddt_bias + h, accBias);
        atomicAdd(dA_log + h, accA * A);
        atomicAdd(dDv + h, accD);
    }
}

/* dC, dB += the sums over warps of the partials k_ssd_bwd left (no same-address atomics:
 * all warps of a group would otherwise hit the same 2N addresses at every row) */
__global__ void k_ssd_reduce(float *dB, float *dC, int ldd, const float *part, int T, int G,
                             int N, int nwg) {
    size_t n2 = 2 * (size_t)N, items = (size_t)T * G * n2;
    HN_GRID_STRIDE(i, items) {
        size_t e = i % n2, tg = i / n2;
        int t = (int)(tg / G), g = (int)(tg % G);
        const float *pp = part + tg * nwg * n2 + e;
        float sum = 0;
        for (int w = 0; w < nwg; w++) sum += pp[(size_t)w * n2];
        if (e < (size_t)N) dC[(size_t)t * ldd + g * N + e] += sum;
        else dB[(size_t)t * ldd + g * N + (e - N)] += sum;
    }
}

static void ssd_backward_f32(ssd_impl impl, float *dx, float *dB, float *dC, int ldd,
                             float *ddt_raw, int ld_ddt, float *ddt_bias, float *dA_log, float *dD,
                             const float *dy, const float *x, const float *B, const float *C,
                             int ld, const float *dt_raw, int ld_dt, const float *dt_bias,
                             const float *A_log, const float *D, const float *chunk_states,
                             const hn_seqs *seqs, const hn_ssm_dims *d) {
    if (impl == SSD_CHUNKED) {
        hn_cuda_ssdc_backward(dx, dB, dC, ldd, ddt_raw, ld_ddt, ddt_bias, dA_log, dD, dy, x, B, C,
                              ld, dt_raw, ld_dt, dt_bias, A_log, D, chunk_states, seqs, d);
        return;
    }
    int tpr = ssd_tpr(d);
    if (seqs->n <= 0 || seqs->total <= 0 || !tpr) return;
    hn_ssd_plan pl;
    if (hn_cuda_ssd_plan(&pl, seqs, d->chunk)) return;
    const int32_t *cb = pl.cb;
    int rows = 32 / tpr;
    dim3 grid(seqs->n, d->heads, (d->headdim + rows - 1) / rows);
    size_t wfloats = (size_t)grid.x * grid.y * grid.z * d->chunk * NPT * 32;
    float *W = (float *)hn_cuda_scratch(HN_SCRATCH_SSD, wfloats * sizeof(float));
    int nwg = d->heads / d->ngroups * (int)grid.z, T = seqs->total;
    size_t pfloats = (size_t)T * d->ngroups * nwg * 2 * d->d_state;
    float *part = (float *)hn_cuda_scratch(HN_SCRATCH_SSD_PART, pfloats * sizeof(float));
    if (!W || !part) return;
    k_ssd_bwd<<<grid, 32, 0, HN_STREAM>>>(dx, dB, dC, ldd, ddt_raw, ld_ddt, ddt_bias, dA_log, dD, dy, x, B, C, ld,
                            dt_raw, ld_dt, dt_bias, A_log, D, chunk_states, seqs->offsets_dev, cb,
                            d->heads, d->headdim, d->d_state, d->ngroups, d->chunk, tpr, W, part);
    HN_LAUNCHED("ssd_backward");
    size_t items = (size_t)T * d->ngroups * 2 * d->d_state;
    k_ssd_reduce<<<hn_blocks(items, 256), 256, 0, HN_STREAM>>>(dB, dC, ldd, part, T, d->ngroups, d->d_state, nwg);
    HN_LAUNCHED("ssd_backward reduce");
}

void hn_cuda_ssd_backward(void *dx, void *dB, void *dC, int ldd, int dxbc_bf16, hn_tensor ddt_raw,
                          float *ddt_bias, float *dA_log, float *dD, const float *dy,
                          const void *x, const void *B, const void *C, int ld, int xbc_bf16,
                          hn_tensor dt_raw, const float *dt_bias, const float *A_log,
                          const float *D, const float *chunk_states, const hn_seqs *seqs,
                          const hn_ssm_dims *d, int add_to) {
    ssd_impl impl = ssd_pick(d);
    hn_cuda_cur()->last_ssd_impl = impl;
    if (impl == SSD_MMA) {
        hn_cuda_ssd_mma_backward(dx, dB, dC, ldd, dxbc_bf16, ddt_raw, ddt_bias, dA_log, dD, dy, x, B,
                                 C, ld, xbc_bf16, dt_raw, dt_bias, A_log, D, chunk_states, seqs, d,
                                 add_to);
        return;
    }
    if (xbc_bf16 || dxbc_bf16) {
        hn_cuda_note(cudaErrorInvalidValue,
                     "ssd_backward: bf16 x, B, C or dx, dB, dC for float32 kernels");
        return;
    }
    if (!add_to) { /* the float32 kernels add: = is + onto cleared columns */
        int T = seqs->total, cols[3] = {d->heads * d->headdim, d->ngroups * d->d_state,
                                        d->ngroups * d->d_state};
        void *dst[3] = {dx, dB, dC};
        for (int i = 0; i < 3; i++)
            HN_CK(cudaMemset2DAsync(dst[i], (size_t)ldd * sizeof(float), 0, (size_t)cols[i] * sizeof(float),
                                    T, HN_STREAM));
    }
    if (f32_io(ddt_raw, dt_raw, "ssd_backward: bf16 dt_raw or ddt_raw for float32 kernels"))
        ssd_backward_f32(impl, (float *)dx, (float *)dB, (float *)dC, ldd, (float *)ddt_raw.data,
                         ddt_raw.ld, ddt_bias, dA_log, dD, dy, (const float *)x, (const float *)B,
                         (const float *)C, ld, (const float *)dt_raw.data, dt_raw.ld, dt_bias, A_log,
                         D, chunk_states, seqs, d);
}

static void ssd_backward(float *dx, float *dB, float *dC, int ldd, float *ddt_raw, int ld_ddt,
                         float *ddt_bias, float *dA_log, float *dD, const float *dy,
                         const float *x, const float *B, const float *C, int ld,
                         const float *dt_raw, int ld_dt, const float *dt_bias, const float *A_log,
                         const float *D, const float *chunk_states, const hn_seqs *seqs,
                         const hn_ssm_dims *d, float *ws) {
    (void)ws;
    int T = seqs->total, H = d->heads;
    hn_cuda_ssd_backward(dx, dB, dC, ldd, 0, f32_view(ddt_raw, T, H, ld_ddt), ddt_bias, dA_log, dD,
                         dy, x, B, C, ld, 0, f32_view(dt_raw, T, H, ld_dt), dt_bias, A_log, D,
                         chunk_states, seqs, d, 1);
}

/* one thread per (sequence, head, row p) */
__global__ void k_ssd_step(float *y, float *ssm_state, size_t stride, const float *x,
                           const float *B, const float *C, int ld, const float *dt_raw, int ld_dt,
                           const float *dt_bias, const float *A_log, const float *Dv,
                           const int32_t *pos, int n, int H, int P, int N, int HG) {
    size_t items = (size_t)n * H * P;
    HN_GRID_STRIDE(it, items) {
        int i = (int)(it / ((size_t)H * P)), h = (int)(it / P % H), p = (int)(it % P), g = h / HG;
        float *Sp = ssm_state + (size_t)i * stride + (size_t)h * P * N + (size_t)p * N;
        if (pos[i] < 0) { /* not advancing now */
            y[(size_t)i * H * P + h * P + p] = 0.0f;
            continue;
        }
        if (pos[i] == 0)
            for (int k = 0; k < N; k++) Sp[k] = 0.0f;
        float dt = hn_softplusf(dt_raw[(size_t)i * ld_dt + h] + dt_bias[h]);
        float a = expf(-expf(A_log[h]) * dt), xv = x[(size_t)i * ld + h * P + p], wx = dt * xv;
        const float *Bi = B + (size_t)i * ld + g * N, *Ci = C + (size_t)i * ld + g * N;
        float acc = 0;
        for (int k = 0; k < N; k++) {
            Sp[k] = a * Sp[k] + wx * Bi[k];
            acc += Sp[k] * Ci[k];
        }
        y[(size_t)i * H * P + h * P + p] = acc + Dv[h] * xv;
    }
}
static void ssd_step(float *y, float *ssm_state, size_t stride, const float *x, const float *B,
                     const float *C, int ld, const float *dt_raw, int ld_dt, const float *dt_bias,
                     const float *A_log, const float *D, const int32_t *pos, int n,
                     const hn_ssm_dims *d) {
    size_t items = (size_t)n * d->heads * d->headdim;
    if (!items) return;
    k_ssd_step<<<hn_blocks(items, 128), 128, 0, HN_STREAM>>>(y, ssm_state, stride, x, B, C, ld, dt_raw, ld_dt,
                                               dt_bias, A_log, D, pos, n, d->heads, d->headdim,
                                               d->d_state, d->heads / d->ngroups);
    HN_LAUNCHED("ssd_step");
}

/* bf16 for the mamba2 layer's conv output and its gradient where the configuration asks
 * for it (the default; HNET_CUDA_XBC=fp32 does not) and activations are bf16: the
 * tensor-core SSD stages the one as it is and writes the other */
static hn_dtype xbc_dtype(const hn_backend *be) {
    return hn_cuda_cur()->cfg.xbc_bf16 && hn_cuda_activation_dtype(be) == HN_BF16 ? HN_BF16 : HN_F32;
}

static hn_ops_ssm make_ssm_ops(void) {
    hn_ops_ssm o;
    o.conv1d_forward = hn_cuda_conv1d_forward;
    o.conv1d_backward = hn_cuda_conv1d_backward;
    o.ssd_workspace_floats = ssd_ws;
    o.ssd_forward = ssd_forward;
    o.ssd_backward = ssd_backward;
    o.gated_rmsnorm_forward = hn_cuda_grms_forward;
    o.gated_rmsnorm_backward = hn_cuda_grms_backward;
    o.conv1d_state = conv1d_state;
    o.conv1d_step = conv1d_step;
    o.ssd_step = ssd_step;
    o.conv1d_forward_t = hn_cuda_conv1d_forward_t;
    o.conv1d_backward_t = hn_cuda_conv1d_backward_t;
    o.ssd_forward_t = hn_cuda_ssd_forward_t;
    o.ssd_backward_t = hn_cuda_ssd_backward_t;
    o.xbc_dtype = xbc_dtype;
    o.gated_rmsnorm_forward_t = hn_cuda_gated_rmsnorm_forward_t;
    o.gated_rmsnorm_backward_t = hn_cuda_gated_rmsnorm_backward_t;
    return o;
}
const hn_ops_ssm hn_cuda_ops_ssm = make_ssm_ops();
