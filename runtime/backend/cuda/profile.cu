/* Per-op profiling of the cuda backend (hnet bench --profile): with profiling on, each
 * op's HN_LAUNCHED waits for the instance's stream and books the host-clock time since
 * the previous checkpoint to the op's name. Off by default: then HN_LAUNCHED only checks
 * for a launch error. The figures are the instance's (the default one outside an op). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/instance.cuh"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

void hn_cuda_launched(const char *name) {
    hn_cuda_note(cudaGetLastError(), name);
    hn_cuda_instance *inst = hn_cuda_cur();
    if (!inst->prof_on) return;
    hn_cuda_note(cudaStreamSynchronize(inst->stream), name);
    double t = now_ms(), dt = t - inst->prof_last;
    inst->prof_last = t;
    int i = 0;
    while (i < inst->prof_n && strcmp(inst->prof[i].name, name)) i++;
    if (i == inst->prof_n) {
        if (inst->prof_n == HN_CUDA_PROFILE_NAMES) return;
        inst->prof[inst->prof_n++].name = name;
    }
    inst->prof[i].ms += dt;
    inst->prof[i].calls++;
}

extern "C" void hn_cuda_profile(int on) {
    if (!hn_cuda_cur()) return; /* no instance yet: nothing runs to profile */
    hn_cuda_cur()->prof_on = on;
    hn_cuda_profile_checkpoint();
}
extern "C" void hn_cuda_profile_checkpoint(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    if (!inst) return;
    if (inst->prof_on) cudaStreamSynchronize(inst->stream);
    inst->prof_last = now_ms();
}
extern "C" void hn_cuda_profile_reset(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    if (!inst) return;
    memset(inst->prof, 0, sizeof inst->prof); /* names and totals: a new interval starts from zero */
    inst->prof_n = 0;
}

static int by_ms(const void *a, const void *b) {
    double x = ((const hn_cuda_profile_entry *)a)->ms, y = ((const hn_cuda_profile_entry *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

extern "C" void hn_cuda_profile_print(double total_ms) {
    hn_cuda_instance *inst = hn_cuda_cur();
    if (!inst) return;
    hn_cuda_profile_entry *tab = inst->prof;
    int n = inst->prof_n;
    qsort(tab, (size_t)n, sizeof tab[0], by_ms);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += tab[i].ms;
    printf("  split of the profiled steps by op (%.1f ms booked, %.1f ms wall):\n", sum, total_ms);
    for (int i = 0; i < n; i++)
        if (tab[i].ms >= 0.005 * sum)
            printf("    %-28s %9.2f ms %6.1f%%  (%ld calls)\n", tab[i].name, tab[i].ms,
                   100.0 * tab[i].ms / (total_ms > 0 ? total_ms : sum), tab[i].calls);
}
