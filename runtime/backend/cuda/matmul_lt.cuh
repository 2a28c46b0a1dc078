/* bf16 products through cuBLASLt (matmul_lt.cu), beside matmul.cu's cublasGemmEx. */
#ifndef HN_CUDA_MATMUL_LT_CUH
#define HN_CUDA_MATMUL_LT_CUH

#include <cublas_v2.h>

/* One column-major product as cublasGemmEx takes it: C = alpha op(A) op(B) + beta C, C
 * m x n, fp32 accumulation and scale. 1 when it ran on cuBLASLt (or failed, the failure
 * noted); 0 when the caller should run cublasGemmEx instead: the configuration asks for
 * it (HN_CUDA_MATMUL_ALGO_GEMMEX), or cuBLASLt offers no algorithm for the shape (or
 * refuses the one it offered: the shape stays on cublasGemmEx, counted as a fallback). */
int hn_cuda_lt_matmul(cublasOperation_t opa, cublasOperation_t opb, int m, int n, int k,
                      const float *alpha, const void *a, cudaDataType_t ta, int lda,
                      const void *b, cudaDataType_t tb, int ldb, const float *beta, void *c,
                      cudaDataType_t tc, int ldc);

#endif
