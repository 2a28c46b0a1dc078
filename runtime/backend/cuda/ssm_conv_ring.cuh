/* The conv1d + SiLU backward of HNET_CUDA_CONV=lean2 (hn_cuda_config.conv): the lean
 * kernel's tiles, strips, batches and dw partial sums (ssm_conv_lean.cuh, included before
 * this), with the rows of x and dout staged through a ring in shared memory by cp.async.
 *
 * Why: the lean backward holds the next batch (2 rows) in registers, but a bf16 row is
 * converted to float right after its load, inside the load's branch on the view's dtype,
 * so the thread waits for it there: each batch waits a full memory latency (twice with a
 * bf16 dout: x's rows, then dout's), and only 2 rows a thread are ever in flight. It runs
 * at 2.3x its floor with a float32 dout and slower still with a bf16 one (fewer bytes).
 * Here each thread copies its own 4 channels of each row into a private slot of the ring
 * (no register holds them in flight, no barrier: a thread reads only what it copied) and
 * converts a row when its batch is computed. The ring holds CONV_RING_BATCHES batches:
 * while one is computed the next CONV_RING_BATCHES - 1 are in flight (6 rows of x and
 * dout a thread at K <= 4: 48-72 KB an SM at two blocks, what the copy rate needs).
 * The K-1 rows of x before the strip and each batch's last position come through the
 * ring too, so a strip waits on memory once, at its start. Four channels a thread only
 * (cp.async copies 4, 8 or 16 bytes). Same arithmetic in the same order as the lean
 * kernel: the same bits.
 *
 * The includer provides conv_cp_async(dst, src, bytes, valid) (bytes 4, 8 or 16 from
 * global src to shared dst, zeros where !valid), conv_cp_async_commit(),
 * conv_cp_async_wait<N>() (this thread's copies done but the last N groups committed,
 * and visible to it) and conv_ring_smem() (the dynamic shared memory, 16-byte aligned). */
#ifndef HN_CUDA_SSM_CONV_RING_CUH
#define HN_CUDA_SSM_CONV_RING_CUH

#define CONV_RING_BATCHES 4

/* shared memory of k_conv_bwd_ring<K>: every thread's slots of the ring's rows of x (and
 * of the K-1 rows before its strip) and of dout (8 bytes bf16, 16 float32), then a
 * position a batch */
static inline size_t conv_ring_bytes(int K, int x_bf16, int dout_bf16) {
    size_t rows = (size_t)CONV_RING_BATCHES * CONV_U_LEAN_BWD(K), threads = CONV_CG * CONV_RS;
    return threads * ((rows + K - 1) * (x_bf16 ? 8 : 16) + rows * (dout_bf16 ? 8 : 16) + CONV_RING_BATCHES * 4);
}

/* 4 channels of one ring slot as float (raw bits of a bf16 or float32 row) */
__device__ __forceinline__ void conv_ring_get(const unsigned char *slot, int bf16, float (&out)[4]) {
    if (bf16) {
        uint2 u = *(const uint2 *)slot;
        out[0] = __uint_as_float(u.x << 16), out[1] = __uint_as_float(u.x & 0xffff0000u);
        out[2] = __uint_as_float(u.y << 16), out[3] = __uint_as_float(u.y & 0xffff0000u);
    } else {
        float4 f = *(const float4 *)slot;
        out[0] = f.x, out[1] = f.y, out[2] = f.z, out[3] = f.w;
    }
}

/* a view's 4 channels at row r, column c into a ring slot (zeros where !valid) */
__device__ __forceinline__ void conv_ring_put(unsigned char *slot, view v, int r, int c, bool valid) {
    int es = v.bf16 ? 2 : 4;
    const unsigned char *src = (const unsigned char *)v.p + (valid ? ((size_t)r * v.ld + c) * es : 0);
    conv_cp_async(slot, src, 4 * es, valid);
}

