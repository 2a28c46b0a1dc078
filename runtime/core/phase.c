#include "core/phase.h"

#include <string.h>
#include <time.h>

static void (*g_sync)(void);
static void (*g_observer)(int kind, int stage);
static double g_ms[HN_PHASE_KINDS][HN_PHASE_MAX_STAGES];
static int g_kind = -1, g_stage;
static double g_t0;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

void hn_phase_enable(void (*sync)(void)) {
    g_sync = sync;
    if (sync) memset(g_ms, 0, sizeof g_ms); /* turning off keeps the totals to report */
    g_kind = -1;
}

static void book(void) {
    g_sync();
    double t = now_ms();
    if (g_kind >= 0) g_ms[g_kind][g_stage] += t - g_t0;
    g_t0 = t;
}

void hn_phase_observe(void (*fn)(int kind, int stage)) { g_observer = fn; }

void hn_phase_enter(hn_phase_kind kind, int stage) {
    if (g_observer) g_observer((int)kind, stage);
    if (!g_sync) return;
    book();
    g_kind = (int)kind;
    g_stage = stage < 0 ? 0 : stage >= HN_PHASE_MAX_STAGES ? HN_PHASE_MAX_STAGES - 1 : stage;
}

void hn_phase_stop(void) {
    if (g_observer) g_observer(-1, 0);
    if (!g_sync) return;
    book();
    g_kind = -1;
}

double hn_phase_ms(hn_phase_kind kind, int stage) {
    if ((int)kind < 0 || kind >= HN_PHASE_KINDS || stage < 0 || stage >= HN_PHASE_MAX_STAGES)
        return 0;
    return g_ms[kind][stage];
}

const char *hn_phase_name(hn_phase_kind kind) {
    static const char *names[HN_PHASE_KINDS] = {"embedding+head+loss", "encoder", "chunking",
                                                "main", "dechunking", "decoder", "optimizer"};
    return (int)kind >= 0 && kind < HN_PHASE_KINDS ? names[kind] : "?";
}
