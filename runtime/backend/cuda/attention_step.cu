/* Attention of one new row per sequence over its key/value ring (backend.h,
 * attention_step; cpu twin: backend/cpu/attention_step.c): flash-decoding inside one
 * block per (head, sequence). The block writes the head's new key and value into the
 * ring, then its warps take the cached keys in turn (warp w: keys w, w + WARPS, ...),
 * each lane holding head_dim / 32 dims of q and of its running output, with an online
 * softmax per warp; the warps' partial results meet in shared memory. fp32 throughout,
 * as the cache. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define WARPS 4
#define EPL 8 /* dims per lane: head_dim <= 256 */

__global__ void __launch_bounds__(WARPS * 32)
    k_attention_step(float *out, const float *qkv, float *state, size_t stride, int R,
                     const int32_t *pos, int heads, int hd, float scale) {
    __shared__ float s_m[WARPS], s_l[WARPS], s_o[WARPS][EPL * 32];
    int h = blockIdx.x, i = blockIdx.y, tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    int D = heads * hd, p = pos[i];
    float *o = out + (size_t)i * D + (size_t)h * hd;
    if (p < 0) { /* not advancing now */
        for (int d = tid; d < hd; d += blockDim.x) o[d] = 0.0f;
        return;
    }
    float *kc = state + (size_t)i * stride, *vc = kc + (size_t)D * R;
    const float *row = qkv + (size_t)i * 3 * D;
    size_t slot = (size_t)p % (size_t)R, ho = (size_t)h * hd;
    for (int d = tid; d < hd; d += blockDim.x) {
        kc[slot * D + ho + d] = row[D + ho + d];
        vc[slot * D + ho + d] = row[2 * D + ho + d];
    }
    if (h == 0 && tid == 0) vc[(size_t)D * R] = (float)(p + 1); /* the counter */
    __syncthreads(); /* the new key and value are read below */

    int len = p + 1 < R ? p + 1 : R, first = (p + 1 - len) % R;
    float q[EPL], acc[EPL];
#pragma unroll
    for (int j = 0; j < EPL; j++) {
        int d = lane + 32 * j;
        q[j] = d < hd ? row[ho + d] : 0.0f;
        acc[j] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int t = w; t < len; t += WARPS) {
        size_t off = (size_t)((first + t) % R) * D + ho;
        const float *k = kc + off, *v = vc + off;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < EPL; j++) {
            int d = lane + 32 * j;
            if (d < hd) s += q[j] * k[d];
        }
        s = hn_warp_sum(s) * scale;
        if (s > m) {
            float r = expf(m - s);
            l *= r;
#pragma unroll
            for (int j = 0; j < EPL; j++) acc[j] *= r;
            m = s;
        }
        float e = expf(s - m);
        l += e;
#pragma unroll
        for (int j = 0; j < EPL; j++) {
            int d = lane + 32 * j;
            if (d < hd) acc[j] += e * v[d];
        }
    }
    if (lane == 0) {
        s_m[w] = m;
        s_l[w] = l;
    }
#pragma unroll
    for (int j = 0; j < EPL; j++) s_o[w][lane + 32 * j] = acc[j];
    __syncthreads();
    float M = s_m[0];
    for (int u = 1; u < WARPS; u++) M = fmaxf(M, s_m[u]); /* warp 0 has a key: M is finite */
    for (int d = tid; d < hd; d += blockDim.x) {
        float L = 0.0f, O = 0.0f;
        for (int u = 0; u < WARPS; u++) {
            float f = s_l[u] > 0.0f ? expf(s_m[u] - M) : 0.0f;
            L += f * s_l[u];
            O += f * s_o[u][d];
        }
        o[d] = O / L;
    }
}

void hn_cuda_attention_step(float *out, const float *qkv, float *state, size_t stride, int R,
                            const int32_t *pos, int n, int heads, int head_dim, float scale) {
    if (n <= 0 || heads <= 0) return;
    if (head_dim > EPL * 32 || R < 1) {
        hn_cuda_note(cudaErrorInvalidValue, "attention_step: head_dim above 256 or an empty ring");
        return;
    }
    dim3 grid((unsigned)heads, (unsigned)n);
    k_attention_step<<<grid, WARPS * 32, 0, HN_STREAM>>>(out, qkv, state, stride, R, pos, heads, head_dim,
                                            scale);
    HN_LAUNCHED("attention_step");
}
