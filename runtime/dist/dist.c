/* The communicator's front: the single-process world, the choice of backend, and the
 * wrappers the trainer calls (a world of one returns from each at once). */
#include <sched.h>
#include <stdio.h>
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
    if (!launch->mpi) {
        *out = &single;
        return HN_OK;
    }
    hn_dist *d = calloc(1, sizeof *d);
    if (!d) return hn_fail(err, "out of memory starting the communicator");
    snprintf(d->how, sizeof d->how, "%s", launch->how);
    if (hn_dist_mpi_open(launch, d, err)) {
        if (d->ops) *out = d; /* MPI started: the caller ends it with hn_dist_abort */
        else free(d);
        return HN_ERR;
    }
    *out = d;
    return HN_OK;
}

void hn_dist_close(hn_dist *d) {
    if (!d || d == &single) return;
    d->ops->close(d);
    free(d);
}

void hn_dist_abort(hn_dist *d, int code) {
    if (d && d != &single && d->world > 1) d->ops->abort(d, code);
}

/* ---- collectives: a world of one has nothing to exchange ---- */

int hn_dist_sum_f64(hn_dist *d, double *v, int n, hn_error *err) {
    return d->world == 1 ? HN_OK : d->ops->sum_f64(d, v, n, err);
}

int hn_dist_max_i64(hn_dist *d, int64_t *v, int n, hn_error *err) {
    return d->world == 1 ? HN_OK : d->ops->max_i64(d, v, n, err);
}

int hn_dist_broadcast(hn_dist *d, void *buf, size_t bytes, hn_error *err) {
    return d->world == 1 ? HN_OK : d->ops->broadcast(d, buf, bytes, err);
}

int hn_dist_barrier(hn_dist *d, hn_error *err) {
    return d->world == 1 ? HN_OK : d->ops->barrier(d, err);
}

int hn_dist_supports(const hn_dist *d, const hn_backend *be, hn_error *err) {
    if (d->world == 1 || d->ops->memory == be->kind) return HN_OK;
    return hn_fail(err,
                   "data-parallel training over %d ranks runs on the cpu backend: the %s "
                   "communicator exchanges host memory, and the %s backend keeps its gradients in "
                   "device memory (a GPU communicator, NCCL, is not built yet); use --device cpu or "
                   "one process",
                   d->world, d->backend, be->name);
}

int hn_dist_average_grads(hn_dist *d, const hn_backend *be, float *g, size_t n, double share,
                          hn_error *err) {
    if (d->world == 1) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    /* weighted before the sum: a power-of-two share (2 ranks, equal halves) is exact */
    be->scale(g, (float)share, n);
    return d->ops->sum_f32(d, g, n, err);
}

int hn_dist_broadcast_floats(hn_dist *d, const hn_backend *be, float *buf, size_t n,
                             hn_error *err) {
    if (d->world == 1) return HN_OK;
    if (hn_dist_supports(d, be, err)) return HN_ERR;
    return d->ops->broadcast_f32(d, buf, n, err);
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
