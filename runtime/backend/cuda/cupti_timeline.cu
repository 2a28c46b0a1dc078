/* hnet bench --timeline's recorder on CUPTI's activity API (cupti_timeline.h). CUPTI
 * hands filled record buffers to bufferCompleted, possibly on its own thread, so every
 * change to the timeline goes through one mutex. Kernel names are demangled and
 * shortened once per name pointer (CUPTI shares one string among a kernel's records). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cupti_timeline.h"

#ifndef HN_HAVE_CUPTI

extern "C" int hn_cupti_timeline_available(char *why, size_t cap) {
    snprintf(why, cap, "this build has no CUPTI: the CUDA toolkit's cupti.h or libcupti.so was "
                       "not found when it was built (the Makefile looks in CUDA_HOME's include, "
                       "lib64 and extras/CUPTI)");
    return 0;
}
extern "C" int hn_cupti_timeline_start(hn_timeline *tl, char *why, size_t cap) {
    (void)tl;
    hn_cupti_timeline_available(why, cap);
    return -1;
}
extern "C" void hn_cupti_timeline_step_begin(void) {}
extern "C" void hn_cupti_timeline_step_end(void) {}
extern "C" void hn_cupti_timeline_phase(int kind, int stage) { (void)kind, (void)stage; }
extern "C" void hn_cupti_timeline_part(const char *part) { (void)part; }
extern "C" int hn_cupti_timeline_stop(char *why, size_t cap) {
    snprintf(why, cap, "this build has no CUPTI");
    return -1;
}

#else

#include <cupti.h>
#include <cxxabi.h>

#include <mutex>
#include <unordered_map>

/* the record layouts of this CUPTI (the struct names carry a version) */
#if CUPTI_API_VERSION >= 130000
typedef CUpti_ActivityKernel10 kernel_record;
typedef CUpti_ActivityMemcpy6 memcpy_record;
typedef CUpti_ActivityMemset4 memset_record;
#elif CUPTI_API_VERSION >= 18
typedef CUpti_ActivityKernel9 kernel_record;
typedef CUpti_ActivityMemcpy5 memcpy_record;
typedef CUpti_ActivityMemset4 memset_record;
#else
#error "hnet's timeline needs the CUPTI of CUDA 12 or newer (or build with CUPTI=0)"
#endif

static const CUpti_ActivityKind kinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
                                           CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMSET};
#define N_KINDS (int)(sizeof kinds / sizeof kinds[0])
#define BUFFER_BYTES (8u << 20)

static std::mutex g_lock;
static hn_timeline *g_tl;                            /* NULL: not recording */
static std::unordered_map<const char *, int> g_ids; /* CUPTI's name pointer -> name index */
static bool g_registered;

static const char *result_string(CUptiResult r) {
    const char *s = NULL;
    cuptiGetResultString(r, &s);
    return s ? s : "unknown CUPTI error";
}

static uint64_t now(void) {
    uint64_t t = 0;
    cuptiGetTimestamp(&t);
    return t;
}

/* the name index of a kernel, demangled and shortened on first sight (lock held) */
static int kernel_name(const char *mangled) {
    auto it = g_ids.find(mangled);
    if (it != g_ids.end()) return it->second;
    int status = 0;
    char *dem = abi::__cxa_demangle(mangled, NULL, NULL, &status);
    char shortened[64];
    hn_timeline_short_name(status == 0 && dem ? dem : mangled, shortened, sizeof shortened);
    free(dem);
    int id = hn_timeline_name(g_tl, shortened);
    g_ids[mangled] = id;
    return id;
}

