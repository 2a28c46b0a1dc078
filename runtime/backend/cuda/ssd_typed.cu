/* The typed SSD ops (ops_ssm.h ssd_forward_t / ssd_backward_t) on the cuda backend: the
 * SSD of ssm.cu with dt_raw, y and ddt_raw in either dtype, and x, B, C both float32 or
 * all three bf16 (one row stride). The tensor-core kernels read and write them as they
 * are; for the float32 kernels a bf16 dt_raw or x, B, C is widened into scratch and a
 * bf16 (or strided) y or a bf16 ddt_raw made in float32 scratch and rounded once. dy and
 * dx, dB, dC are float32. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

static int fits(hn_tensor t, int rows, int cols) { return t.rows == rows && t.cols == cols; }

/* x, B, C (or dx, dB, dC): one dtype and one row stride, as the kernels take them */
static int one_stride(hn_tensor x, hn_tensor B, hn_tensor C, hn_dtype dt) {
    return x.dtype == dt && B.dtype == dt && C.dtype == dt && B.ld == x.ld && C.ld == x.ld;
}
static int one_f32_stride(hn_tensor x, hn_tensor B, hn_tensor C) { return one_stride(x, B, C, HN_F32); }

static int ssd_fits(const hn_ssd_params *p, int backward) {
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, HP = d->heads * d->headdim, GN = d->ngroups * d->d_state;
    int ok = fits(p->x, T, HP) && fits(p->B, T, GN) && fits(p->C, T, GN) &&
             fits(p->dt_raw, T, d->heads) &&
             (one_f32_stride(p->x, p->B, p->C) || one_stride(p->x, p->B, p->C, HN_BF16));
    if (!backward) return ok && fits(p->y, T, HP);
    return ok && fits(p->dy, T, HP) && p->dy.dtype == HN_F32 && hn_tensor_packed(p->dy) &&
           fits(p->dx, T, HP) && fits(p->dB, T, GN) && fits(p->dC, T, GN) &&
           (one_f32_stride(p->dx, p->dB, p->dC) || one_stride(p->dx, p->dB, p->dC, HN_BF16)) &&
           fits(p->ddt_raw, T, d->heads);
}

/* dt_raw as a float32 view: itself, or widened into dst */
static hn_tensor dt_f32(hn_tensor dt, float *dst) {
    if (dt.dtype == HN_F32) return dt;
    hn_tensor w = hn_tensor_f32(dst, dt.rows, dt.cols);
    hn_cuda_view_copy(w, dt, 0);
    return w;
}

/* x, B, C as the kernels read them: themselves (float32, or bf16 for the tensor-core
 * kernels), or widened side by side into dst ([T, HP + 2 GN] float32) */
struct ssd_xbc {
    const void *x, *B, *C;
    int ld, bf16;
};
static size_t xbc_wide_floats(const hn_ssd_params *p, int native) {
    if (native || p->x.dtype == HN_F32) return 0;
    return (size_t)p->x.rows * (p->x.cols + p->B.cols + p->C.cols);
}
static ssd_xbc xbc_of(const hn_ssd_params *p, float *dst) {
    if (!dst) return ssd_xbc{p->x.data, p->B.data, p->C.data, p->x.ld, p->x.dtype == HN_BF16};
    int T = p->x.rows, w = p->x.cols + p->B.cols + p->C.cols, c = 0;
    const hn_tensor *in[3] = {&p->x, &p->B, &p->C};
    float *at[3];
    for (int i = 0; i < 3; i++) {
        at[i] = dst + c;
        hn_tensor to = {at[i], HN_F32, T, in[i]->cols, w};
        hn_cuda_view_copy(to, *in[i], 0);
        c += in[i]->cols;
    }
    return ssd_xbc{at[0], at[1], at[2], w, 0};
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
    int native = hn_cuda_ssd_typed_io(d), y_direct = hn_tensor_packed(p->y) &&
                                                     (native || p->y.dtype == HN_F32);
    int dt_wide = !native && p->dt_raw.dtype == HN_BF16;
    size_t n_dt = dt_wide ? (size_t)T * H : 0, n_y = y_direct ? 0 : (size_t)T * HP;
    size_t floats = n_dt + n_y + xbc_wide_floats(p, native);
    float *s = floats ? (float *)hn_cuda_scratch(HN_SCRATCH_SSD_IO, floats * sizeof(float)) : NULL;
    if (floats && !s) return -1;
    hn_tensor dt = dt_wide ? dt_f32(p->dt_raw, s) : p->dt_raw;
    hn_tensor y = y_direct ? p->y : hn_tensor_f32(s + n_dt, T, HP);
    ssd_xbc in = xbc_of(p, xbc_wide_floats(p, native) ? s + n_dt + n_y : NULL);
    hn_cuda_ssd_forward(y, p->chunk_states, NULL, 0, in.x, in.B, in.C, in.ld, in.bf16, dt, p->dt_bias,
                        p->A_log, p->D, p->seqs, d);
    if (!y_direct) hn_cuda_view_copy(p->y, y, 0);
    return 0;
}

