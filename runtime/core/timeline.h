/* A device timeline of whole training steps (hnet bench --timeline): the intervals the
 * device spent in kernels, copies and memsets, the host's step boundaries and the
 * model phase the host was in, all on one nanosecond clock. Plain C, no device: the
 * recorder (backend/cuda/cupti_timeline.cu) fills it from CUPTI, the tests from
 * synthetic intervals. The analysis gives each step's busy time (the union of the
 * intervals, so overlapping work on several streams counts once), its idle gaps with
 * the activity before and after each and the host's phase, and the per-name totals. */
#ifndef HN_TIMELINE_H
#define HN_TIMELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" { /* the recorder is C++ (nvcc) */
#endif

typedef struct hn_tl_activity {
    uint64_t start, end; /* ns */
    int name;            /* index into hn_timeline.names */
} hn_tl_activity;

/* The host's state from t on: the part of the step (the bench's "forward", "backward",
 * "optimizer"; NULL before the first) and the phase (core/phase.h kind, -1 outside). */
typedef struct hn_tl_mark {
    uint64_t t;
    const char *part;
    int kind, stage;
} hn_tl_mark;

typedef struct hn_tl_step {
    uint64_t t0, t1; /* the host's step: from the synchronised start to the final sync */
} hn_tl_step;

typedef struct hn_timeline {
    hn_tl_activity *acts;
    size_t n_acts, cap_acts;
    char **names;
    int n_names, cap_names;
    hn_tl_mark *marks;
    size_t n_marks, cap_marks;
    hn_tl_step *steps;
    int n_steps, cap_steps;
    const char *part; /* the host's state now (the last mark's) */
    int kind, stage;
    long dropped; /* records the recorder lost (reported, never silently) */
    int oom;      /* an append failed for memory: the analysis refuses */
} hn_timeline;

void hn_timeline_init(hn_timeline *tl);
void hn_timeline_free(hn_timeline *tl);
/* The index of name (copied on first sight), or -1 out of memory. */
int hn_timeline_name(hn_timeline *tl, const char *name);
/* One device interval [start, end) of the activity called name (an hn_timeline_name
 * index). Intervals come in any order. */
void hn_timeline_add(hn_timeline *tl, uint64_t start, uint64_t end, int name);
/* The host's step boundaries: a step is [begin, end]; activities outside every step are
 * counted, not analysed. With no step at all, everything is one step. */
void hn_timeline_step_begin(hn_timeline *tl, uint64_t t);
void hn_timeline_step_end(hn_timeline *tl, uint64_t t);
/* The host enters a phase (kind -1: leaves it) or a part of the step (which starts
 * outside any phase) at time t; stamps come in time order. */
void hn_timeline_phase(hn_timeline *tl, uint64_t t, int kind, int stage);
void hn_timeline_part(hn_timeline *tl, uint64_t t, const char *part);
/* The host's state at time t, written as "backward main s1" ("-" before any mark). */
void hn_timeline_label(const hn_timeline *tl, uint64_t t, char *out, size_t cap);

/* A kernel's demangled name shortened for a table: no return type, no parameter list,
 * template arguments cut to "<...>" past a depth of one, at most cap - 1 bytes (an
 * ellipsis marks the cut). "void ns::f<128, float>(float const*, int)" -> "ns::f<128, float>". */
void hn_timeline_short_name(const char *demangled, char *out, size_t cap);

typedef struct hn_tl_gap {
    uint64_t start, end; /* the device idle from the end of `before` to the start of `after` */
    int before, after;   /* name indices */
    int step;
} hn_tl_gap;

typedef struct hn_tl_total {
    int name;
    long calls;
    uint64_t ns; /* summed durations (overlaps of one name with another count for both) */
} hn_tl_total;

typedef struct hn_tl_report {
    int steps;
    size_t activities, outside; /* analysed; outside every host step (ignored) */
    uint64_t host_ns;   /* summed host step times */
    uint64_t window_ns; /* summed per step: first activity start to last activity end */
    uint64_t busy_ns;   /* summed per step: the union of the intervals */
    uint64_t lead_ns, tail_ns; /* summed per step: host start to the first activity, the
                                * last activity's end to the host's end (0 without steps) */
    uint64_t sum_ns;    /* all durations summed (the per-name shares' denominator) */
    hn_tl_gap *gaps;    /* every gap inside a step's window, longest first */
    size_t n_gaps;
    hn_tl_total *totals; /* per name, most time first */
    int n_totals;
} hn_tl_report;

/* 0, or -1 when the timeline lost an append to memory or the report's arrays cannot be
 * allocated. */
int hn_timeline_analyse(const hn_timeline *tl, hn_tl_report *r);
void hn_tl_report_free(hn_tl_report *r);
/* The report as text and indented Markdown tables (the max_gaps longest gaps, the idle
 * time by the host's state at each gap's end, the per-name table); with md set, one
 * unindented row "| md timeline | ... |" for scripts (scripts/gpu-check.sh). */
void hn_timeline_print(const hn_timeline *tl, const hn_tl_report *r, int max_gaps,
                       const char *md, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
