/* rope_t out of place (backend.h hn_rope_params.out): every column of out from x, the
 * first rot_dim dims of each head rotated (angles and arithmetic as typed.cu's in-place
 * kernel), the rest copied, written in out's dtype. The attention backward rotates its
 * float32 q and k gradients back straight into the bf16 buffer its products read. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/cuda_view.cuh"

__global__ void k_rope_out(view out, view x, int T, int cols, int heads, int head_dim,
                           int rot_dim, const int32_t *pos, float theta, int inverse) {
    size_t n = (size_t)T * cols;
    int half = rot_dim / 2;
    HN_GRID_STRIDE(i, n) {
        int t = (int)(i / cols), c = (int)(i % cols), f = c % head_dim;
        if (c >= heads * head_dim || f >= 2 * half) {
            vput(out, t, c, vget(x, t, c));
            continue;
        }
        int fi = f < half ? f : f - half, ca = c - f + fi, cb = ca + half;
        double ang = (double)pos[t] * pow((double)theta, -2.0 * fi / (double)rot_dim);
        float co = (float)cos(ang), s = (float)((inverse ? -1.0 : 1.0) * sin(ang));
        float x0 = vget(x, t, ca), x1 = vget(x, t, cb);
        vput(out, t, c, f < half ? x0 * co - x1 * s : x0 * s + x1 * co);
    }
}

int hn_cuda_rope_out(const hn_rope_params *p) {
    size_t n = (size_t)p->x.rows * p->x.cols;
    if (!n) return 0;
    k_rope_out<<<hn_blocks(n, 256), 256>>>(view_of(p->out), view_of(p->x), p->x.rows, p->x.cols,
                                           p->heads, p->head_dim, p->rot_dim, p->pos, p->theta,
                                           p->inverse);
    HN_LAUNCHED("rope (out of place)");
    return 0;
}
