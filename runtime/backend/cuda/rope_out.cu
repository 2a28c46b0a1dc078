/* rope_t out of place (backend.h hn_rope_params.out): every column of out from x, the
 * first rot_dim dims of each head rotated (angles and arithmetic as typed.cu's in-place
 * kernel), the rest copied, written in out's dtype. The attention backward rotates its
 * float32 q and k gradients back straight into the bf16 buffer its products read. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

/* Threads [0, T * half) rotate: one per (row, frequency), the angle computed once for
 * all heads, as the in-place kernel; threads past them copy the columns rope leaves
 * alone, one per element. */
__global__ void k_rope_out(view out, view x, int T, int cols, int heads, int head_dim,
                           int rot_dim, const int32_t *pos, float theta, int inverse) {
    int half = rot_dim / 2;
    size_t n_rot = (size_t)T * half, n = n_rot + (size_t)T * cols;
    HN_GRID_STRIDE(i, n) {
        if (i < n_rot) {
            int t = (int)(i / half), f = (int)(i % half);
            double ang = (double)pos[t] * pow((double)theta, -2.0 * f / (double)rot_dim);
            float c = (float)cos(ang), s = (float)((inverse ? -1.0 : 1.0) * sin(ang));
            for (int h = 0; h < heads; h++) {
                int ca = h * head_dim + f, cb = ca + half;
                float x0 = vget(x, t, ca), x1 = vget(x, t, cb);
                vput(out, t, ca, x0 * c - x1 * s);
                vput(out, t, cb, x0 * s + x1 * c);
            }
        } else {
            size_t j = i - n_rot;
            int t = (int)(j / cols), c = (int)(j % cols);
            if (c >= heads * head_dim || c % head_dim >= 2 * half) vput(out, t, c, vget(x, t, c));
        }
    }
}

int hn_cuda_rope_out(const hn_rope_params *p) {
    size_t n = (size_t)p->x.rows * (p->x.cols + p->rot_dim / 2);
    if (!n) return 0;
    k_rope_out<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(p->out), view_of(p->x), p->x.rows, p->x.cols,
                                           p->heads, p->head_dim, p->rot_dim, p->pos, p->theta,
                                           p->inverse);
    HN_LAUNCHED("rope (out of place)");
    return 0;
}
