/* The gradient all-reduce overlapped with the backward (runtime/dist/OVERLAP.md): the
 * model's backward reports each parameter's gradient final (hn_param_store.grads_done);
 * a bucket of the flat gradient (dist/buckets.h) is weighted by this rank's share and its
 * sum started as soon as every parameter it covers is final, and the sums in flight are
 * let advance at every report. After the backward, one wait for them all (under the
 * watch, as every collective) before the gradient norm.
 *
 * On by default wherever the gradient is exchanged (data parallel without ZeRO-1, or a
 * communicator that runs its collectives in a world of one); HNET_DIST_OVERLAP=0 sums
 * after the backward as before. The cpu (MPI) sums are those of the unoverlapped path to
 * the bit: the same buckets, the same MPI_Iallreduce each. ZeRO-1's reduce-scatter is not
 * overlapped (its shards are not the buckets). */
#ifndef HN_TRAIN_GRAD_OVERLAP_H
#define HN_TRAIN_GRAD_OVERLAP_H

#include "dist/buckets.h"
#include "dist/dist.h"
#include "model/model.h"
#include "train/init.h"

typedef struct hn_grad_overlap {
    int on;
    hn_dist *d;
    hn_model *m;
    const hn_init *init; /* its frozen groups' gradients are zeroed before they leave */
    double share;
    hn_grad_buckets buckets;
    int started;         /* buckets of this backward whose sum was started */
    int failed;          /* the first failure of this backward (err), reported at the end */
    hn_error err;
    int warned;          /* the note about unreported parameters, once */
} hn_grad_overlap;

/* Sets o up (o->on = 0 where the overlap is off or not wanted: nothing installed). */
int hn_grad_overlap_open(hn_grad_overlap *o, hn_dist *d, hn_model *m, const hn_init *init,
                         double share, int zero, hn_error *err);
/* Before each backward. */
void hn_grad_overlap_begin(hn_grad_overlap *o);
/* After each backward: the parameters it did not report are final now (their buckets
 * start late; noted once on stderr: a report missing in the backward), then every sum is
 * waited for. HN_ERR for a failed collective or a report the counting refused. */
int hn_grad_overlap_end(hn_grad_overlap *o, hn_error *err);
/* Takes the hook out of the model's store. */
void hn_grad_overlap_close(hn_grad_overlap *o);

#endif
