#include "train/boundary_score.h"

void hn_boundary_score_add(hn_boundary_score *sc, const int32_t *b, const uint8_t *word_start,
                           int len) {
    for (int t = 1; t < len; t++) {
        int aligned = word_start[t] || word_start[t + 1];
        sc->positions++;
        sc->aligned_positions += aligned;
        if (b[t]) {
            sc->boundaries++;
            sc->aligned_boundaries += aligned;
        }
        if (word_start[t]) {
            sc->words++;
            sc->words_found += b[t] || b[t - 1];
        }
    }
}

static double ratio(long a, long b) { return b > 0 ? (double)a / (double)b : 0.0; }
double hn_boundary_precision(const hn_boundary_score *sc) { return ratio(sc->aligned_boundaries, sc->boundaries); }
double hn_boundary_recall(const hn_boundary_score *sc) { return ratio(sc->words_found, sc->words); }
double hn_boundary_chance(const hn_boundary_score *sc) { return ratio(sc->aligned_positions, sc->positions); }
