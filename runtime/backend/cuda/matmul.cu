/* cuda matrix products through cuBLAS. Row-major C = A B is column-major C^T = B^T A^T,
 * so the operands are passed swapped. Storage stays float32; the mode picks the
 * arithmetic: plain fp32, tf32 tensor cores, or bf16 tensor cores (cuBLAS rounds the
 * fp32 operands to bf16 and accumulates in fp32: "bf16 inputs, fp32 accumulation"). */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/instance.cuh"
#include "backend/cuda/matmul_lt.cuh"

static void note_blas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS) hn_cuda_note(cudaErrorUnknown, what);
}

/* the instance's handle: bound to its stream, with its own workspace (instance.cu) */
static cublasHandle_t handle(void) { return hn_cuda_cur()->blas; }

__global__ void k_scale_or_zero(float *c, float beta, size_t n) {
    HN_GRID_STRIDE(i, n) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

/* fp32 -> bf16 (round to nearest even), four at a time where aligned */
__global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    size_t quads = (n + 3) / 4;
    HN_GRID_STRIDE(q, quads) {
        size_t i = 4 * q;
        if (i + 3 < n && ((uintptr_t)(src + i) & 15) == 0) {
            float4 v = *(const float4 *)(src + i);
            dst[i] = __float2bfloat16(v.x);
            dst[i + 1] = __float2bfloat16(v.y);
            dst[i + 2] = __float2bfloat16(v.z);
            dst[i + 3] = __float2bfloat16(v.w);
        } else {
            for (size_t j = i; j < n && j < i + 4; j++) dst[j] = __float2bfloat16(src[j]);
        }
    }
}

/* a rounded bf16 copy of src in a scratch slot */
static const __nv_bfloat16 *to_bf16(int slot, const float *src, size_t n) {
    __nv_bfloat16 *dst = (__nv_bfloat16 *)hn_cuda_scratch(slot, n * 2);
    if (!dst) return NULL;
    k_to_bf16<<<hn_blocks((n + 3) / 4, 256), 256, 0, HN_STREAM>>>(dst, src, n);
    HN_LAUNCHED("matmul bf16 convert");
    return dst;
}

/* The bf16 x bf16 product, fp32 accumulation, in cuBLAS's column-major terms (operands
 * already swapped): on cuBLASLt where the configuration asks for it (matmul_lt.cu), else
 * through cublasGemmEx with cuBLAS's default algorithm. */
static void gemm_bf16(cublasOperation_t opb, cublasOperation_t opa, int n, int m, int k,
                      const float *alpha, const void *b16, int ldb, const void *a16, int lda,
                      const float *beta, void *c, cudaDataType_t ct, int ldc, const char *what) {
    if (hn_cuda_lt_matmul(opb, opa, n, m, k, alpha, b16, CUDA_R_16BF, ldb, a16, CUDA_R_16BF, lda,
                          beta, c, ct, ldc))
        return;
    note_blas(cublasGemmEx(handle(), opb, opa, n, m, k, alpha, b16, CUDA_R_16BF, ldb, a16,
                           CUDA_R_16BF, lda, beta, c, ct, ldc, CUBLAS_COMPUTE_32F,
                           CUBLAS_GEMM_DEFAULT),
              what);
}

