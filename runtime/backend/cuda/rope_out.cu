/* rope_t out of place (backend.h rope_to_t): every column of out from x, the first
 * rot_dim dims of each head rotated (angles and arithmetic as typed.cu's in-place
 * kernel), the rest copied, written in out's dtype. By default rope_tiles.cu runs it;
 * these kernels under HNET_CUDA_ROPE=old and for shapes the tiles do not take. The attention backward rotates its
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
            float c, s;
            hn_rope_angle(pos[t], f, rot_dim, theta, inverse, &c, &s);
            hn_rope_rotate(out, x, t, f, heads, head_dim, half, c, s);
        } else {
            size_t j = i - n_rot;
            int t = (int)(j / cols), c = (int)(j % cols);
            if (c >= heads * head_dim || c % head_dim >= 2 * half) vput(out, t, c, vget(x, t, c));
        }
    }
}

/* The same, a block per row (rows grid-strided) where every group of eight columns lies
 * on one side of a rotation (half a multiple of 8) and the views allow 16-byte accesses:
 * the row's cos/sin once into shared memory, then a thread per group of eight — a group
 * in a head's first rotated half rotates with its partner half columns on, one in the
 * second half is left to that partner, the rest are copied. The per-element kernel
 * above ran at a tenth of the copy rate (a 64-bit division per element). */
__global__ void __launch_bounds__(256) k_rope_out8(view out, view x, int T, int cols, int heads,
                                                   int head_dim, int rot_dim, const int32_t *pos,
                                                   float theta, int inverse) {
    extern __shared__ float cs[]; /* [half] cos, then [half] sin */
    int half = rot_dim / 2;
    /* each angle's thread keeps its frequency across rows (blockDim >= half for the
     * head dims this runs: a thread a frequency, or more where half exceeds it) */
    double inv = threadIdx.x < half ? hn_rope_inv_freq(threadIdx.x, rot_dim, theta) : 0.0;
    for (int t = blockIdx.x; t < T; t += gridDim.x) {
        __syncthreads(); /* the previous row's readers are done */
        for (int f = threadIdx.x; f < half; f += blockDim.x) {
            double inv_f = f == (int)threadIdx.x ? inv : hn_rope_inv_freq(f, rot_dim, theta);
            hn_rope_cos_sin(pos[t], inv_f, inverse, &cs[f], &cs[half + f]);
        }
        __syncthreads();
        for (int c = 8 * threadIdx.x; c < cols; c += 8 * blockDim.x) {
            int h = c / head_dim, k = c - h * head_dim;
            float a[8];
            if (h < heads && k < half) {
                float b[8], ya[8], yb[8];
                load8(x, t, c, a);
                load8(x, t, c + half, b);
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    float co = cs[k + e], si = cs[half + k + e];
                    ya[e] = a[e] * co - b[e] * si;
                    yb[e] = a[e] * si + b[e] * co;
                }
                store8(out, t, c, ya);
                store8(out, t, c + half, yb);
            } else if (!(h < heads && k < rot_dim)) {
                load8(x, t, c, a);
                store8(out, t, c, a);
            }
        }
    }
}

int hn_cuda_rope_out(const hn_rope_params *p, hn_tensor out) {
    if (hn_cuda_cur()->cfg.rope_tiles && !hn_cuda_rope_tiles(p, out, 1)) return 0; /* rope_tiles.cu */
    size_t n = (size_t)p->x.rows * (p->x.cols + p->rot_dim / 2);
    if (!n) return 0;
    int half = p->rot_dim / 2;
    if (half % 8 == 0 && p->head_dim % 8 == 0 && p->x.cols % 8 == 0 && vec8_ok(p->x) && vec8_ok(out)) {
        unsigned rows = (unsigned)(p->x.rows < 4096 ? p->x.rows : 4096);
        k_rope_out8<<<rows, 256, 2 * half * sizeof(float), HN_STREAM>>>(
            view_of(out), view_of(p->x), p->x.rows, p->x.cols, p->heads, p->head_dim, p->rot_dim,
            p->pos, p->theta, p->inverse);
        HN_LAUNCHED("rope (out of place)");
        return 0;
    }
    k_rope_out<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(view_of(out), view_of(p->x), p->x.rows, p->x.cols,
                                           p->heads, p->head_dim, p->rot_dim, p->pos, p->theta,
                                           p->inverse);
    HN_LAUNCHED("rope (out of place)");
    return 0;
}
