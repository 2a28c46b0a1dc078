/* Building the standard figures from loaded runs. */
#include <stdlib.h>
#include <string.h>

#include "analysis/figures.h"

void hn_figure_bpb(hn_figure *f, const hn_cmp_set *set, const char *reference) {
    memset(f, 0, sizeof *f);
    int nv = 0;
    f->series = calloc((size_t)(set->n ? set->n : 1), sizeof *f->series);
    for (int i = 0; i < set->n; i++)
        f->series[i] = (hn_plot_series){.label = set->runs[i].name, .x = set->runs[i].valid.x,
                                        .y = set->runs[i].valid.y, .n = set->runs[i].valid.n,
                                        .color = i};
    if (reference) {
        hn_crossover *c;
        int n = hn_cmp_crossovers(set, &c);
        f->vlines = calloc((size_t)(n ? n : 1), sizeof *f->vlines);
        for (int i = 0; i < n; i++)
            if (!strcmp(set->runs[c[i].b].name, reference)) f->vlines[nv++] = c[i].bytes;
        free(c);
    }
    snprintf(f->title, sizeof f->title, "Validation bits per byte");
    f->plot = (hn_plot){.title = f->title, .xlabel = "bytes seen (log scale)",
                        .ylabel = "validation BPB", .logx = 1, .n_series = set->n,
                        .series = f->series, .n_vlines = nv, .vlines = f->vlines};
}

int hn_figure_max_stages(const hn_cmp_set *set) {
    int m = 0;
    for (int i = 0; i < set->n; i++)
        if (set->runs[i].n_stages > m) m = set->runs[i].n_stages;
    return m;
}

int hn_figure_compression(hn_figure *f, const hn_cmp_set *set, int s) {
    memset(f, 0, sizeof *f);
    f->series = calloc((size_t)(set->n ? set->n : 1), sizeof *f->series);
    int k = 0;
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        if (s >= r->n_stages || r->compression[s].n == 0) continue;
        f->series[k++] = (hn_plot_series){.label = r->name, .x = r->compression[s].x,
                                          .y = r->compression[s].y, .n = r->compression[s].n,
                                          .color = i};
    }
    snprintf(f->title, sizeof f->title, "Compression of stage %d: L%d/L%d", s + 1, s + 1, s);
    snprintf(f->ylabel, sizeof f->ylabel, "compression ratio L%d/L%d", s + 1, s);
    f->plot = (hn_plot){.title = f->title, .xlabel = "bytes seen (log scale)", .ylabel = f->ylabel,
                        .logx = 1, .n_series = k, .series = f->series};
    return k;
}

void hn_figure_free(hn_figure *f) {
    free(f->series);
    free(f->vlines);
    memset(f, 0, sizeof *f);
}
