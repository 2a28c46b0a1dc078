/* cpu elementwise ops and reductions. Reductions accumulate in double so that long
 * sums (gradient norms, bias gradients over many rows) do not lose precision. */
#include "backend/cpu/cpu_ops.h"

/* Columns reduced per pass in bias_backward: the double accumulators stay in L1
 * while the rows are still read contiguously. */
#define HN_COL_BLOCK 256

void hn_cpu_fill(float *x, float value, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void hn_cpu_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void hn_cpu_scale(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

double hn_cpu_sum_squares(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

void hn_cpu_add_bias(float *y, const float *b, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * cols;
        for (int c = 0; c < cols; c++) yr[c] += b[c];
    }
}

void hn_cpu_bias_backward(float *db, const float *dy, int rows, int cols) {
    double acc[HN_COL_BLOCK];
    for (int c0 = 0; c0 < cols; c0 += HN_COL_BLOCK) {
        int w = cols - c0 < HN_COL_BLOCK ? cols - c0 : HN_COL_BLOCK;
        for (int c = 0; c < w; c++) acc[c] = 0;
        for (int r = 0; r < rows; r++) {
            const float *dr = dy + (size_t)r * cols + c0;
            for (int c = 0; c < w; c++) acc[c] += dr[c];
        }
        for (int c = 0; c < w; c++) db[c0 + c] += (float)acc[c];
    }
}
