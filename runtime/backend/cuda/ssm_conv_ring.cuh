/* The conv1d + SiLU backwards of HNET_CUDA_CONV=lean2 and lean3 (hn_cuda_config.conv), and
 * lean4's forward for bf16 x and out (k_conv_fwd_strip_bf16, at the end): the
 * lean kernel's tiles, strips, batches and dw partial sums (ssm_conv_lean.cuh, included
 * before this), with the rows of x and dout staged through a ring in shared memory by
 * cp.async.
 *
 * Why: the lean backward holds the next batch (2 rows) in registers, but in its PTX a bf16
 * row is converted to float right after its load, inside the load's branch on the view's
 * dtype, so the thread waits for it there: each batch waits a memory latency (twice with a
 * bf16 dout: x's rows, then dout's), and at most 2 rows a thread are in flight. Measured
 * (H200, H1): 2.38x its floor with a float32 dout, and slower with a bf16 one (0.452 against
 * 0.348 ms) though that moves a quarter fewer bytes. Here each thread copies its own 4 channels of each row into a private slot of the ring
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
 * and visible to it), conv_ring_smem() (the dynamic shared memory, 16-byte aligned),
 * conv_sigmoid_ftz (conv_sigmoid_lean with subnormals flushed), __nv_bfloat162,
 * __floats2bfloat162_rn, uint2 and make_uint2. */
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

/* 4 channels of one ring slot of S bytes as float (raw bits of a bf16 row, S = 8, or a
 * float32 one, S = 16) */
template <int S> __device__ __forceinline__ void conv_ring_get_s(const unsigned char *slot, float (&out)[4]) {
    if constexpr (S == 8) {
        uint2 u = *(const uint2 *)slot;
        out[0] = __uint_as_float(u.x << 16), out[1] = __uint_as_float(u.x & 0xffff0000u);
        out[2] = __uint_as_float(u.y << 16), out[3] = __uint_as_float(u.y & 0xffff0000u);
    } else {
        float4 f = *(const float4 *)slot;
        out[0] = f.x, out[1] = f.y, out[2] = f.z, out[3] = f.w;
    }
}
__device__ __forceinline__ void conv_ring_get(const unsigned char *slot, int bf16, float (&out)[4]) {
    if (bf16) conv_ring_get_s<8>(slot, out);
    else conv_ring_get_s<16>(slot, out);
}

/* a view's 4 channels at row r, column c into a ring slot (zeros where !valid); a copy's
 * size fixed in each branch (a size known at run time only took a chain of branches) */
__device__ __forceinline__ void conv_ring_put(unsigned char *slot, view v, int r, int c, bool valid) {
    size_t i = valid ? (size_t)r * v.ld + c : 0;
    if (v.bf16) conv_cp_async(slot, (const unsigned char *)v.p + 2 * i, 8, valid);
    else conv_cp_async(slot, (const unsigned char *)v.p + 4 * i, 16, valid);
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
            conv_bwd_step<K, V, U>(dx, wc, b, xw, gw, go, dw, db, pos, p_hi, t, r0, r1, r_end, T, c);
        }
    }
    conv_block_part<K, V>(red, part, dw, db, C);
}

/* One clean batch (no sequence start among the rows it reads) of k_conv_bwd_ring_bf16:
 * conv_bwd_batch<K, 4, U, false>'s arithmetic in its order, without its branches: the
 * strip's halo rows add g zeroed to dw, db (a select, not a branch around the sums), dx rows
 * outside the strip are computed and not stored, dx is bf16 written at byte offset dx_off
 * (row t - (K-1)) from dx0, and the sigmoid skips the subnormal handling (conv_sigmoid_ftz). */
template <int K, int U>
__device__ __forceinline__ void conv_bwd_clean_bf16(unsigned char *dx0, long long dx_off, long long dx_row,
                                                    const float (&wc)[K][4], const float (&b)[4],
                                                    const float (&xw)[K - 1 + U][4], float (&gw)[K - 1 + U][4],
                                                    const float (&go)[U][4], float (&dw)[K][4], float (&db)[4],
                                                    int t, int r0, int r1) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        bool mine = t + u < r1;
#pragma unroll
        for (int v = 0; v < 4; v++) {
            float a = conv_pre_lean<K, K - 1 + U, 4, false>(wc, b, xw, v, u, K - 1);
            float sg = conv_sigmoid_ftz(a), g = go[u][v] * sg * (1.0f + a * (1.0f - sg));
            gw[K - 1 + u][v] = g; /* 0 past r_end: go is 0 there */
            float gm = mine ? g : 0.0f;
            db[v] += gm;
#pragma unroll
            for (int k = 0; k < K; k++) dw[k][v] = fmaf(gm, xw[u + k][v], dw[k][v]);
        }
    }