template <int K>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 2 : 1)
    k_conv_bwd_ring(view dx, float *part, view dout, view x, const float *w, const float *bias,
                    const int32_t *pos, int T, int C) {
    constexpr int V = 4, U = CONV_U_LEAN_BWD(K), W = K - 1 + U, NB = CONV_RING_BATCHES;
    constexpr int N = CONV_CG * CONV_RS, ROWS = NB * U;
    __shared__ float red[CONV_RS][CONV_CG * V * (K + 1)];
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    int r1 = min(T, r0 + CONV_ROWS), r_end = min(T, r1 + K - 1);
    float dw[K][V], db[V];
    zero_partials<K, V>(dw, db);
    if (c < C && r0 < T) {
        /* this thread's slots: ring row s of x at xs + s * N * sx (rows ROWS.. the K-1 rows
         * before the strip), of dout at ds + s * N * sd; ring batch b's position at ps[b * N] */
        int lin = threadIdx.y * CONV_CG + threadIdx.x, sx = x.bf16 ? 8 : 16, sd = dout.bf16 ? 8 : 16;
        unsigned char *ring = conv_ring_smem();
        unsigned char *xs = ring + lin * sx, *ds = ring + (ROWS + K - 1) * N * sx + lin * sd;
        int32_t *ps = (int32_t *)(ring + (ROWS + K - 1) * N * sx + ROWS * N * sd) + lin;
        int t_end = r1 + K - 1, batches = (t_end - r0 + U - 1) / U; /* g rows r0 .. t_end - 1 */
        /* batch i (rows r0 + i U ..) into ring batch i % NB; past the last batch an empty
         * group, so that every wait below counts the same groups */
        auto issue = [&](int i) {
            if (i < batches) {
                int t = r0 + i * U, b = i % NB;
#pragma unroll
                for (int u = 0; u < U; u++) {
                    bool in = t + u < r_end;
                    conv_ring_put(xs + (b * U + u) * N * sx, x, t + u, c, in);
                    conv_ring_put(ds + (b * U + u) * N * sd, dout, t + u, c, in);
                }
                conv_cp_async((unsigned char *)(ps + b * N), pos + min(t + U, r_end) - 1, 4, true);
            }
            conv_cp_async_commit();
        };
#pragma unroll
        for (int j = 0; j < K - 1; j++) /* x's rows before the strip, with batch 0 */
            conv_ring_put(xs + (ROWS + j) * N * sx, x, r0 - (K - 1) + j, c, r0 - (K - 1) + j >= 0);
#pragma unroll
        for (int i = 0; i < NB - 1; i++) issue(i);
        float wc[K][V], b[V];
        float xw[W][V], gw[W][V], go[U][V]; /* slot j: row t - (K-1) + j */
        load_taps<K, V>(wc, b, w, bias, c);
        conv_cp_async_wait<NB - 2>();
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            conv_ring_get(xs + (ROWS + j) * N * sx, x.bf16, xw[j]);
#pragma unroll
            for (int v = 0; v < V; v++) gw[j][v] = 0.0f;
        }
        for (int i = 0; i < batches; i++) {
            int t = r0 + i * U, bs = i % NB;
            conv_cp_async_wait<NB - 2>(); /* batch i has landed */
#pragma unroll
            for (int u = 0; u < U; u++) {
                conv_ring_get(xs + (bs * U + u) * N * sx, x.bf16, xw[K - 1 + u]);
                conv_ring_get(ds + (bs * U + u) * N * sd, dout.bf16, go[u]);
            }
            int p_hi = ps[bs * N];
            /* into the ring batch read in the previous iteration: its values were used there */
            issue(i + NB - 1);
            /* rows whose positions the batch reads: g rows t.., dx rows from t - (K-2) */
            int lo = max(r0, t - (K - 2)), hi = min(t + U, r_end) - 1;
            if (hi < lo || conv_rows_clean<K>(p_hi, lo, hi))
                conv_bwd_batch<K, V, U, false>(dx, wc, b, xw, gw, go, dw, db, pos, t, r0, r1, T, c);
            else conv_bwd_batch<K, V, U, true>(dx, wc, b, xw, gw, go, dw, db, pos, t, r0, r1, T, c);
#pragma unroll
            for (int j = 0; j < K - 1; j++)
#pragma unroll
                for (int v = 0; v < V; v++) xw[j][v] = xw[j + U][v], gw[j][v] = gw[j + U][v];
        }
    }
    conv_block_part<K, V>(red, part, dw, db, C);
}

#endif
