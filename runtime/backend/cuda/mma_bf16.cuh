/* Warp-level bf16 tensor-core building blocks (mma.sync m16n8k16, ldmatrix) shared by
 * the flash-attention kernels. Fragment layouts are the PTX ISA's for
 * mma.m16n8k16.row.col.f32.bf16.bf16.f32, with g = lane / 4 and c = lane % 4:
 *   A (16 x 16):  a[0] = (g, 2c..2c+1)  a[1] = (g+8, 2c..)  a[2] = (g, 2c+8..)  a[3] = (g+8, 2c+8..)
 *   B (16 x 8):   b[0] = (k 2c..2c+1, n g)                  b[1] = (k 2c+8.., n g)
 *   C (16 x 8):   c[0..1] = (g, 2c..2c+1)                   c[2..3] = (g+8, 2c..2c+1)
 * so the C fragments of two adjacent n-tiles are, packed to bf16, the A fragment of one
 * 16-wide k-step: a softmax'd score tile feeds the next product without leaving registers. */
#ifndef HN_MMA_BF16_CUH
#define HN_MMA_BF16_CUH

#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ uint32_t hn_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* d += a . b on one 16 x 8 x 16 tile */
__device__ __forceinline__ void hn_mma16816(float d[4], const uint32_t a[4], uint32_t b0,
                                            uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* d = a . b (no accumulator to clear first: the zero C operand is the zero register) */
__device__ __forceinline__ void hn_mma16816_first(float d[4], const uint32_t a[4], uint32_t b0,
                                                  uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(0.0f));
}

/* four 8 x 8 bf16 matrices; lanes 8i..8i+7 give the row addresses of matrix i */
__device__ __forceinline__ void hn_ldsm_x4(uint32_t r[4], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(hn_smem_addr(row)));
}
__device__ __forceinline__ void hn_ldsm_x4_t(uint32_t r[4], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(hn_smem_addr(row)));
}

/* 2^x on the special-function unit, flushing denormal results to zero: exp2f() adds a
 * range fix-up of two or three instructions around the same MUFU.EX2, which the
 * softmax of a score tile (one exponential per score) cannot afford. ex2(-inf) = 0. */
__device__ __forceinline__ float hn_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t hn_pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
}

/* The A fragment of the 16 x 16 block at (row0, col0) of a row-major bf16 tile in
 * shared memory with row stride ld (elements). */
__device__ __forceinline__ void hn_load_a(uint32_t a[4], const __nv_bfloat16 *tile, int ld,
                                          int row0, int col0) {
    int lane = threadIdx.x & 31;
    hn_ldsm_x4(a, tile + (size_t)(row0 + (lane & 15)) * ld + col0 + (lane >> 4) * 8);
}

/* B fragments of two adjacent n-tiles (n0, n0 + 8) and one k-step (k0) where the tile is
 * stored n-major, [n][k] (B = tile^T: keys stored by row, dims along the row):
 * b[0], b[1] for n-tile n0; b[2], b[3] for n0 + 8. */
__device__ __forceinline__ void hn_load_b_nk(uint32_t b[4], const __nv_bfloat16 *tile, int ld,
                                             int n0, int k0) {
    int lane = threadIdx.x & 31, i = lane >> 3;
    hn_ldsm_x4(b, tile + (size_t)(n0 + (lane & 7) + (i >> 1) * 8) * ld + k0 + (i & 1) * 8);
}

/* The same where the tile is stored k-major, [k][n] (B = tile as stored). */
__device__ __forceinline__ void hn_load_b_kn(uint32_t b[4], const __nv_bfloat16 *tile, int ld,
                                             int n0, int k0) {
    int lane = threadIdx.x & 31, i = lane >> 3;
    hn_ldsm_x4_t(b, tile + (size_t)(k0 + (lane & 7) + (i & 1) * 8) * ld + n0 + (i >> 1) * 8);
}

/* 16 bytes global -> shared without passing through registers; !valid zero-fills */
__device__ __forceinline__ void hn_cp_async16(void *smem, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(hn_smem_addr(smem)),
                 "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void hn_cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
/* waits until at most n committed groups are still in flight */
template <int n>
__device__ __forceinline__ void hn_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
}

#endif
