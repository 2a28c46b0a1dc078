/* The training loop: batches from the corpus, forward/backward, gradient clipping,
 * AdamW with the schedule, periodic validation, metrics into results.db. */
#ifndef HN_TRAINER_H
#define HN_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include <cJSON.h>

#include "dist/dist.h"
#include "plugin/registry.h"

typedef struct hn_train_options {
    const char *db_path;         /* NULL: log.db of the config (where, not what: not
                                  * part of the run's identity) */
    const char *experiment_file; /* recorded in results.db */
    const char *experiment_text;
    const char *git_commit;
    int quiet;                   /* no progress line */
    volatile sig_atomic_t *stop; /* set by a signal handler (to the signal's number, which
                                  * the run records): stop and mark interrupted */
    int resume;                  /* continue from the run's newest good checkpoint (same
                                  * run id in results.db); none yet: start afresh */
    int claim;                   /* (suite) claim the config in results.db first: skip it
                                  * when finished or owned by a live process, continue it
                                  * when interrupted, else start a new run */
    int force;                   /* with claim: a finished config runs again */
    hn_dist *dist;               /* data-parallel training (runtime/dist): this process is
                                  * one rank, training its share of every global batch;
                                  * only rank 0 writes results.db, checkpoints and the
                                  * progress line. NULL: one process */
} hn_train_options;

typedef struct hn_train_result {
    int64_t run_id;
    char name[128];
    char status[16];         /* finished | failed | interrupted; skipped: finished | running */
    int skipped;             /* (claim) nothing trained: the config was finished, or owned
                              * by another live process (owner) */
    char owner[300];
    char note[768];          /* why nothing was trained (--resume of a finished run) */
    long n_params;
    long n_params_active;    /* used per byte (less than n_params with MoE layers) */
    long steps_done;
    long bytes_seen;
    double first_valid_bpb;  /* before training */
    double final_valid_bpb;
    double final_train_bpb;
    double flops_per_byte;   /* forward, Appendix B, at the realised chunk lengths */
    double bpic;             /* validation bytes per innermost chunk (1 for isotropic) */
    double boundary_precision, boundary_recall; /* stage 0 vs word starts (synthetic) */
    double seconds;
    char db_path[1024];         /* the results database it logged into */
    char checkpoint_dir[1024];  /* its checkpoint folder ("" when it writes none) */
    int failed_alone;           /* (data parallel) the failure is this rank's own, the others
                                 * cannot know of it: end them (hn_dist_abort); 0 when every
                                 * rank failed alike (a refused start, a non-finite loss) */
    int quiet_failure;          /* (data parallel) another rank reports this failure */
} hn_train_result;

/* Trains the experiment of a resolved config. Returns HN_ERR (with the run recorded as
 * failed where it got that far) on bad input, a non-finite loss, or an I/O failure; in a
 * data-parallel run also when another rank died (the run recorded as failed with which
 * one) or a stop signal came while the others never arrived (interrupted). */
int hn_train(const cJSON *config, const hn_registry *reg, const hn_train_options *opt,
             hn_train_result *res, hn_error *err);

#endif
