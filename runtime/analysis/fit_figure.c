/* The scaling-fit figure: points and fitted power laws on log-log axes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/figures.h"

#define FIT_LINE_POINTS 64

/* The compute the fitted lines span: every family's points, widened to take in the
 * crossings that lie within 100x of them (further ones would squash the data). */
static void compute_span(const hn_scaling *s, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < s->n_families; i++)
        for (int k = 0; k < s->families[i].n; k++) {
            double c = s->families[i].c[k];
            if (c > 0 && isfinite(c)) *lo = fmin(*lo, c), *hi = fmax(*hi, c);
        }
    double lo0 = *lo, hi0 = *hi;
    for (int i = 0; i < s->n_families; i++)
        for (int j = i + 1; j < s->n_families; j++) {
            hn_fit_crossing x = hn_scaling_cross(s, i, j);
            if (x.where == HN_CROSS_NONE || !(x.c >= lo0 / 100 && x.c <= hi0 * 100)) continue;
            *lo = fmin(*lo, x.c), *hi = fmax(*hi, x.c);
        }
}

int hn_figure_fit(hn_figure *f, const hn_scaling *s, const char *title) {
    memset(f, 0, sizeof *f);
    int cap = 2 * s->n_families + 1, pairs = s->n_families * (s->n_families - 1) / 2 + 1;
    f->series = calloc((size_t)cap, sizeof *f->series);
    f->labels = calloc((size_t)cap, sizeof *f->labels);
    f->owned = calloc((size_t)cap, sizeof *f->owned);
    f->vlines = calloc((size_t)pairs, sizeof *f->vlines);
    f->vline_text = calloc((size_t)pairs, sizeof *f->vline_text);
    if (!f->series || !f->labels || !f->owned || !f->vlines || !f->vline_text) {
        hn_figure_free(f);
        return 0;
    }
    double lo, hi;
    compute_span(s, &lo, &hi);
    int k = 0, with_points = 0;
    for (int i = 0; i < s->n_families; i++) {
        const hn_scaling_family *fam = &s->families[i];
        if (fam->n == 0) continue;
        with_points++;
        snprintf(f->labels[k], sizeof f->labels[k], "%.150s (%d run%s)", fam->name, fam->n,
                 fam->n == 1 ? "" : "s");
        f->series[k] = (hn_plot_series){.label = f->labels[k], .x = fam->c, .y = fam->loss,
                                        .n = fam->n, .color = i, .points_only = 1};
        k++;
        if (fam->fit.status != HN_FIT_OK || !(hi > lo)) continue;
        hn_curve *c = &f->owned[f->n_owned++];
        c->x = malloc(FIT_LINE_POINTS * sizeof *c->x);
        c->y = malloc(FIT_LINE_POINTS * sizeof *c->y);
        if (!c->x || !c->y) continue;
        c->n = FIT_LINE_POINTS;
        for (int q = 0; q < FIT_LINE_POINTS; q++) {
            c->x[q] = exp(log(lo) + (log(hi) - log(lo)) * q / (FIT_LINE_POINTS - 1));
            c->y[q] = hn_power_fit_at(&fam->fit, c->x[q]);
        }
        snprintf(f->labels[k], sizeof f->labels[k], "fit: %.4g * C^%.4f", fam->fit.a, fam->fit.b);
        f->series[k] = (hn_plot_series){.label = f->labels[k], .x = c->x, .y = c->y, .n = c->n,
                                        .color = i};
        k++;
    }
    int nv = 0;
    for (int i = 0; i < s->n_families; i++)
        for (int j = i + 1; j < s->n_families && nv < HN_FIGURE_MAX_LINES; j++) {
            hn_fit_crossing x = hn_scaling_cross(s, i, j);
            if (x.where == HN_CROSS_NONE || !(x.c >= lo && x.c <= hi)) continue;
            snprintf(f->vline_text[nv], sizeof f->vline_text[nv], "%.80s x %.80s%s",
                     s->families[i].name, s->families[j].name,
                     x.where == HN_CROSS_WITHIN ? "" : " (extrapolated)");
            f->vline_labels_p[nv] = f->vline_text[nv];
            f->vlines[nv++] = x.c;
        }
    snprintf(f->title, sizeof f->title, "%s", title ? title : "Scaling: final validation BPB against training FLOPs");
    f->plot = (hn_plot){.title = f->title, .xlabel = "training FLOPs C (log scale)",
                        .ylabel = "final validation BPB (log scale)", .logx = 1, .logy = 1,
                        .n_series = k, .series = f->series, .n_vlines = nv, .vlines = f->vlines,
                        .vline_labels = f->vline_labels_p};
    return with_points;
}
