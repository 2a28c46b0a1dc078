/* The typed SSD ops (ops_ssm.h ssd_forward_t / ssd_backward_t) on the cuda backend: the
 * v1 SSD (ssm.cu) with dt_raw and y, ddt_raw in either dtype. The tensor-core kernels
 * write a bf16 y themselves; elsewhere a bf16 dt_raw is widened into scratch, a bf16 y or
 * ddt_raw made in float32 scratch and rounded once (T x H values for dt: small beside the
 * [T, d_proj] rows the layer no longer converts). x, B, C, dy and dx, dB, dC are float32. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

static int fits(hn_tensor t, int rows, int cols) { return t.rows == rows && t.cols == cols; }

/* x, B, C (or dx, dB, dC): float32 with one row stride, as the v1 kernels take them */
static int one_f32_stride(hn_tensor x, hn_tensor B, hn_tensor C) {
    return x.dtype == HN_F32 && B.dtype == HN_F32 && C.dtype == HN_F32 && B.ld == x.ld &&
           C.ld == x.ld;
}

static int ssd_fits(const hn_ssd_params *p, int backward) {
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, HP = d->heads * d->headdim, GN = d->ngroups * d->d_state;
    int ok = fits(p->x, T, HP) && fits(p->B, T, GN) && fits(p->C, T, GN) &&
             fits(p->dt_raw, T, d->heads) && one_f32_stride(p->x, p->B, p->C);
    if (!backward) return ok && fits(p->y, T, HP);
    return ok && fits(p->dy, T, HP) && p->dy.dtype == HN_F32 && hn_tensor_packed(p->dy) &&
           fits(p->dx, T, HP) && fits(p->dB, T, GN) && fits(p->dC, T, GN) &&
           one_f32_stride(p->dx, p->dB, p->dC) && fits(p->ddt_raw, T, d->heads);
}

/* dt_raw as float32 (*ld its stride): the view itself, or widened into dst */
static const float *dt_f32(hn_tensor dt, float *dst, int *ld) {
    if (dt.dtype == HN_F32) {
        *ld = dt.ld;
        return (const float *)dt.data;
    }
    hn_cuda_view_copy(hn_tensor_f32(dst, dt.rows, dt.cols), dt, 0);
    *ld = dt.cols;
    return dst;
}

extern "C" int hn_cuda_ssd_forward_t(const hn_backend *be, const hn_ssd_params *p) {
    (void)be;
    if (!ssd_fits(p, 0)) {
        hn_cuda_note(cudaErrorInvalidValue, "ssd_forward_t: shapes or dtypes do not fit");
        return -1;
    }
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, H = d->heads, HP = H * d->headdim;
    if (T == 0) return 0;
    int y_direct = p->y.dtype == HN_F32 ? hn_tensor_packed(p->y)
                                        : hn_tensor_packed(p->y) && hn_cuda_ssd_bf16_out(d);
    size_t floats = (p->dt_raw.dtype == HN_BF16 ? (size_t)T * H : 0) + (y_direct ? 0 : (size_t)T * HP);
    float *s = floats ? (float *)hn_cuda_scratch(HN_SCRATCH_SSD_IO, floats * sizeof(float)) : NULL;
    if (floats && !s) return -1;
    int ld_dt;
    const float *dt = dt_f32(p->dt_raw, s, &ld_dt);
    float *yf = y_direct ? (p->y.dtype == HN_F32 ? (float *)p->y.data : NULL)
                         : s + (p->dt_raw.dtype == HN_BF16 ? (size_t)T * H : 0);
    void *y16 = y_direct && p->y.dtype == HN_BF16 ? p->y.data : NULL;
    hn_cuda_ssd_forward(yf, y16, p->chunk_states, NULL, 0, (const float *)p->x.data,
                        (const float *)p->B.data, (const float *)p->C.data, p->x.ld, dt, ld_dt,
                        p->dt_bias, p->A_log, p->D, p->seqs, d);
    if (!y_direct) hn_cuda_view_copy(p->y, hn_tensor_f32(yf, T, HP), 0);
    return 0;
}

/* dx, dB, dC are accumulated (float32); ddt_raw is accumulated when float32 and written
 * (from zeroed scratch) when bf16 */
extern "C" int hn_cuda_ssd_backward_t(const hn_backend *be, const hn_ssd_params *p) {
    (void)be;
    if (!ssd_fits(p, 1)) {
        hn_cuda_note(cudaErrorInvalidValue, "ssd_backward_t: shapes or dtypes do not fit");
        return -1;
    }
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, H = d->heads;
    if (T == 0) return 0;
    size_t TH = (size_t)T * H;
    int dt16 = p->dt_raw.dtype == HN_BF16, ddt16 = p->ddt_raw.dtype == HN_BF16;
    size_t floats = (dt16 ? TH : 0) + (ddt16 ? TH : 0);
    float *s = floats ? (float *)hn_cuda_scratch(HN_SCRATCH_SSD_IO, floats * sizeof(float)) : NULL;
    if (floats && !s) return -1;
    int ld_dt, ld_ddt = ddt16 ? H : p->ddt_raw.ld;
    const float *dt = dt_f32(p->dt_raw, s, &ld_dt);
    float *ddt = ddt16 ? s + (dt16 ? TH : 0) : (float *)p->ddt_raw.data;
    if (ddt16) hn_cuda_zero(ddt, TH * sizeof(float));
    hn_cuda_ssd_backward((float *)p->dx.data, (float *)p->dB.data, (float *)p->dC.data, p->dx.ld,
                         ddt, ld_ddt, p->ddt_bias, p->dA_log, p->dD, (const float *)p->dy.data,
                         (const float *)p->x.data, (const float *)p->B.data,
                         (const float *)p->C.data, p->x.ld, dt, ld_dt, p->dt_bias, p->A_log, p->D,
                         p->chunk_states, p->seqs, d, p->ws);
    if (ddt16) hn_cuda_view_copy(p->ddt_raw, hn_tensor_f32(ddt, T, H), 0);
    return 0;
}
