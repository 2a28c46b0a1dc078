#include "train/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hn_human_count(char *out, int size, double n) {
    const char *units[] = {"", "K", "M", "G", "T"};
    int u = 0;
    while (fabs(n) >= 1000 && u < 4) {
        n /= 1000;
        u++;
    }
    if (u == 0) snprintf(out, (size_t)size, "%.0f", n);
    else snprintf(out, (size_t)size, "%.*f%s", n < 10 ? 2 : 1, n, units[u]);
}

void hn_progress_start(hn_progress *p, const char *name, long first, long total, int quiet) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->total = total;
    p->first = first;
    p->quiet = quiet;
    p->out = stderr;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = now();
    p->valid = NAN;
}

void hn_progress_update(hn_progress *p, long step, long bytes, double bpb, double bps,
                        const double *compression, int n_stages) {
    if (p->quiet) return;
    double elapsed = now() - p->t0;
    long done_here = step - p->first; /* steps this process has timed */
    double eta = done_here > 0 ? elapsed * (double)(p->total - step) / (double)done_here : 0;
    char b[32], r[32], comp[32 + 12 * HN_PROGRESS_MAX_STAGES] = "";
    hn_human_count(b, sizeof b, (double)bytes);
    hn_human_count(r, sizeof r, bps);
    for (int s = 0; s < n_stages && s < HN_PROGRESS_MAX_STAGES; s++) {
        size_t used = strlen(comp);
        snprintf(comp + used, sizeof comp - used, "%s%.3f", s ? " " : " | compression ", compression[s]);
    }
    fprintf(p->out, "%s%s step %ld/%ld | bytes %s | train %.3f bpb%s | %sB/s | ETA %ld:%02ld%s",
            p->tty ? "\r\033[K" : "", p->name, step, p->total, b, bpb, comp, r,
            (long)eta / 60, (long)eta % 60, p->tty ? "" : "\n");
    fflush(p->out);
}

/* A line of its own when the value is measured (kept on a terminal), so a progress line
 * never repeats an old one. */
void hn_progress_valid(hn_progress *p, long step, double v) {
    p->valid = v;
    p->valid_step = step;
    if (p->quiet) return;
    fprintf(p->out, "%s%s step %ld/%ld | valid %.3f bpb\n", p->tty ? "\r\033[K" : "", p->name, step,
            p->total, v);
    fflush(p->out);
}

void hn_progress_end(hn_progress *p) {
    if (!p->quiet && p->tty) fprintf(p->out, "\n");
}
