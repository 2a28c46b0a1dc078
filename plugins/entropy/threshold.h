/* The boundary rule of entropy patching (BLT, Pagnoni et al. 2024, Section 2.3) and the
 * calibration of its threshold to a target compression.
 *
 * Row t of a sequence scores s_t from the entropies e_t of the byte after it:
 *   global:   s_t = e_t             (BLT's global threshold: H(x_t) > theta_g)
 *   relative: s_t = e_t - e_{t-1}   (BLT's approximate monotonic constraint:
 *                                    H(x_t) - H(x_{t-1}) > theta_r)
 * and opens a chunk where s_t > theta; every sequence start opens one regardless. */
#ifndef HN_ENTROPY_THRESHOLD_H
#define HN_ENTROPY_THRESHOLD_H

#include <stdint.h>

typedef enum { ENTROPY_GLOBAL = 0, ENTROPY_RELATIVE = 1 } entropy_rule;

/* s (host, [T]) from e for the packed sequences (offsets, n_seqs); s at a sequence
 * start is 0 and never consulted. */
void entropy_scores(entropy_rule rule, const float *e, const int32_t *offsets, int n_seqs, float *s);

/* The threshold that opens, together with the n_seqs sequence starts, the chunk count
 * closest to T / ratio: midway between the K-th and (K+1)-th largest score of the rows
 * that are not sequence starts, so exactly K of them exceed it when scores do not tie.
 * work: host scratch of T floats. */
float entropy_calibrate(const float *s, const int32_t *offsets, int n_seqs, double ratio, float *work);

#endif
