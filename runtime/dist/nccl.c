/* The NCCL backend: one rank per process and GPU, collectives on device memory.
 *
 * libnccl.so.2 is loaded at run time (dlopen; HNET_NCCL_LIB names another file), not
 * linked: the library is 200 MB, most runs never need it, and a CUDA build must run on a
 * machine without it (one GPU, no NCCL); nccl.h is read at build time for the types only.
 *
 * The communicator is non-blocking (config.blocking = 0), so no NCCL call can hang the
 * host: every call is followed by polling ncclCommGetAsyncError, and every collective by
 * polling a CUDA event, between polls asking the watch (dist/watch.h) whether a rank on
 * this host died, a stop signal came or HNET_DIST_TIMEOUT passed. Any of those, or an
 * asynchronous NCCL error (a rank on another host gone: NCCL's network transport fails),
 * aborts the communicator (ncclCommAbort frees the kernels stuck waiting) and fails the
 * collective with the reason; the run then ends on every rank.
 *
 * Everything is enqueued on the stream of the cuda backend's instance (hn_cuda_stream_of
 * the default instance, which this rank's ops use), so a collective follows the backward
 * in stream order; a host copy waits for that stream only. The gradient all-reduce
 * overlapped with the backward (train/grad_overlap.h) runs on a second stream of its own:
 * each batch of ready buckets waits there for an event recorded on the instance's stream
 * when they were started, so the backward's later kernels run beside the sums; every other
 * collective first issues the buckets still queued and makes the instance's stream wait
 * for their stream (the same order on every rank, whatever NCCL does across streams), and
 * the one wait after the backward makes the instance's stream wait for them before the
 * optimizer. A non-blocking communicator takes a call only once settled: a bucket started
 * while it is still busy is queued, issued at the next start, progress call or wait.
 * ZeRO-1 (train.zero = 1) reduce-scatters the gradient and all-gathers the weights
 * instead (ncclReduceScatter / ncclAllGather, and the tail ncclReduce / ncclBroadcast). */
#include "dist/dist_backend.h"

#ifndef HN_HAVE_CUDA

int hn_dist_nccl_built(void) { return 0; }
void hn_dist_nccl_prefer_device(int local_rank) { (void)local_rank; }

static int no_cuda(const char *how, int world, hn_error *err) {
    return hn_fail(err,
                   "started by %s: the ranks meet through NCCL on GPUs, and this hnet was built "
                   "without CUDA (no nvcc when it was built; make CUDA=1 where it is); for the cpu "
                   "backend launch with mpirun -np %d hnet run FILE (or srun --mpi=pmix)",
                   how, world);
}

int hn_dist_nccl_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err) {
    (void)d;
    return no_cuda(launch->how, launch->world, err);
}

int hn_dist_nccl_over_mpi(hn_dist *d, hn_error *err) { return no_cuda(d->how, d->world, err); }

#else

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "dist/rendezvous.h"

int hn_dist_nccl_built(void) { return 1; }
void hn_dist_nccl_prefer_device(int local_rank) { hn_cuda_prefer_device(local_rank); }

/* ---- the library ---- */

typedef struct nccl_lib {
    void *so;
    __typeof__(ncclGetVersion) *GetVersion;
    __typeof__(ncclGetUniqueId) *GetUniqueId;
    __typeof__(ncclCommInitRankConfig) *CommInitRankConfig;
    __typeof__(ncclCommGetAsyncError) *CommGetAsyncError;
    __typeof__(ncclCommAbort) *CommAbort;
    __typeof__(ncclCommDestroy) *CommDestroy;
    __typeof__(ncclCommFinalize) *CommFinalize;
    __typeof__(ncclAllReduce) *AllReduce;
    __typeof__(ncclBroadcast) *Broadcast;
    __typeof__(ncclReduceScatter) *ReduceScatter;
    __typeof__(ncclReduce) *Reduce;
    __typeof__(ncclAllGather) *AllGather;
    __typeof__(ncclSend) *Send;
    __typeof__(ncclRecv) *Recv;
    __typeof__(ncclGroupStart) *GroupStart;
    __typeof__(ncclGroupEnd) *GroupEnd;
    __typeof__(ncclGetErrorString) *GetErrorString;
    __typeof__(ncclGetLastError) *GetLastError;
} nccl_lib;

