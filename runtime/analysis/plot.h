/* Line figures through cairo: curves of several runs against bytes seen (log x), with
 * ticks, grid, axis labels, a legend and optional dotted vertical markers. PNG or SVG.
 * Either axis may be logarithmic (log-log for scaling fits); a series may be points
 * without a line (measurements beside a fitted curve). */
#ifndef HN_ANALYSIS_PLOT_H
#define HN_ANALYSIS_PLOT_H

#include <stddef.h>

#include "core/error.h"

typedef struct hn_plot_series {
    const char *label;
    const double *x, *y;
    int n;
    int dashed; /* e.g. a second stage of the same run */
    int color;  /* palette index; series of one run share it */
    int points_only; /* markers without a connecting line */
} hn_plot_series;

typedef struct hn_plot {
    const char *title, *xlabel, *ylabel;
    int logx;                       /* points with x <= 0 are left out */
    int n_series;
    const hn_plot_series *series;
    int n_vlines;                   /* dotted vertical markers (e.g. crossovers) */
    const double *vlines;
    const char *const *vline_labels; /* NULL, or one label per marker (NULL: none) */
    int n_hlines;                   /* dashed horizontal reference lines (e.g. a target) */
    const double *hlines;
    const char *const *hline_labels;
    int width, height;              /* pixels (PNG) or points (SVG); 0: 960 x 600 */
    int logy;                       /* log y axis; points with y <= 0 are left out */
} hn_plot;

/* Writes PATH as PNG or SVG, chosen by its extension (.png / .svg). */
int hn_plot_write(const hn_plot *p, const char *path, hn_error *err);
/* The PNG as bytes in memory (caller frees *out). */
int hn_plot_png(const hn_plot *p, unsigned char **out, size_t *len, hn_error *err);

#endif
