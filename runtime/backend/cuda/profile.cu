/* Per-op profiling of the cuda backend (hnet bench --profile): with profiling on, each
 * op's HN_LAUNCHED synchronises the device and books the host-clock time since the
 * previous checkpoint to the op's name. Off by default: then HN_LAUNCHED only checks
 * for a launch error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/cuda_common.cuh"

#define MAX_NAMES 96
static int g_on;
static double g_last;
static struct { const char *name; double ms; long calls; } g_tab[MAX_NAMES];
static int g_n;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

void hn_cuda_launched(const char *name) {
    hn_cuda_note(cudaGetLastError(), name);
    if (!g_on) return;
    hn_cuda_note(cudaDeviceSynchronize(), name);
    double t = now_ms(), dt = t - g_last;
    g_last = t;
    int i = 0;
    while (i < g_n && strcmp(g_tab[i].name, name)) i++;
    if (i == g_n) {
        if (g_n == MAX_NAMES) return;
        g_tab[g_n++].name = name;
    }
    g_tab[i].ms += dt;
    g_tab[i].calls++;
}

extern "C" void hn_cuda_profile(int on) {
    g_on = on;
    hn_cuda_profile_checkpoint();
}
extern "C" void hn_cuda_profile_checkpoint(void) {
    if (g_on) cudaDeviceSynchronize();
    g_last = now_ms();
}
extern "C" void hn_cuda_profile_reset(void) {
    memset(g_tab, 0, sizeof g_tab); /* names and totals: a new interval starts from zero */
    g_n = 0;
}

static int by_ms(const void *a, const void *b) {
    double x = ((const typeof(g_tab[0]) *)a)->ms, y = ((const typeof(g_tab[0]) *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

extern "C" void hn_cuda_profile_print(double total_ms) {
    qsort(g_tab, (size_t)g_n, sizeof g_tab[0], by_ms);
    double sum = 0;
    for (int i = 0; i < g_n; i++) sum += g_tab[i].ms;
    printf("  split of the profiled steps by op (%.1f ms booked, %.1f ms wall):\n", sum, total_ms);
    for (int i = 0; i < g_n; i++)
        if (g_tab[i].ms >= 0.005 * sum)
            printf("    %-28s %9.2f ms %6.1f%%  (%ld calls)\n", g_tab[i].name, g_tab[i].ms,
                   100.0 * g_tab[i].ms / (total_ms > 0 ? total_ms : sum), g_tab[i].calls);
}
