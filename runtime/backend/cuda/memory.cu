/* cuda backend memory, errors, timers and the device's identity. Allocations are
 * cudaMalloc'd and zero-filled; a host-side table of sizes gives bytes in use and the
 * peak. Transfers are synchronous cudaMemcpy on the default stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"

static char g_err[256];
static size_t g_in_use, g_peak;

void hn_cuda_note(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    if (!g_err[0]) {
        snprintf(g_err, sizeof g_err, "%s: %s", what, cudaGetErrorString(e));
        fprintf(stderr, "hnet cuda: %s\n", g_err);
    }
}

void hn_cuda_note_text(const char *what) {
    if (!g_err[0]) snprintf(g_err, sizeof g_err, "%s", what);
}

extern "C" const char *hn_cuda_last_error(void) {
    static char out[256];
    memcpy(out, g_err, sizeof out);
    g_err[0] = 0;
    return out;
}

/* open addressing: pointer -> size */
#define TABLE_BITS 16
static struct { void *p; size_t n; } g_table[1u << TABLE_BITS];

static size_t slot_of(void *p) {
    uintptr_t h = (uintptr_t)p >> 8;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> (64 - TABLE_BITS));
}

static void remember(void *p, size_t n) {
    size_t i = slot_of(p);
    for (size_t k = 0; k < (1u << TABLE_BITS); k++, i = (i + 1) & ((1u << TABLE_BITS) - 1))
        if (!g_table[i].p) {
            g_table[i].p = p;
            g_table[i].n = n;
            g_in_use += n;
            if (g_in_use > g_peak) g_peak = g_in_use;
            return;
        }
}

static void forget(void *p) {
    size_t i = slot_of(p);
    for (size_t k = 0; k < (1u << TABLE_BITS); k++, i = (i + 1) & ((1u << TABLE_BITS) - 1)) {
        if (!g_table[i].p) return;
        if (g_table[i].p == p) {
            g_in_use -= g_table[i].n;
            /* re-insert the rest of the cluster so lookups stay correct */
            g_table[i].p = NULL;
            size_t j = (i + 1) & ((1u << TABLE_BITS) - 1);
            while (g_table[j].p) {
                void *q = g_table[j].p;
                size_t n = g_table[j].n;
                g_table[j].p = NULL;
                g_in_use -= n;
                remember(q, n);
                j = (j + 1) & ((1u << TABLE_BITS) - 1);
            }
            return;
        }
    }
}

extern "C" size_t hn_cuda_bytes_in_use(void) { return g_in_use; }
extern "C" size_t hn_cuda_peak_bytes(void) { return g_peak; }
extern "C" void hn_cuda_reset_peak(void) { g_peak = g_in_use; }

void *hn_cuda_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = bytes ? (bytes + 255) / 256 * 256 : 256;
    if (cudaMalloc(&p, n) != cudaSuccess) {
        cudaGetLastError(); /* an out-of-memory answer is reported as NULL, not sticky */
        return NULL;
    }
    HN_CK(cudaMemset(p, 0, n));
    remember(p, n);
    return p;
}

void hn_cuda_free(void *p) {
    if (!p) return;
    forget(p);
    HN_CK(cudaFree(p));
}

void hn_cuda_upload(void *dst, const void *src, size_t bytes) {
    if (bytes) HN_CK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    hn_cuda_shadow_touch(dst, bytes);
    hn_cuda_launched("upload");
}
void hn_cuda_download(void *dst, const void *src, size_t bytes) {
    if (bytes) HN_CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    hn_cuda_launched("download");
}
void hn_cuda_copy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) HN_CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    hn_cuda_shadow_touch(dst, bytes);
    hn_cuda_launched("copy");
}
void hn_cuda_zero(void *p, size_t bytes) {
    if (bytes) HN_CK(cudaMemset(p, 0, bytes));
    hn_cuda_shadow_touch(p, bytes);
    hn_cuda_launched("zero");
}
void hn_cuda_sync(void) { HN_CK(cudaDeviceSynchronize()); }

static hn_grow_buf g_scratch[HN_SCRATCH_N];

void *hn_cuda_scratch(int slot, size_t bytes) {
    void *p = hn_grow_buf_get(&g_scratch[slot], hn_cuda_alloc, hn_cuda_free, bytes);
    if (!p) hn_cuda_note(cudaErrorMemoryAllocation, "scratch");
    return p;
}

extern "C" const char *hn_cuda_device_name(void) {
    static char name[256];
    if (!name[0]) {
        cudaDeviceProp prop;
        int dev = 0;
        if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
            snprintf(name, sizeof name, "%s", prop.name);
        else
            snprintf(name, sizeof name, "unknown");
    }
    return name;
}

static cudaEvent_t g_t0, g_t1;
extern "C" void hn_cuda_timer_start(void) {
    if (!g_t0) {
        HN_CK(cudaEventCreate(&g_t0));
        HN_CK(cudaEventCreate(&g_t1));
    }
    HN_CK(cudaEventRecord(g_t0, 0));
}
extern "C" float hn_cuda_timer_stop_ms(void) {
    float ms = 0;
    HN_CK(cudaEventRecord(g_t1, 0));
    HN_CK(cudaEventSynchronize(g_t1));
    HN_CK(cudaEventElapsedTime(&ms, g_t0, g_t1));
    return ms;
}
