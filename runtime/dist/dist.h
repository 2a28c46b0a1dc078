/* Data-parallel training: one process per rank, each holding a full copy of the weights
 * and optimizer state and a share of every global batch; the collectives the trainer
 * needs to keep the copies identical.
 *
 * Start-up (hn_dist_detect, environment only, before anything else) recognises how the
 * process was launched:
 *   mpirun (Open MPI)   OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK
 *   PMIx launchers      PMIX_RANK (srun --mpi=pmix, prun); PMI_RANK / PMI_SIZE (MPICH, pmi2)
 *   srun (Slurm)        SLURM_PROCID / SLURM_STEP_NUM_TASKS (= SLURM_NTASKS of the step) /
 *                       SLURM_LOCALID, read only inside an srun step
 *   torchrun-style      RANK / WORLD_SIZE / LOCAL_RANK, MASTER_ADDR / MASTER_PORT
 * An MPI launch (the first two) meets through MPI: the MPI communicator, and for a run on
 * the cuda backend an NCCL one over it (hn_dist_bind: the NCCL unique id broadcast over
 * MPI). srun or torchrun-style variables asking for several ranks without MPI meet through
 * NCCL alone, rank 0 serving the id over TCP on MASTER_ADDR:MASTER_PORT (dist/rendezvous.h):
 * the cuda backend only (the cpu one needs mpirun or srun --mpi=pmix, and says so).
 * HNET_COMM=nccl takes NCCL for any launch, a world of one included (its collectives then
 * run as they would with more ranks: the path checked and timed on one GPU); HNET_COMM=mpi
 * runs MPI's collectives under mpirun -np 1 likewise (the path checked on the cpu).
 * Where several launchers' variables are present they must agree.
 *
 * One process per GPU: a rank uses the CUDA device numbered by its local rank; where the
 * launcher gave each rank one device (CUDA_VISIBLE_DEVICES names one), that one. A local
 * rank beyond the visible devices is refused, naming both.
 *
 * hn_dist_open then starts the communicator: MPI (MPI_Init) under an MPI launch, NCCL for
 * the others that ask for it, else the single-process one, whose collectives return at
 * once: a world of one goes through the same calls at no cost. */
#ifndef HN_DIST_H
#define HN_DIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"

/* How the process was launched, from the environment alone. */
typedef struct hn_dist_launch {
    int rank, world, local_rank; /* world 0: an MPI launch that names no size (MPI says) */
    int mpi;                     /* an MPI launcher started it: the MPI backend */
    int nccl;                    /* NCCL without MPI (or HNET_COMM=nccl under MPI) */
    int mpi_alone;               /* HNET_COMM=mpi: MPI's collectives in a world of one too */
    char master_addr[256];       /* MASTER_ADDR ("" when unset) */
    int master_port;             /* MASTER_PORT (0 when unset) */
    char how[96];                /* "mpirun (OMPI_COMM_WORLD_*)", "one process", ... */
} hn_dist_launch;

/* Reads the launch variables above; a malformed or contradictory set is one clear error. */
int hn_dist_detect(hn_dist_launch *out, hn_error *err);

/* Why the last collective failed. */
typedef enum hn_dist_failure {
    HN_DIST_OK = 0,
    HN_DIST_PEER_GONE, /* another rank died (killed or crashed) */
    HN_DIST_STOPPED,   /* a stop signal came while the other ranks never arrived */
    HN_DIST_TIMEOUT,   /* no progress for HNET_DIST_TIMEOUT seconds */
    HN_DIST_ERROR      /* the transport reported an error */
} hn_dist_failure;

struct hn_dist_ops; /* dist/dist_backend.h: the table a backend (mpi, nccl) fills */

/* Where the host spends its time in the communicator, by kind of call (HNET_DIST_TIMES=1
 * prints it when the communicator closes): what a step pays for the exchange. */
enum { HN_DIST_T_STATS, HN_DIST_T_GRADS, HN_DIST_T_START, HN_DIST_T_WAIT, HN_DIST_T_WEIGHTS,
       HN_DIST_T_KINDS };
