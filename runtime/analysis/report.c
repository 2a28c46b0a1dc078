/* `hnet report`: one self-contained HTML page (no external files or scripts) with the
 * comparison table, the crossovers and the figures as PNG data URIs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/figures.h"
#include <cJSON.h>

static void esc(FILE *o, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        default: fputc(*s, o);
        }
    }
}

static void base64(FILE *o, const unsigned char *d, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        fputc(A[v >> 18 & 63], o);
        fputc(A[v >> 12 & 63], o);
        fputc(i + 1 < n ? A[v >> 6 & 63] : '=', o);
        fputc(i + 2 < n ? A[v & 63] : '=', o);
    }
}

static int figure(FILE *o, const hn_figure *f, const char *caption, hn_error *err) {
    unsigned char *png;
    size_t len;
    if (hn_plot_png(&f->plot, &png, &len, err)) return HN_ERR;
    fputs("<figure><img class=\"figure\" width=\"960\" height=\"600\" alt=\"", o);
    esc(o, f->title);
    fputs("\" src=\"data:image/png;base64,", o);
    base64(o, png, len);
    fputs("\"><figcaption>", o);
    esc(o, caption);
    fputs("</figcaption></figure>\n", o);
    free(png);
    return HN_OK;
}

static void num(FILE *o, double v, const char *fmt) {
    if (isnan(v)) fputs("&ndash;", o);
    else fprintf(o, fmt, v);
}

static void table(FILE *o, const hn_cmp_set *set) {
    fputs("<table>\n<thead><tr><th>id</th><th>run</th><th>model</th><th>layout</th><th>corpus</th>"
          "<th>seed</th><th>params</th><th>GFLOPs/byte</th><th>bytes/token</th><th>bytes/chunk</th>"
          "<th>valid BPB</th>"
          "<th>bytes seen</th><th>status</th></tr></thead>\n<tbody>\n", o);
    char b[32];
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        fprintf(o, "<tr><td class=n>%lld</td><td>", (long long)r->id);
        esc(o, r->name);
        fputs("</td><td>", o);
        esc(o, r->model);
        fputs("</td><td><code>", o);
        esc(o, r->layout);
        fputs("</code></td><td class=corpus>", o);
        esc(o, r->corpus);
        hn_si(b, sizeof b, (double)r->params);
        fprintf(o, "</td><td class=n>%lld</td><td class=n>%s</td><td class=n>", (long long)r->seed, b);
        num(o, r->gflops_per_byte, r->gflops_per_byte < 0.01 ? "%.3g" : "%.4f");
        fputs("</td><td class=n>", o);
        num(o, r->bytes_per_token, "%.2f");
        fputs("</td><td class=n>", o);
        num(o, r->bpic, "%.2f");
        fputs("</td><td class=n>", o);
        num(o, r->valid_bpb, "%.4f");
        hn_si(b, sizeof b, (double)r->bytes_seen);
        fprintf(o, "</td><td class=n>%s</td><td>", b);
        esc(o, r->status);
        fputs("</td></tr>\n", o);
    }
    fputs("</tbody></table>\n", o);
}

static void crossovers(FILE *o, const hn_cmp_set *set) {
    hn_crossover *c;
    int n = hn_cmp_crossovers(set, &c);
    fputs("<h2>Crossovers</h2>\n", o);
    if (n == 0) fputs("<p>No validation curve passes another.</p>\n", o);
    else fputs("<ul>\n", o);
    char b[32];
    for (int i = 0; i < n; i++) {
        hn_si(b, sizeof b, c[i].bytes);
        fputs("<li><b>", o);
        esc(o, set->runs[c[i].a].name);
        fputs("</b> passes <b>", o);
        esc(o, set->runs[c[i].b].name);
        fprintf(o, "</b> at %s bytes (BPB %.4f)</li>\n", b, c[i].bpb);
    }
    if (n) fputs("</ul>\n", o);
    free(c);
}

/* The evaluations of the runs' checkpoints (hnet eval), when there are any. */
static void evaluations(FILE *o, const hn_cmp_set *set) {
    int any = 0;
    for (int i = 0; i < set->n; i++) any += set->runs[i].n_evals;
    if (!any) return;
    fputs("<h2>Evaluations</h2>\n<table class=\"evaluations\">\n<thead><tr><th>run</th><th>step</th>"
          "<th>task</th><th>data</th><th>metric</th><th>value</th><th>bytes</th></tr></thead>\n<tbody>\n", o);
    char b[32];
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        for (int j = 0; j < r->n_evals; j++) {
            const hn_cmp_eval *e = &r->evals[j];
            fputs("<tr><td>", o);
            esc(o, r->name);
            if (e->step >= 0) fprintf(o, "</td><td class=n>%lld</td><td>", (long long)e->step);
            else fputs("</td><td class=n>&ndash;</td><td>", o);
            esc(o, e->task);
            fputs("</td><td>", o);
            esc(o, e->data);
            fputs("</td><td>", o);
            esc(o, e->metric);
            hn_si(b, sizeof b, (double)e->bytes);
            fprintf(o, fabs(e->value) >= 1000 ? "</td><td class=n>%.0f</td><td class=n>%s</td></tr>\n"
                                              : "</td><td class=n>%.4f</td><td class=n>%s</td></tr>\n",
                    e->value, b);
        }
    }
    fputs("</tbody></table>\n", o);
}

