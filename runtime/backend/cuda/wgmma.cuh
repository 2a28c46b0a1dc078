/* Hopper warpgroup products (wgmma) from shared-memory tiles: the tile layout they read,
 * the descriptors that point at it, and the fences around them. The products themselves
 * are in wgmma_ops.cuh (generated).
 *
 * Tiles are rows of 64 bf16 (128 bytes) in the 128-byte swizzle: the 16-byte chunk c of
 * row r sits at chunk c ^ (r % 8) of that row, so that eight rows read column-wise hit
 * eight different bank groups. A tile starts on a 1024-byte boundary (the swizzle is a
 * function of the address). One descriptor layout serves both operand orders:
 *   K-major (the reduction runs along the row: Q or K as the B of Q.K^T): the k-th
 *     16-wide step starts 32 bytes further;
 *   MN-major (the reduction runs down the rows: V as the B of P.V): the k-th step starts
 *     16 rows (2048 bytes) further.
 * Eight-row groups are 1024 bytes apart (the stride field); the leading-offset field is
 * unused at 64 columns. */
#ifndef HN_WGMMA_CUH
#define HN_WGMMA_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#include "backend/cuda/mma_bf16.cuh"
#include "backend/cuda/wgmma_ops.cuh"

#define HN_SW128_ROW 128 /* bytes per tile row */

__device__ __forceinline__ uint64_t hn_wgmma_desc(const void *tile_smem, int byte_offset) {
    uint32_t addr = hn_smem_addr(tile_smem) + byte_offset;
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}

/* rows [r0, r0 + ROWS) of a [T][ld] bf16 matrix (src already at the head's column) into
 * a swizzled tile, by NT threads, asynchronously (cp.async; the caller commits, waits and
 * then calls hn_wgmma_smem_fence); rows >= T are zero */
template <int ROWS, int NT>
__device__ __forceinline__ void hn_stage_sw128(__nv_bfloat16 *tile, const __nv_bfloat16 *__restrict__ src,
                                               int ld, int r0, int T) {
    unsigned char *base = (unsigned char *)tile;
#pragma unroll
    for (int e = threadIdx.x % NT; e < ROWS * 8; e += NT) {
        int r = e >> 3, ch = e & 7;
        bool valid = r0 + r < T;
        hn_cp_async16(base + r * HN_SW128_ROW + ((ch ^ (r & 7)) << 4),
                      src + (size_t)(valid ? r0 + r : 0) * ld + ch * 8, valid);
    }
}

/* shared-memory writes of this thread (st.shared, cp.async) made visible to the
 * warpgroup products' (async proxy) reads; then a barrier */
__device__ __forceinline__ void hn_wgmma_smem_fence() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/* before the first product of a batch: registers written since are ordered before it */
__device__ __forceinline__ void hn_wgmma_fence() {
#ifdef HN_WGMMA_OK
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void hn_wgmma_commit() {
#ifdef HN_WGMMA_OK
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void hn_wgmma_wait() {
#ifdef HN_WGMMA_OK
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
/* pins a register the products write (or read) asynchronously to this point: the
 * compiler must neither read an accumulator early nor reuse an operand's register
 * before the wait */
__device__ __forceinline__ void hn_wgmma_pin(float &r) { asm volatile("" : "+f"(r)::"memory"); }
__device__ __forceinline__ void hn_wgmma_pin(uint32_t &r) { asm volatile("" : "+r"(r)::"memory"); }
template <int N>
__device__ __forceinline__ void hn_wgmma_pin_all(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) hn_wgmma_pin(r[i]);
}

#endif
