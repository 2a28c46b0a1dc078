/* Sampling one entry per row (backend.h, sample; cpu twin: backend/cpu/sample.c), one
 * block per row. The threads compute the probabilities (double, as the cpu) and each
 * entry's rank in the cpu's order (probability descending, then index); one thread
 * then walks that order exactly as the cpu does (the sums in the same order), so the
 * same logits and uniform draw the same entry. V <= HN_SAMPLE_DEVICE_MAX_V. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define THREADS 256

__global__ void __launch_bounds__(THREADS)
    k_sample(int32_t *out, const float *logits, const double *u, int V, double temperature,
             double top_p) {
    __shared__ double p[HN_SAMPLE_DEVICE_MAX_V];
    __shared__ int order[HN_SAMPLE_DEVICE_MAX_V];
    __shared__ float s_v[THREADS];
    __shared__ int s_i[THREADS];
    int row = blockIdx.x, tid = threadIdx.x;
    const float *lg = logits + (size_t)row * V;
    /* the most likely entry, the lowest index among equals (the cpu's strict >) */
    int bi = tid < V ? tid : 0;
    for (int j = tid + THREADS; j < V; j += THREADS)
        if (lg[j] > lg[bi]) bi = j;
    s_v[tid] = lg[bi];
    s_i[tid] = bi;
    __syncthreads();
    for (int half = THREADS / 2; half > 0; half >>= 1) {
        if (tid < half) {
            float a = s_v[tid], b = s_v[tid + half];
            int ia = s_i[tid], ib = s_i[tid + half];
            if (b > a || (b == a && ib < ia)) {
                s_v[tid] = b;
                s_i[tid] = ib;
            }
        }
        __syncthreads();
    }
    int best = s_i[0];
    if (temperature <= 0 || V <= 1) {
        if (tid == 0) out[row] = best;
        return;
    }
    double top = (double)lg[best];
    for (int j = tid; j < V; j += THREADS) {
        p[j] = exp(((double)lg[j] - top) / temperature);
        order[j] = 0; /* a NaN leaves ranks unclaimed: keep every slot a valid index */
    }
    __syncthreads();
    for (int j = tid; j < V; j += THREADS) {
        int r = 0;
        for (int k = 0; k < V; k++) r += p[k] > p[j] || (p[k] == p[j] && k < j);
        order[r] = j;
    }
    __syncthreads();
    if (tid) return;
    double sum = 0;
    for (int j = 0; j < V; j++) sum += p[j];
    if (!(top_p > 0) || top_p > 1) top_p = 1;
    int keep = 0;
    double mass = 0;
    while (keep < V && (keep == 0 || mass < top_p * sum)) mass += p[order[keep++]];
    double target = u[row] * mass, acc = 0;
    int pick = order[keep - 1];
    for (int k = 0; k < keep; k++) {
        acc += p[order[k]];
        if (target < acc) {
            pick = order[k];
            break;
        }
    }
    out[row] = pick;
}

void hn_cuda_sample(int32_t *out, const float *logits, const double *u, int n, int V,
                    double temperature, double top_p) {
    if (n <= 0 || V <= 0) return;
    if (V > HN_SAMPLE_DEVICE_MAX_V) {
        hn_cuda_note(cudaErrorInvalidValue, "sample: vocabulary above HN_SAMPLE_DEVICE_MAX_V");
        return;
    }
    k_sample<<<n, THREADS, 0, HN_STREAM>>>(out, logits, u, V, temperature, top_p);
    HN_LAUNCHED("sample");
}
