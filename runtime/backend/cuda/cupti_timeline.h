/* hnet bench --timeline's recorder: CUPTI's activity API (concurrent kernels, memcpy,
 * memset) records what the device ran during whole steps, with no synchronisation
 * added inside them; the host's step boundaries and phase changes are stamped on
 * CUPTI's clock (cuptiGetTimestamp, the activity records' clock). Everything goes into
 * an hn_timeline (core/timeline.h) that the caller analyses. Built with CUPTI where the
 * toolkit has its headers and library (HN_HAVE_CUPTI, the Makefile's CUDA path);
 * without, start fails saying so. One recording at a time per process. */
#ifndef HN_CUPTI_TIMELINE_H
#define HN_CUPTI_TIMELINE_H

#include <stddef.h>

#include "core/timeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 where this build can record; 0 with the reason in why (no CUPTI at build time). */
int hn_cupti_timeline_available(char *why, size_t cap);
/* Recording into tl from now on (call after a device sync). 0, or -1 with the reason
 * in why (no CUPTI in this build, a CUPTI error). */
int hn_cupti_timeline_start(hn_timeline *tl, char *why, size_t cap);
/* The host's step boundaries: begin after the synchronised start, end after the sync
 * that closes the step. */
void hn_cupti_timeline_step_begin(void);
void hn_cupti_timeline_step_end(void);
/* hn_phase_observe's callback (kind -1: no phase), and the parts of the step. */
void hn_cupti_timeline_phase(int kind, int stage);
void hn_cupti_timeline_part(const char *part);
/* Flushes the records of the finished steps into tl and stops recording (call after a
 * device sync). 0, or -1 with the reason in why. */
int hn_cupti_timeline_stop(char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
