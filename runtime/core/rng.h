/* Deterministic random numbers (xoshiro256** seeded by splitmix64). Header-only so
 * plugins use the very same generator as the runtime: same seed, same bits, anywhere. */
#ifndef HN_RNG_H
#define HN_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct hn_rng {
    uint64_t s[4];
} hn_rng;

static inline uint64_t hn_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void hn_rng_seed(hn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = hn_splitmix64(&seed);
}

static inline uint64_t hn_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t hn_rng_u64(hn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = hn_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
    s[3] = hn_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double hn_rng_uniform(hn_rng *r) { return (double)(hn_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n). Slight modulo bias is irrelevant for n << 2^64. */
static inline uint64_t hn_rng_below(hn_rng *r, uint64_t n) { return hn_rng_u64(r) % n; }

/* Standard normal by Box-Muller (one value per call; simple and reproducible). */
static inline double hn_rng_normal(hn_rng *r) {
    double u1 = hn_rng_uniform(r), u2 = hn_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A child generator for a named purpose, so adding one consumer does not shift the
 * random stream of another (e.g. data order vs. initialisation). */
static inline hn_rng hn_rng_derive(uint64_t seed, uint64_t purpose) {
    hn_rng r;
    hn_rng_seed(&r, seed ^ (purpose * 0xD1B54A32D192ED03ull));
    return r;
}

#endif
