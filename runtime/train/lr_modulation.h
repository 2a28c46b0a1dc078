/* Per-stage learning-rate multipliers (paper Section 2.3.2, Appendix C). Parameter
 * group s is stage s (the outermost is 0; the main network is group S; the embedding
 * and LM head belong to stage 0). */
#ifndef HN_LR_MODULATION_H
#define HN_LR_MODULATION_H

#include <cJSON.h>

#include "core/error.h"

/* Bytes per GPT-2 token on FineWeb-Edu, N^GPT of Eq. 11. */
#define HN_N_GPT 4.6
/* The compression spacelike chunking gives on English (Table 1's BPIC for SpaceByte):
 * its N in Eq. 11, since the rule has no target of its own. */
#define HN_SPACE_RATIO 6.0

/* Fills mult[0..S] from train.lr_multipliers: absent, or an isotropic model (S = 0) ->
 * all 1; a list of S+1 numbers -> those; "auto" -> Eq. 11:
 * lambda^s = sqrt(N_GPT / prod_{i<s} N^i * D^S / D^s), with N^i the target compression
 * of stage i (dc ratio, pool k, HN_SPACE_RATIO for space). */
int hn_lr_multipliers(const cJSON *config, int S, double *mult, hn_error *err);

#endif
