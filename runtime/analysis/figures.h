/* The standard figures of a set of runs: validation BPB against bytes seen (the
 * paper's Figure 3), the compression L^{s+1}/L^s of each stage s against bytes seen
 * (Figure 7, centre and right) with its target ratio, and any logged metric against
 * bytes seen or steps. Stages are numbered from 0 (the outermost), as in the metric
 * names stage0.compression, stage1.compression, ... */
#ifndef HN_ANALYSIS_FIGURES_H
#define HN_ANALYSIS_FIGURES_H

#include "analysis/compare.h"
#include "analysis/plot.h"
#include "analysis/scaling_runs.h"

#define HN_FIGURE_MAX_LINES 64

typedef struct hn_figure {
    hn_plot plot;
    hn_plot_series *series;
    char (*labels)[192];         /* one per series */
    double *vlines;
    double hlines[HN_FIGURE_MAX_LINES];
    char (*vline_text)[192];
    char hline_text[HN_FIGURE_MAX_LINES][96];
    const char *vline_labels_p[HN_FIGURE_MAX_LINES];
    const char *hline_labels_p[HN_FIGURE_MAX_LINES];
    hn_curve *owned;             /* curves loaded for this figure (hn_figure_metric) */
    int n_owned;
    char title[256], ylabel[96];
} hn_figure;

/* BPB curves; dotted lines, labelled, where a run passes run `reference` (NULL: no
 * lines). title NULL: the default. */
void hn_figure_bpb(hn_figure *f, const hn_cmp_set *set, const char *reference, const char *title);
/* Compression of stage s (0 = outermost) for every run that has it, with a dashed line
 * at each run's target ratio (model.chunker.ratio); returns the number of curves (0: no
 * run of the set chunks that deep). */
int hn_figure_compression(hn_figure *f, const hn_cmp_set *set, int s, const char *title);
/* Metric `name` of `split` for every run that logged it, against bytes seen (log scale)
 * or steps (by_step). A name without a stage that is logged per stage (compression,
 * mean_p, ratio_loss) draws every stage, deeper stages dashed; a compression figure
 * carries the target ratios. Returns the number of curves, or -1 (err set). */
int hn_figure_metric(hn_figure *f, const hn_cmp_set *set, const char *split, const char *name,
                     int by_step, const char *title, hn_error *err);
/* The scaling fits (analysis/fit_figure.c): final validation BPB against training FLOPs,
 * log-log, each family's runs as points and its fitted a * C^b as a line over the
 * compute of every family (and out to crossings within 100x of it), with a dotted line,
 * labelled, at each crossing of two fitted families. Returns the number of families
 * with points (0: nothing to draw). */
int hn_figure_fit(hn_figure *f, const hn_scaling *s, const char *title);
/* The most chunking stages of any run of the set. */
int hn_figure_max_stages(const hn_cmp_set *set);
void hn_figure_free(hn_figure *f);

/* Writes one self-contained HTML file: the comparison table, the crossovers and the
 * figures embedded as PNG data URIs. */
int hn_report_write(const hn_cmp_set *set, const char *title, const char *reference,
                    const char *path, hn_error *err);

#endif
