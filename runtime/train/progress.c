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
    p->tty = isatty(STDERR_FILENO);
    p->t0 = now();
    p->last_valid = NAN;
}

void hn_progress_update(hn_progress *p, long step, long bytes, double bpb, double bps) {
    if (p->quiet) return;
    double elapsed = now() - p->t0;
    long done_here = step - p->first; /* steps this process has timed */
    double eta = done_here > 0 ? elapsed * (double)(p->total - step) / (double)done_here : 0;
    char b[32], r[32], valid[48] = "";
    hn_human_count(b, sizeof b, (double)bytes);
    hn_human_count(r, sizeof r, bps);
    if (!isnan(p->last_valid)) snprintf(valid, sizeof valid, " | valid %.3f", p->last_valid);
    fprintf(stderr, "%s%s step %ld/%ld | bytes %s | train %.3f bpb%s | %sB/s | ETA %ld:%02ld%s",
            p->tty ? "\r\033[K" : "", p->name, step, p->total, b, bpb, valid, r,
            (long)eta / 60, (long)eta % 60, p->tty ? "" : "\n");
    fflush(stderr);
}

void hn_progress_valid(hn_progress *p, long step, double v) { p->last_valid = v; (void)step; }

void hn_progress_end(hn_progress *p) {
    if (!p->quiet && p->tty) fprintf(stderr, "\n");
}