static nccl_lib lib;

static int load_nccl(hn_error *err) {
    if (lib.so) return HN_OK;
    const char *path = getenv("HNET_NCCL_LIB");
    if (!path || !*path) path = "libnccl.so.2";
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        return hn_fail(err, "cannot load NCCL (%s): %s; install NCCL 2.14 or later (Debian/Ubuntu: "
                            "libnccl2), or set HNET_NCCL_LIB to its libnccl.so.2",
                       path, dlerror());
    nccl_lib l = {.so = so};
#define SYM(f)                                                                              \
    if (!(*(void **)&l.f = dlsym(so, "nccl" #f))) {                                         \
        dlclose(so);                                                                        \
        return hn_fail(err, "%s has no nccl%s: NCCL 2.14 or later is needed", path, #f);    \
    }
    SYM(GetVersion) SYM(GetUniqueId) SYM(CommInitRankConfig) SYM(CommGetAsyncError)
    SYM(CommAbort) SYM(CommDestroy) SYM(CommFinalize) SYM(AllReduce) SYM(Broadcast)
    SYM(ReduceScatter) SYM(Reduce) SYM(AllGather) SYM(Send) SYM(Recv)
    SYM(GroupStart) SYM(GroupEnd) SYM(GetErrorString) SYM(GetLastError)
#undef SYM
    int v = 0;
    l.GetVersion(&v);
    if (v < 21400) { /* non-blocking communicators: what keeps a dead rank from hanging us */
        dlclose(so);
        return hn_fail(err, "%s is NCCL %d.%d: 2.14 or later is needed", path, v / 10000, v / 100 % 100);
    }
    lib = l;
    return HN_OK;
}

/* ---- the communicator ---- */

typedef struct nccl_dist {
    ncclComm_t comm;
    int broken;          /* aborted after a failure: nothing more goes through it */
    size_t bucket;       /* floats per all-reduce (HNET_DIST_BUCKET, as the MPI backend) */
    hn_dist_watch watch;
    hn_dist_peer *peers; /* the other ranks on this host (TCP launch; MPI's own otherwise) */
    void *stage;         /* device memory for the host collectives */
    void *pinned;        /* and its pinned host copy (asynchronous copies) */
    size_t stage_bytes;  /* of each */
    cudaEvent_t done;
    cudaStream_t stream; /* the cuda instance's */
    /* the overlapped all-reduce: its stream (high priority, made at first use), the event
     * its batches wait for, the buckets started but not issued, and whether any was
     * issued since the last wait */
    cudaStream_t sums_stream;
    cudaEvent_t grads_written;
    struct queued_sum { float *buf; size_t n; } *queued;
    int n_queued, cap_queued, sums_issued;
    int sums_failed;     /* a failure in progress(), reported by the wait */
    hn_error sums_err;
    /* MPI when it started the ranks: it stays for the end (abort, finalize) */
    const hn_dist_ops *boot_ops;
    void *boot_impl;
} nccl_dist;

static nccl_dist *impl(hn_dist *d) { return d->impl; }

/* Gives up on the communicator: a collective cannot complete (a rank gone, a time-out, a
 * stop). ncclCommAbort ends the kernels that wait for the others. */
static void break_comm(nccl_dist *n) {
    if (n->comm && !n->broken) lib.CommAbort(n->comm);
    n->broken = 1;
}

static int nccl_fail(hn_dist *d, ncclResult_t r, const char *what, hn_error *err) {
    nccl_dist *n = impl(d);
    const char *last = lib.GetLastError ? lib.GetLastError(n->comm) : NULL;
    d->failure = r == ncclRemoteError || r == ncclSystemError ? HN_DIST_PEER_GONE : HN_DIST_ERROR;
    d->gone_rank = -1;
    break_comm(n);
    return hn_fail(err,
                   "NCCL failed in %s on rank %d: %s%s%s%s; every rank stops",
                   what, d->rank, lib.GetErrorString(r), last && *last ? " (" : "",
                   last && *last ? last : "", last && *last ? ")" : "");
}

/* Waits, asking the watch between polls, until ready() says done (1) or failed (-1). */
static int wait_until(hn_dist *d, int (*ready)(hn_dist *, ncclResult_t *), const char *what,
                      hn_error *err) {
    nccl_dist *n = impl(d);
    if (n->broken) {
        if (d->failure == HN_DIST_OK) d->failure = HN_DIST_ERROR;
        return hn_fail(err, "the NCCL communicator was aborted by an earlier failure (in %s)", what);
    }
    n->watch.stop = d->stop;
    hn_dist_watch_begin(&n->watch);
    for (;;) {
        ncclResult_t r = ncclSuccess;
        int s = ready(d, &r);
        if (s > 0) return HN_OK;
        if (s < 0) return r != ncclSuccess ? nccl_fail(d, r, what, err) : HN_ERR;
        if (hn_dist_watch_check(&n->watch, what, &d->failure, err)) {
            d->gone_rank = n->watch.gone_rank;
            break_comm(n);
            return HN_ERR;
        }
        sched_yield();
    }
}

/* The communicator's state: settled (1), still working on the last call (0), failed. */
static int settled(hn_dist *d, ncclResult_t *r) {
    ncclResult_t a = ncclSuccess, q = lib.CommGetAsyncError(impl(d)->comm, &a);
    *r = q != ncclSuccess ? q : a;
    return *r == ncclSuccess ? 1 : *r == ncclInProgress ? (*r = ncclSuccess, 0) : -1;
}

/* The work enqueued so far has run (1), is running (0), or cannot finish. */
static int finished(hn_dist *d, ncclResult_t *r) {
    int s = settled(d, r);
    if (s < 0) return s;
    cudaError_t e = cudaEventQuery(impl(d)->done);
    if (e == cudaSuccess) return 1;
    if (e == cudaErrorNotReady) return 0;
    *r = ncclUnhandledCudaError;
    return -1;
}

/* After an enqueueing call: its result, then the device until the collective is done. */
static int complete(hn_dist *d, ncclResult_t called, const char *what, hn_error *err) {
    if (called != ncclSuccess && called != ncclInProgress) return nccl_fail(d, called, what, err);
    if (wait_until(d, settled, what, err)) return HN_ERR;
    if (cudaEventRecord(impl(d)->done, impl(d)->stream) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, what, err);
    return wait_until(d, finished, what, err);
}

/* n elements of type at buf: summed (op) or rank 0's to all (bcast), in buckets of at
 * most `bucket` elements, grouped into one launch. */
static int flush_sums(hn_dist *d, hn_error *err);

static int bucketed(hn_dist *d, void *buf, size_t n, ncclDataType_t type, size_t elem, size_t bucket,
                    int bcast, ncclRedOp_t op, const char *what, hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->broken) return wait_until(d, settled, what, err); /* says why */
    if (flush_sums(d, err)) return HN_ERR;
    ncclResult_t r = lib.GroupStart();
    for (size_t off = 0; off < n && r == ncclSuccess; off += bucket) {
        size_t len = n - off < bucket ? n - off : bucket;
        char *p = (char *)buf + off * elem;
        r = bcast ? lib.Broadcast(p, p, len, type, 0, m->comm, m->stream)
                  : lib.AllReduce(p, p, len, type, op, m->comm, m->stream);
    }
    ncclResult_t g = lib.GroupEnd();
    return complete(d, r != ncclSuccess ? r : g, what, err);
}

static int sum_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return bucketed(d, buf, n, ncclFloat32, sizeof(float), impl(d)->bucket, 0, ncclSum,
                    "the gradient all-reduce", err);
}

static int broadcast_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return bucketed(d, buf, n, ncclFloat32, sizeof(float), impl(d)->bucket, 1, ncclSum,
                    "the broadcast of the weights from rank 0", err);
}

