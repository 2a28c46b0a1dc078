/* Which gradient buckets are ready, as the backward reports parameters final: the
 * counting behind the all-reduce overlapped with the backward (train/grad_overlap.h).
 *
 * The buckets are the fixed slices of the flat gradient array that the unoverlapped
 * all-reduce takes (hn_dist_bucket_floats), so both sum the same floats in the same
 * groups. Each bucket counts the entries overlapping it; an entry reported final lowers
 * the counts of its buckets, and a bucket whose count reaches zero is ready: appended to
 * `order`. Every rank runs the same backward, so every rank readies the buckets in the
 * same order (what MPI and NCCL need of collectives on one communicator). */
#ifndef HN_DIST_BUCKETS_H
#define HN_DIST_BUCKETS_H

#include <stddef.h>

#include "core/error.h"

typedef struct hn_grad_buckets {
    size_t bucket, total; /* floats a bucket (the last may be shorter), floats in all */
    int n_buckets, n_entries;
    size_t *lo, *hi;      /* each entry's floats [lo, hi) */
    int *covering;        /* entries overlapping each bucket */
    int *pending;         /* of those, not yet final this backward */
    unsigned char *done;  /* each entry: reported final this backward */
    int *order;           /* the buckets made ready so far, in order */
    int n_ready;
} hn_grad_buckets;

/* Entries i at floats [offset[i], offset[i] + numel[i]) of a flat array of total floats,
 * cut into buckets of `bucket` floats. */
int hn_grad_buckets_init(hn_grad_buckets *b, const size_t *offset, const size_t *numel,
                         int n_entries, size_t total, size_t bucket, hn_error *err);
void hn_grad_buckets_free(hn_grad_buckets *b);
/* A new backward: nothing final; a bucket no entry overlaps (padding alone) is ready at once. */
void hn_grad_buckets_reset(hn_grad_buckets *b);
/* Entry i is final: the buckets it completes are appended to order. HN_ERR when it was
 * already reported this backward (a bucket may have left with a gradient still to come:
 * a bug in the backward's reports) or i is no entry. */
int hn_grad_buckets_finish(hn_grad_buckets *b, int i, hn_error *err);
/* The entries not yet reported are made final (the end of the backward); returns how many
 * there were, the first in *first (-1 when none). */
int hn_grad_buckets_finish_rest(hn_grad_buckets *b, int *first);
/* Bucket k's floats [*off, *off + *len). */
void hn_grad_buckets_range(const hn_grad_buckets *b, int k, size_t *off, size_t *len);

#endif
