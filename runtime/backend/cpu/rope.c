/* cpu rotary position embedding, GPT-NeoX "half-split" form: within each head the
 * first rot_dim dims are rotated in pairs (i, i + rot_dim/2) by the angle
 * pos * theta^(-2i/rot_dim); the remaining head_dim - rot_dim dims pass through.
 * The rotation is orthogonal, so its backward is the same rotation by -angle
 * (inverse = 1). Angles are computed in double: positions reach the thousands and a
 * float product would lose the low bits of the phase. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"

/* frequencies handled per pass over the rows (bounds the stack table, keeps the
 * row-major sweep cache friendly for any rot_dim) */
#define HN_ROPE_FREQ_BLOCK 64

void hn_cpu_rope(float *x, int ld, int T, int heads, int head_dim, int rot_dim,
                 const int32_t *pos, float theta, int inverse) {
    int half = rot_dim / 2;
    if (half <= 0 || T <= 0) return;
    double sign = inverse ? -1.0 : 1.0;
    double inv_freq[HN_ROPE_FREQ_BLOCK];
    for (int i0 = 0; i0 < half; i0 += HN_ROPE_FREQ_BLOCK) {
        int nf = half - i0 < HN_ROPE_FREQ_BLOCK ? half - i0 : HN_ROPE_FREQ_BLOCK;
        for (int f = 0; f < nf; f++)
            inv_freq[f] = pow((double)theta, -2.0 * (double)(i0 + f) / (double)rot_dim);
        for (int t = 0; t < T; t++) {
            float *row = x + (size_t)t * ld;
            double p = (double)pos[t];
            for (int f = 0; f < nf; f++) {
                double ang = p * inv_freq[f];
                float c = (float)cos(ang), s = (float)(sign * sin(ang));
                for (int h = 0; h < heads; h++) {
                    float *a = row + (size_t)h * head_dim + i0 + f, *b = a + half;
                    float x0 = *a, x1 = *b;
                    *a = x0 * c - x1 * s;
                    *b = x0 * s + x1 * c;
                }
            }
        }
    }
}
