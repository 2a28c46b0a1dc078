/* The processes that share one training batch (data-parallel training, runtime/dist).
 * Per-byte losses are means each process takes over its own bytes and the trainer
 * weights by share; the ratio loss (Eq. 10) is not: it multiplies two batch means, F and
 * G, so each stage sums their counts over the group before using them, and the loss and
 * its gradient are the ones of the whole batch. */
#ifndef HN_BATCH_GROUP_H
#define HN_BATCH_GROUP_H

#include "core/error.h"

typedef struct hn_batch_group {
    /* v[i] = the sum of v[i] over the group, in place, called by every process in the same
     * order (a collective) */
    int (*sum)(void *ctx, double *v, int n, hn_error *err);
    void *ctx;
    double share; /* this process's bytes / the whole batch's bytes */
} hn_batch_group;

#endif