/* ZeRO-1, in place (dist.h hn_dist_shard): every shard but the last has one length, so
 * the body [0, world x each) is one ncclReduceScatter / ncclAllGather (in place: this
 * rank's block at buf + rank x each); the tail beyond it (fewer than 16 x world floats)
 * belongs to the last rank: reduced to it, broadcast from it. One group each. */
static int sharded(hn_dist *d, float *buf, size_t n, int gather, const char *what, hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->broken) return wait_until(d, settled, what, err); /* says why */
    if (flush_sums(d, err)) return HN_ERR;
    size_t each = hn_dist_shard_each(n, d->world), body = each * (size_t)d->world, tail = n - body;
    float *mine = buf + (size_t)d->rank * each, *rest = buf + body;
    int last = d->world - 1;
    ncclResult_t r = lib.GroupStart();
    if (r == ncclSuccess && each)
        r = gather ? lib.AllGather(mine, buf, each, ncclFloat32, m->comm, m->stream)
                   : lib.ReduceScatter(buf, mine, each, ncclFloat32, ncclSum, m->comm, m->stream);
    if (r == ncclSuccess && tail)
        r = gather ? lib.Broadcast(rest, rest, tail, ncclFloat32, last, m->comm, m->stream)
                   : lib.Reduce(rest, rest, tail, ncclFloat32, ncclSum, last, m->comm, m->stream);
    ncclResult_t g = lib.GroupEnd();
    return complete(d, r != ncclSuccess ? r : g, what, err);
}

