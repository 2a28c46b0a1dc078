/* The chunk plan on the device (hn_ops_chunk.plan, ops_chunk.h): the boundaries, their
 * prefix sum and the inner packing from p, in four launches and no host round trip
 * (the stage reads back only the inner offsets and sum_p). Rows go in tiles of
 * PLAN_TILE, one thread each:
 *  1. k_plan_tiles: b per row; per tile its boundary count and its sum of p (float64);
 *  2. k_plan_scan (one block): the tiles' exclusive prefix of counts, K, and sum_p (the
 *     tile sums added in tile order, so the same p gives the same bits every run);
 *  3. k_plan_rows: chunk per row (tile prefix + scan within the tile); idx and bytes_in
 *     of the boundary rows;
 *  4. k_plan_inner: pos_in and first per inner row, from the chunk of its sequence's
 *     first row (t - pos[t]: every sequence start is a boundary); the inner offsets.
 * Sequence starts and positions are read off seqs->pos_dev, sequence starts for the
 * offsets off seqs->offsets_dev. */
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

#define PLAN_TILE 1024 /* threads of a block = rows of a tile; 32 warps */
#define FULL_MASK 0xffffffffu

/* Inclusive prefix sum of v over the block (PLAN_TILE threads); warp_tot: shared [32].
 * Ends synchronised; warp_tot[31] then holds the block's total. */
__device__ __forceinline__ int block_inclusive_scan(int v, int *warp_tot) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        int u = __shfl_up_sync(FULL_MASK, v, o);
        if (lane >= o) v += u;
    }
    if (lane == 31) warp_tot[w] = v;
    __syncthreads();
    if (w == 0) {
        int x = warp_tot[lane];
        for (int o = 1; o < 32; o <<= 1) {
            int u = __shfl_up_sync(FULL_MASK, x, o);
            if (lane >= o) x += u;
        }
        warp_tot[lane] = x;
    }
    __syncthreads();
    return w > 0 ? v + warp_tot[w - 1] : v;
}

