/* The cpu backend's chunk plan (hn_ops_chunk.plan): the reference the cuda kernels are
 * held to, one pass over the rows in order, as the stage planned on the host before. */
#include "backend/cpu/chunk_ops.h"

int hn_cpu_chunk_plan(const hn_chunk_plan_params *pp) {
    const hn_seqs *seqs = pp->seqs;
    if (!seqs || !pp->p || !pp->b || !pp->chunk || !pp->idx || !pp->first || !pp->pos_in ||
        !pp->offsets_in || !pp->sum_p || (pp->bytes && !pp->bytes_in))
        return -1;
    int K = 0;
    double sum_p = 0;
    pp->offsets_in[0] = 0;
    for (int s = 0; s < seqs->n; s++) {
        int t0 = seqs->offsets[s], start_k = K;
        for (int t = t0; t < seqs->offsets[s + 1]; t++) {
            int b = t == t0 || (pp->fixed_every > 0 ? (t - t0) % pp->fixed_every == 0
                                                    : hn_chunk_boundary(pp->p[t]));
            pp->b[t] = b;
            if (b) {
                pp->first[K] = K == start_k ? t : pp->idx[K - 1] + 1;
                pp->idx[K] = t;
                pp->pos_in[K] = K - start_k;
                if (pp->bytes) pp->bytes_in[K] = pp->bytes[t];
                K++;
            }
            pp->chunk[t] = K - 1;
        }
        pp->offsets_in[s + 1] = K;
    }
    for (int t = 0; t < seqs->total; t++) sum_p += pp->p[t];
    *pp->sum_p = sum_p;
    return 0;
}
