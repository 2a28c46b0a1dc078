/* cuda backend memory, errors, timers and the device's identity. Allocations are
 * cudaMalloc'd and zero-filled; a host-side table of sizes gives bytes in use and the
 * peak. Transfers and memsets are enqueued on the instance's stream; download waits for
 * that stream only. */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/instance.cuh"

/* Allocations are attributed to the instance whose op made them (bytes in use and the
 * peak are per instance); the pointer table is the process's, under a lock, because two
 * instances may allocate from two threads. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* open addressing: pointer -> size */
#define TABLE_BITS 16
static struct { void *p; size_t n; hn_cuda_instance *owner; } g_table[1u << TABLE_BITS];

static size_t slot_of(void *p) {
    uintptr_t h = (uintptr_t)p >> 8;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> (64 - TABLE_BITS));
}

static void remember(void *p, size_t n, hn_cuda_instance *owner) {
    size_t i = slot_of(p);
    for (size_t k = 0; k < (1u << TABLE_BITS); k++, i = (i + 1) & ((1u << TABLE_BITS) - 1))
        if (!g_table[i].p) {
            g_table[i].p = p;
            g_table[i].n = n;
            g_table[i].owner = owner;
            if (owner) {
                owner->in_use += n;
                if (owner->in_use > owner->peak) owner->peak = owner->in_use;
            }
            return;
        }
}

static void forget(void *p) {
    size_t i = slot_of(p);
    for (size_t k = 0; k < (1u << TABLE_BITS); k++, i = (i + 1) & ((1u << TABLE_BITS) - 1)) {
        if (!g_table[i].p) return;
        if (g_table[i].p == p) {
            if (g_table[i].owner) g_table[i].owner->in_use -= g_table[i].n;
            /* re-insert the rest of the cluster so lookups stay correct */
            g_table[i].p = NULL;
            size_t j = (i + 1) & ((1u << TABLE_BITS) - 1);
            while (g_table[j].p) {
                void *q = g_table[j].p;
                size_t n = g_table[j].n;
                hn_cuda_instance *o = g_table[j].owner;
                g_table[j].p = NULL;
                if (o) o->in_use -= n;
                remember(q, n, o);
                j = (j + 1) & ((1u << TABLE_BITS) - 1);
            }
            return;
        }
    }
}

/* an instance's allocations outlive it in the table (the caller frees them later) */
void hn_cuda_forget_owner(hn_cuda_instance *inst) {
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < (1u << TABLE_BITS); i++)
        if (g_table[i].owner == inst) g_table[i].owner = NULL;
    pthread_mutex_unlock(&g_lock);
}

extern "C" size_t hn_cuda_bytes_in_use(void) { return hn_cuda_cur() ? hn_cuda_cur()->in_use : 0; }
extern "C" size_t hn_cuda_peak_bytes(void) { return hn_cuda_cur() ? hn_cuda_cur()->peak : 0; }
extern "C" void hn_cuda_reset_peak(void) {
    if (hn_cuda_cur()) hn_cuda_cur()->peak = hn_cuda_cur()->in_use;
}

void *hn_cuda_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = bytes ? (bytes + 255) / 256 * 256 : 256;
    if (cudaMalloc(&p, n) != cudaSuccess) {
        cudaGetLastError(); /* an out-of-memory answer is reported as NULL, not sticky */
        return NULL;
    }
    HN_CK(cudaMemsetAsync(p, 0, n, HN_STREAM));
    pthread_mutex_lock(&g_lock);
    remember(p, n, hn_cuda_cur());
    pthread_mutex_unlock(&g_lock);
    return p;
}

void hn_cuda_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&g_lock);
    forget(p);
    pthread_mutex_unlock(&g_lock);
    HN_CK(cudaFree(p)); /* waits for the device's work, so no op still reads p */
}

/* src is pageable host memory (the runtime's): cudaMemcpyAsync has staged it before it
 * returns, so the caller may reuse it at once */
void hn_cuda_upload(void *dst, const void *src, size_t bytes) {
    if (bytes) HN_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, HN_STREAM));
    hn_cuda_shadow_touch(dst, bytes);
    hn_cuda_launched("upload");
}
void hn_cuda_download(void *dst, const void *src, size_t bytes) {
    if (bytes) {
        HN_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, HN_STREAM));
        HN_CK(cudaStreamSynchronize(HN_STREAM));
    }
    hn_cuda_launched("download");
}
void hn_cuda_copy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src)
        HN_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, HN_STREAM));
    hn_cuda_shadow_touch(dst, bytes);
    hn_cuda_launched("copy");
}
void hn_cuda_zero(void *p, size_t bytes) {
    if (bytes) HN_CK(cudaMemsetAsync(p, 0, bytes, HN_STREAM));
    hn_cuda_shadow_touch(p, bytes);
    hn_cuda_launched("zero");
}
void hn_cuda_sync(void) { HN_CK(cudaStreamSynchronize(HN_STREAM)); }

/* Pinned host memory: a copy from the device into it is enqueued and returns (into
 * pageable memory cudaMemcpyAsync would wait for the stream). Not counted in in_use:
 * it is no device memory. */
void *hn_cuda_alloc_host(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        hn_cuda_note(e, "cudaHostAlloc");
        return NULL;
    }
    memset(p, 0, bytes ? bytes : 1);
    return p;
}
void hn_cuda_free_host(void *p) {
    if (p) HN_CK(cudaFreeHost(p)); /* waits for the copies into it */
}
/* the copy and an event after it; download_wait waits for the event alone, so for this
 * copy and every one before it on the stream, not for the work enqueued after them */
void hn_cuda_download_async(void *dst, const void *src, size_t bytes) {
    if (bytes) HN_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, HN_STREAM));
    HN_CK(cudaEventRecord(hn_cuda_cur()->ev_download, HN_STREAM));
    hn_cuda_launched("download_async");
}
void hn_cuda_download_wait(void) { HN_CK(cudaEventSynchronize(hn_cuda_cur()->ev_download)); }

void *hn_cuda_scratch(int slot, size_t bytes) {
    void *p = hn_grow_buf_get(&hn_cuda_cur()->scratch[slot], hn_cuda_alloc, hn_cuda_free, bytes);
    if (!p) {
        char what[96];
        snprintf(what, sizeof what, "scratch slot %d: %zu bytes", slot, bytes);
        hn_cuda_note(cudaErrorMemoryAllocation, what);
    }
    return p;
}

extern "C" const char *hn_cuda_device_name(void) {
    static char name[256];
    if (!name[0]) {
        cudaDeviceProp prop;
        int dev = hn_cuda_cur() ? hn_cuda_cur()->device : 0;
        if (cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
            snprintf(name, sizeof name, "%s", prop.name);
        else
            snprintf(name, sizeof name, "unknown");
    }
    return name;
}

/* the timer's events are the instance's, recorded on its stream */
extern "C" void hn_cuda_timer_start(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    if (!inst) return;
    hn_cuda_scope scope(inst, "timer_start");
    HN_CK(cudaEventRecord(inst->t0, inst->stream));
}
extern "C" float hn_cuda_timer_stop_ms(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    float ms = 0;
    if (!inst) return ms;
    hn_cuda_scope scope(inst, "timer_stop");
    HN_CK(cudaEventRecord(inst->t1, inst->stream));
    HN_CK(cudaEventSynchronize(inst->t1));
    HN_CK(cudaEventElapsedTime(&ms, inst->t0, inst->t1));
    return ms;
}