/* row-major: A is [m,k] (or [k,m] when trans_a), B is [k,n] (or [n,k]), C is [m,n] */
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc, int mode) {
    cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (mode == HN_CUDA_MATMUL_FP32) {
        note_blas(cublasSgemm(handle(), opb, opa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc),
                  "cublasSgemm");
        return;
    }
    if (mode == HN_CUDA_MATMUL_TF32) {
        note_blas(cublasGemmEx(handle(), opb, opa, n, m, k, &alpha, b, CUDA_R_32F, ldb, a,
                               CUDA_R_32F, lda, &beta, c, CUDA_R_32F, ldc,
                               CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx tf32");
        return;
    }
    /* bf16: a weight operand is read from the parameters' bf16 copy (shadow.cu); any
     * other operand is rounded into scratch (no allocation once warm). Then a bf16 x
     * bf16 product accumulated and written in fp32 */
    size_t na = (size_t)m * k, nb = (size_t)k * n;
    const __nv_bfloat16 *a16 = (const __nv_bfloat16 *)hn_cuda_shadow_read(a, na);
    const __nv_bfloat16 *b16 = (const __nv_bfloat16 *)hn_cuda_shadow_read(b, nb);
    if (!a16) a16 = to_bf16(HN_SCRATCH_BF16A, a, na);
    if (!b16) b16 = to_bf16(HN_SCRATCH_BF16B, b, nb);
    if (!a16 || !b16) return;
    gemm_bf16(opb, opa, n, m, k, &alpha, b16, ldb, a16, lda, &beta, c, CUDA_R_32F, ldc,
              "cublasGemmEx bf16");
}

void hn_cuda_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                    const float *b, float beta, float *c) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        size_t mn = (size_t)m * n;
        k_scale_or_zero<<<hn_blocks(mn, 256), 256, 0, HN_STREAM>>>(c, beta, mn);
        HN_LAUNCHED("matmul k=0");
        return;
    }
    int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, n, hn_cuda_get_matmul_mode());
    HN_LAUNCHED("matmul");
}

/* ---- the typed product (backend.h: matmul_t) ----
 * All-float32 views take the mode's path above (fp32, tf32 or bf16 with operands rounded
 * per call). A view that is already bf16 is read as it is: where either operand is bf16,
 * the product runs on bf16 tensor cores, a float32 operand being read from the
 * parameters' bf16 copy (a weight) or rounded into scratch. C may be float32 or bf16. */
static const __nv_bfloat16 *bf16_operand(hn_tensor t, int slot, int *ld) {
    if (t.dtype == HN_BF16) {
        *ld = t.ld;
        return (const __nv_bfloat16 *)t.data;
    }
    size_t span = (size_t)(t.rows - 1) * t.ld + t.cols;
    const __nv_bfloat16 *w = (const __nv_bfloat16 *)hn_cuda_shadow_read((const float *)t.data, span);
    *ld = t.ld;
    if (w) return w;
    if (!hn_tensor_packed(t)) {
        hn_cuda_note(cudaErrorInvalidValue, "matmul_t: a strided float32 operand beside a bf16 one");
        return NULL;
    }
    *ld = t.cols;
    return to_bf16(slot, (const float *)t.data, (size_t)t.rows * t.cols);
}

extern "C" int hn_cuda_matmul_t(const hn_backend *be, const hn_matmul_params *p) {
    (void)be;
    int m = p->trans_a ? p->a.cols : p->a.rows, k = p->trans_a ? p->a.rows : p->a.cols;
    int n = p->trans_b ? p->b.rows : p->b.cols, kb = p->trans_b ? p->b.cols : p->b.rows;
    if (k != kb || p->c.rows != m || p->c.cols != n) {
        hn_cuda_note(cudaErrorInvalidValue, "matmul_t: shapes do not fit");
        return -1;
    }
    if (m <= 0 || n <= 0) return 0;
    if (p->a.dtype == HN_F32 && p->b.dtype == HN_F32 && p->c.dtype == HN_F32) {
        if (k <= 0 || !hn_tensor_packed(p->c)) {
            if (k <= 0 && hn_tensor_packed(p->c)) {
                size_t mn = (size_t)m * n;
                k_scale_or_zero<<<hn_blocks(mn, 256), 256, 0, HN_STREAM>>>((float *)p->c.data, p->beta, mn);
                HN_LAUNCHED("matmul k=0");
                return 0;
            }
            hn_cuda_note(cudaErrorInvalidValue, "matmul_t: strided output with k = 0");
            return -1;
        }
        gemm(p->trans_a, p->trans_b, m, n, k, p->alpha, (const float *)p->a.data, p->a.ld,
             (const float *)p->b.data, p->b.ld, p->beta, (float *)p->c.data, p->c.ld,
             hn_cuda_get_matmul_mode());
        HN_LAUNCHED("matmul");
        return 0;
    }
    if (k <= 0) {
        hn_cuda_note(cudaErrorInvalidValue, "matmul_t: k = 0 with bf16 views");
        return -1;
    }
    int lda, ldb;
    const __nv_bfloat16 *a16 = bf16_operand(p->a, HN_SCRATCH_BF16A, &lda);
    const __nv_bfloat16 *b16 = bf16_operand(p->b, HN_SCRATCH_BF16B, &ldb);
    if (!a16 || !b16) return -1;
    cublasOperation_t opb = p->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opa = p->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cudaDataType_t ct = p->c.dtype == HN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    gemm_bf16(opb, opa, n, m, k, &p->alpha, b16, ldb, a16, lda, &p->beta, p->c.data, ct, p->c.ld,
              "cublasGemmEx bf16 typed");
    HN_LAUNCHED("matmul");
    return 0;
}

