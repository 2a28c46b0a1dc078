/* hn_timeline_print: the analysed timeline as text and Markdown tables, per step. */
#include <string.h>

#include "core/timeline.h"

#define LABEL 96
#define IDLE_STATES 64

static double ms(uint64_t ns, int steps) { return 1e-6 * (double)ns / (steps > 0 ? steps : 1); }
static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0; }

/* the time gaps are measured from: their step's host start, else the first activity */
static uint64_t origin(const hn_timeline *tl, int step) {
    if (tl->n_steps) return tl->steps[step].t0;
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < tl->n_acts; i++)
        if (tl->acts[i].start < t) t = tl->acts[i].start;
    return t;
}

/* the host's state over a gap: "main s1", or "decoder s1 -> main s1" when it changed */
static void gap_label(const hn_timeline *tl, const hn_tl_gap *g, char *out, size_t cap) {
    char a[LABEL], b[LABEL];
    hn_timeline_label(tl, g->start, a, sizeof a);
    hn_timeline_label(tl, g->end, b, sizeof b);
    if (!strcmp(a, b)) snprintf(out, cap, "%s", a);
    else snprintf(out, cap, "%s -> %s", a, b);
}

/* idle time summed by the host's state at each gap's end (what it was doing while the
 * device waited for the next launch) */
static void print_idle_by_state(const hn_timeline *tl, const hn_tl_report *r, uint64_t idle,
                                FILE *out) {
    char label[IDLE_STATES][LABEL];
    uint64_t ns[IDLE_STATES] = {0};
    long count[IDLE_STATES] = {0};
    int n = 0;
    for (size_t i = 0; i < r->n_gaps; i++) {
        char l[LABEL];
        hn_timeline_label(tl, r->gaps[i].end, l, sizeof l);
        int k = 0;
        while (k < n && strcmp(label[k], l)) k++;
        if (k == n) {
            if (n == IDLE_STATES) k = n - 1, snprintf(label[k], LABEL, "(other)");
            else snprintf(label[n++], LABEL, "%s", l);
        }
        ns[k] += r->gaps[i].end - r->gaps[i].start;
        count[k]++;
    }
    for (int i = 1; i < n; i++) /* most idle first; a handful of rows */
        for (int j = i; j > 0 && ns[j] > ns[j - 1]; j--) {
            char t[LABEL];
            memcpy(t, label[j], LABEL), memcpy(label[j], label[j - 1], LABEL), memcpy(label[j - 1], t, LABEL);
            uint64_t x = ns[j];
            ns[j] = ns[j - 1], ns[j - 1] = x;
            long c = count[j];
            count[j] = count[j - 1], count[j - 1] = c;
        }
    fprintf(out, "  idle between activities by the host's state at each gap's end (per step):\n\n");
    fprintf(out, "  | host state | gaps | idle ms | share of the idle |\n  |---|---|---|---|\n");
    for (int i = 0; i < n; i++)
        fprintf(out, "  | %s | %.1f | %.3f | %.1f%% |\n", label[i], (double)count[i] / r->steps,
                ms(ns[i], r->steps), pct(ns[i], idle));
    fprintf(out, "\n");
}

void hn_timeline_print(const hn_timeline *tl, const hn_tl_report *r, int max_gaps,
                       const char *md, FILE *out) {
    int S = r->steps;
    uint64_t gap_ns = r->window_ns - r->busy_ns, host_idle = r->host_ns > r->busy_ns ? r->host_ns - r->busy_ns : 0;
    fprintf(out, "  timeline (CUPTI; %d step%s recorded, nothing synchronised inside %s; per step):\n", S,
            S == 1 ? "" : "s", S == 1 ? "it" : "them");
    fprintf(out, "    host step      %10.3f ms   (synchronised start to the sync that ends it)\n",
            ms(r->host_ns, S));
    fprintf(out, "    device window  %10.3f ms   (first activity's start to the last one's end)\n",
            ms(r->window_ns, S));
    fprintf(out, "    device busy    %10.3f ms   (union of kernels, copies and memsets)\n", ms(r->busy_ns, S));
    fprintf(out, "    device idle    %10.3f ms = %.2f%% of the host step (%.3f ms = %.2f%% of the window, "
                 "between activities)\n",
            ms(host_idle, S), pct(host_idle, r->host_ns), ms(gap_ns, S), pct(gap_ns, r->window_ns));
    if (tl->n_steps)
        fprintf(out, "    host only      %10.3f ms   (step start to the first activity) + %.3f ms (the last "
                     "one's end to the step's end)\n",
                ms(r->lead_ns, S), ms(r->tail_ns, S));
    fprintf(out, "    activities     %10.0f       (%.0f gaps; %zu records outside the recorded steps "
                 "ignored; %ld dropped)\n\n",
            (double)r->activities / (S ? S : 1), (double)r->n_gaps / (S ? S : 1), r->outside, tl->dropped);
    if (r->n_gaps && max_gaps > 0) {
        fprintf(out, "  the %d longest idle gaps:\n\n", max_gaps < (int)r->n_gaps ? max_gaps : (int)r->n_gaps);
        fprintf(out, "  | gap us | at ms from step start | step | before the gap | after the gap | host state |\n  |---|---|---|---|---|---|\n");
        for (size_t i = 0; i < r->n_gaps && (int)i < max_gaps; i++) {
            const hn_tl_gap *g = &r->gaps[i];
            char l[2 * LABEL + 8];
            gap_label(tl, g, l, sizeof l);
            fprintf(out, "  | %.1f | %.3f | %d | %s | %s | %s |\n", 1e-3 * (double)(g->end - g->start),
                    1e-6 * (double)(g->start - origin(tl, g->step)), g->step, tl->names[g->before],
                    tl->names[g->after], l);
        }
        fprintf(out, "\n");
        print_idle_by_state(tl, r, gap_ns, out);
    }
    if (r->n_totals) {
        fprintf(out, "  device time by kernel, copy and memset (per step; share of their summed time):\n\n");
        fprintf(out, "  | name | calls | GPU ms | share |\n  |---|---|---|---|\n");
        for (int i = 0; i < r->n_totals; i++) {
            const hn_tl_total *t = &r->totals[i];
            fprintf(out, "  | %s | %.1f | %.3f | %.1f%% |\n", tl->names[t->name], (double)t->calls / S,
                    ms(t->ns, S), pct(t->ns, r->sum_ns));
        }
        fprintf(out, "\n");
    }
    if (md)
        fprintf(out, "| %s timeline | %.2f | %.2f | %.2f | %.2f%% | %.2f%% | %.0f | %.1f | %s %.1f%% |\n", md,
                ms(r->host_ns, S), ms(r->window_ns, S), ms(r->busy_ns, S), pct(host_idle, r->host_ns),
                pct(gap_ns, r->window_ns), (double)r->n_gaps / (S ? S : 1),
                r->n_gaps ? 1e-3 * (double)(r->gaps[0].end - r->gaps[0].start) : 0.0,
                r->n_totals ? tl->names[r->totals[0].name] : "-",
                r->n_totals ? pct(r->totals[0].ns, r->sum_ns) : 0.0);
}
