/* How learned chunk boundaries line up with a corpus's known word boundaries (the
 * synthetic corpus marks each word's first byte). A word boundary lies between the
 * separator and the word's first byte, so a chunk that starts at either byte is aligned
 * with it: the model may as well open its chunk at the space as after it.
 *   precision = aligned boundaries / boundaries
 *   recall    = words whose start or preceding separator opens a chunk / words
 *   chance    = aligned positions / positions (the precision of random boundaries) */
#ifndef HN_BOUNDARY_SCORE_H
#define HN_BOUNDARY_SCORE_H

#include <stdint.h>

typedef struct hn_boundary_score {
    long boundaries, aligned_boundaries;
    long words, words_found;
    long positions, aligned_positions;
} hn_boundary_score;

/* Adds one window of len rows: b[t] the stage-0 boundary indicators, word_start[t] the
 * corpus marks for the same bytes (word_start[len] must be readable). Row 0 is a
 * boundary by construction and is left out. */
void hn_boundary_score_add(hn_boundary_score *sc, const int32_t *b, const uint8_t *word_start,
                           int len);
double hn_boundary_precision(const hn_boundary_score *sc);
double hn_boundary_recall(const hn_boundary_score *sc);
double hn_boundary_chance(const hn_boundary_score *sc);

#endif
