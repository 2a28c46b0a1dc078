/* What a communicator backend implements (internal to runtime/dist). A backend fills one
 * table; dist.c wraps it. The seam for a GPU backend: an NCCL one would set memory to
 * HN_DEVICE_CUDA, take device pointers in sum_f32 and broadcast_f32 (enqueued on the
 * backend instance's stream), and could keep MPI (or a TCP store) for the small host
 * collectives and for start-up: hn_dist_open picks the backend, nothing else changes. */
#ifndef HN_DIST_BACKEND_H
#define HN_DIST_BACKEND_H

#include "dist/dist.h"

typedef struct hn_dist_ops {
    const char *name;
    hn_device_kind memory; /* whose memory sum_f32 / broadcast_f32 take */
    /* in place over n floats of that memory (n of any size: the backend splits it) */
    int (*sum_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    int (*broadcast_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    /* host memory */
    int (*sum_f64)(hn_dist *d, double *v, int n, hn_error *err);
    int (*max_i64)(hn_dist *d, int64_t *v, int n, hn_error *err);
    int (*broadcast)(hn_dist *d, void *buf, size_t bytes, hn_error *err);
    int (*barrier)(hn_dist *d, hn_error *err);
    void (*abort)(hn_dist *d, int code);
    void (*close)(hn_dist *d);
} hn_dist_ops;

/* The MPI backend (dist/mpi.c): MPI_Init and the communicator; without MPI at build
 * time, an error saying how to get it. */
int hn_dist_mpi_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err);

#endif