#pragma unroll
    for (int u = 0; u < U; u++) { /* dx of row r = t + u - (K-1): g rows r .. r + K-1 */
        int r = t + u - (K - 1);
        float acc[4];
#pragma unroll
        for (int v = 0; v < 4; v++) {
            acc[v] = 0.0f;
#pragma unroll
            for (int k = 0; k < K; k++) acc[v] = fmaf(gw[u + K - 1 - k][v], wc[k][v], acc[v]);
        }
        __nv_bfloat162 lo = __floats2bfloat162_rn(acc[0], acc[1]), hi = __floats2bfloat162_rn(acc[2], acc[3]);
        if (r >= r0 && r < r1)
            *(uint2 *)(dx0 + dx_off + u * dx_row) = make_uint2(*(uint32_t *)&lo, *(uint32_t *)&hi);
    }
}

/* HNET_CUDA_CONV=lean3: k_conv_bwd_ring for a bf16 x and a bf16 dx written (the layer's),
 * with a dout of DS bytes a row slot (8 bf16, 16 float32) fixed at compile time, in fewer
 * instructions a batch: no branch on a view's dtype, global addresses advanced by a row
 * stride instead of computed (64-bit products) per row, clean batches without branches
 * (conv_bwd_clean_bf16) and the window's register shifts once every two batches. SASS of
 * a clean batch (K = 4, 2 rows x 4 channels; the cubin's code size with the batch loop
 * unrolled 4 times less 3 times, masked batches left out): k_conv_bwd_lean 448
 * instructions, k_conv_bwd_ring 424, this 232: ~29 an element, ~0.07 ms of issue for H1
 * at 4 warp instructions a clock an SM against its floor's 0.105 ms (bf16 dout). The ring,
 * the partial sums and the masked batches are k_conv_bwd_ring's. */
template <int K, int DS>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 2 : 1)
    k_conv_bwd_ring_bf16(view dx, float *part, view dout, view x, const float *w, const float *bias,
                         const int32_t *pos, int T, int C) {
    constexpr int V = 4, U = CONV_U_LEAN_BWD(K), W = K - 1 + U, NB = CONV_RING_BATCHES;
    constexpr int N = CONV_CG * CONV_RS, ROWS = NB * U, SX = 8;
    __shared__ float red[CONV_RS][CONV_CG * V * (K + 1)];
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    int r1 = min(T, r0 + CONV_ROWS), r_end = min(T, r1 + K - 1);
    float dw[K][V], db[V];
    zero_partials<K, V>(dw, db);
    if (c < C && r0 < T) {
        int lin = threadIdx.y * CONV_CG + threadIdx.x;
        unsigned char *ring = conv_ring_smem(); /* k_conv_bwd_ring's layout */
        unsigned char *xs = ring + lin * SX, *ds = ring + (ROWS + K - 1) * N * SX + lin * DS;
        int32_t *ps = (int32_t *)(ring + (ROWS + K - 1) * N * SX + ROWS * N * DS) + lin;
        const unsigned char *x0 = (const unsigned char *)x.p, *d0 = (const unsigned char *)dout.p;
        long long x_row = (long long)x.ld * 2, d_row = (long long)dout.ld * (DS / 4), dx_row = (long long)dx.ld * 2;
        /* the next batch to issue: its first row's x and dout at column c */
        const unsigned char *xn = x0 + ((size_t)r0 * x.ld + c) * 2, *dn = d0 + ((size_t)r0 * dout.ld + c) * (DS / 4);
        /* dx's row r0 - (K-1), column c, as a byte offset (the row may be before the first) */
        long long dx_off = ((long long)(r0 - (K - 1)) * dx.ld + c) * 2;
        int t_end = r1 + K - 1, batches = (t_end - r0 + U - 1) / U;
        auto issue = [&](int i) { /* batch i into ring batch i % NB, as k_conv_bwd_ring */
            if (i < batches) {
                int t = r0 + i * U, b = i % NB;
#pragma unroll
                for (int u = 0; u < U; u++) {
                    bool in = t + u < r_end;
                    conv_cp_async(xs + (b * U + u) * N * SX, in ? xn + u * x_row : x0, SX, in);
                    conv_cp_async(ds + (b * U + u) * N * DS, in ? dn + u * d_row : d0, DS, in);
                }
                conv_cp_async((unsigned char *)(ps + b * N), pos + min(t + U, r_end) - 1, 4, true);
                xn += U * x_row, dn += U * d_row;
            }
            conv_cp_async_commit();
        };
#pragma unroll
        for (int j = 0; j < K - 1; j++) { /* x's rows before the strip, with batch 0 */
            bool in = r0 - (K - 1) + j >= 0;
            conv_cp_async(xs + (ROWS + j) * N * SX, in ? xn - (K - 1 - j) * x_row : x0, SX, in);
        }
#pragma unroll
        for (int i = 0; i < NB - 1; i++) issue(i);
        float wc[K][V], b[V];
        float xw[W][V], gw[W][V], go[U][V]; /* slot j: row t - (K-1) + j */
        load_taps<K, V>(wc, b, w, bias, c);
        conv_cp_async_wait<NB - 2>();
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            conv_ring_get_s<SX>(xs + (ROWS + j) * N * SX, xw[j]);
#pragma unroll
            for (int v = 0; v < V; v++) gw[j][v] = 0.0f;
        }
#pragma unroll 2 /* the window's shifts a pair of batches: moves once a pair */
        for (int i = 0; i < batches; i++) {
            int t = r0 + i * U, bs = i % NB;
            conv_cp_async_wait<NB - 2>(); /* batch i has landed */
#pragma unroll
            for (int u = 0; u < U; u++) {
                conv_ring_get_s<SX>(xs + (bs * U + u) * N * SX, xw[K - 1 + u]);
                conv_ring_get_s<DS>(ds + (bs * U + u) * N * DS, go[u]);
            }
            int p_hi = ps[bs * N];
            issue(i + NB - 1); /* into the ring batch read in the previous iteration */
            int lo = max(r0, t - (K - 2)), hi = min(t + U, r_end) - 1;
            if (hi < lo || conv_rows_clean<K>(p_hi, lo, hi))
                conv_bwd_clean_bf16<K, U>((unsigned char *)dx.p, dx_off, dx_row, wc, b, xw, gw, go, dw, db, t, r0, r1);
            else conv_bwd_batch<K, V, U, true>(dx, wc, b, xw, gw, go, dw, db, pos, t, r0, r1, T, c);
            dx_off += U * dx_row;
#pragma unroll
            for (int j = 0; j < K - 1; j++)
#pragma unroll
                for (int v = 0; v < V; v++) xw[j][v] = xw[j + U][v], gw[j][v] = gw[j + U][v];
        }
    }
    conv_block_part<K, V>(red, part, dw, db, C);
}

