/* Generation with H-Net's inference procedure (paper Section 2.4): per byte, step the
 * encoder, step the routing module, step the main network only where a boundary was
 * drawn, step the dechunk EMA (or hold the last chunk's output between boundaries),
 * add the residual projection and step the decoder -- recursively, so an inner stage
 * advances only on its outer stage's boundaries. Every sublayer advances through its
 * layer plugin's step() with its own inference state (attention: a KV cache bounded
 * by its window; Mamba-2: conv and SSM state); the chunkers through their step().
 *
 * n sequences step together, on any backend with the generation ops (cpu, cuda): all
 * state lives on the model's device. A stage steps its networks for all n sequences
 * when any of them reached it, the others at position -1 (not advancing; see the layer
 * ABI). Per step the host reads back only each chunking stage's n boundary
 * probabilities (the decisions that pick which sequences advance the inner stage) and,
 * when sampling, the n drawn bytes. */
#ifndef HN_GENERATE_H
#define HN_GENERATE_H

#include "core/rng.h"
#include "model/model.h"

#define HN_GEN_MAX_DEPTH 16

typedef struct hn_gen_stage hn_gen_stage;

typedef struct hn_generator {
    hn_model *m;
    int max_len;
    int n;                    /* sequences stepped together */
    long pos;                 /* bytes stepped so far, per sequence */
    hn_gen_stage *root;
    int depth;                /* stages incl. the innermost: n_stages + 1 */
    float *x, *h, *logits;    /* device: [n, d], [n, d], [n, vocab] */
    int32_t *tok_dev, *drawn_dev; /* device [n] */
    double *u, *u_dev;        /* host and device [n]: the sampling uniforms */
    float *logits_host;       /* [n, vocab], only for vocabularies sampled on the host */
    /* the last step of sequence 0: boundary indicator and probability per chunking
     * stage */
    int b[HN_GEN_MAX_DEPTH];
    float p[HN_GEN_MAX_DEPTH];
    long reached[HN_GEN_MAX_DEPTH]; /* positions that reached depth s, summed over the
                                     * sequences (0: every byte) */
} hn_generator;

/* States for one sequence of up to max_len bytes (attention caches hold at most their
 * window). */
int hn_generator_init(hn_generator *g, hn_model *m, int max_len, hn_error *err);
/* States for n sequences of up to max_len bytes each, on the model's backend. */
int hn_generator_init_batch(hn_generator *g, hn_model *m, int n, int max_len, hn_error *err);
void hn_generator_free(hn_generator *g);

/* Feeds one byte; logits (host, [vocab], may be NULL) receives the next-byte logits.
 * After the call g->b[s] tells whether the byte drew a boundary at chunking stage s
 * (reached depth s+1) and g->p[s] its boundary probability (only meaningful for
 * s < the depth it reached). */
int hn_generator_step(hn_generator *g, int byte, float *logits, hn_error *err);
/* Feeds one byte to each of the n sequences (bytes: host [n]); logits (host,
 * [n, vocab], may be NULL: they stay on the device) receives the next-byte logits. */
int hn_generator_step_batch(hn_generator *g, const int32_t *bytes, float *logits,
                            hn_error *err);
/* The last step's boundary indicators at chunking stage s (0 <= s < depth - 1): host
 * [n], 1 where sequence i drew a boundary there, 0 where it did not or did not reach
 * the stage; NULL for another s. Valid until the next step. */
const int32_t *hn_generator_boundaries(const hn_generator *g, int stage);
/* Draws the next byte of each sequence from the last step's logits (the backend's
 * sample op; uniforms from rng, one per sequence in order when temperature > 0) into
 * out (host, [n]): the same bytes on every backend for the same logits and seed. */
int hn_generator_sample(hn_generator *g, double temperature, double top_p, hn_rng *rng,
                        int32_t *out, hn_error *err);

/* Draws a byte from logits: softmax(logits / temperature) restricted to the smallest
 * set of most likely bytes whose probability reaches top_p (nucleus sampling);
 * temperature <= 0 takes the most likely byte. */
int hn_sample_byte(const float *logits, int n, double temperature, double top_p, hn_rng *rng);

#endif