typedef struct hn_dist_time {
    long calls;
    double seconds;
} hn_dist_time;

typedef struct hn_dist {
    int rank, world;             /* this process, and how many train together */
    int local_rank, local_world; /* among the ranks on this host */
    char backend[16];            /* "single", "mpi" or "nccl" */
    char how[96];                /* the launch (hn_dist_launch.how) */
    volatile sig_atomic_t *stop; /* the run's stop flag (set by a signal handler, to the
                                  * signal's number): a wait in a collective watches it */
    hn_dist_failure failure;     /* why the last collective failed */
    int gone_rank;               /* HN_DIST_PEER_GONE: which rank */
    int deputy;                  /* the lowest rank but 0 on rank 0's host: it records the
                                  * run's end in results.db should rank 0 die */
    int nccl_wanted;             /* HNET_COMM=nccl (or a launch that meets through NCCL) */
    int even_alone;              /* HNET_COMM=mpi: collectives in a world of one too */
    const struct hn_dist_ops *ops;
    void *impl;
    hn_dist_time times[HN_DIST_T_KINDS];
} hn_dist;

/* Starts the communicator the launch calls for (MPI_Init under an MPI launch; NCCL on
 * the device of this local rank for a launch without MPI that asks for it). On a
 * failure after MPI started, *out is that communicator, for hn_dist_abort (the other
 * ranks may be waiting for this one); otherwise NULL. */
int hn_dist_open(const hn_dist_launch *launch, hn_dist **out, hn_error *err);
/* The world of one process (static; hn_dist_close on it does nothing). */
hn_dist *hn_dist_single(void);
/* A clean end, reached by every rank (MPI_Finalize). */
void hn_dist_close(hn_dist *d);
/* This rank failed where the others cannot know: ends every rank of the job (MPI_Abort)
 * with the exit status code. Returns only for a world of one. */
void hn_dist_abort(hn_dist *d, int code);

/* The collectives. Every rank calls them in the same order with the same sizes; each
 * returns HN_ERR (d->failure says why) when it cannot complete: another rank died, a
 * stop signal came while the others never arrived, or HNET_DIST_TIMEOUT passed. */
/* v[i] = sum over ranks of v[i] (host memory, small vectors of statistics) */
int hn_dist_sum_f64(hn_dist *d, double *v, int n, hn_error *err);
/* v[i] = max over ranks of v[i] */
int hn_dist_max_i64(hn_dist *d, int64_t *v, int n, hn_error *err);
/* Both at once: sum[i] summed and max[i] the max over ranks, in one round trip (NCCL: one
 * copy to the device, one grouped launch, one copy back, one wait). The training step's
 * one agreement: its statistics and whether any rank was asked to stop. */
int hn_dist_sum_max(hn_dist *d, double *sum, int ns, int64_t *max, int nm, hn_error *err);
/* rank 0's bytes to every rank */
int hn_dist_broadcast(hn_dist *d, void *buf, size_t bytes, hn_error *err);
int hn_dist_barrier(hn_dist *d, hn_error *err);

/* Float buffers of a backend's memory (the gradients, the weights). The MPI communicator
 * takes host memory (the cpu backend), the NCCL one device memory (the cuda backend); an
 * MPI launch training on cuda is supported: hn_dist_bind starts NCCL over it. */
int hn_dist_supports(const hn_dist *d, const hn_backend *be, hn_error *err);
/* Every rank, once the backend is known and every rank is ready: under MPI with the cuda
 * backend (several ranks, or HNET_COMM=nccl), starts the NCCL communicator over MPI and
 * takes it for every collective from then on. Otherwise does nothing. */
int hn_dist_bind(hn_dist *d, const hn_backend *be, hn_error *err);
/* g = sum over ranks of share * g: each rank's gradient weighted by its share of the
 * global batch's bytes, so the result is the gradient of the global per-byte mean.
 * All-reduced in buckets (HN_DIST_BUCKET_FLOATS). A world of one returns at once. */
int hn_dist_average_grads(hn_dist *d, const hn_backend *be, float *g, size_t n, double share,
                          hn_error *err);
