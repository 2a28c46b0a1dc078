/* The NCCL backend's logic (runtime/dist/nccl.c) on a machine without a GPU: built against
 * nccl.h with the CUDA runtime calls it makes stood in for by host memory (below) and
 * libnccl.so.2 by tests/unit/nccl/fake_nccl.c (HNET_NCCL_LIB). Checked: the library is
 * found or refused with a message, the communicator is non-blocking, the statistics and
 * the gradient go through it (in buckets), an asynchronous NCCL error or a collective that
 * never completes ends the wait with the reason and aborts the communicator, two
 * processes meet over TCP (the id of rank 0 reaches rank 1) and see each other die, and
 * under mpirun -np 2 (this binary again, --over-mpi) NCCL starts over MPI for a run on
 * the cuda backend, the id broadcast over MPI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "dist/dist.h"
#include "support/fixtures.h"

/* ---- the CUDA runtime and the cuda backend, as far as nccl.c uses them ---- */

static int have_gpu = 1, preferred = -1;

cudaError_t cudaMalloc(void **p, size_t n) {
    *p = malloc(n);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
/* copies that hold the host until the device drains (cudaMemcpy), and those queued */
static int sync_copies, async_copies;
/* the cuda instance's stream: every copy, event and collective of nccl.c must use it */
static int fake_stream_object, fake_sums_stream_object;
#define FAKE_STREAM ((cudaStream_t)&fake_stream_object)
/* the overlapped all-reduce's own stream (nccl.c makes it) */
#define FAKE_SUMS_STREAM ((cudaStream_t)&fake_sums_stream_object)
static int off_stream; /* work enqueued on another stream */
static int ours(cudaStream_t s) { return s == FAKE_STREAM || s == FAKE_SUMS_STREAM; }
/* stream waits: the instance's for the sums, the sums' for the instance's */
static int waits_on_instance, waits_on_sums, sums_streams_made;
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    sync_copies++;
    off_stream++; /* synchronous on the legacy default stream */
    memcpy(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t s) {
    async_copies++;
    if (s != FAKE_STREAM) off_stream++;
    memcpy(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t n) { return cudaMalloc(p, n); }
cudaError_t cudaFreeHost(void *p) { return cudaFree(p); }
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (s != FAKE_STREAM) off_stream++;
    return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
    static int event;
    *e = (cudaEvent_t)&event;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    if (!ours(s)) off_stream++;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest) {
    *least = 0;
    *greatest = -5;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned int flags, int priority) {
    assert_int_equal(priority, -5); /* the greatest */
    sums_streams_made++;
    *s = FAKE_SUMS_STREAM;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
    if (s == FAKE_STREAM) waits_on_sums++;
    else if (s == FAKE_SUMS_STREAM) waits_on_instance++;
    else off_stream++;
    return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }

static void host_scale(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
/* copies onto themselves: how the backend hears that memory was written behind its back
 * (the cuda backend's bf16 copy of the parameters is then made again: shadow.cu) */
static const void *self_copied;
static size_t self_copied_bytes;
static void host_copy(void *dst, const void *src, size_t bytes) {
    if (dst == src) self_copied = dst, self_copied_bytes = bytes;
    else memmove(dst, src, bytes);
}
static void host_arena(const float *values, size_t n, int on) {}
static hn_backend fake_cuda = {.name = "cuda", .kind = HN_DEVICE_CUDA, .scale = host_scale,
                               .copy = host_copy, .params_arena = host_arena};
const hn_backend *hn_backend_cuda(void) { return have_gpu ? &fake_cuda : NULL; }
void hn_cuda_prefer_device(int local_rank) { preferred = local_rank; }
const char *hn_cuda_last_error(void) { return "no CUDA device (the test's)"; }
void *hn_cuda_stream_of(const hn_backend *be) { return be == &fake_cuda ? FAKE_STREAM : NULL; }

/* ---- the fake library's counters ---- */

static int *counter(const char *name) {
    void *so = dlopen(FAKE_NCCL_SO, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(so);
    int *p = dlsym(so, name);
    assert_non_null(p);
    dlclose(so);
    return p;
}

static hn_dist *open_one(const char *mode, hn_error *err) {
    setenv("HNET_NCCL_LIB", FAKE_NCCL_SO, 1);
    setenv("FAKE_NCCL", mode, 1);
    hn_dist_launch l = {.rank = 0, .world = 1, .local_rank = 0, .nccl = 1, .how = "HNET_COMM=nccl"};
    hn_dist *d = NULL;
    int rc = hn_dist_open(&l, &d, err);
    if (rc) fprintf(stderr, "%s\n", err->msg);
    return rc ? NULL : d;
}

/* Before any test loads the library for good (nccl.c keeps it once loaded). */
static void test_missing_or_old_library_refused(void **state) {
    hn_dist_launch l = {.rank = 0, .world = 1, .nccl = 1, .how = "HNET_COMM=nccl"};
    hn_dist *d = NULL;
    hn_error err = {{0}};
    setenv("HNET_NCCL_LIB", "/nonexistent/libnccl.so.2", 1);
    assert_int_equal(hn_dist_open(&l, &d, &err), HN_ERR);
    assert_null(d);
    assert_non_null(strstr(err.msg, "cannot load NCCL (/nonexistent/libnccl.so.2)"));
    assert_non_null(strstr(err.msg, "HNET_NCCL_LIB"));
    setenv("HNET_NCCL_LIB", FAKE_NCCL_SO, 1);
    setenv("FAKE_NCCL", "old", 1);
    assert_int_equal(hn_dist_open(&l, &d, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "is NCCL 2.10: 2.14 or later is needed"));
    have_gpu = 0;
    setenv("FAKE_NCCL", "", 1);
    assert_int_equal(hn_dist_open(&l, &d, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "cannot open a GPU for NCCL"));
    have_gpu = 1;
}

static void test_collectives_go_through_nccl(void **state) {
    hn_error err = {{0}};
    setenv("HNET_DIST_BUCKET", "3", 1);
    hn_dist *d = open_one("", &err);
    unsetenv("HNET_DIST_BUCKET");
    assert_non_null(d);
    assert_string_equal(d->backend, "nccl");
    assert_int_equal(*counter("fake_nccl_blocking"), 0); /* non-blocking: nothing can hang */
    assert_int_equal(preferred, 0);
    /* a world of one still goes through the communicator (the fake sums 3 equal ranks) */
    double v[2] = {1, 2.5};
    int64_t m[1] = {7};
    char bytes[4] = "abc";
    assert_int_equal(hn_dist_sum_f64(d, v, 2, &err), HN_OK);
    assert_true(v[0] == 3 && v[1] == 7.5);
    assert_int_equal(hn_dist_max_i64(d, m, 1, &err), HN_OK);
    assert_true(m[0] == 7);
    assert_int_equal(hn_dist_broadcast(d, bytes, 4, &err), HN_OK);
    assert_string_equal(bytes, "abc");
    assert_int_equal(hn_dist_barrier(d, &err), HN_OK);
    /* the gradient: weighted by the share, summed, in buckets of 3 floats (2 for 4) */
    float g[4] = {1, 2, 3, 4};
    int before = *counter("fake_nccl_allreduces");
    assert_int_equal(hn_dist_average_grads(d, &fake_cuda, g, 4, 0.5, &err), HN_OK);
    assert_true(g[0] == 1.5f && g[1] == 3 && g[2] == 4.5f && g[3] == 6);
    assert_int_equal(*counter("fake_nccl_allreduces") - before, 2);
    /* enqueued on the cuda instance's stream, in order with the backward's ops */
    assert_ptr_equal(*(cudaStream_t *)counter("fake_nccl_last_stream"), FAKE_STREAM);
    assert_int_equal(off_stream, 0);
    assert_int_equal(hn_dist_supports(d, &fake_cuda, &err), HN_OK);
    assert_int_equal(hn_dist_supports(d, hn_backend_cpu(), &err), HN_ERR);
    assert_non_null(strstr(err.msg, "meet through NCCL, which exchanges GPU memory"));
    int destroys = *counter("fake_nccl_destroys"), aborts = *counter("fake_nccl_aborts");
    hn_dist_close(d);
    assert_int_equal(*counter("fake_nccl_destroys"), destroys + 1);
    assert_int_equal(*counter("fake_nccl_aborts"), aborts);
}

/* ZeRO-1's collectives: the gradient weighted by the share and reduce-scattered (the
 * 16-aligned body in one ncclReduceScatter, the tail of fewer than 16 x world floats
 * reduced to the last rank), the weights all-gathered likewise, in one group each, on the
 * instance's stream. A world of one owns the whole array. */
static void test_zero1_collectives_go_through_nccl(void **state) {
    hn_error err = {{0}};
    hn_dist *d = open_one("", &err);
    assert_non_null(d);
    enum { N = 40 }; /* a body of 32, a tail of 8 */
    float g[N], w[N];
    for (int i = 0; i < N; i++) g[i] = w[i] = (float)i;
    int rs = *counter("fake_nccl_reduce_scatters"), rd = *counter("fake_nccl_reduces");
    assert_int_equal(hn_dist_reduce_scatter_grads(d, &fake_cuda, g, N, 0.5, &err), HN_OK);
    for (int i = 0; i < N; i++) assert_true(g[i] == 1.5f * (float)i); /* the fake's 3 ranks */
    assert_int_equal(*counter("fake_nccl_reduce_scatters") - rs, 1);
    assert_int_equal(*counter("fake_nccl_reduces") - rd, 1);
    int ag = *counter("fake_nccl_all_gathers"), bc = *counter("fake_nccl_broadcasts");
    assert_int_equal(hn_dist_all_gather_floats(d, &fake_cuda, w, N, &err), HN_OK);
    for (int i = 0; i < N; i++) assert_true(w[i] == (float)i);
    /* the other ranks' shards were written by NCCL, not by the backend's AdamW: the
     * backend hears of it, so its bf16 copy of the weights is made again before the next
     * product (else it keeps their old values) */
    assert_ptr_equal(self_copied, w);
    assert_int_equal(self_copied_bytes, sizeof w);
    assert_int_equal(*counter("fake_nccl_all_gathers") - ag, 1);
    assert_int_equal(*counter("fake_nccl_broadcasts") - bc, 1);
    /* the moments: rank 0's whole array dealt out as shards, gathered back for a
     * checkpoint (a world of one: its own shard, copied on the device) */
    float whole[N], shard[N], back[N];
    for (int i = 0; i < N; i++) whole[i] = (float)(i + 1), shard[i] = back[i] = 0;
    assert_int_equal(hn_dist_scatter_floats(d, &fake_cuda, whole, shard, N, &err), HN_OK);
    assert_memory_equal(shard, whole, sizeof whole);
    assert_int_equal(hn_dist_gather_floats(d, &fake_cuda, shard, back, N, &err), HN_OK);
    assert_memory_equal(back, whole, sizeof whole);
    assert_ptr_equal(*(cudaStream_t *)counter("fake_nccl_last_stream"), FAKE_STREAM);
    assert_int_equal(off_stream, 0);
    hn_dist_close(d);
}

/* The host's collectives (the step's statistics and stop flag, the ratio loss's sums)
 * each take one round through the device: one queued copy each way, the collectives as
 * one group, one wait. A synchronous cudaMemcpy would hold the host until the device
 * drained, outside the watch. */
static void test_host_collectives_take_one_round(void **state) {
    hn_error err = {{0}};
    hn_dist *d = open_one("", &err);
    assert_non_null(d);
    int sync0 = sync_copies, async0 = async_copies, reduces0 = *counter("fake_nccl_allreduces");
    double w[2] = {0.5, 1};
    assert_int_equal(hn_dist_sum_f64(d, w, 2, &err), HN_OK); /* the ratio loss's, mid-forward */
    assert_true(w[0] == 1.5 && w[1] == 3);
    assert_int_equal(sync_copies - sync0, 0);
    assert_int_equal(async_copies - async0, 2);
    double v[3] = {1, 2.5, -4};
    int64_t stop[1] = {15};
    assert_int_equal(hn_dist_sum_max(d, v, 3, stop, 1, &err), HN_OK);
    assert_true(v[0] == 3 && v[1] == 7.5 && v[2] == -12); /* summed (the fake: 3 ranks) */
    assert_true(stop[0] == 15);                            /* the max of equal ranks */
    assert_int_equal(*counter("fake_nccl_allreduces") - reduces0, 3);
    assert_int_equal(async_copies - async0, 4);
    assert_int_equal(sync_copies - sync0, 0);
    hn_dist_close(d);
}

/* The overlapped all-reduce: each bucket weighted and started without a wait, on a stream
 * of its own that waits for the instance's (the gradients written); a bucket started while
 * the non-blocking communicator is busy is queued, not called into it; a host collective
 * after it issues it first; the final wait puts the instance's stream after the sums. */
static void test_overlapped_sums_on_their_own_stream(void **state) {
    hn_error err = {{0}};
    hn_dist *d = open_one("", &err);
    assert_non_null(d);
    assert_int_equal(hn_dist_overlap_wanted(d, &fake_cuda, &err), 1); /* a world of one too */
    setenv("HNET_DIST_OVERLAP", "0", 1);
    assert_int_equal(hn_dist_overlap_wanted(d, &fake_cuda, &err), 0);
    setenv("HNET_DIST_OVERLAP", "on", 1);
    assert_int_equal(hn_dist_overlap_wanted(d, &fake_cuda, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "HNET_DIST_OVERLAP=on: expected 1"));
    unsetenv("HNET_DIST_OVERLAP");
    float g[4] = {1, 2, 3, 4};
    int reduces = *counter("fake_nccl_allreduces"), busy = *counter("fake_nccl_busy_calls");
    int waited = waits_on_instance, after = waits_on_sums, groups = *counter("fake_nccl_groups");
    assert_int_equal(hn_dist_start_sum(d, &fake_cuda, g, 2, 0.5, &err), HN_OK);
    assert_int_equal(*counter("fake_nccl_allreduces") - reduces, 1); /* issued at once */
    assert_ptr_equal(*(cudaStream_t *)counter("fake_nccl_last_stream"), FAKE_SUMS_STREAM);
    assert_int_equal(waits_on_instance - waited, 1);
    assert_int_equal(hn_dist_start_sum(d, &fake_cuda, g + 2, 2, 0.5, &err), HN_OK);
    assert_int_equal(*counter("fake_nccl_allreduces") - reduces, 1); /* busy: queued */
    for (int i = 0; i < 4; i++) hn_dist_progress(d);                  /* settles, issues */
    assert_int_equal(*counter("fake_nccl_allreduces") - reduces, 2);
    /* one call a bucket, never grouped: a group's size would depend on the rank's timing */
    assert_int_equal(*counter("fake_nccl_groups") - groups, 0);
    assert_int_equal(hn_dist_wait_sums(d, &err), HN_OK);
    assert_true(g[0] == 1.5f && g[1] == 3 && g[2] == 4.5f && g[3] == 6); /* the fake's 3 ranks */
    assert_true(waits_on_sums > after); /* the optimizer's stream after the sums */
    /* a host collective after a bucket started: the bucket goes first, on every rank */
    char *log = (char *)counter("fake_nccl_log");
    log[0] = 0;
    assert_int_equal(hn_dist_start_sum(d, &fake_cuda, g, 4, 1.0, &err), HN_OK);
    assert_int_equal(hn_dist_start_sum(d, &fake_cuda, g, 4, 1.0, &err), HN_OK); /* queued */
    double v = 1;
    assert_int_equal(hn_dist_sum_f64(d, &v, 1, &err), HN_OK);
    assert_string_equal(log, "ffd");
    assert_int_equal(hn_dist_wait_sums(d, &err), HN_OK);
    assert_int_equal(*counter("fake_nccl_busy_calls"), busy); /* never called busy */
    assert_int_equal(sums_streams_made, 1);
    assert_int_equal(off_stream, 0);
    hn_dist_close(d);
}

static void test_an_async_error_aborts(void **state) {
    hn_error err = {{0}};
    hn_dist *d = open_one("remote", &err);
    assert_non_null(d);
    float g[2] = {1, 2};
    int aborts = *counter("fake_nccl_aborts");
    assert_int_equal(hn_dist_average_grads(d, &fake_cuda, g, 2, 1.0, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "NCCL failed in the gradient all-reduce on rank 0"));
    assert_non_null(strstr(err.msg, "peer 1 closed its connection"));
    assert_int_equal(d->failure, HN_DIST_PEER_GONE);
    assert_int_equal(*counter("fake_nccl_aborts"), aborts + 1);
    /* nothing more goes through an aborted communicator, and it is not destroyed */
    double v = 1;
    assert_int_equal(hn_dist_sum_f64(d, &v, 1, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "aborted by an earlier failure"));
    int destroys = *counter("fake_nccl_destroys");
    hn_dist_close(d);
    assert_int_equal(*counter("fake_nccl_destroys"), destroys);
}

static void test_a_collective_that_never_completes_times_out(void **state) {
    hn_error err = {{0}};
    setenv("HNET_DIST_TIMEOUT", "0.5", 1);
    hn_dist *d = open_one("hang", &err);
    assert_non_null(d);
    float g[2] = {1, 2};
    int aborts = *counter("fake_nccl_aborts");
    time_t t0 = time(NULL);
    assert_int_equal(hn_dist_average_grads(d, &fake_cuda, g, 2, 1.0, &err), HN_ERR);
    unsetenv("HNET_DIST_TIMEOUT");
    assert_true(time(NULL) - t0 < 5);
    assert_non_null(strstr(err.msg, "in the gradient all-reduce without the other ranks arriving"));
    assert_int_equal(d->failure, HN_DIST_TIMEOUT);
    assert_int_equal(*counter("fake_nccl_aborts"), aborts + 1);
    hn_dist_close(d);
}

/* ---- two processes over TCP ---- */

static hn_dist *open_rank(int rank, int port, hn_error *err) {
    setenv("HNET_NCCL_LIB", FAKE_NCCL_SO, 1);
    hn_dist_launch l = {.rank = rank, .world = 2, .local_rank = rank, .nccl = 1, .master_port = port};
    snprintf(l.master_addr, sizeof l.master_addr, "127.0.0.1");
    snprintf(l.how, sizeof l.how, "torchrun-style variables (test)");
    hn_dist *d = NULL;
    return hn_dist_open(&l, &d, err) ? NULL : d;
}

static void test_two_ranks_meet_and_see_each_other_die(void **state) {
    int port = free_port();
    setenv("FAKE_NCCL", "hang", 1); /* the first gradient all-reduce waits for ever */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* rank 1: meets, then dies before the all-reduce */
        hn_error e;
        hn_dist *d = open_rank(1, port, &e);
        _exit(d && *counter("fake_nccl_id_byte") == 0x5a && d->local_world == 2 ? 0 : 1);
    }
    hn_error err = {{0}};
    hn_dist *d = open_rank(0, port, &err);
    if (!d) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(d);
    assert_int_equal(d->world, 2);
    assert_int_equal(d->local_world, 2);
    assert_int_equal(preferred, 0);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child); /* rank 1 got rank 0's id, and exited */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    float g[2] = {1, 2};
    assert_int_equal(hn_dist_average_grads(d, &fake_cuda, g, 2, 0.5, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "rank 1 of 2"));
    assert_non_null(strstr(err.msg, "is gone"));
    assert_int_equal(d->failure, HN_DIST_PEER_GONE);
    assert_int_equal(d->gone_rank, 1);
    hn_dist_close(d);
}

/* ---- NCCL over MPI: this binary under mpirun -np 2 ---- */

/* One rank of mpirun -np 2: MPI starts, then hn_dist_bind starts NCCL over it; exits 0
 * when the id reached this rank and the collectives go through NCCL. */
static int over_mpi(void) {
    setenv("HNET_NCCL_LIB", FAKE_NCCL_SO, 1);
    setenv("FAKE_NCCL", "", 1);
    hn_dist_launch l;
    hn_dist *d = NULL;
    hn_error err;
    if (hn_dist_detect(&l, &err) || hn_dist_open(&l, &d, &err) || strcmp(d->backend, "mpi") ||
        hn_dist_supports(d, &fake_cuda, &err) || hn_dist_bind(d, &fake_cuda, &err)) {
        fprintf(stderr, "rank %d: %s\n", l.rank, d ? err.msg : "no communicator");
        return 1;
    }
    double v = 2;
    int ok = !strcmp(d->backend, "nccl") && *counter("fake_nccl_id_byte") == 0x5a &&
             preferred == d->local_rank && strstr(d->how, "; NCCL") &&
             hn_dist_sum_f64(d, &v, 1, &err) == HN_OK && v == 6;
    printf("rank %d of %d: %s (%s)\n", d->rank, d->world, ok ? "NCCL over MPI" : "FAILED", d->how);
    hn_dist_close(d);
    return ok ? 0 : 1;
}

static void test_nccl_over_mpi(void **state) {
    if (system("command -v mpirun >/dev/null 2>&1") != 0) skip();
    /* under `make test SANITIZE=1` the ranks unwind allocations the slow way, so that
     * LeakSanitizer sees Open MPI's frames (its leaks past MPI_Finalize are suppressed by
     * library: tests/sanitize/lsan.supp, tests/e2e/dist_lib.sh) */
    const char *asan = getenv("ASAN_OPTIONS");
    int slow = asan && strstr(asan, "detect_leaks=1");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s%s%sOMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --allow-run-as-root "
             "--oversubscribe -np 2 /proc/%d/exe --over-mpi",
             slow ? "ASAN_OPTIONS='" : "", slow ? asan : "", slow ? ":fast_unwind_on_malloc=0' " : "",
             (int)getpid());
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--over-mpi")) return over_mpi();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_or_old_library_refused),
        cmocka_unit_test(test_collectives_go_through_nccl),
        cmocka_unit_test(test_zero1_collectives_go_through_nccl),
        cmocka_unit_test(test_host_collectives_take_one_round),
        cmocka_unit_test(test_overlapped_sums_on_their_own_stream),
        cmocka_unit_test(test_an_async_error_aborts),
        cmocka_unit_test(test_a_collective_that_never_completes_times_out),
        cmocka_unit_test(test_two_ranks_meet_and_see_each_other_die),
        cmocka_unit_test(test_nccl_over_mpi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
