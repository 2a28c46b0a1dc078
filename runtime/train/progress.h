/* The progress line of long work: step, bytes seen, train BPB, the compression of each
 * chunking stage (chunks per position: a collapse shows here first), bytes/s, ETA; a
 * validation BPB is a line of its own when it is measured, never repeated on later
 * lines. On a terminal the progress line rewrites itself (validation lines stay);
 * otherwise it prints a line per update. */
#ifndef HN_PROGRESS_H
#define HN_PROGRESS_H

#include <stdio.h>

#define HN_PROGRESS_MAX_STAGES 8

typedef struct hn_progress {
    char name[128];
    long total;
    long first;   /* the step this process started at (a resumed run starts later) */
    int quiet, tty;
    double t0;
    double valid;      /* the last validation BPB (NAN: none yet) */
    long valid_step;
    FILE *out;         /* stderr; tests may point it elsewhere */
} hn_progress;

void hn_progress_start(hn_progress *p, const char *name, long first_step, long total_steps,
                       int quiet);
/* compression[s]: L(s+1)/L(s) of stage s at this step, n_stages of them (0: isotropic). */
void hn_progress_update(hn_progress *p, long step, long bytes, double train_bpb, double bytes_per_s,
                        const double *compression, int n_stages);
void hn_progress_valid(hn_progress *p, long step, double valid_bpb);
void hn_progress_end(hn_progress *p);

/* "1.5K", "23.4M": human sizes for bytes and counts. */
void hn_human_count(char *out, int size, double n);

#endif
