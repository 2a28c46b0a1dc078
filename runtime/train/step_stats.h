/* The training step's statistics without a host wait inside the step (issue #14), opt-in
 * with HNET_STEP_STATS=device (default host: the path as it was).
 *
 * Device path: the forward's per-token losses are copied to the host asynchronously and
 * read after the backward is enqueued (hn_model_forward_start / _finish); the gradient's
 * sum of squares, norm and clip scale are computed on the device (grad_clip) and AdamW
 * reads the scale there (adamw_clipped), skipping the update, its weights and moments
 * untouched, where the norm is not finite; the norm is copied to the host behind the
 * update and read a step late: at the next step's one wait (after its backward is
 * enqueued), or before anything that reports the step (logging, validation, a
 * checkpoint, the run's end). The trainer then fails on a non-finite norm with the host
 * path's message, at that norm's step, the step not counted as done.
 *
 * The numbers are the host path's to the bit: the same sums in the same order (the
 * losses are summed on the host as before; the norm's reduction is sum_squares's, and
 * its sqrt, division and rounding are IEEE on both sides). On the cpu that is to the bit
 * (tests/e2e/test_step_stats.sh); on cuda the reduction's atomics add in an order that
 * varies from run to run, in both paths alike (tests/gpu/test_step_stats.sh).
 *
 * Which path a run takes: device where HNET_STEP_STATS=device and the whole gradient is
 * on every rank (one process, or data parallel without ZeRO-1, cpu or cuda); ZeRO-1
 * keeps the host path (its norm sums the shards' squares over the ranks on the host).
 * The cpu backend's ops do the same work at once, so its numbers are those of both. */
#ifndef HN_TRAIN_STEP_STATS_H
#define HN_TRAIN_STEP_STATS_H

#include "backend/backend.h"
#include "core/error.h"

typedef struct hn_step_stats {
    int on; /* the device path */
    const hn_backend *be;
    hn_grad_clip *dev;  /* the clip of the last update (device) */
    hn_grad_clip *host; /* its copy (alloc_host), valid after a download_wait */
    int pending;        /* an update whose norm was not read yet */
    long step;          /* its step (1-based) */
    double lr;          /* its learning rate (the failure's message) */
} hn_step_stats;

/* Sets s up: on only where HNET_STEP_STATS=device, not ZeRO-1 and the backend has the
 * ops. Fails on an unknown HNET_STEP_STATS or out of memory. */
int hn_step_stats_open(hn_step_stats *s, const hn_backend *be, int zero, hn_error *err);
void hn_step_stats_close(hn_step_stats *s);
/* Enqueues the clip of grads[0, n) by max_norm (<= 0: none); s->dev then holds it for
 * adamw_clipped. */
void hn_step_stats_clip(hn_step_stats *s, const float *grads, size_t n, double max_norm);
/* After the update of step (1-based) is enqueued: its norm travels to the host. */
void hn_step_stats_send(hn_step_stats *s, long step, double lr);
/* The pending norm, once a download_wait came after its send (wait = 1 waits here);
 * 0 when nothing was pending. */
int hn_step_stats_take(hn_step_stats *s, int wait, double *norm, long *step, double *lr);

#endif