__global__ void k_fill_bf16(__nv_bfloat16 *x, size_t n, uint64_t seed) {
    HN_GRID_STRIDE(i, n) {
        uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        x[i] = __float2bfloat16((float)(h & 0xffff) / 65536.0f - 0.5f);
    }
}

/* The ceiling MFU is quoted against: a square bf16 x bf16 -> bf16 product with fp32
 * accumulation on random data, median of reps after warm-up. */
extern "C" double hn_cuda_measure_bf16_flops(int n, int reps) {
    size_t nn = (size_t)n * n;
    __nv_bfloat16 *a = NULL, *b = NULL, *c = NULL;
    if (!hn_cuda_cur()) return 0;
    hn_cuda_scope scope(hn_cuda_cur(), "measure_bf16_flops");
    if (cudaMalloc(&a, nn * 2) || cudaMalloc(&b, nn * 2) || cudaMalloc(&c, nn * 2)) {
        cudaFree(a);
        cudaFree(b);
        cudaGetLastError();
        return 0;
    }
    k_fill_bf16<<<hn_blocks(nn, 256), 256, 0, HN_STREAM>>>(a, nn, 1);
    k_fill_bf16<<<hn_blocks(nn, 256), 256, 0, HN_STREAM>>>(b, nn, 2);
    float one = 1, zero = 0;
    float *ms = (float *)malloc((size_t)reps * sizeof(float));
    for (int r = -3; r < reps; r++) {
        hn_cuda_timer_start();
        note_blas(cublasGemmEx(handle(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n,
                               b, CUDA_R_16BF, n, &zero, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                               CUBLAS_GEMM_DEFAULT),
                  "bf16 rate");
        float t = hn_cuda_timer_stop_ms();
        if (r >= 0) ms[r] = t;
    }
    for (int i = 1; i < reps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            float t = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = t;
        }
    double med = ms[reps / 2];
    free(ms);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return 2.0 * n * (double)n * n / (med * 1e-3);
}

/* Activations kept for backward are bf16 when the products are (fp32 and tf32 modes
 * keep them in float32, so those modes stay comparable with the cpu), unless the
 * configuration's activations_fp32 (HNET_CUDA_ACTIVATIONS=fp32) trades memory for the
 * packing passes (bench/RESULTS.md). */
int hn_cuda_stash_bf16(void) {
    return !hn_cuda_cur()->cfg.activations_fp32 && hn_cuda_get_matmul_mode() == HN_CUDA_MATMUL_BF16;
}

__global__ void k_unpack_bf16(float *dst, const __nv_bfloat16 *src, size_t n) {
    HN_GRID_STRIDE(i, n) dst[i] = __bfloat162float(src[i]);
}
void hn_cuda_pack_bf16(uint16_t *dst, const float *src, size_t n) {
    if (!n) return;
    k_to_bf16<<<hn_blocks((n + 3) / 4, 256), 256, 0, HN_STREAM>>>((__nv_bfloat16 *)dst, src, n);
    HN_LAUNCHED("pack_bf16");
}
void hn_cuda_unpack_bf16(float *dst, const uint16_t *src, size_t n) {
    if (!n) return;
    k_unpack_bf16<<<hn_blocks(n, 256), 256, 0, HN_STREAM>>>(dst, (const __nv_bfloat16 *)src, n);
    HN_LAUNCHED("unpack_bf16");
}