static const char *copy_name(uint8_t kind) {
    switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "memcpy HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "memcpy DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "memcpy DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "memcpy HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "memcpy PtoP";
    default: return "memcpy (other)";
    }
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    *buffer = (uint8_t *)aligned_alloc(8, BUFFER_BYTES); /* CUPTI wants 8-byte alignment */
    *size = *buffer ? BUFFER_BYTES : 0;
    *max_records = 0; /* as many as fit */
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid) {
    std::lock_guard<std::mutex> hold(g_lock);
    CUpti_Activity *rec = NULL;
    while (g_tl && cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || rec->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
            const kernel_record *k = (const kernel_record *)rec;
            hn_timeline_add(g_tl, k->start, k->end, kernel_name(k->name ? k->name : "(unnamed kernel)"));
        } else if (rec->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
            const memcpy_record *m = (const memcpy_record *)rec;
            hn_timeline_add(g_tl, m->start, m->end, hn_timeline_name(g_tl, copy_name(m->copyKind)));
        } else if (rec->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
            const memset_record *m = (const memset_record *)rec;
            hn_timeline_add(g_tl, m->start, m->end, hn_timeline_name(g_tl, "memset"));
        }
    }
    size_t dropped = 0;
    if (g_tl && cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS)
        g_tl->dropped += (long)dropped;
    free(buffer);
    (void)size;
}

extern "C" int hn_cupti_timeline_available(char *why, size_t cap) {
    (void)why, (void)cap;
    return 1;
}

extern "C" int hn_cupti_timeline_start(hn_timeline *tl, char *why, size_t cap) {
    if (g_tl) {
        snprintf(why, cap, "a timeline is already being recorded");
        return -1;
    }
    CUptiResult r = CUPTI_SUCCESS;
    if (!g_registered && (r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed)) != CUPTI_SUCCESS) {
        snprintf(why, cap, "CUPTI refused the activity callbacks: %s", result_string(r));
        return -1;
    }
    g_registered = true;
    {
        std::lock_guard<std::mutex> hold(g_lock);
        g_ids.clear();
        g_tl = tl;
    }
    for (int i = 0; i < N_KINDS; i++)
        if ((r = cuptiActivityEnable(kinds[i])) != CUPTI_SUCCESS) {
            for (int j = 0; j < i; j++) cuptiActivityDisable(kinds[j]);
            std::lock_guard<std::mutex> hold(g_lock);
            g_tl = NULL;
            snprintf(why, cap, "CUPTI could not record activity kind %d: %s (a profiler already "
                               "attached, or no permission to profile?)", (int)kinds[i], result_string(r));
            return -1;
        }
    return 0;
}

extern "C" void hn_cupti_timeline_step_begin(void) {
    std::lock_guard<std::mutex> hold(g_lock);
    if (g_tl) hn_timeline_step_begin(g_tl, now());
}
extern "C" void hn_cupti_timeline_step_end(void) {
    std::lock_guard<std::mutex> hold(g_lock);
    if (g_tl) hn_timeline_step_end(g_tl, now());
}
extern "C" void hn_cupti_timeline_phase(int kind, int stage) {
    std::lock_guard<std::mutex> hold(g_lock);
    if (g_tl) hn_timeline_phase(g_tl, now(), kind, stage);
}
extern "C" void hn_cupti_timeline_part(const char *part) {
    std::lock_guard<std::mutex> hold(g_lock);
    if (g_tl) hn_timeline_part(g_tl, now(), part);
}

extern "C" int hn_cupti_timeline_stop(char *why, size_t cap) {
    if (!g_tl) {
        snprintf(why, cap, "no timeline is being recorded");
        return -1;
    }
    /* forced: every buffer, also those CUPTI still counts as open; the caller has
     * synchronised, so their records are complete */
    CUptiResult r = cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    for (int i = 0; i < N_KINDS; i++) cuptiActivityDisable(kinds[i]);
    std::lock_guard<std::mutex> hold(g_lock);
    g_tl = NULL;
    if (r != CUPTI_SUCCESS) {
        snprintf(why, cap, "CUPTI could not flush its records: %s", result_string(r));
        return -1;
    }
    return 0;
}

#endif