/* dx, dB, dC are accumulated (float32), or written where p->overwrite or bf16: by the
 * tensor-core kernels themselves when x, B, C are bf16 too, else made in float32 scratch
 * and rounded once; a bf16 ddt_raw for float32 kernels is made in zeroed scratch and
 * written over the view */
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
    int native = hn_cuda_ssd_typed_io(d);
    int dt_wide = !native && p->dt_raw.dtype == HN_BF16;
    int ddt_wide = !native && p->ddt_raw.dtype == HN_BF16;
    int g16 = p->dx.dtype == HN_BF16, g_direct = !g16 || (native && p->x.dtype == HN_BF16);
    size_t n_dt = dt_wide ? TH : 0, n_ddt = ddt_wide ? TH : 0, n_xbc = xbc_wide_floats(p, native);
    int w = p->dx.cols + p->dB.cols + p->dC.cols;
    size_t floats = n_dt + n_ddt + n_xbc + (g_direct ? 0 : (size_t)T * w);
    float *s = floats ? (float *)hn_cuda_scratch(HN_SCRATCH_SSD_IO, floats * sizeof(float)) : NULL;
    if (floats && !s) return -1;
    hn_tensor dt = dt_wide ? dt_f32(p->dt_raw, s) : p->dt_raw;
    hn_tensor ddt = p->ddt_raw;
    if (ddt_wide) {
        ddt = hn_tensor_f32(s + n_dt, T, H);
        hn_cuda_zero(ddt.data, TH * sizeof(float));
    }
    ssd_xbc in = xbc_of(p, n_xbc ? s + n_dt + n_ddt : NULL);
    /* the gradients' destination: the views, or float32 scratch [T, w] written whole */
    float *gs = g_direct ? NULL : s + n_dt + n_ddt + n_xbc;
    void *gx = gs ? gs : p->dx.data, *gB = gs ? gs + p->dx.cols : p->dB.data;
    void *gC = gs ? gs + p->dx.cols + p->dB.cols : p->dC.data;
    hn_cuda_ssd_backward(gx, gB, gC, gs ? w : p->dx.ld, g16 && !gs, ddt, p->ddt_bias, p->dA_log,
                         p->dD, (const float *)p->dy.data, in.x, in.B, in.C, in.ld, in.bf16, dt,
                         p->dt_bias, p->A_log, p->D, p->chunk_states, p->seqs, d,
                         !g16 && !p->overwrite);
    if (gs) {
        const hn_tensor *dst[3] = {&p->dx, &p->dB, &p->dC};
        void *src[3] = {gx, gB, gC};
        for (int i = 0; i < 3; i++) {
            hn_tensor from = {src[i], HN_F32, T, dst[i]->cols, w};
            hn_cuda_view_copy(*dst[i], from, 0);
        }
    }
    if (ddt_wide) hn_cuda_view_copy(p->ddt_raw, ddt, 0);
    return 0;
}