/* The sum of v over the block, valid in thread 0; warp_sum: shared [32]. */
__device__ __forceinline__ double block_sum_d(double v, double *warp_sum) {
    v = hn_warp_sum_d(v);
    if ((threadIdx.x & 31) == 0) warp_sum[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0;
    if (threadIdx.x < 32) s = hn_warp_sum_d(warp_sum[threadIdx.x]);
    return s;
}

__global__ void __launch_bounds__(PLAN_TILE)
k_plan_tiles(int32_t *b, int32_t *tile_count, double *tile_sum, const float *p, const int32_t *pos,
             int fixed_every, int T) {
    __shared__ double warp_sum[32];
    int t = blockIdx.x * PLAN_TILE + threadIdx.x, bt = 0;
    double pv = 0;
    if (t < T) {
        float pt = p[t];
        int ps = pos[t];
        bt = ps == 0 || (fixed_every > 0 ? ps % fixed_every == 0 : hn_chunk_boundary(pt));
        b[t] = bt;
        pv = pt;
    }
    int count = __syncthreads_count(bt);
    double s = block_sum_d(pv, warp_sum);
    if (threadIdx.x == 0) {
        tile_count[blockIdx.x] = count;
        tile_sum[blockIdx.x] = s;
    }
}

__global__ void __launch_bounds__(PLAN_TILE)
k_plan_scan(int32_t *tile_off, int32_t *K_out, double *sum_p, const int32_t *tile_count,
            const double *tile_sum, int tiles) {
    __shared__ int warp_tot[32];
    __shared__ double warp_sum[32];
    int carry = 0;
    double acc = 0; /* thread 0's */
    for (int base = 0; base < tiles; base += PLAN_TILE) {
        int i = base + threadIdx.x, c = i < tiles ? tile_count[i] : 0;
        int incl = block_inclusive_scan(c, warp_tot);
        if (i < tiles) tile_off[i] = carry + incl - c;
        double s = block_sum_d(i < tiles ? tile_sum[i] : 0.0, warp_sum);
        if (threadIdx.x == 0) acc += s;
        carry += warp_tot[31];
        __syncthreads(); /* warp_tot and warp_sum are written again next round */
    }
    if (threadIdx.x == 0) {
        *K_out = carry;
        *sum_p = acc;
    }
}

__global__ void __launch_bounds__(PLAN_TILE)
k_plan_rows(int32_t *chunk, int32_t *idx, int32_t *bytes_in, const int32_t *b,
            const int32_t *tile_off, const int32_t *bytes, int T) {
    __shared__ int warp_tot[32];
    int t = blockIdx.x * PLAN_TILE + threadIdx.x;
    int bt = t < T ? b[t] : 0;
    int incl = block_inclusive_scan(bt, warp_tot);
    if (t >= T) return;
    int k = tile_off[blockIdx.x] + incl - 1;
    chunk[t] = k;
    if (bt) {
        idx[k] = t;
        if (bytes) bytes_in[k] = bytes[t];
    }
}

__global__ void k_plan_inner(int32_t *first, int32_t *pos_in, int32_t *offsets_in, const int32_t *idx,
                             const int32_t *chunk, const int32_t *pos, const int32_t *offsets,
                             const int32_t *K_in, int n, int T) {
    int K = *K_in;
    size_t items = (size_t)(T > n + 1 ? T : n + 1);
    HN_GRID_STRIDE(i, items) {
        int k = (int)i;
        if (k < K) {
            int t = idx[k], start_k = chunk[t - pos[t]];
            pos_in[k] = k - start_k;
            first[k] = k == start_k ? t : idx[k - 1] + 1;
        }
        if (k <= n) {
            int o = k < n ? offsets[k] : T; /* an empty sequence's start is the next one's */
            offsets_in[k] = o < T ? chunk[o] : K;
        }
    }
}

int hn_cuda_chunk_plan(const hn_chunk_plan_params *pp) {
    const hn_seqs *seqs = pp->seqs;
    if (!seqs || !pp->p || !pp->b || !pp->chunk || !pp->idx || !pp->first || !pp->pos_in ||
        !pp->offsets_in || !pp->sum_p || (pp->bytes && !pp->bytes_in)) {
        hn_cuda_note(cudaErrorInvalidValue, "plan: an output or input is missing");
        return -1;
    }
    int T = seqs->total, n = seqs->n;
    if (T <= 0) {
        HN_CK(cudaMemsetAsync(pp->offsets_in, 0, ((size_t)n + 1) * sizeof(int32_t), HN_STREAM));
        HN_CK(cudaMemsetAsync(pp->sum_p, 0, sizeof(double), HN_STREAM));
        HN_LAUNCHED("plan");
        return 0;
    }
    if (!seqs->pos_dev || !seqs->offsets_dev) {
        hn_cuda_note(cudaErrorInvalidValue, "plan: the sequences have no device offsets or positions");
        return -1;
    }
    int tiles = (T + PLAN_TILE - 1) / PLAN_TILE;
    /* scratch: tile sums (double), then tile counts, tile offsets and K (int32) */
    size_t bytes = (size_t)tiles * sizeof(double) + (2 * (size_t)tiles + 1) * sizeof(int32_t);
    char *scratch = (char *)hn_cuda_scratch(HN_SCRATCH_PLAN, bytes);
    if (!scratch) return -1;
    double *tile_sum = (double *)scratch;
    int32_t *tile_count = (int32_t *)(tile_sum + tiles), *tile_off = tile_count + tiles;
    int32_t *K = tile_off + tiles;

    k_plan_tiles<<<tiles, PLAN_TILE, 0, HN_STREAM>>>(pp->b, tile_count, tile_sum, pp->p,
                                                     seqs->pos_dev, pp->fixed_every, T);
    k_plan_scan<<<1, PLAN_TILE, 0, HN_STREAM>>>(tile_off, K, pp->sum_p, tile_count, tile_sum, tiles);
    k_plan_rows<<<tiles, PLAN_TILE, 0, HN_STREAM>>>(pp->chunk, pp->idx, pp->bytes_in, pp->b,
                                                    tile_off, pp->bytes, T);
    size_t items = (size_t)(T > n + 1 ? T : n + 1);
    k_plan_inner<<<hn_blocks(items, 256), 256, 0, HN_STREAM>>>(pp->first, pp->pos_in, pp->offsets_in,
                                                               pp->idx, pp->chunk, seqs->pos_dev,
                                                               seqs->offsets_dev, K, n, T);
    HN_LAUNCHED("plan");
    return 0;
}
