/* Scaling fits over the runs of results.db (`hnet compare --fit`, `hnet plot --fit`):
 * one point per finished run, (C, L) = (training FLOPs, final validation BPB), grouped
 * into families, each family fitted with loss = a * C^b (scaling_fit.h), and every pair
 * of fitted families crossed.
 *
 *   C (training FLOPs) = 3 x the forward FLOPs per byte the trainer logged
 *     (train/gflops_per_byte, Appendix B at the realised chunk lengths, averaged over
 *     each logging interval) integrated over the bytes of each interval; the 3 is a
 *     training step's forward plus backward, as results/README.md states.
 *   L = the run's final validation BPB (final_bpb.valid_bpb).
 *   family = the experiment's `family` key when it has one; else the model kind (with
 *     its chunker, e.g. hnet/dc) and the layout with its counts dropped, e.g.
 *     "hnet/dc m [T] m", "isotropic T": the same architecture at any depth or width.
 *
 * Runs that are not finished, or lack a validation BPB or FLOPs, are left out and
 * listed with the reason; a family with fewer than two runs is listed, not fitted. */
#ifndef HN_ANALYSIS_SCALING_RUNS_H
#define HN_ANALYSIS_SCALING_RUNS_H

#include <stdio.h>

#include "analysis/compare.h"
#include "analysis/scaling_fit.h"

typedef struct hn_scaling_family {
    char name[160];
    int n;             /* runs (points) */
    int *runs;         /* indices into the set, or -1 for points added without a run */
    double *c, *loss;  /* training FLOPs, final validation BPB */
    hn_power_fit fit;
} hn_scaling_family;

typedef struct hn_scaling_skip {
    int run;           /* index into the set */
    char why[96];
} hn_scaling_skip;

typedef struct hn_scaling {
    int n_families;
    hn_scaling_family *families; /* in the order of their first run */
    int n_skipped;
    hn_scaling_skip *skipped;
} hn_scaling;

/* The family of a run (see above) into out. */
void hn_scaling_family_of(const hn_cmp_run *r, char *out, size_t size);

/* Training FLOPs of a run from its gflops_per_byte curve (bytes seen, GFLOPs/byte) and
 * its final bytes seen; NAN when the curve is empty. */
double hn_training_flops(const hn_curve *gflops_per_byte, double bytes_seen);

/* Points of the set's runs (loading each run's FLOPs curve from set->db), grouped and
 * fitted. */
int hn_scaling_from_set(const hn_cmp_set *set, hn_scaling *out, hn_error *err);

/* Building by hand (tests, other sources): add points, then fit every family. */
void hn_scaling_add(hn_scaling *s, const char *family, int run, double c, double loss);
void hn_scaling_fit_all(hn_scaling *s);
void hn_scaling_free(hn_scaling *s);

/* The crossing of families i and j (both fitted, or where == HN_CROSS_NONE). */
hn_fit_crossing hn_scaling_cross(const hn_scaling *s, int i, int j);

/* The fits (a, b with standard errors, the compute range, or why a family is not
 * fitted), the runs left out, and the crossing of every pair of fitted families, saying
 * whether it lies within the compute both were observed at. CSV: the fits table only. */
void hn_scaling_print(const hn_cmp_set *set, const hn_scaling *s, hn_table_format fmt, FILE *out);

#endif