static int reduce_scatter_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return sharded(d, buf, n, 0, "the gradient reduce-scatter (ZeRO-1)", err);
}

static int all_gather_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    return sharded(d, buf, n, 1, "the all-gather of the updated weights (ZeRO-1)", err);
}

/* Rank 0's whole array to the ranks' shards (gather = 0) or back: rank 0 sends to (or
 * receives from) every other rank its shard, point to point in one group, and copies its
 * own on the device; the others hold only their shard. */
static int rooted(hn_dist *d, float *whole, float *shard, size_t n, int gather, const char *what,
                  hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->broken) return wait_until(d, settled, what, err); /* says why */
    if (flush_sums(d, err)) return HN_ERR;
    size_t off, len;
    hn_dist_shard(n, d->world, d->rank, &off, &len);
    if (d->rank == 0 && len &&
        cudaMemcpyAsync(gather ? whole : shard, gather ? shard : whole, len * sizeof(float),
                        cudaMemcpyDeviceToDevice, m->stream) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, what, err);
    ncclResult_t r = lib.GroupStart();
    for (int p = 1; p < d->world && r == ncclSuccess; p++) {
        size_t po, pl;
        hn_dist_shard(n, d->world, p, &po, &pl);
        if (!pl || (d->rank != 0 && d->rank != p)) continue;
        if (d->rank == 0)
            r = gather ? lib.Recv(whole + po, pl, ncclFloat32, p, m->comm, m->stream)
                       : lib.Send(whole + po, pl, ncclFloat32, p, m->comm, m->stream);
        else
            r = gather ? lib.Send(shard, pl, ncclFloat32, 0, m->comm, m->stream)
                       : lib.Recv(shard, pl, ncclFloat32, 0, m->comm, m->stream);
    }
    ncclResult_t g = lib.GroupEnd();
    return complete(d, r != ncclSuccess ? r : g, what, err);
}

static int scatter_f32(hn_dist *d, const float *whole, float *shard, size_t n, hn_error *err) {
    return rooted(d, (float *)whole, shard, n, 0,
                  "dealing rank 0's optimizer state out to the ranks' shards (ZeRO-1)", err);
}

static int gather_f32(hn_dist *d, const float *shard, float *whole, size_t n, hn_error *err) {
    return rooted(d, whole, (float *)shard, n, 1, "gathering the optimizer state to rank 0 (ZeRO-1)",
                  err);
}

/* Host values through the device. One round: the parts packed into pinned host memory,
 * one asynchronous copy to the device, their collectives as one group, one asynchronous
 * copy back, then one wait under the watch (an event). No synchronous cudaMemcpy: it would
 * wait for all the work before it without the watch (a rank gone would hang it), and
 * from pageable memory it holds the host until the device drained (the host could not
 * enqueue ahead). At world size 1 NCCL reduces in place without a kernel, so a round is
 * the two small copies and the wait. */