/* Every run's resolved config, folded, so the page says exactly what was run. */
static void configs(FILE *o, const hn_cmp_set *set) {
    fputs("<h2>Configs</h2>\n", o);
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        cJSON *cfg = r->config_json ? cJSON_Parse(r->config_json) : NULL;
        char *pretty = cfg ? cJSON_Print(cfg) : NULL;
        fprintf(o, "<details class=\"config\" data-run=\"%lld\"><summary>run %lld: <b>", (long long)r->id,
                (long long)r->id);
        esc(o, r->name);
        fputs("</b> (", o);
        esc(o, r->corpus);
        fputs(")</summary><pre>", o);
        esc(o, pretty ? pretty : r->config_json ? r->config_json : "(no config recorded)");
        fputs("</pre></details>\n", o);
        free(pretty);
        cJSON_Delete(cfg);
    }
}

int hn_report_write(const hn_cmp_set *set, const char *title, const char *reference,
                    const char *path, hn_error *err) {
    FILE *o = fopen(path, "w");
    if (!o) return hn_fail(err, "%s: cannot write the report", path);
    char when[64];
    time_t t = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", o);
    esc(o, title);
    fputs("</title>\n<style>body{font-family:\"DejaVu Sans\",Arial,sans-serif;max-width:1200px;"
          "margin:2em auto;color:#222}table{border-collapse:collapse;font-size:14px}"
          "th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}"
          "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}"
          "figure{margin:1.5em 0}img.figure{max-width:100%;height:auto;border:1px solid #eee}"
          "figcaption{color:#555;font-size:14px}p.warning{background:#fff3cd;padding:6px 10px}"
          "details.config pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}</style></head>\n<body>\n<h1>", o);
    esc(o, title);
    fprintf(o, "</h1>\n<p>%d run%s, generated %s by <code>hnet report</code>.</p>\n", set->n,
            set->n == 1 ? "" : "s", when);
    char corpora[512];
    if (hn_cmp_corpora(set, corpora, sizeof corpora) > 1) {
        fputs("<p class=\"warning\"><b>Warning:</b> these runs were trained on different corpora (", o);
        esc(o, corpora);
        fputs("); their BPB are not comparable.</p>\n", o);
    }
    fputs("<h2>Comparison</h2>\n", o);
    table(o, set);
    crossovers(o, set);
    evaluations(o, set);
    fputs("<h2>Figures</h2>\n", o);
    hn_figure f;
    hn_figure_bpb(&f, set, reference, NULL);
    char cap0[300];
    snprintf(cap0, sizeof cap0, "Validation bits per byte against training bytes seen (Figure 3).%s%.120s%s",
             reference ? " Dotted lines: where a run passes " : "", reference ? reference : "",
             reference ? "." : "");
    int rc = figure(o, &f, cap0, err);
    hn_figure_free(&f);
    for (int s = 0; rc == HN_OK && s < hn_figure_max_stages(set); s++) {
        if (hn_figure_compression(&f, set, s, NULL) > 0) {
            char cap[200];
            snprintf(cap, sizeof cap, "Compression L%d/L%d of stage %d (0 = outermost) during "
                                      "training, dashed: its target (Figure 7).", s + 1, s, s);
            rc = figure(o, &f, cap, err);
        }
        hn_figure_free(&f);
    }
    configs(o, set);
    fputs("</body></html>\n", o);
    if (fclose(o) != 0 && rc == HN_OK) rc = hn_fail(err, "%s: write failed", path);
    return rc;
}
