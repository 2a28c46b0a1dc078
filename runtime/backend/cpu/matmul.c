/* cpu matrix product through OpenBLAS: C = alpha * op(A) op(B) + beta * C, row-major,
 * packed operands (leading dimensions follow from the shapes). */
#include <cblas.h>

#include "backend/cpu/cpu_ops.h"

void hn_cpu_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   const float *b, float beta, float *c) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        /* empty inner dimension: only the beta term remains; beta == 0 overwrites
         * (so stale NaNs in C do not survive, as with BLAS) */
        for (long i = 0; i < (long)m * n; i++) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return;
    }
    int lda = trans_a ? m : k; /* A stored [k,m] or [m,k] */
    int ldb = trans_b ? k : n; /* B stored [n,k] or [k,n] */
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, n);
}