typedef struct host_part {
    void *v;
    size_t n;              /* elements */
    ncclDataType_t type;
    size_t elem;           /* bytes per element */
    int bcast;             /* rank 0's to all; else reduced by op */
    ncclRedOp_t op;
} host_part;

#define MAX_HOST_PARTS 2

/* device and pinned host staging of at least bytes */
static int ensure_stage(nccl_dist *m, size_t bytes, const char *what, hn_error *err) {
    if (bytes <= m->stage_bytes) return HN_OK;
    size_t want = bytes > 4096 ? bytes : 4096;
    void *p = NULL, *h = NULL;
    if (cudaMalloc(&p, want) != cudaSuccess || cudaMallocHost(&h, want) != cudaSuccess) {
        cudaGetLastError();
        if (p) cudaFree(p);
        return hn_fail(err, "out of device or pinned host memory for %zu bytes of %s", want, what);
    }
    if (m->stage) cudaFree(m->stage);
    if (m->pinned) cudaFreeHost(m->pinned);
    m->stage = p;
    m->pinned = h;
    m->stage_bytes = want;
    return HN_OK;
}

static int through_device(hn_dist *d, const host_part *parts, int np, const char *what,
                          hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->broken) return wait_until(d, settled, what, err); /* says why */
    if (flush_sums(d, err)) return HN_ERR;
    size_t at[MAX_HOST_PARTS + 1] = {0}; /* each part's offset, 8-byte aligned */
    for (int i = 0; i < np; i++) at[i + 1] = at[i] + ((parts[i].n * parts[i].elem + 7) & ~(size_t)7);
    if (ensure_stage(m, at[np], what, err)) return HN_ERR;
    for (int i = 0; i < np; i++) memcpy((char *)m->pinned + at[i], parts[i].v, parts[i].n * parts[i].elem);
    if (cudaMemcpyAsync(m->stage, m->pinned, at[np], cudaMemcpyHostToDevice, m->stream) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, what, err);
    ncclResult_t r = lib.GroupStart();
    for (int i = 0; i < np && r == ncclSuccess; i++) {
        char *p = (char *)m->stage + at[i];
        r = parts[i].bcast ? lib.Broadcast(p, p, parts[i].n, parts[i].type, 0, m->comm, m->stream)
                           : lib.AllReduce(p, p, parts[i].n, parts[i].type, parts[i].op, m->comm, m->stream);
    }
    ncclResult_t g = lib.GroupEnd();
    if (r == ncclSuccess) r = g;
    if (r != ncclSuccess && r != ncclInProgress) return nccl_fail(d, r, what, err);
    /* enqueued once the communicator settles; the copy back follows it on the stream */
    if (wait_until(d, settled, what, err)) return HN_ERR;
    if (cudaMemcpyAsync(m->pinned, m->stage, at[np], cudaMemcpyDeviceToHost, m->stream) != cudaSuccess ||
        cudaEventRecord(m->done, m->stream) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, what, err);
    if (wait_until(d, finished, what, err)) return HN_ERR;
    for (int i = 0; i < np; i++) memcpy(parts[i].v, (char *)m->pinned + at[i], parts[i].n * parts[i].elem);
    return HN_OK;
}

static int sum_f64(hn_dist *d, double *v, int n, hn_error *err) {
    host_part p = {v, (size_t)n, ncclFloat64, sizeof *v, 0, ncclSum};
    return through_device(d, &p, 1, "a sum of statistics", err);
}

static int max_i64(hn_dist *d, int64_t *v, int n, hn_error *err) {
    host_part p = {v, (size_t)n, ncclInt64, sizeof *v, 0, ncclMax};
    return through_device(d, &p, 1, "an agreement between the ranks", err);
}

static int sum_max(hn_dist *d, double *sum, int ns, int64_t *max, int nm, hn_error *err) {
    host_part p[MAX_HOST_PARTS] = {{sum, (size_t)ns, ncclFloat64, sizeof *sum, 0, ncclSum},
                                   {max, (size_t)nm, ncclInt64, sizeof *max, 0, ncclMax}};
    return through_device(d, p, 2, "the step's agreement (statistics, stop)", err);
}

