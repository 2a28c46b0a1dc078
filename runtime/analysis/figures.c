/* Building the standard figures from loaded runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "analysis/figures.h"

static void alloc_series(hn_figure *f, int n) {
    memset(f, 0, sizeof *f);
    f->series = calloc((size_t)(n > 0 ? n : 1), sizeof *f->series);
    f->labels = calloc((size_t)(n > 0 ? n : 1), sizeof *f->labels);
}

/* "name", or "name (corpus)" when the set mixes corpora, so every curve says what it
 * was trained on. */
static const char *run_label(hn_figure *f, int k, const hn_cmp_set *set, const hn_cmp_run *r,
                             const char *suffix) {
    char list[256];
    int mixed = hn_cmp_corpora(set, list, sizeof list) > 1;
    snprintf(f->labels[k], sizeof f->labels[k], "%.100s%.24s%s%.60s%s", r->name, suffix ? suffix : "",
             mixed ? " (" : "", mixed ? r->corpus : "", mixed ? ")" : "");
    return f->labels[k];
}

/* " (corpus X)" for a title when every run shares one corpus; " (several corpora)" when not. */
static void corpus_note(const hn_cmp_set *set, char *out, size_t size) {
    char list[256];
    int n = hn_cmp_corpora(set, list, sizeof list);
    if (n == 1) snprintf(out, size, " on %s", list);
    else if (n > 1) snprintf(out, size, " (several corpora: BPB not comparable)");
    else out[0] = 0;
}

static void set_title(hn_figure *f, const hn_cmp_set *set, const char *title, const char *dflt) {
    char note[300];
    corpus_note(set, note, sizeof note);
    if (title) snprintf(f->title, sizeof f->title, "%s", title);
    else snprintf(f->title, sizeof f->title, "%s%s", dflt, note);
}

void hn_figure_bpb(hn_figure *f, const hn_cmp_set *set, const char *reference, const char *title) {
    alloc_series(f, set->n);
    int nv = 0;
    for (int i = 0; i < set->n; i++)
        f->series[i] = (hn_plot_series){.label = run_label(f, i, set, &set->runs[i], NULL),
                                        .x = set->runs[i].valid.x, .y = set->runs[i].valid.y,
                                        .n = set->runs[i].valid.n, .color = i};
    if (reference) {
        hn_crossover *c;
        int n = hn_cmp_crossovers(set, &c);
        f->vlines = calloc((size_t)(n ? n : 1), sizeof *f->vlines);
        f->vline_text = calloc((size_t)(n ? n : 1), sizeof *f->vline_text);
        for (int i = 0; i < n && nv < HN_FIGURE_MAX_LINES; i++)
            if (!strcmp(set->runs[c[i].b].name, reference)) {
                snprintf(f->vline_text[nv], sizeof f->vline_text[nv], "%s passes %s",
                         set->runs[c[i].a].name, reference);
                f->vline_labels_p[nv] = f->vline_text[nv];
                f->vlines[nv++] = c[i].bytes;
            }
        free(c);
    }
    set_title(f, set, title, "Validation bits per byte");
    f->plot = (hn_plot){.title = f->title, .xlabel = "bytes seen (log scale)",
                        .ylabel = "validation BPB", .logx = 1, .n_series = set->n,
                        .series = f->series, .n_vlines = nv, .vlines = f->vlines,
                        .vline_labels = f->vline_labels_p};
}

int hn_figure_max_stages(const hn_cmp_set *set) {
    int m = 0;
    for (int i = 0; i < set->n; i++)
        if (set->runs[i].n_stages > m) m = set->runs[i].n_stages;
    return m;
}

/* The compression a run's chunker aims at in stage s (1/N for dc's ratio N, 1/k for
 * pool), NAN when it has none; *what says which. */
static double target_compression(const hn_cmp_run *r, int s, char *what, size_t size) {
    cJSON *cfg = r->config_json ? cJSON_Parse(r->config_json) : NULL;
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "model"), "chunker");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ck, "kind");
    const char *key = cJSON_IsString(kind) && !strcmp(kind->valuestring, "pool") ? "k" : "ratio";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, s);
    double t = NAN;
    if (cJSON_IsNumber(v) && v->valuedouble >= 1) {
        t = 1.0 / v->valuedouble;
        snprintf(what, size, "target 1/%g (%s %s = %g)", v->valuedouble,
                 cJSON_IsString(kind) ? kind->valuestring : "chunker", key, v->valuedouble);
    }
    cJSON_Delete(cfg);
    return t;
}

