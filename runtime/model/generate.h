/* Generation with H-Net's inference procedure (paper Section 2.4): per byte, step the
 * encoder, step the routing module, step the main network only where a boundary was
 * drawn, step the dechunk EMA (or hold the last chunk's output between boundaries),
 * add the residual projection and step the decoder -- recursively, so an inner stage
 * advances only on its outer stage's boundaries. Every sublayer advances through its
 * layer plugin's step() with its own inference state (attention: a KV cache bounded
 * by its window; Mamba-2: conv and SSM state); the chunkers through their step().
 *
 * One sequence, on the cpu backend (attention's cached step is cpu-only for now). */
#ifndef HN_GENERATE_H
#define HN_GENERATE_H

#include "core/rng.h"
#include "model/model.h"

#define HN_GEN_MAX_DEPTH 16

typedef struct hn_gen_stage hn_gen_stage;

typedef struct hn_generator {
    hn_model *m;
    int max_len;
    long pos;                 /* bytes stepped so far */
    hn_gen_stage *root;
    int depth;                /* stages incl. the innermost: n_stages + 1 */
    float *x, *h, *logits;    /* [d], [d], [vocab] */
    int32_t *tok_dev;
    /* the last step: boundary indicator and probability per chunking stage */
    int b[HN_GEN_MAX_DEPTH];
    float p[HN_GEN_MAX_DEPTH];
    long reached[HN_GEN_MAX_DEPTH]; /* positions that reached depth s (0: every byte) */
} hn_generator;

/* States for sequences of up to max_len bytes (attention caches hold at most their
 * window). */
int hn_generator_init(hn_generator *g, hn_model *m, int max_len, hn_error *err);
void hn_generator_free(hn_generator *g);

/* Feeds one byte; logits (host, [vocab], may be NULL) receives the next-byte logits.
 * After the call g->b[s] tells whether the byte drew a boundary at chunking stage s
 * (reached depth s+1) and g->p[s] its boundary probability (only meaningful for
 * s < the depth it reached). */
int hn_generator_step(hn_generator *g, int byte, float *logits, hn_error *err);

#endif

/* Draws a byte from logits: softmax(logits / temperature) restricted to the smallest
 * set of most likely bytes whose probability reaches top_p (nucleus sampling);
 * temperature <= 0 takes the most likely byte. */
int hn_sample_byte(const float *logits, int n, double temperature, double top_p, hn_rng *rng);