/* The same sum overlapped with the backward (train/grad_overlap.h), one bucket at a time:
 * hn_dist_start_sum weights g's n floats by share and starts their sum without waiting;
 * hn_dist_progress lets the sums in flight advance (cheap, never blocks); hn_dist_wait_sums
 * waits for every one started (under the watch, as every collective). Started with the
 * buckets of hn_dist_bucket_floats, the sums are those of hn_dist_average_grads to the bit.
 * hn_dist_overlap_wanted: 1 where a sum is exchanged (not a world of one that runs
 * nothing) and the communicator offers it, unless HNET_DIST_OVERLAP=0 (HN_ERR, with a
 * message, for a value other than 0 or 1). */
int hn_dist_overlap_wanted(const hn_dist *d, const hn_backend *be, hn_error *err);
int hn_dist_start_sum(hn_dist *d, const hn_backend *be, float *g, size_t n, double share,
                      hn_error *err);
void hn_dist_progress(hn_dist *d);
int hn_dist_wait_sums(hn_dist *d, hn_error *err);
/* Floats per gradient bucket: HN_DIST_BUCKET_FLOATS, or HNET_DIST_BUCKET when smaller. */
size_t hn_dist_bucket_floats(void);

/* buf of rank 0 to every rank (weights and moments at the start). */
int hn_dist_broadcast_floats(hn_dist *d, const hn_backend *be, float *buf, size_t n,
                             hn_error *err);

/* ZeRO-1 (train.zero = 1): each rank owns a contiguous shard of the flat parameter,
 * gradient and moment arrays. hn_dist_shard gives rank's [off, off + len) of n floats:
 * every shard but the last has floor(n / (16 x world)) x 16 floats (starts stay on the
 * parameter store's 16-float alignment), the last takes the rest; a world of one owns
 * everything. The same split everywhere: the backends' collectives and the trainer. */
void hn_dist_shard(size_t n, int world, int rank, size_t *off, size_t *len);
/* The length of every shard but the last (NCCL's even reduce-scatter takes those). */
size_t hn_dist_shard_each(size_t n, int world);
/* g = sum over ranks of share * g on this rank's shard of g (hn_dist_shard); the rest of g
 * is left partly reduced (garbage to the caller). A world of one returns at once. */
int hn_dist_reduce_scatter_grads(hn_dist *d, const hn_backend *be, float *g, size_t n,
                                 double share, hn_error *err);
/* Every rank's shard of buf to every rank: the whole of buf, the same on all. */
int hn_dist_all_gather_floats(hn_dist *d, const hn_backend *be, float *buf, size_t n,
                              hn_error *err);

/* ZeRO-1's moments to and from rank 0, which alone holds them whole (the start's,
 * loaded from a checkpoint or zero; a checkpoint's): scatter deals rank 0's `whole` (n
 * floats; ignored elsewhere) out as each rank's `shard`; gather collects every rank's
 * `shard` into rank 0's `whole`. The other ranks never hold more than their shard. */
int hn_dist_scatter_floats(hn_dist *d, const hn_backend *be, const float *whole, float *shard,
                           size_t n, hn_error *err);
int hn_dist_gather_floats(hn_dist *d, const hn_backend *be, const float *shard, float *whole,
                          size_t n, hn_error *err);

/* Cores for each rank of this host: the cores this process may run on, shared with the
 * other ranks of the host unless the launcher bound each rank to its own (mpirun binds
 * to cores by default for up to 2 ranks, not when oversubscribed). At least 1. */
int hn_dist_cores_per_rank(const hn_dist *d);

/* HNET_COMM: "nccl" forces the NCCL communicator, "mpi" MPI's collectives in a world of
 * one too, "" or "auto" the default; 1 when it forces NCCL, 2 for mpi, 0 when neither,
 * HN_ERR (with a message) for any other value. */
int hn_dist_comm_forced(hn_error *err);

/* 16 MiB per all-reduce (MPI counts are ints); HNET_DIST_BUCKET=N takes smaller buckets of
 * N floats (the tests split a small model's gradient into many) */
#define HN_DIST_BUCKET_FLOATS ((size_t)1 << 22)

#endif