/* A dashed line at every distinct target of stage s among the runs. */
static void add_targets(hn_figure *f, const hn_cmp_set *set, int s) {
    int n = f->plot.n_hlines;
    for (int i = 0; i < set->n && n < HN_FIGURE_MAX_LINES; i++) {
        char what[64];
        double t = target_compression(&set->runs[i], s, what, sizeof what);
        int seen = isnan(t);
        for (int k = 0; k < n && !seen; k++) seen = fabs(f->hlines[k] - t) < 1e-12;
        if (seen) continue;
        f->hlines[n] = t;
        if (hn_figure_max_stages(set) > 1)
            snprintf(f->hline_text[n], sizeof f->hline_text[n], "stage %d %s", s, what);
        else
            snprintf(f->hline_text[n], sizeof f->hline_text[n], "%s", what);
        f->hline_labels_p[n] = f->hline_text[n];
        n++;
    }
    f->plot.n_hlines = n;
    f->plot.hlines = f->hlines;
    f->plot.hline_labels = f->hline_labels_p;
}

int hn_figure_compression(hn_figure *f, const hn_cmp_set *set, int s, const char *title) {
    alloc_series(f, set->n);
    int k = 0;
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        if (s >= r->n_stages || r->compression[s].n == 0) continue;
        f->series[k] = (hn_plot_series){.label = run_label(f, k, set, r, NULL), .x = r->compression[s].x,
                                        .y = r->compression[s].y, .n = r->compression[s].n, .color = i};
        k++;
    }
    char dflt[96];
    snprintf(dflt, sizeof dflt, "Compression of stage %d: L%d/L%d", s, s + 1, s);
    set_title(f, set, title, dflt);
    snprintf(f->ylabel, sizeof f->ylabel, "compression L%d/L%d (chunks per position)", s + 1, s);
    f->plot = (hn_plot){.title = f->title, .xlabel = "bytes seen (log scale)", .ylabel = f->ylabel,
                        .logx = 1, .n_series = k, .series = f->series};
    add_targets(f, set, s);
    return k;
}

static int per_stage_metric(const char *name) {
    return !strcmp(name, "compression") || !strcmp(name, "mean_p") || !strcmp(name, "ratio_loss");
}

int hn_figure_metric(hn_figure *f, const hn_cmp_set *set, const char *split, const char *name,
                     int by_step, const char *title, hn_error *err) {
    int stages = per_stage_metric(name) ? hn_figure_max_stages(set) : 1;
    int cap = set->n * (stages > 0 ? stages : 1);
    alloc_series(f, cap);
    f->owned = calloc((size_t)(cap ? cap : 1), sizeof *f->owned);
    int k = 0;
    for (int i = 0; i < set->n; i++)
        for (int s = 0; s < stages; s++) {
            char metric[96], suffix[32] = "";
            if (per_stage_metric(name)) {
                if (s >= set->runs[i].n_stages) continue;
                snprintf(metric, sizeof metric, "stage%d.%s", s, name);
                if (stages > 1) snprintf(suffix, sizeof suffix, " stage %d", s);
            } else {
                snprintf(metric, sizeof metric, "%s", name);
            }
            hn_curve *c = &f->owned[f->n_owned];
            if (hn_cmp_load_metric(set->db, set->runs[i].id, split, metric, by_step, c, err)) {
                hn_figure_free(f);
                return -1;
            }
            f->n_owned++;
            if (c->n == 0) continue;
            f->series[k] = (hn_plot_series){.label = run_label(f, k, set, &set->runs[i], suffix),
                                            .x = c->x, .y = c->y, .n = c->n, .dashed = s > 0,
                                            .color = i};
            k++;
        }
    char dflt[200];
    snprintf(dflt, sizeof dflt, "%s %s against %s", split, name, by_step ? "steps" : "bytes seen");
    set_title(f, set, title, dflt);
    snprintf(f->ylabel, sizeof f->ylabel, "%s %s", split, name);
    f->plot = (hn_plot){.title = f->title, .xlabel = by_step ? "step" : "bytes seen (log scale)",
                        .ylabel = f->ylabel, .logx = !by_step, .n_series = k, .series = f->series};
    const char *dot = strrchr(name, '.');
    if (!strcmp(dot ? dot + 1 : name, "compression")) {
        int s0 = 0, s1 = stages;
        if (dot && sscanf(name, "stage%d.", &s0) == 1) s1 = s0 + 1;
        for (int s = s0; s < s1; s++) add_targets(f, set, s);
    }
    return k;
}

void hn_figure_free(hn_figure *f) {
    free(f->series);
    free(f->labels);
    free(f->vlines);
    free(f->vline_text);
    for (int i = 0; i < f->n_owned; i++) hn_curve_free(&f->owned[i]);
    free(f->owned);
    memset(f, 0, sizeof *f);
}
