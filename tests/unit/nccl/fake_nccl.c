/* A stand-in for libnccl.so.2 (loaded by runtime/dist/nccl.c through HNET_NCCL_LIB) that
 * behaves as a communicator of ranks holding the same values: a sum is 3 times the value
 * (as if 3 ranks), a max or a broadcast leaves it; ZeRO-1's reduce-scatter and reduce
 * triple this rank's block, its all-gather leaves the buffer. It is non-blocking as NCCL is: each
 * call leaves the communicator "in progress" for a few polls. FAKE_NCCL picks a failure:
 *   old     NCCL 2.10 (too old)
 *   remote  a float all-reduce fails as if a rank on another host died (ncclRemoteError)
 *   hang    a float all-reduce never completes (a rank that never arrives)
 * The counters tell the test what was called. */
#include <nccl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ncclComm {
    int nranks, rank, pending, failed, hung;
};

int fake_nccl_aborts, fake_nccl_destroys, fake_nccl_allreduces, fake_nccl_blocking = -1;
int fake_nccl_reduce_scatters, fake_nccl_reduces, fake_nccl_all_gathers, fake_nccl_broadcasts;
/* the stream of the last collective (nccl.c enqueues on the cuda instance's stream) */
cudaStream_t fake_nccl_last_stream;
int fake_nccl_id_byte; /* the first byte of the id the communicator was made from */
/* calls a non-blocking communicator refuses: a group's first collective while it is still
 * busy with the last (NCCL asks the caller to wait for ncclSuccess first) */
int fake_nccl_busy_calls;
int fake_nccl_groups; /* ncclGroupStart calls */
/* the all-reduces in order, one letter each: f float32, d float64, i int64 */
char fake_nccl_log[256];
static int group_checked;

static void check_settled(ncclComm_t c) {
    if (!group_checked && c->pending > 0 && !c->hung && !c->failed) fake_nccl_busy_calls++;
    group_checked = 1;
}

static int mode(const char *m) {
    const char *v = getenv("FAKE_NCCL");
    return v && !strcmp(v, m);
}

ncclResult_t ncclGetVersion(int *v) {
    *v = mode("old") ? 21000 : 22809;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0x5a, sizeof *id);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *c, int n, ncclUniqueId id, int rank, ncclConfig_t *cfg) {
    fake_nccl_blocking = cfg ? cfg->blocking : -1;
    fake_nccl_id_byte = (unsigned char)id.internal[0];
    *c = calloc(1, sizeof **c);
    (*c)->nranks = n;
    (*c)->rank = rank;
    (*c)->pending = 3;
    return ncclInProgress;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *e) {
    if (c->failed) *e = ncclRemoteError;
    else if (c->hung || c->pending > 0) {
        c->pending--;
        *e = ncclInProgress;
    } else *e = ncclSuccess;
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t c) {
    fake_nccl_aborts++;
    free(c);
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) {
    fake_nccl_destroys++;
    free(c);
    return ncclSuccess;
}

ncclResult_t ncclCommFinalize(ncclComm_t c) {
    c->pending = 2;
    return ncclInProgress;
}

static void times3(void *buf, size_t n, ncclDataType_t t) {
    for (size_t i = 0; i < n; i++) {
        if (t == ncclFloat32) ((float *)buf)[i] *= 3;
        else if (t == ncclFloat64) ((double *)buf)[i] *= 3;
        else if (t == ncclInt64) ((int64_t *)buf)[i] *= 3;
    }
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t c, cudaStream_t s) {
    check_settled(c);
    fake_nccl_allreduces++;
    fake_nccl_last_stream = s;
    size_t len = strlen(fake_nccl_log);
    if (len + 1 < sizeof fake_nccl_log) {
        fake_nccl_log[len] = t == ncclFloat32 ? 'f' : t == ncclFloat64 ? 'd' : 'i';
        fake_nccl_log[len + 1] = 0;
    }
    if (send != recv) memcpy(recv, send, n * (t == ncclFloat32 ? 4 : 8));
    if (op == ncclSum) times3(recv, n, t);
    if (t == ncclFloat32 && mode("remote")) c->failed = 1;
    if (t == ncclFloat32 && mode("hang")) c->hung = 1;
    c->pending = 2;
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t n, ncclDataType_t t, int root,
                           ncclComm_t c, cudaStream_t s) {
    fake_nccl_broadcasts++;
    fake_nccl_last_stream = s;
    c->pending = 1;
    return ncclSuccess;
}

/* ZeRO-1: this rank's block of the sum (in place: recv is send + rank x n) */
ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t n, ncclDataType_t t,
                               ncclRedOp_t op, ncclComm_t c, cudaStream_t s) {
    fake_nccl_reduce_scatters++;
    fake_nccl_last_stream = s;
    const char *from = (const char *)send + (size_t)c->rank * n * (t == ncclFloat32 ? 4 : 8);
    if (from != recv) memcpy(recv, from, n * (t == ncclFloat32 ? 4 : 8));
    if (op == ncclSum) times3(recv, n, t);
    c->pending = 2;
    return ncclSuccess;
}

/* the sum at root (every rank of the fake is the root: all hold the same values) */
ncclResult_t ncclReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op,
                        int root, ncclComm_t c, cudaStream_t s) {
    fake_nccl_reduces++;
    fake_nccl_last_stream = s;
    if (send != recv) memcpy(recv, send, n * (t == ncclFloat32 ? 4 : 8));
    if (op == ncclSum) times3(recv, n, t);
    c->pending = 2;
    return ncclSuccess;
}

/* every rank's block to all: the ranks of the fake hold the same blocks already */
ncclResult_t ncclAllGather(const void *send, void *recv, size_t n, ncclDataType_t t, ncclComm_t c,
                           cudaStream_t s) {
    fake_nccl_all_gathers++;
    fake_nccl_last_stream = s;
    c->pending = 1;
    return ncclSuccess;
}

/* point to point (ZeRO-1's moments to and from rank 0): the fake has no other rank */
ncclResult_t ncclSend(const void *buf, size_t n, ncclDataType_t t, int peer, ncclComm_t c, cudaStream_t s) {
    fake_nccl_last_stream = s;
    c->pending = 1;
    return ncclSuccess;
}

ncclResult_t ncclRecv(void *buf, size_t n, ncclDataType_t t, int peer, ncclComm_t c, cudaStream_t s) {
    fake_nccl_last_stream = s;
    c->pending = 1;
    return ncclSuccess;
}

ncclResult_t ncclGroupStart(void) {
    fake_nccl_groups++;
    group_checked = 0;
    return ncclSuccess;
}
ncclResult_t ncclGroupEnd(void) { return ncclInProgress; }

const char *ncclGetErrorString(ncclResult_t r) {
    return r == ncclRemoteError ? "remote process exited or there was a network error"
                                : r == ncclSuccess ? "no error" : "some NCCL error";
}

const char *ncclGetLastError(ncclComm_t c) { return mode("remote") ? "fake: peer 1 closed its connection" : ""; }
