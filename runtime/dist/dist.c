/* The communicator's front: the single-process world, the choice of backend, and the
 * wrappers the trainer calls (a world of one returns from each at once). */
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist.h"
#include "dist/dist_backend.h"

static hn_dist single = {.rank = 0, .world = 1, .local_rank = 0, .local_world = 1,
                         .backend = "single", .how = "one process"};

hn_dist *hn_dist_single(void) { return &single; }

int hn_dist_open(const hn_dist_launch *launch, hn_dist **out, hn_error *err) {
    *out = NULL;
    if (!launch->mpi && !launch->nccl) {
        *out = &single;
        return HN_OK;
    }
    hn_dist *d = calloc(1, sizeof *d);
    if (!d) return hn_fail(err, "out of memory starting the communicator");
    snprintf(d->how, sizeof d->how, "%s", launch->how);
    d->nccl_wanted = launch->nccl;
    d->even_alone = launch->mpi_alone;
    int rc = launch->mpi ? hn_dist_mpi_open(launch, d, err) : hn_dist_nccl_open(launch, d, err);
    /* one process per GPU: the device of this local rank, before anything opens one */
    if (!rc && launch->mpi) hn_dist_nccl_prefer_device(d->local_rank);
    if (rc) {
        if (d->ops) *out = d; /* started: the caller ends it with hn_dist_abort */
        else free(d);
        return HN_ERR;
    }
    *out = d;
    return HN_OK;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* rc, after adding the time since t0 to d's account of kind */
static int timed(hn_dist *d, int kind, double t0, int rc) {
    d->times[kind].calls++;
    d->times[kind].seconds += now() - t0;
    return rc;
}

static void print_times(const hn_dist *d) {
    const char *v = getenv("HNET_DIST_TIMES");
    if (!v || strcmp(v, "1")) return;
    static const char *const kind[HN_DIST_T_KINDS] = {
        "host statistics (the step's agreement, the ratio losses' sums, validation)",
        "gradient all-reduce after the backward", "overlapped buckets started (and progress)",
        "wait for the overlapped buckets", "weights (broadcast, ZeRO-1 gather)"};
    for (int k = 0; k < HN_DIST_T_KINDS; k++)
        if (d->times[k].calls)
            fprintf(stderr, "hnet: rank %d, %s communicator: %s: %ld calls, %.3f ms, %.1f us each\n",
                    d->rank, d->backend, kind[k], d->times[k].calls, 1e3 * d->times[k].seconds,
                    1e6 * d->times[k].seconds / (double)d->times[k].calls);
}

void hn_dist_close(hn_dist *d) {
    if (!d || d == &single) return;
    print_times(d);
    d->ops->close(d);
    free(d);
}

void hn_dist_abort(hn_dist *d, int code) {
    if (d && d != &single && d->world > 1) d->ops->abort(d, code);
}

/* ---- collectives: a world of one has nothing to exchange (but NCCL runs them) ---- */

static int alone(const hn_dist *d) {
    return d->world == 1 && !d->even_alone && (!d->ops || !d->ops->even_alone);
}

int hn_dist_sum_f64(hn_dist *d, double *v, int n, hn_error *err) {
    if (alone(d)) return HN_OK;
    double t0 = now();
    return timed(d, HN_DIST_T_STATS, t0, d->ops->sum_f64(d, v, n, err));
}

int hn_dist_max_i64(hn_dist *d, int64_t *v, int n, hn_error *err) {
    if (alone(d)) return HN_OK;
    double t0 = now();
    return timed(d, HN_DIST_T_STATS, t0, d->ops->max_i64(d, v, n, err));
}

int hn_dist_sum_max(hn_dist *d, double *sum, int ns, int64_t *max, int nm, hn_error *err) {
    if (alone(d)) return HN_OK;
    double t0 = now();
    return timed(d, HN_DIST_T_STATS, t0, d->ops->sum_max(d, sum, ns, max, nm, err));
}

int hn_dist_broadcast(hn_dist *d, void *buf, size_t bytes, hn_error *err) {
    return alone(d) ? HN_OK : d->ops->broadcast(d, buf, bytes, err);
}

int hn_dist_barrier(hn_dist *d, hn_error *err) {
    return alone(d) ? HN_OK : d->ops->barrier(d, err);
}

/* MPI with the cuda backend: hn_dist_bind starts NCCL over it (several ranks, or asked). */
static int binds_nccl(const hn_dist *d, const hn_backend *be) {
    return !strcmp(d->backend, "mpi") && be->kind == HN_DEVICE_CUDA && (d->world > 1 || d->nccl_wanted);
}

int hn_dist_supports(const hn_dist *d, const hn_backend *be, hn_error *err) {
    if (alone(d) || d->ops->memory == be->kind) return HN_OK;
    if (binds_nccl(d, be)) {
        if (hn_dist_nccl_built()) return HN_OK;
        return hn_fail(err, "data-parallel training on the %s backend needs NCCL, and this hnet was "
                            "built without CUDA", be->name);
    }
    if (!strcmp(d->backend, "nccl"))
        return hn_fail(err,
                       "the ranks of %s meet through NCCL, which exchanges GPU memory, but the run "
                       "is on the %s backend: use --device cuda, or launch the cpu backend with "
                       "mpirun -np %d hnet run FILE (or srun --mpi=pmix)",
                       d->how, be->name, d->world);
    return hn_fail(err, "the %s communicator exchanges %s memory and the %s backend keeps its "
                        "gradients elsewhere", d->backend,
                   d->ops->memory == HN_DEVICE_CPU ? "host" : "device", be->name);
}

int hn_dist_bind(hn_dist *d, const hn_backend *be, hn_error *err) {
    if (d == &single || !binds_nccl(d, be)) return HN_OK;
    return hn_dist_nccl_over_mpi(d, err);
}

int hn_dist_average_grads(hn_dist *d, const hn_backend *be, float *g, size_t n, double share,
                          hn_error *err) {
    if (alone(d)) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    /* weighted before the sum: a power-of-two share (2 ranks, equal halves) is exact; a
     * whole share (one rank) leaves g as it is, so it is not touched */
    double t0 = now();
    if (share != 1.0) be->scale(g, (float)share, n);
    return timed(d, HN_DIST_T_GRADS, t0, d->ops->sum_f32(d, g, n, err));
}

size_t hn_dist_bucket_floats(void) {
    const char *bucket = getenv("HNET_DIST_BUCKET");
    long floats = bucket ? atol(bucket) : 0;
    return floats > 0 && (size_t)floats < HN_DIST_BUCKET_FLOATS ? (size_t)floats : HN_DIST_BUCKET_FLOATS;
}

int hn_dist_overlap_wanted(const hn_dist *d, const hn_backend *be, hn_error *err) {
    const char *v = getenv("HNET_DIST_OVERLAP");
    if (v && *v && strcmp(v, "0") && strcmp(v, "1"))
        return hn_fail(err, "HNET_DIST_OVERLAP=%s: expected 1 (the gradient's all-reduce overlapped "
                            "with the backward, the default) or 0 (after it)", v);
    if (v && !strcmp(v, "0")) return 0;
    return !alone(d) && d->ops->start_sum_f32 && d->ops->memory == be->kind;
}

int hn_dist_start_sum(hn_dist *d, const hn_backend *be, float *g, size_t n, double share,
                      hn_error *err) {
    double t0 = now();
    if (share != 1.0) be->scale(g, (float)share, n); /* as hn_dist_average_grads */
    return timed(d, HN_DIST_T_START, t0, d->ops->start_sum_f32(d, g, n, err));
}

void hn_dist_progress(hn_dist *d) {
    if (!d->ops || !d->ops->progress) return;
    double t0 = now();
    d->ops->progress(d);
    d->times[HN_DIST_T_START].seconds += now() - t0; /* counted with the starts */
}

int hn_dist_wait_sums(hn_dist *d, hn_error *err) {
    if (!d->ops || !d->ops->wait_sums) return HN_OK;
    double t0 = now();
    return timed(d, HN_DIST_T_WAIT, t0, d->ops->wait_sums(d, err));
}

/* A collective wrote buf behind the backend's back (NCCL on the device): the backend is
 * told by a copy onto itself (backend.h), so a cuda backend's bf16 copy of the parameters
 * is made again from the new values before the next product. Without it, ZeRO-1's
 * all-gather left every other rank's shard old in that copy (only AdamW's own shard
 * writes it). */
static int written_behind(const hn_backend *be, float *buf, size_t n, int rc) {
    if (!rc && be->params_arena && n) be->copy(buf, buf, n * sizeof(float));
    return rc;
}

int hn_dist_broadcast_floats(hn_dist *d, const hn_backend *be, float *buf, size_t n,
                             hn_error *err) {
    if (alone(d)) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    return written_behind(be, buf, n, d->ops->broadcast_f32(d, buf, n, err));
}

size_t hn_dist_shard_each(size_t n, int world) {
    return n / ((size_t)(world < 1 ? 1 : world) * 16) * 16;
}

void hn_dist_shard(size_t n, int world, int rank, size_t *off, size_t *len) {
    if (world < 1) world = 1;
    size_t each = hn_dist_shard_each(n, world);
    *off = (size_t)rank * each;
    *len = rank == world - 1 ? n - *off : each;
}

int hn_dist_reduce_scatter_grads(hn_dist *d, const hn_backend *be, float *g, size_t n,
                                 double share, hn_error *err) {
    if (alone(d)) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    double t0 = now();
    if (share != 1.0) be->scale(g, (float)share, n); /* as hn_dist_average_grads */
    return timed(d, HN_DIST_T_GRADS, t0, d->ops->reduce_scatter_f32(d, g, n, err));
}

int hn_dist_all_gather_floats(hn_dist *d, const hn_backend *be, float *buf, size_t n,
                              hn_error *err) {
    if (alone(d)) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    double t0 = now();
    return timed(d, HN_DIST_T_WEIGHTS, t0, written_behind(be, buf, n, d->ops->all_gather_f32(d, buf, n, err)));
}

int hn_dist_scatter_floats(hn_dist *d, const hn_backend *be, const float *whole, float *shard,
                           size_t n, hn_error *err) {
    if (alone(d)) {
        if (shard != whole) be->copy(shard, whole, n * sizeof(float));
        return HN_OK;
    }
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    return d->ops->scatter_f32(d, whole, shard, n, err);
}

int hn_dist_gather_floats(hn_dist *d, const hn_backend *be, const float *shard, float *whole,
                          size_t n, hn_error *err) {
    if (alone(d)) {
        if (shard != whole) be->copy(whole, shard, n * sizeof(float));
        return HN_OK;
    }
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    return d->ops->gather_f32(d, shard, whole, n, err);
}

int hn_dist_cores_per_rank(const hn_dist *d) {
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    /* bound by the launcher: those cores are this rank's own (Open MPI says so; elsewhere,
     * fewer cores than the host has is taken as binding) */
    int bound = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_MCA_orte_bound_at_launch") != NULL
                                               : mine < online;
    int n = bound || d->local_world < 1 ? mine : mine / d->local_world;
    return n > 0 ? n : 1;
}