/* HNET_CUDA_CONV=lean4's forward for a bf16 x and a bf16 out, four channels a thread (the
 * layer's; anything else keeps k_conv_fwd_lean). Why: in k_conv_fwd_lean's PTX a bf16 row is
 * converted right after its load inside the branch on the view's dtype, so the thread waits
 * on each load there (about one row in flight, not the batch's 8), and a bf16 out branches
 * again to store (measured, H200, 8x8192 rows, K = 4: 1.84x its floor at 1152 channels, 1.76x
 * at 1664; 1.38x / 1.33x with a float32 out). Here a thread copies its whole strip (the K-1
 * rows before it and its CONV_ROWS rows: 280 bytes at K = 4) into its private slots of
 * shared memory with cp.async at its start, a commit group a batch of U rows (the rows before
 * the strip with the first), and computes batch i once group i has landed, while the later
 * ones are still in flight: every row of the strip is in flight at once, no register holds
 * one, and no barrier (a thread reads only what it copied). The dtypes are fixed at compile
 * time (no branch on a view's dtype), the batch loop is unrolled (the waits' counts are
 * constants) and rows are addressed by a row stride. The arithmetic is k_conv_fwd_lean's in
 * its order (conv_pre_lean, conv_sigmoid_lean, the same masked and clean batches decided
 * the same way, bf16 rounded as store4), so the same bits are expected (the parity tests
 * hold it to the cpu's tolerances, not to lean's bits). Shared memory: conv_fwd_strip_bytes
 * (70 KB a block at K = 4: three blocks an SM, at 80 registers; two at K = 5). Widths to
 * CONV_STRIP_MAXK. */
#define CONV_STRIP_MAXK 5 /* the widest k_conv_fwd_strip_bf16 taken (6 to 8 spill at 128 registers) */
static inline size_t conv_fwd_strip_bytes(int K) {
    return (size_t)CONV_CG * CONV_RS * (CONV_ROWS + K - 1) * 8;
}

/* one batch of k_conv_fwd_strip_bf16: conv_fwd_batch<K, 4, U, MASK>'s arithmetic (conv_pre_lean
 * over a window of the K rows t + u - (K-1) .. t + u, the same taps in the same order), the
 * window cur moved on a row at a time from the thread's ring slots xb (row t) a slot stride
 * apart, out bf16 written at ob (row t, moved on a row at a time: U rows after a batch
 * but a masked one's past r1, where nothing follows) */
template <int K, int U, int SLOT, bool MASK>
__device__ __forceinline__ void conv_fwd_batch_bf16(unsigned char *&ob, long long o_row, const unsigned char *xb,
                                                    const float (&wc)[K][4], const float (&b)[4], float (&cur)[K][4],
                                                    const int32_t *pos, int t, int r1) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (MASK && t + u >= r1) break;
