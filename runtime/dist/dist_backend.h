/* What a communicator backend implements (internal to runtime/dist). A backend fills one
 * table; dist.c wraps it: mpi (dist/mpi.c, host memory) and nccl (dist/nccl.c, device
 * memory; started by hn_dist_open without MPI, or over MPI by hn_dist_bind). */
#ifndef HN_DIST_BACKEND_H
#define HN_DIST_BACKEND_H

#include "dist/dist.h"
#include "dist/watch.h"

typedef struct hn_dist_ops {
    const char *name;
    hn_device_kind memory; /* whose memory sum_f32 / broadcast_f32 take */
    int even_alone;        /* runs its collectives in a world of one too (nccl: the path
                            * a single GPU checks and times is the multi-GPU one) */
    /* in place over n floats of that memory (n of any size: the backend splits it) */
    int (*sum_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    int (*broadcast_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    /* The overlapped gradient all-reduce (dist.h hn_dist_start_sum): start the sum of n
     * floats of that memory (one bucket) without waiting; let those started advance
     * (called often, must not block); wait for every one started. Any other collective
     * comes after every bucket started before it, on every rank. NULL: not offered. */
    int (*start_sum_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    void (*progress)(hn_dist *d);
    int (*wait_sums)(hn_dist *d, hn_error *err);
    /* ZeRO-1, in place over the n floats of buf split by hn_dist_shard: the sum of this
     * rank's shard into its place; every rank's shard to all */
    int (*reduce_scatter_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    int (*all_gather_f32)(hn_dist *d, float *buf, size_t n, hn_error *err);
    /* rank 0's whole array of n floats to the ranks' shards, and back */
    int (*scatter_f32)(hn_dist *d, const float *whole, float *shard, size_t n, hn_error *err);
    int (*gather_f32)(hn_dist *d, const float *shard, float *whole, size_t n, hn_error *err);
    /* host memory */
    int (*sum_f64)(hn_dist *d, double *v, int n, hn_error *err);
    int (*max_i64)(hn_dist *d, int64_t *v, int n, hn_error *err);
    int (*sum_max)(hn_dist *d, double *sum, int ns, int64_t *max, int nm, hn_error *err);
    int (*broadcast)(hn_dist *d, void *buf, size_t bytes, hn_error *err);
    int (*barrier)(hn_dist *d, hn_error *err);
    void (*abort)(hn_dist *d, int code);
    void (*close)(hn_dist *d);
} hn_dist_ops;

/* The MPI backend (dist/mpi.c): MPI_Init and the communicator; without MPI at build
 * time, an error saying how to get it. */
int hn_dist_mpi_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err);
/* The MPI communicator's watch (its peers on this host), for NCCL started over it. */
const hn_dist_watch *hn_dist_mpi_watch(const hn_dist *d);

/* The NCCL backend (dist/nccl.c; CUDA builds, libnccl.so.2 loaded at run time). open: a
 * launch without MPI (the id over TCP, dist/rendezvous.h, or made here for a world of
 * one). over_mpi: d runs MPI; the id is broadcast over it, and MPI stays for the end
 * (abort, finalize). Both select this rank's device first. Without CUDA: an error saying
 * so. */
int hn_dist_nccl_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err);
int hn_dist_nccl_over_mpi(hn_dist *d, hn_error *err);
/* Whether this build has the NCCL backend (CUDA). */
int hn_dist_nccl_built(void);
/* The CUDA device the cuda backend will open: this local rank's (nothing without CUDA). */
void hn_dist_nccl_prefer_device(int local_rank);

#endif
