/* hnet bench --timeline's analysis (core/timeline.h) on synthetic intervals: busy time
 * is the union (overlapping and nested intervals count once), gaps lie between runs of
 * one step with the activity that ended the run before and the one after, the host's
 * phase at a time, per-name totals by time, kernel names shortened, and the report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/phase.h"
#include "core/timeline.h"

static void add(hn_timeline *tl, uint64_t a, uint64_t b, const char *name) {
    hn_timeline_add(tl, a, b, hn_timeline_name(tl, name));
}

static const char *gap_name(const hn_timeline *tl, const hn_tl_report *r, size_t i, int after) {
    return tl->names[after ? r->gaps[i].after : r->gaps[i].before];
}

static void test_empty(void **state) {
    hn_timeline tl;
    hn_timeline_init(&tl);
    hn_tl_report r;
    assert_int_equal(hn_timeline_analyse(&tl, &r), 0);
    assert_int_equal(r.steps, 0);
    assert_int_equal(r.activities, 0);
    assert_int_equal(r.busy_ns, 0);
    assert_int_equal(r.n_gaps, 0);
    assert_int_equal(r.n_totals, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    hn_timeline_print(&tl, &r, 5, "E", out);
    fclose(out);
    assert_non_null(strstr(text, "| E timeline |"));
    free(text);
    hn_tl_report_free(&r);
    hn_timeline_free(&tl);
}

static void test_overlapping_and_nested(void **state) {
    hn_timeline tl;
    hn_timeline_init(&tl);
    /* given out of order: outer [0,100) holds two nested kernels; [90,120) overlaps its
     * end; nothing idles */
    add(&tl, 30, 40, "inner");
    add(&tl, 90, 120, "tail");
    add(&tl, 0, 100, "outer");
    add(&tl, 10, 20, "inner");
    hn_tl_report r;
    assert_int_equal(hn_timeline_analyse(&tl, &r), 0);
    assert_int_equal(r.activities, 4);
    assert_int_equal(r.busy_ns, 120);
    assert_int_equal(r.window_ns, 120);
    assert_int_equal(r.host_ns, 120); /* no host steps: the window stands for it */
    assert_int_equal(r.n_gaps, 0);
    assert_int_equal(r.sum_ns, 100 + 30 + 20);
    assert_int_equal(r.n_totals, 3);
    assert_string_equal(tl.names[r.totals[0].name], "outer");
    assert_string_equal(tl.names[r.totals[1].name], "tail");
    assert_string_equal(tl.names[r.totals[2].name], "inner");
    assert_int_equal(r.totals[2].calls, 2);
    assert_int_equal(r.totals[2].ns, 20);
    hn_tl_report_free(&r);
    hn_timeline_free(&tl);
}

static void test_gaps(void **state) {
    hn_timeline tl;
    hn_timeline_init(&tl);
    add(&tl, 0, 100, "A");
    add(&tl, 10, 20, "nested"); /* ends first, but A ends the run: the gap is after A */
    add(&tl, 150, 160, "B");
    add(&tl, 160, 170, "C"); /* touching: no gap */
    add(&tl, 175, 180, "D");
    add(&tl, 400, 410, "E");
    hn_tl_report r;
    assert_int_equal(hn_timeline_analyse(&tl, &r), 0);
    assert_int_equal(r.window_ns, 410);
    assert_int_equal(r.busy_ns, 100 + 20 + 5 + 10);
    assert_int_equal(r.n_gaps, 3);
    /* longest first: D->E 220, A->B 50, C->D 5 */
    assert_int_equal(r.gaps[0].end - r.gaps[0].start, 220);
    assert_string_equal(gap_name(&tl, &r, 0, 0), "D");
    assert_string_equal(gap_name(&tl, &r, 0, 1), "E");
    assert_int_equal(r.gaps[1].start, 100);
    assert_int_equal(r.gaps[1].end, 150);
    assert_string_equal(gap_name(&tl, &r, 1, 0), "A");
    assert_string_equal(gap_name(&tl, &r, 1, 1), "B");
    assert_string_equal(gap_name(&tl, &r, 2, 0), "C");
    assert_string_equal(gap_name(&tl, &r, 2, 1), "D");
    assert_int_equal(r.window_ns - r.busy_ns, 220 + 50 + 5); /* idle = the gaps */
    hn_tl_report_free(&r);
    hn_timeline_free(&tl);
}

/* Two host steps: the time between them is no gap, each has its own window, records
 * outside both are counted and left out. */
