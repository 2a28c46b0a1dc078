/* The MPI backend: one rank per process over MPI_COMM_WORLD (a duplicate, errors
 * returned rather than fatal). Every collective is the non-blocking form, polled, so a
 * wait can notice a dead rank or a stop signal (dist/watch.h) instead of hanging. */
#include "dist/dist_backend.h"

#ifndef HN_HAVE_MPI

const hn_dist_watch *hn_dist_mpi_watch(const hn_dist *d) {
    (void)d;
    return NULL;
}

int hn_dist_mpi_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err) {
    (void)d;
    return hn_fail(err,
                   "started by %s, but this hnet was built without MPI (no libopenmpi-dev when it "
                   "was built): install it (sh scripts/deps.sh) and rebuild (make) to train over "
                   "several processes",
                   launch->how);
}

#else

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/watch.h"

typedef struct mpi_dist {
    MPI_Comm comm;
    size_t bucket; /* floats per all-reduce: HN_DIST_BUCKET_FLOATS, or HNET_DIST_BUCKET */
    hn_dist_watch watch;
    hn_dist_peer *peers; /* the other ranks on this host */
    MPI_Request *sums;   /* the overlapped all-reduce's buckets in flight */
    int n_sums, cap_sums;
} mpi_dist;

static mpi_dist *impl(hn_dist *d) { return d->impl; }

static int mpi_fail(hn_dist *d, int rc, const char *what, hn_error *err) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    s[len] = 0;
    d->failure = HN_DIST_ERROR;
    return hn_fail(err, "MPI failed in %s on rank %d: %s", what, d->rank, s);
}

/* Polls requests to completion; gives up when the watch says the others will not come. */
static int wait_all(hn_dist *d, MPI_Request *req, int n, const char *what, hn_error *err) {
    mpi_dist *m = impl(d);
    m->watch.stop = d->stop;
    hn_dist_watch_begin(&m->watch);
    for (;;) {
        int done = 0, rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err);
        if (done) return HN_OK;
        if (hn_dist_watch_check(&m->watch, what, &d->failure, err)) {
            d->gone_rank = m->watch.gone_rank;
            return HN_ERR;
        }
        sched_yield(); /* ranks may share cores (mpirun --oversubscribe) */
    }
}

/* Waits for one non-blocking collective that `started` says was started. */
static int wait_one(hn_dist *d, int started, MPI_Request *req, const char *what, hn_error *err) {
    if (started != MPI_SUCCESS) return mpi_fail(d, started, what, err);
    return wait_all(d, req, 1, what, err);
}

static int sum_f64(hn_dist *d, double *v, int n, hn_error *err) {
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, impl(d)->comm, &req);
    return wait_one(d, rc, &req, "a sum of statistics", err);
}

static int max_i64(hn_dist *d, int64_t *v, int n, hn_error *err) {
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MAX, impl(d)->comm, &req);
    return wait_one(d, rc, &req, "an agreement between the ranks", err);
}

/* the two in flight together, waited for once */
static int sum_max(hn_dist *d, double *sum, int ns, int64_t *max, int nm, hn_error *err) {
    MPI_Request req[2];
    const char *what = "the step's agreement (statistics, stop)";
    int rc = MPI_Iallreduce(MPI_IN_PLACE, sum, ns, MPI_DOUBLE, MPI_SUM, impl(d)->comm, &req[0]);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err);
    rc = MPI_Iallreduce(MPI_IN_PLACE, max, nm, MPI_INT64_T, MPI_MAX, impl(d)->comm, &req[1]);
    if (rc != MPI_SUCCESS) { /* the first is in flight: see it through before failing */
        hn_error ignored;
        wait_all(d, req, 1, what, &ignored);
        return mpi_fail(d, rc, what, err);
    }
    return wait_all(d, req, 2, what, err);
}

static int barrier(hn_dist *d, hn_error *err) {
    MPI_Request req;
    int rc = MPI_Ibarrier(impl(d)->comm, &req);
    return wait_one(d, rc, &req, "a barrier", err);
}

/* A sum (sum = 1) or a broadcast from rank 0 of n elements of type: one collective per
 * bucket of at most `bucket` elements (MPI counts are ints), all in flight at once, then
 * waited for together. */
static int bucketed(hn_dist *d, void *buf, size_t n, MPI_Datatype type, size_t bucket, int sum,
                    const char *what, hn_error *err) {
    size_t nb = (n + bucket - 1) / bucket;
    if (nb == 0) return HN_OK;
    int elem = 0;
    MPI_Type_size(type, &elem);
    MPI_Request *req = malloc(nb * sizeof *req);
    if (!req) return hn_fail(err, "out of memory for %zu requests of %s", nb, what);
    int rc = MPI_SUCCESS;
    for (size_t b = 0; b < nb && rc == MPI_SUCCESS; b++) {
        size_t off = b * bucket, len = n - off < bucket ? n - off : bucket;
        char *p = (char *)buf + off * (size_t)elem;
        rc = sum ? MPI_Iallreduce(MPI_IN_PLACE, p, (int)len, type, MPI_SUM, impl(d)->comm, &req[b])
                 : MPI_Ibcast(p, (int)len, type, 0, impl(d)->comm, &req[b]);
    }
    int out = rc != MPI_SUCCESS ? mpi_fail(d, rc, what, err) : wait_all(d, req, (int)nb, what, err);
    free(req);
    return out;
}

