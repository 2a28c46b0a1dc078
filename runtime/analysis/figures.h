/* The standard figures of a set of runs: validation BPB against bytes seen (the
 * paper's Figure 3) and the compression L^{s+1}/L^s of each stage against bytes seen
 * (Figure 7, centre and right). */
#ifndef HN_ANALYSIS_FIGURES_H
#define HN_ANALYSIS_FIGURES_H

#include "analysis/compare.h"
#include "analysis/plot.h"

typedef struct hn_figure {
    hn_plot plot;
    hn_plot_series *series;
    double *vlines;
    char title[160], ylabel[96];
} hn_figure;

/* BPB curves; dotted lines where a run passes run `reference` (NULL: no lines). */
void hn_figure_bpb(hn_figure *f, const hn_cmp_set *set, const char *reference);
/* Compression of stage s (0 = outermost) for every run that has it; returns the number
 * of curves (0: no run of the set chunks that deep). */
int hn_figure_compression(hn_figure *f, const hn_cmp_set *set, int s);
/* The most chunking stages of any run of the set. */
int hn_figure_max_stages(const hn_cmp_set *set);
void hn_figure_free(hn_figure *f);

/* Writes one self-contained HTML file: the comparison table, the crossovers and the
 * figures embedded as PNG data URIs. */
int hn_report_write(const hn_cmp_set *set, const char *title, const char *reference,
                    const char *path, hn_error *err);

#endif
