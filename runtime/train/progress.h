/* The progress line of long work: step, bytes seen, train BPB, bytes/s, ETA. On a
 * terminal it rewrites one line; otherwise it prints a line per update. */
#ifndef HN_PROGRESS_H
#define HN_PROGRESS_H

typedef struct hn_progress {
    char name[128];
    long total;
    long first;   /* the step this process started at (a resumed run starts later) */
    int quiet, tty;
    double t0;
    double last_valid;
} hn_progress;

void hn_progress_start(hn_progress *p, const char *name, long first_step, long total_steps,
                       int quiet);
void hn_progress_update(hn_progress *p, long step, long bytes, double train_bpb, double bytes_per_s);
void hn_progress_valid(hn_progress *p, long step, double valid_bpb);
void hn_progress_end(hn_progress *p);

/* "1.5K", "23.4M": human sizes for bytes and counts. */
void hn_human_count(char *out, int size, double n);

#endif