static int sum_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return bucketed(d, buf, n, MPI_FLOAT, impl(d)->bucket, 1, "the gradient all-reduce", err);
}

static int broadcast_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return bucketed(d, buf, n, MPI_FLOAT, impl(d)->bucket, 0, "the broadcast of the weights from rank 0",
                    err);
}

/* The overlapped all-reduce: each bucket's MPI_Iallreduce as it is started, the very call
 * sum_f32 makes for it (so the same sums); progress is MPI_Testall, since Open MPI
 * advances a non-blocking collective only inside MPI calls (no progress thread). */
static int start_sum_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    mpi_dist *m = impl(d);
    const char *what = "the gradient all-reduce (overlapped with the backward)";
    if (n > (size_t)INT_MAX) return hn_fail(err, "%s: a bucket of %zu floats is over MPI's int count", what, n);
    if (m->n_sums == m->cap_sums) {
        int cap = m->cap_sums ? 2 * m->cap_sums : 64;
        MPI_Request *r = realloc(m->sums, (size_t)cap * sizeof *r);
        if (!r) return hn_fail(err, "out of memory for the requests of %s", what);
        m->sums = r;
        m->cap_sums = cap;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, m->comm, &m->sums[m->n_sums]);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err);
    m->n_sums++;
    return HN_OK;
}

static void progress(hn_dist *d) {
    mpi_dist *m = impl(d);
    int done = 0;
    /* completed requests are freed (MPI_REQUEST_NULL) only once all are: the array stays
     * whole for the final wait; an error surfaces there */
    if (m->n_sums) MPI_Testall(m->n_sums, m->sums, &done, MPI_STATUSES_IGNORE);
}

static int wait_sums(hn_dist *d, hn_error *err) {
    mpi_dist *m = impl(d);
    int n = m->n_sums;
    m->n_sums = 0;
    return n ? wait_all(d, m->sums, n, "the gradient all-reduce (overlapped with the backward)", err)
             : HN_OK;
}

/* ZeRO-1's shards as MPI counts and displacements (ints: a flat array of up to 2^31 - 1
 * floats, far beyond what the cpu backend trains). */
static int shard_counts(hn_dist *d, size_t n, int **counts, int **displs, const char *what,
                        hn_error *err) {
    if (n > (size_t)INT_MAX)
        return hn_fail(err, "%s over MPI takes at most %d floats; this model has %zu", what, INT_MAX, n);
    *counts = malloc((size_t)d->world * sizeof **counts);
    *displs = malloc((size_t)d->world * sizeof **displs);
    if (!*counts || !*displs) {
        free(*counts);
        free(*displs);
        return hn_fail(err, "out of memory for the shards of %s", what);
    }
    for (int r = 0; r < d->world; r++) {
        size_t off, len;
        hn_dist_shard(n, d->world, r, &off, &len);
        (*counts)[r] = (int)len;
        (*displs)[r] = (int)off;
    }
    return HN_OK;
}

/* In place, MPI puts this rank's block of the sum at the start of buf: moved to its
 * shard's place (overlapping only where the shards are short, hence memmove). */
static int reduce_scatter_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    const char *what = "the gradient reduce-scatter (ZeRO-1)";
    int *counts, *displs;
    if (shard_counts(d, n, &counts, &displs, what, err)) return HN_ERR;
    MPI_Request req;
    int rc = MPI_Ireduce_scatter(MPI_IN_PLACE, buf, counts, MPI_FLOAT, MPI_SUM, impl(d)->comm, &req);
    int out = wait_one(d, rc, &req, what, err);
    if (!out && displs[d->rank] > 0)
        memmove(buf + displs[d->rank], buf, (size_t)counts[d->rank] * sizeof *buf);
    free(counts);
    free(displs);
    return out;
}

static int all_gather_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    const char *what = "the all-gather of the updated weights (ZeRO-1)";
    int *counts, *displs;
    if (shard_counts(d, n, &counts, &displs, what, err)) return HN_ERR;
    MPI_Request req;
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT,
                             impl(d)->comm, &req);
    int out = wait_one(d, rc, &req, what, err);
    free(counts);
    free(displs);
    return out;
}

/* rank 0's whole array to the shards (scatter) or back (gather), by MPI's v-forms */
static int shards_to_root(hn_dist *d, const float *whole_in, float *whole_out, const float *shard_in,
                          float *shard_out, size_t n, const char *what, hn_error *err) {
    int *counts, *displs;
    if (shard_counts(d, n, &counts, &displs, what, err)) return HN_ERR;
    MPI_Request req;
    int mine = counts[d->rank];
    int rc = whole_out ? MPI_Igatherv(shard_in, mine, MPI_FLOAT, whole_out, counts, displs, MPI_FLOAT, 0,
                                      impl(d)->comm, &req)
                       : MPI_Iscatterv(whole_in, counts, displs, MPI_FLOAT, shard_out, mine, MPI_FLOAT, 0,
                                       impl(d)->comm, &req);
    int out = wait_one(d, rc, &req, what, err);
    free(counts);
    free(displs);
    return out;
}