static void test_steps(void **state) {
    hn_timeline tl;
    hn_timeline_init(&tl);
    add(&tl, 5, 8, "before"); /* ahead of the first step */
    hn_timeline_step_begin(&tl, 10);
    add(&tl, 12, 20, "k");
    add(&tl, 30, 40, "k");
    hn_timeline_step_end(&tl, 45);
    hn_timeline_step_begin(&tl, 1000);
    add(&tl, 1010, 1030, "k");
    add(&tl, 1030, 1040, "m");
    hn_timeline_step_end(&tl, 1050);
    hn_tl_report r;
    assert_int_equal(hn_timeline_analyse(&tl, &r), 0);
    assert_int_equal(r.steps, 2);
    assert_int_equal(r.outside, 1);
    assert_int_equal(r.activities, 4);
    assert_int_equal(r.host_ns, 35 + 50);
    assert_int_equal(r.window_ns, 28 + 30);
    assert_int_equal(r.busy_ns, 18 + 30);
    assert_int_equal(r.lead_ns, 2 + 10);
    assert_int_equal(r.tail_ns, 5 + 10);
    assert_int_equal(r.n_gaps, 1);
    assert_int_equal(r.gaps[0].step, 0);
    assert_int_equal(r.gaps[0].start, 20);
    hn_tl_report_free(&r);
    hn_timeline_free(&tl);
}

/* The host's state at a time: the last part and phase stamped at or before it. */
static void test_labels(void **state) {
    hn_timeline tl;
    hn_timeline_init(&tl);
    char l[96];
    hn_timeline_label(&tl, 5, l, sizeof l);
    assert_string_equal(l, "-");
    hn_timeline_part(&tl, 10, "forward");
    hn_timeline_phase(&tl, 20, HN_PHASE_ENCODER, 0);
    hn_timeline_phase(&tl, 30, HN_PHASE_MAIN, 1);
    hn_timeline_phase(&tl, 40, -1, 0);
    hn_timeline_part(&tl, 50, "optimizer");
    hn_timeline_phase(&tl, 60, HN_PHASE_OPTIMIZER, 0);
    hn_timeline_label(&tl, 15, l, sizeof l);
    assert_string_equal(l, "forward (no phase)");
    hn_timeline_label(&tl, 20, l, sizeof l);
    assert_string_equal(l, "forward encoder s0");
    hn_timeline_label(&tl, 39, l, sizeof l);
    assert_string_equal(l, "forward main s1");
    hn_timeline_label(&tl, 45, l, sizeof l);
    assert_string_equal(l, "forward (no phase)");
    hn_timeline_label(&tl, 1000, l, sizeof l);
    assert_string_equal(l, "optimizer"); /* the part and the phase say the same */
    hn_timeline_phase(&tl, 70, HN_PHASE_HEAD, 0);
    hn_timeline_label(&tl, 70, l, sizeof l);
    assert_string_equal(l, "optimizer embedding+head+loss");
    /* a gap across a phase change names both ends */
    add(&tl, 25, 28, "a");
    add(&tl, 35, 38, "b");
    hn_tl_report r;
    assert_int_equal(hn_timeline_analyse(&tl, &r), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    hn_timeline_print(&tl, &r, 5, "T", out);
    fclose(out);
    assert_non_null(strstr(text, "| 0.0 | 0.000 | 0 | a | b | forward encoder s0 -> forward main s1 |"));
    assert_non_null(strstr(text, "| forward main s1 | 1.0 | 0.000 | 100.0% |"));
    /* host 13 ns (no steps: the window), busy 6, idle 7 = 53.85% of both, one gap; "a"
     * first by name order at equal time */
    assert_non_null(strstr(text, "| T timeline | 0.00 | 0.00 | 0.00 | 53.85% | 53.85% | 1 | 0.0 | a 50.0% |"));
    free(text);
    hn_tl_report_free(&r);
    hn_timeline_free(&tl);
}

/* hn_phase_observe: every enter and stop reaches the observer, with accounting off and
 * no sync (the timeline must not add one). */
static int g_calls, g_last_kind, g_last_stage;
static void observer(int kind, int stage) {
    g_calls++;
    g_last_kind = kind;
    g_last_stage = stage;
}
static void test_phase_observer(void **state) {
    hn_phase_observe(observer);
    hn_phase_enter(HN_PHASE_CHUNKING, 1);
    assert_int_equal(g_calls, 1);
    assert_int_equal(g_last_kind, HN_PHASE_CHUNKING);
    assert_int_equal(g_last_stage, 1);
    hn_phase_stop();
    assert_int_equal(g_calls, 2);
    assert_int_equal(g_last_kind, -1);
    hn_phase_observe(NULL);
    hn_phase_enter(HN_PHASE_MAIN, 0);
    assert_int_equal(g_calls, 2);
}

static void short_is(const char *in, size_t cap, const char *want) {
    char out[128];
    hn_timeline_short_name(in, out, cap);
    assert_string_equal(out, want);
}
static void test_short_names(void **state) {
    short_is("void ns::f<128, float>(float const*, int)", 64, "ns::f<128, float>");
    short_is("void rms<hn::bf16_t, (anonymous namespace)::Op<4> >(int)", 64, "rms<hn::bf16_t, (anonymous namespace)::Op<...> >");
    short_is("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_kernel", 24, "sm90_xmma_gemm_bf16b...");
    short_is("memcpy HtoD", 64, "memcpy HtoD");
    short_is("void k()", 64, "k");
    short_is("(anonymous namespace)::k(int)", 64, "(anonymous namespace)::k");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),       cmocka_unit_test(test_overlapping_and_nested),
        cmocka_unit_test(test_gaps),        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_labels),      cmocka_unit_test(test_phase_observer),
        cmocka_unit_test(test_short_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
