/* cuda typed ops (backend.h, "_t"): elementwise kernels that read and write float32 or
 * bf16 views (cuda_view.cuh). */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

extern "C" hn_dtype hn_cuda_activation_dtype(const hn_backend *be) {
    (void)be;
    return hn_cuda_stash_bf16() ? HN_BF16 : HN_F32;
}

__global__ void k_convert(view dst, view src, int rows, int cols, int add) {
    size_t n = (size_t)rows * cols;
    HN_GRID_STRIDE(i, n) {
        size_t r = i / cols;
        int c = (int)(i % cols);
        vput(dst, r, c, vget(src, r, c) + (add ? vget(dst, r, c) : 0.0f));
    }
}

__global__ void k_convert8(view dst, view src, int rows, int cols, int add) {
    HN_ROWS_BY8(r, c, rows, cols) {
        float x[8], y[8];
        load8(src, r, c, x);
        if (add) {
            load8(dst, r, c, y);
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] += y[k];
        }
        store8(dst, r, c, x);
    }
}

void hn_cuda_view_copy(hn_tensor dst, hn_tensor src, int add) {
    size_t n = (size_t)src.rows * src.cols;
    if (!n) return;
    if (src.cols % 8 == 0 && vec8_ok(src) && vec8_ok(dst))
        k_convert8<<<row_blocks(src.rows), 256, 0, HN_STREAM>>>(view_of(dst), view_of(src), src.rows, src.cols, add);
    else
        k_convert<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(dst), view_of(src), src.rows, src.cols, add);
    HN_LAUNCHED(add ? "add (typed)" : "convert");
}

extern "C" int hn_cuda_convert(const hn_backend *be, hn_tensor dst, hn_tensor src) {
    (void)be;
    if (dst.rows != src.rows || dst.cols != src.cols) {
        hn_cuda_note(cudaErrorInvalidValue, "convert: shapes differ");
        return -1;
    }
    hn_cuda_view_copy(dst, src, 0);
    return 0;
}

__global__ void k_swiglu_fwd_t(view h, view gu, int T, int H) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H;
        int j = (int)(i % H);
        float v = vget(gu, t, j), g = vget(gu, t, H + j);
        vput(h, t, j, v * g * hn_sigmoidf(g));
    }
}

__global__ void k_swiglu_bwd_t(view dgu, view dh, view gu, int T, int H, int accumulate) {
    size_t n = (size_t)T * H;
    HN_GRID_STRIDE(i, n) {
        size_t t = i / H;
        int j = (int)(i % H);
        float v = vget(gu, t, j), g = vget(gu, t, H + j), d = vget(dh, t, j);
        float s = hn_sigmoidf(g), dv = d * g * s, dg = d * v * s * (1.0f + g * (1.0f - s));
        if (accumulate) {
            dv += vget(dgu, t, j);
            dg += vget(dgu, t, H + j);
        }
        vput(dgu, t, j, dv);
        vput(dgu, t, H + j, dg);
    }
}

__global__ void k_swiglu_fwd8(view h, view gu, int T, int H) {
    HN_ROWS_BY8(t, j, T, H) {
        float v[8], g[8];
        load8(gu, t, j, v);
        load8(gu, t, H + j, g);
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] *= g[k] * hn_sigmoidf(g[k]);
        store8(h, t, j, v);
    }
}

__global__ void k_swiglu_bwd8(view dgu, view dh, view gu, int T, int H, int accumulate) {
    HN_ROWS_BY8(t, j, T, H) {
        float v[8], g[8], d[8], dv[8], dg[8];
        load8(gu, t, j, v);
        load8(gu, t, H + j, g);
        load8(dh, t, j, d);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float s = hn_sigmoidf(g[k]);
            dv[k] = d[k] * g[k] * s;
            dg[k] = d[k] * v[k] * s * (1.0f + g[k] * (1.0f - s));
        }
        if (accumulate) {
            load8(dgu, t, j, v);
            load8(dgu, t, H + j, g);
#pragma unroll
            for (int k = 0; k < 8; k++) dv[k] += v[k], dg[k] += g[k];
        }
        store8(dgu, t, j, dv);
        store8(dgu, t, H + j, dg);
    }
}

