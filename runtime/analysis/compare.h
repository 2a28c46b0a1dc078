/* Comparing runs of results.db: the paper's Table 2 shape (model, layout, params,
 * GFLOPs/byte, bytes per innermost chunk, validation BPB, bytes seen) and the
 * crossover points where one validation curve passes another (Figure 3's dotted
 * lines). Output as aligned text, CSV or Markdown. */
#ifndef HN_ANALYSIS_COMPARE_H
#define HN_ANALYSIS_COMPARE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

typedef struct hn_curve {
    char name[64]; /* metric, e.g. "bpb" or "stage0.compression" */
    int n;
    double *x, *y; /* bytes seen, value (points with a NULL value are left out) */
} hn_curve;

/* One result of `hnet eval` of a run's checkpoint (the evaluations table): the newest
 * value of each (task, data, step, metric). */
typedef struct hn_cmp_eval {
    char task[48], data[256], metric[48];
    int64_t step;  /* -1: unknown */
    double value;
    int64_t bytes; /* bytes (or items) evaluated */
} hn_cmp_eval;

typedef struct hn_cmp_run {
    int64_t id;
    char name[128], status[16], model[48], layout[192];
    char corpus[128];       /* what it trained on (hn_config_corpus) */
    char seed_group[17];    /* equal for runs that differ only by seed (hn_config_seed_group) */
    int64_t seed;
    char *config_json;      /* the resolved config as stored */
    int64_t params, bytes_seen, steps;
    double gflops_per_byte; /* last logged train/gflops_per_byte (NAN if none) */
    double bpic;            /* last valid/bpic (NAN if none) */
    double bytes_per_token; /* 1 for byte-level models; a token-level model's (data.tokenizer)
                             * train/bytes_per_token (NAN if not logged) */
    double valid_bpb;       /* final valid/bpb (NAN if none) */
    hn_curve valid;         /* valid/bpb against bytes */
    int n_stages;
    hn_curve *compression;  /* train/stageS.compression against bytes, S = 0..n_stages-1 */
    int n_evals;
    hn_cmp_eval *evals;     /* its evaluations, by task, data, step, metric */
} hn_cmp_run;

typedef struct hn_cmp_set {
    int n;
    hn_cmp_run *runs;
    char db[1024]; /* the results database they came from */
} hn_cmp_set;

typedef struct hn_crossover {
    int a, b;      /* indices into the set: run a's BPB goes below run b's here */
    double bytes;  /* interpolated in log(bytes) */
    double bpb;
} hn_crossover;

typedef enum { HN_FMT_TEXT, HN_FMT_CSV, HN_FMT_MARKDOWN } hn_table_format;

/* Loads the runs with the given ids, in that order. */
int hn_cmp_load_ids(const char *db_path, const int64_t *ids, int n, hn_cmp_set *out,
                     hn_error *err);
/* Loads the runs matching an SQL condition over the runs table (its columns: id, name,
 * status, config_json, ...), e.g. "name LIKE 'hnet-%'". With latest_per_name, only the
 * newest run of each name is kept (the newest finished one where there is one). */
int hn_cmp_load_where(const char *db_path, const char *where, int latest_per_name,
                      hn_cmp_set *out, hn_error *err);
void hn_cmp_free(hn_cmp_set *set);

/* Every point where one validation curve passes another, over the bytes both cover;
 * caller frees *out. Returns the count. */
int hn_cmp_crossovers(const hn_cmp_set *set, hn_crossover **out);
/* The same for two curves (exposed for tests). */
int hn_curve_crossings(const hn_curve *a, const hn_curve *b, hn_crossover *out, int max);

/* The table; runs that differ only by seed are one row (valid BPB as mean ± sd over
 * them, `seeds` their count) unless per_run. */
void hn_cmp_print_table(const hn_cmp_set *set, hn_table_format fmt, int per_run, FILE *out);

/* The evaluations of the set's runs (hn_cmp_run.evals), one row each: run, step, task,
 * data, metric, value. Returns how many rows (0: prints nothing). */
int hn_cmp_print_evaluations(const hn_cmp_set *set, hn_table_format fmt, FILE *out);

/* The distinct corpora of the set, comma-separated, into out; returns how many. */
int hn_cmp_corpora(const hn_cmp_set *set, char *out, size_t size);
/* When the runs were trained on more than one corpus, prints one warning line (prefix
 * first, e.g. "hnet compare: ") saying BPB across them is not comparable. Returns 1 if
 * it warned. */
int hn_cmp_warn_corpora(const hn_cmp_set *set, const char *prefix, FILE *out);

/* Loads one curve of a run: metric NAME of SPLIT against bytes seen, or against the
 * step when by_step. */
int hn_cmp_load_metric(const char *db_path, int64_t run_id, const char *split, const char *name,
                       int by_step, hn_curve *out, hn_error *err);
/* The split that holds metric NAME for any of the runs ("valid" before "train"), into
 * split[16]; 0 when no run logged it. */
int hn_cmp_metric_split(const hn_cmp_set *set, const char *name, char split[16], hn_error *err);
/* The metrics the runs logged, as "split/name" (per-stage ones without the stage:
 * train/compression), comma-separated into out; returns how many. */
int hn_cmp_metric_names(const hn_cmp_set *set, char *out, size_t size);
void hn_curve_free(hn_curve *c);
void hn_cmp_print_crossovers(const hn_cmp_set *set, const hn_crossover *c, int n,
                             hn_table_format fmt, FILE *out);

/* "1.2M", "3.4G": a count with an SI suffix. */
void hn_si(char *out, size_t size, double v);

#endif