static int broadcast(hn_dist *d, void *buf, size_t bytes, hn_error *err) {
    host_part p = {buf, bytes, ncclUint8, 1, 1, ncclSum};
    return through_device(d, &p, 1, "a broadcast from rank 0", err);
}

static int barrier(hn_dist *d, hn_error *err) {
    int64_t one = 1;
    host_part p = {&one, 1, ncclInt64, sizeof one, 0, ncclSum};
    return through_device(d, &p, 1, "a barrier", err);
}

/* ---- the gradient all-reduce overlapped with the backward ---- */

#define SUMS_WHAT "the gradient all-reduce (overlapped with the backward)"

static int sums_stream_ready(nccl_dist *m) {
    if (m->sums_stream) return 1;
    int least = 0, greatest = 0;
    cudaDeviceGetStreamPriorityRange(&least, &greatest);
    /* high priority: a bucket's kernels go before the backward's when both wait */
    if (cudaStreamCreateWithPriority(&m->sums_stream, cudaStreamNonBlocking, greatest) != cudaSuccess ||
        cudaEventCreateWithFlags(&m->grads_written, cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return 1;
}

/* The queued buckets in order, one call each, on the sums' stream after an event recorded
 * now on the instance's stream (every gradient they hold was enqueued before it). Only a
 * settled communicator takes a call: busy, it returns with the rest still queued (wait =
 * 0) or waits (wait = 1). One call a bucket, never a group: how many buckets would share
 * a group depends on each rank's timing, and ranks must issue the same calls. */
static int issue_queued(hn_dist *d, int wait, hn_error *err) {
    nccl_dist *m = impl(d);
    while (m->n_queued) {
        if (m->broken) return wait_until(d, settled, SUMS_WHAT, err); /* says why */
        ncclResult_t r = ncclSuccess;
        int s = settled(d, &r);
        if (s < 0) return nccl_fail(d, r, SUMS_WHAT, err);
        if (s == 0) {
            if (!wait) return HN_OK;
            if (wait_until(d, settled, SUMS_WHAT, err)) return HN_ERR;
        }
        if (!sums_stream_ready(m) || cudaEventRecord(m->grads_written, m->stream) != cudaSuccess ||
            cudaStreamWaitEvent(m->sums_stream, m->grads_written, 0) != cudaSuccess)
            return nccl_fail(d, ncclUnhandledCudaError, SUMS_WHAT, err);
        struct queued_sum q = m->queued[0];
        memmove(m->queued, m->queued + 1, (size_t)(m->n_queued - 1) * sizeof *m->queued);
        m->n_queued--;
        r = lib.AllReduce(q.buf, q.buf, q.n, ncclFloat32, ncclSum, m->comm, m->sums_stream);
        m->sums_issued = 1;
        if (r != ncclSuccess && r != ncclInProgress) return nccl_fail(d, r, SUMS_WHAT, err);
    }
    return HN_OK;
}

static int start_sum_f32(hn_dist *d, float *buf, size_t n, hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->n_queued == m->cap_queued) {
        int cap = m->cap_queued ? 2 * m->cap_queued : 64;
        struct queued_sum *q = realloc(m->queued, (size_t)cap * sizeof *q);
        if (!q) return hn_fail(err, "out of memory for the buckets of %s", SUMS_WHAT);
        m->queued = q;
        m->cap_queued = cap;
    }
    m->queued[m->n_queued++] = (struct queued_sum){buf, n};
    return issue_queued(d, 0, err);
}

static void progress(hn_dist *d) {
    nccl_dist *m = impl(d);
    if (!m->sums_failed && issue_queued(d, 0, &m->sums_err)) m->sums_failed = 1;
}

/* Before any other collective: the queued buckets issued, and the instance's stream after
 * them (what comes next on it is ordered after the sums on every rank). */
static int flush_sums(hn_dist *d, hn_error *err) {
    nccl_dist *m = impl(d);
    if (m->sums_failed) {
        *err = m->sums_err;
        return HN_ERR;
    }
    if (!m->n_queued && !m->sums_issued) return HN_OK;
    if (issue_queued(d, 1, err) || wait_until(d, settled, SUMS_WHAT, err)) return HN_ERR;
    if (cudaEventRecord(m->done, m->sums_stream) != cudaSuccess ||
        cudaStreamWaitEvent(m->stream, m->done, 0) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, SUMS_WHAT, err);
    m->sums_issued = 0;
    return HN_OK;
}

/* Every bucket issued and summed: the instance's stream waits for them (the optimizer
 * follows), and the host waits under the watch, where a failed rank is noticed. */
static int wait_sums(hn_dist *d, hn_error *err) {
    nccl_dist *m = impl(d);
    int any = m->n_queued || m->sums_issued;
    if (flush_sums(d, err)) return HN_ERR;
    if (!any) return HN_OK;
    if (cudaEventRecord(m->done, m->stream) != cudaSuccess)
        return nccl_fail(d, ncclUnhandledCudaError, SUMS_WHAT, err);
    return wait_until(d, finished, SUMS_WHAT, err);
}

static void release(hn_dist *d) {
    nccl_dist *n = impl(d);
    if (n->sums_stream) cudaStreamDestroy(n->sums_stream);
    if (n->grads_written) cudaEventDestroy(n->grads_written);
    free(n->queued);
    if (n->done) cudaEventDestroy(n->done);
    if (n->stage) cudaFree(n->stage);
    if (n->pinned) cudaFreeHost(n->pinned);
    free(n->peers);
    if (n->boot_ops) { /* MPI's table back in place, for its close or abort */
        d->ops = n->boot_ops;
        d->impl = n->boot_impl;
    }
    free(n);
}

static void abort_all(hn_dist *d, int code) {
    nccl_dist *n = impl(d);
    break_comm(n);
    fflush(stdout);
    fflush(stderr);
    if (n->boot_ops) {
        const hn_dist_ops *boot = n->boot_ops;
        release(d);
        boot->abort(d, code); /* MPI_Abort ends every rank */
    }
    /* without MPI the others learn it from NCCL (its connections to this rank close) or
     * from the watch (this pid gone) */
    _exit(code ? code : 1);
}

static void close_nccl(hn_dist *d) {
    nccl_dist *n = impl(d);
    if (!n->broken) {
        /* a clean end flushes the communicator first; a failed one is only aborted */
        hn_error e;
        ncclResult_t r = lib.CommFinalize(n->comm);
        if ((r != ncclSuccess && r != ncclInProgress) ||
            wait_until(d, settled, "closing the communicator", &e))
            break_comm(n);
        if (!n->broken) lib.CommDestroy(n->comm);
    }
    const hn_dist_ops *boot = n->boot_ops;
    release(d);
    if (boot) boot->close(d);
}

static const hn_dist_ops nccl_ops = {
    .name = "nccl",
    .memory = HN_DEVICE_CUDA,
    .even_alone = 1,
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
    .close = close_nccl,
};

/* ---- start-up ---- */

/* The device of this rank, opened by the cuda backend (which names a local rank beyond
 * the visible devices). */
static int open_device(hn_dist *d, hn_error *err) {
    hn_cuda_prefer_device(d->local_rank);
    if (hn_backend_cuda()) return HN_OK;
    if (d->world == 1)
        return hn_fail(err, "rank 0 cannot open a GPU for NCCL (started by %s): %s (NCCL runs on "
                            "GPUs; without HNET_COMM=nccl one process trains on the cpu)",
                       d->how, hn_cuda_last_error());
    return hn_fail(err, "rank %d cannot open its GPU (started by %s): %s (NCCL needs one GPU per "
                        "rank; for the cpu backend launch with mpirun -np %d hnet run FILE)",
                   d->rank, d->how, hn_cuda_last_error(), d->world);
}

/* Creates the communicator from the shared id: ncclCommInitRankConfig, non-blocking,
 * waited for under the watch (a rank that never arrives times out instead of hanging). */
static int start_comm(hn_dist *d, nccl_dist *n, const ncclUniqueId *id, hn_error *err) {
    n->bucket = hn_dist_bucket_floats();
    if (cudaEventCreateWithFlags(&n->done, cudaEventDisableTiming) != cudaSuccess)
        return hn_fail(err, "rank %d: cannot create a CUDA event for NCCL", d->rank);
    n->stream = (cudaStream_t)hn_cuda_stream_of(hn_backend_cuda());
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    d->impl = n;
    d->ops = &nccl_ops;
    snprintf(d->backend, sizeof d->backend, "nccl");
    ncclResult_t r = lib.CommInitRankConfig(&n->comm, d->world, *id, d->rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
        n->broken = 1;
        return nccl_fail(d, r, "starting the communicator", err);
    }
    return wait_until(d, settled, "starting the NCCL communicator (every rank must reach it)", err);
}

int hn_dist_nccl_open(const hn_dist_launch *launch, hn_dist *d, hn_error *err) {
    d->rank = launch->rank;
    d->world = launch->world;
    d->local_rank = launch->local_rank;
    if (open_device(d, err) || load_nccl(err)) return HN_ERR;
    nccl_dist *n = calloc(1, sizeof *n);
    hn_dist_card *cards = calloc((size_t)d->world, sizeof *cards);
    if (n) n->peers = calloc((size_t)d->world, sizeof *n->peers);
    if (!n || !cards || !n->peers) {
        free(cards);
        if (n) free(n->peers);
        free(n);
        return hn_fail(err, "out of memory for the table of %d ranks", d->world);
    }
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t r = d->rank == 0 ? lib.GetUniqueId(&id) : ncclSuccess;
    int rc = r == ncclSuccess ? HN_OK
                              : hn_fail(err, "rank 0 cannot make the NCCL id: %s", lib.GetErrorString(r));
    if (!rc && launch->master_addr[0]) {
        hn_rdv_settings s = {.addr = launch->master_addr, .port = launch->master_port,
                             .rank = d->rank, .world = d->world};
        hn_dist_watch w;
        hn_dist_watch_init(&w, d->rank, d->world, "", NULL, 0); /* for HNET_DIST_TIMEOUT */
        s.timeout = w.timeout;
        rc = hn_rendezvous(&s, &id, sizeof id, cards, err);
    } else if (!rc) {
        hn_dist_card_mine(&cards[0], 0); /* a world of one (launch.c refuses more without an address) */
    }
    if (rc) {
        free(cards);
        free(n->peers);
        free(n);
        return HN_ERR;
    }
    int peers = hn_dist_local_peers(cards, d->world, d->rank, n->peers, &d->deputy);
    d->local_world = peers + 1;
    hn_dist_watch_init(&n->watch, d->rank, d->world, cards[d->rank].host, n->peers, peers);
    free(cards);
    if (start_comm(d, n, &id, err)) {
        if (!d->ops) free(n); /* not started: nothing for the caller to abort */
        return HN_ERR;
    }
    return HN_OK;
}

int hn_dist_nccl_over_mpi(hn_dist *d, hn_error *err) {
    /* every rank learns whether all can start, so none waits in NCCL for one that failed */
    hn_error mine;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    int failed = open_device(d, &mine) || load_nccl(&mine);
    ncclResult_t r = !failed && d->rank == 0 ? lib.GetUniqueId(&id) : ncclSuccess;
    if (r != ncclSuccess)
        failed = hn_fail(&mine, "rank 0 cannot make the NCCL id: %s", lib.GetErrorString(r));
    int64_t v = failed ? d->world - d->rank : 0;
    if (d->ops->max_i64(d, &v, 1, err)) return HN_ERR;
    if (v) {
        if (failed) *err = mine;
        else hn_fail(err, "rank %d could not start NCCL (it says why)", (int)(d->world - v));
        return HN_ERR;
    }
    nccl_dist *n = calloc(1, sizeof *n);
    if (!n) return hn_fail(err, "out of memory starting NCCL");
    if (d->ops->broadcast(d, &id, sizeof id, err)) {
        free(n);
        return HN_ERR;
    }
    n->boot_ops = d->ops;
    n->boot_impl = d->impl;
    n->watch = *hn_dist_mpi_watch(d); /* its peers live as long as MPI's table */
    snprintf(d->how + strlen(d->how), sizeof d->how - strlen(d->how), "%s",
             strstr(d->how, "NCCL") ? "" : "; NCCL");
    return start_comm(d, n, &id, err);
}

#endif
