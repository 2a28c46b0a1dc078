/* Nucleus sampling of the next byte on the host: the cpu backend's sample op, with the
 * uniform drawn here (only when the draw is random, so greedy decoding consumes no
 * randomness). */
#include "model/generate.h"

int hn_sample_byte(const float *logits, int n, double temperature, double top_p, hn_rng *rng) {
    double u = temperature > 0 && n > 1 ? hn_rng_uniform(rng) : 0.0;
    int32_t out = 0;
    hn_backend_cpu()->sample(&out, logits, &u, 1, n, temperature, top_p);
    return out;
}