#pragma unroll
        for (int j = 0; j < K - 1; j++)
#pragma unroll
            for (int v = 0; v < 4; v++) cur[j][v] = cur[j + 1][v];
        conv_ring_get_s<8>(xb + u * SLOT, cur[K - 1]);
        int p = MASK ? pos[t + u] : K - 1;
        float o[4];
#pragma unroll
        for (int v = 0; v < 4; v++) {
            float a = conv_pre_lean<K, K, 4, MASK>(wc, b, cur, v, 0, p);
            o[v] = a * conv_sigmoid_lean(a);
        }
        __nv_bfloat162 lo = __floats2bfloat162_rn(o[0], o[1]), hi = __floats2bfloat162_rn(o[2], o[3]);
        if (t + u < r1) *(uint2 *)ob = make_uint2(*(uint32_t *)&lo, *(uint32_t *)&hi);
        ob += o_row;
    }
}
/* cp.async.wait_group with a count known once the loop around it is unrolled */
__device__ __forceinline__ void conv_cp_async_wait_n(int n) {
    switch (n) {
    case 0: conv_cp_async_wait<0>(); break;
    case 1: conv_cp_async_wait<1>(); break;
    case 2: conv_cp_async_wait<2>(); break;
    case 3: conv_cp_async_wait<3>(); break;
    default: conv_cp_async_wait<4>(); break;
    }
}

template <int K>
__global__ void __launch_bounds__(CONV_CG *CONV_RS, K <= 4 ? 3 : 2)
    k_conv_fwd_strip_bf16(view out, view x, const float *w, const float *bias, const int32_t *pos, int T, int C) {
    constexpr int V = 4, U = CONV_U_LEAN_FWD, NB = CONV_ROWS / U, H = K - 1, N = CONV_CG * CONV_RS, SX = 8;
    static_assert(CONV_ROWS % U == 0 && NB <= 5, "a strip of whole batches, waits conv_cp_async_wait_n counts");
    int c = (blockIdx.x * CONV_CG + threadIdx.x) * V;
    int r0 = (blockIdx.y * CONV_RS + threadIdx.y) * CONV_ROWS;
    if (c >= C || r0 >= T) return;
    int r1 = min(T, r0 + CONV_ROWS);
    /* slot j (row r0 - H + j) of this thread at xs + j * N * SX */
    unsigned char *xs = conv_ring_smem() + (threadIdx.y * CONV_CG + threadIdx.x) * SX;
    const unsigned char *x0 = (const unsigned char *)x.p;
    long long x_row = (long long)x.ld * 2, o_row = (long long)out.ld * 2;
    /* row r0 - H + j's 4 channels, j = 0.. (rows before the first zero-filled), the pointer
     * moved on a row at a time (not a product a row: registers) */
    const unsigned char *xr = x0 + ((long long)(r0 - H) * x.ld + c) * 2;
#pragma unroll
    for (int j = 0; j < H + CONV_ROWS; j++) {
        int r = r0 - H + j;
        bool in = r >= 0 && r < r1;
        conv_cp_async(xs + j * N * SX, in ? xr : x0, SX, in);
        xr += x_row;
        if (j >= H && (j - H) % U == U - 1) conv_cp_async_commit(); /* a group a batch */
    }
    int p_hi[NB]; /* the position of each batch's last row (batches past r1: r1 - 1's) */
#pragma unroll
    for (int i = 0; i < NB; i++) p_hi[i] = pos[min(r0 + (i + 1) * U, r1) - 1];
    float wc[K][V], b[V], cur[K][V]; /* cur[j]: row t + u - (K-1) + j while row t + u is computed */
    load_taps<K, V>(wc, b, w, bias, c);
    unsigned char *ob = (unsigned char *)out.p + ((long long)r0 * out.ld + c) * 2; /* row t */
#pragma unroll
    for (int i = 0; i < NB; i++) {
        int t = r0 + i * U;
        if (t >= r1) break;
        conv_cp_async_wait_n(NB - 1 - i); /* batch i (and the rows before the strip) landed */
        if (i == 0)
#pragma unroll
            for (int j = 0; j < H; j++) conv_ring_get_s<SX>(xs + j * N * SX, cur[j + 1]); /* moved down by the first row */
        const unsigned char *xb = xs + (H + i * U) * N * SX;
        if (conv_rows_clean<K>(p_hi[i], t, min(t + U, r1) - 1))
            conv_fwd_batch_bf16<K, U, N * SX, false>(ob, o_row, xb, wc, b, cur, pos, t, r1);
        else conv_fwd_batch_bf16<K, U, N * SX, true>(ob, o_row, xb, wc, b, cur, pos, t, r1);
    }
    conv_cp_async_wait<0>(); /* a short strip's batches past r1 (zero fills) before it exits */
}

#endif
