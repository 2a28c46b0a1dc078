/* cpu token embedding: a row gather forward, a scatter-add backward (sequential, so
 * repeated tokens accumulate deterministically). */

#include "backend/cpu/chunk_ops.h"
#include "backend/cpu/cpu_ops.h"

void hn_cpu_embedding_forward(float *out, const float *table, const int32_t *tok, int T, int D) {
    hn_cpu_gather_rows(out, table, tok, T, D); /* rows of the table, one per token */
}

void hn_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *tok, int T,
                               int D) {
    for (int t = 0; t < T; t++) {
        float *row = dtable + (size_t)tok[t] * D;
        const float *g = dout + (size_t)t * D;
        for (int d = 0; d < D; d++) row[d] += g[d];
    }
}