static int scatter_f32(hn_dist *d, const float *whole, float *shard, size_t n, hn_error *err) {
    return shards_to_root(d, whole, NULL, NULL, shard, n,
                          "dealing rank 0's optimizer state out to the ranks' shards (ZeRO-1)", err);
}

static int gather_f32(hn_dist *d, const float *shard, float *whole, size_t n, hn_error *err) {
    /* MPI reads the root's whole only on rank 0: a placeholder elsewhere */
    float none;
    return shards_to_root(d, NULL, whole ? whole : &none, shard, NULL, n,
                          "gathering the optimizer state to rank 0 (ZeRO-1)", err);
}

static int broadcast(hn_dist *d, void *buf, size_t bytes, hn_error *err) {
    return bucketed(d, buf, bytes, MPI_BYTE, (size_t)1 << 30, 0, "a broadcast from rank 0", err);
}

static void abort_all(hn_dist *d, int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(impl(d)->comm, code ? code : 1);
    _exit(code ? code : 1); /* MPI_Abort does not return; should it, this rank still ends */
}

static void close_mpi(hn_dist *d) {
    mpi_dist *m = impl(d);
    MPI_Comm_free(&m->comm);
    MPI_Finalize();
    free(m->peers);
    free(m->sums);
    free(m);
}

const hn_dist_watch *hn_dist_mpi_watch(const hn_dist *d) { return &((mpi_dist *)d->impl)->watch; }

static const hn_dist_ops mpi_ops = {
    .name = "mpi",
    .memory = HN_DEVICE_CPU,
    .sum_f32 = sum_f32,
    .broadcast_f32 = broadcast_f32,
    .start_sum_f32 = start_sum_f32,
    .progress = progress,
    .wait_sums = wait_sums,
    .reduce_scatter_f32 = reduce_scatter_f32,
    .all_gather_f32 = all_gather_f32,
    .scatter_f32 = scatter_f32,
    .gather_f32 = gather_f32,
    .sum_f64 = sum_f64,
    .max_i64 = max_i64,
    .sum_max = sum_max,
    .broadcast = broadcast,
    .barrier = barrier,
    .abort = abort_all,
    .close = close_mpi,
};

/* Every rank's card, so each rank can watch those on its own host. */
static int find_local_peers(hn_dist *d, hn_error *err) {
    mpi_dist *m = impl(d);
    hn_dist_card me;
    hn_dist_card_mine(&me, d->rank);
    hn_dist_card *all = calloc((size_t)d->world, sizeof *all);
    m->peers = calloc((size_t)d->world, sizeof *m->peers);
    if (!all || !m->peers) {
        free(all);
        return hn_fail(err, "out of memory for the table of %d ranks", d->world);
    }
    int rc = MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, m->comm);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(d, rc, "the exchange of pids at start-up", err);
    }
    int n = hn_dist_local_peers(all, d->world, d->rank, m->peers, &d->deputy);
    hn_dist_watch_init(&m->watch, d->rank, d->world, me.host, m->peers, n);
    free(all);
    return HN_OK;
}

static int count_local(hn_dist *d, hn_error *err) {
    MPI_Comm node;
    int rc = MPI_Comm_split_type(impl(d)->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "finding the ranks of this host", err);
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_world);
    MPI_Comm_free(&node);
    return HN_OK;
}

int hn_dist_mpi_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err) {
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return hn_fail(err, "MPI_Init failed (started by %s)", launch->how);
    mpi_dist *m = calloc(1, sizeof *m);
    if (!m) {
        MPI_Abort(MPI_COMM_WORLD, 1); /* no table to hand back for hn_dist_abort */
        return hn_fail(err, "out of memory starting MPI");
    }
    /* buckets smaller than the default (a test splitting a small model's gradient) */
    m->bucket = hn_dist_bucket_floats();
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    d->impl = m;
    d->ops = &mpi_ops;
    snprintf(d->backend, sizeof d->backend, "mpi");
    MPI_Comm_rank(m->comm, &d->rank);
    MPI_Comm_size(m->comm, &d->world);
    int rc = HN_OK;
    if (d->rank != launch->rank || (launch->world > 0 && d->world != launch->world))
        rc = hn_fail(err, "MPI says rank %d of %d but %s: the launcher and MPI disagree (srun "
                          "without --mpi=pmix?)",
                     d->rank, d->world, launch->how);
    if (!rc) rc = count_local(d, err);
    if (!rc) rc = find_local_peers(d, err);
    return rc; /* on failure d is started: the caller aborts it (the others may be waiting) */
}

#endif
