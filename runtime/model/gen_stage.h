/* One stage of the generator (model/generate.h): its networks' inference states, the
 * routing module's, dechunking's and pooling's step states, and the step itself, for
 * n sequences at once. Internal to generate.c. */
#ifndef HN_GEN_STAGE_H
#define HN_GEN_STAGE_H

#include "model/generate.h"

int hn_gen_stage_init(hn_gen_stage **out, const hn_stage *st, const hn_backend *be, int n,
                      int max_len, hn_error *err);
void hn_gen_stage_free(hn_gen_stage *gs, const hn_backend *be);
/* This step's position of each sequence at the stage (host, [n]), -1 for a sequence
 * that does not reach it: the caller fills it before hn_gen_stage_step. */
int32_t *hn_gen_stage_positions(hn_gen_stage *gs);
/* The last step's boundary indicators at chunking stage `stage` below gs (0: gs's own):
 * host [n], 1 where sequence i drew one, 0 where it did not or did not reach it. */
const int32_t *hn_gen_stage_boundaries(const hn_gen_stage *gs, int stage);
/* Clears the indicators of gs and the stages below (before a step). */
void hn_gen_stage_clear(hn_gen_stage *gs);
/* y [n, d] = the stage's output for x [n, d] (device); bytes (host, [n]) the bytes
 * these rows stand for (rule chunkers read them). Counts the sequences that reached
 * each depth into g->reached and records sequence 0's boundaries in g->b, g->p. */
int hn_gen_stage_step(hn_generator *g, hn_gen_stage *gs, int depth, const float *x,
                      const int32_t *bytes, float *y, hn_error *err);

#endif