extern "C" int hn_cuda_swiglu_forward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->h.rows != T || p->h.cols != H) {
        hn_cuda_note(cudaErrorInvalidValue, "swiglu_forward_t: shapes do not fit");
        return -1;
    }
    size_t n = (size_t)T * H;
    if (!n) return 0;
    if (H % 8 == 0 && vec8_ok(p->h) && vec8_ok(p->gu))
        k_swiglu_fwd8<<<row_blocks(T), 256, 0, HN_STREAM>>>(view_of(p->h), view_of(p->gu), T, H);
    else
        k_swiglu_fwd_t<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(p->h), view_of(p->gu), T, H);
    HN_LAUNCHED("swiglu_forward");
    return 0;
}

extern "C" int hn_cuda_swiglu_backward_t(const hn_backend *be, const hn_swiglu_params *p) {
    (void)be;
    int T = p->gu.rows, H = p->gu.cols / 2;
    if (p->gu.cols != 2 * H || p->dh.rows != T || p->dh.cols != H || p->dgu.rows != T ||
        p->dgu.cols != 2 * H || (p->accumulate && p->dgu.dtype != HN_F32)) {
        hn_cuda_note(cudaErrorInvalidValue, "swiglu_backward_t: shapes or dtypes do not fit");
        return -1;
    }
    size_t n = (size_t)T * H;
    if (!n) return 0;
    if (H % 8 == 0 && vec8_ok(p->dgu) && vec8_ok(p->dh) && vec8_ok(p->gu))
        k_swiglu_bwd8<<<row_blocks(T), 256, 0, HN_STREAM>>>(view_of(p->dgu), view_of(p->dh), view_of(p->gu), T, H,
                                              p->accumulate);
    else
        k_swiglu_bwd_t<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(p->dgu), view_of(p->dh), view_of(p->gu),
                                                   T, H, p->accumulate);
    HN_LAUNCHED("swiglu_backward");
    return 0;
}

/* rotary embedding in place on a float32 or bf16 view, angles as the v1 kernel's (by
 * default rope_tiles.cu runs it; this kernel under HNET_CUDA_ROPE=old and for shapes the
 * tiles do not take) */
__global__ void k_rope_t(view x, int T, int heads, int head_dim, int rot_dim, const int32_t *pos,
                         float theta, int inverse) {
    int half = rot_dim / 2, f_had = -1;
    double inv = 0; /* the frequency of f_had: a thread's f repeats where the stride allows */
    size_t n = (size_t)T * half;
    HN_GRID_STRIDE(i, n) {
        int t = (int)(i / half), f = (int)(i % half);
        if (f != f_had) inv = hn_rope_inv_freq(f, rot_dim, theta), f_had = f;
        float c, s;
        hn_rope_cos_sin(pos[t], inv, inverse, &c, &s);
        hn_rope_rotate(x, x, t, f, heads, head_dim, half, c, s);
    }
}

extern "C" int hn_cuda_rope_to_t(const hn_backend *be, const hn_rope_params *p, hn_tensor out) {
    (void)be;
    if (p->x.cols < p->heads * p->head_dim || p->rot_dim > p->head_dim || !out.data ||
        out.rows != p->x.rows || out.cols != p->x.cols) {
        hn_cuda_note(cudaErrorInvalidValue, "rope_to_t: shapes do not fit");
        return -1;
    }
    return hn_cuda_rope_out(p, out); /* rope_out.cu */
}

extern "C" int hn_cuda_rope_t(const hn_backend *be, const hn_rope_params *p) {
    (void)be;
    if (p->x.cols < p->heads * p->head_dim || p->rot_dim > p->head_dim) {
        hn_cuda_note(cudaErrorInvalidValue, "rope_t: shapes do not fit");
        return -1;
    }
    if (hn_cuda_cur()->cfg.rope_tiles && !hn_cuda_rope_tiles(p, p->x, 0)) return 0; /* rope_tiles.cu */
    size_t n = (size_t)p->x.rows * (p->rot_dim / 2);
    if (!n) return 0;
    k_rope_t<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(p->x), p->x.rows, p->heads, p->head_dim,
                                         p->rot_dim, p->pos, p->theta, p->inverse);
    HN_LAUNCHED("rope");
    return 0;
}
