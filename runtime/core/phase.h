/* Where a training step's time goes, by part of the model: for each stage its encoder,
 * chunking (routing, downsampling, width change), dechunking (smoothing, upsampling,
 * residual) and decoder; the innermost main network; the embedding, LM head and loss;
 * the optimizer. Off unless enabled (hnet bench): each boundary waits for the device
 * (`sync`), so times are the device's and not the launch queue's. */
#ifndef HN_PHASE_H
#define HN_PHASE_H

typedef enum hn_phase_kind {
    HN_PHASE_HEAD = 0,  /* embedding, LM head, cross-entropy */
    HN_PHASE_ENCODER,
    HN_PHASE_CHUNKING,
    HN_PHASE_MAIN,
    HN_PHASE_DECHUNKING,
    HN_PHASE_DECODER,
    HN_PHASE_OPTIMIZER,
    HN_PHASE_KINDS
} hn_phase_kind;

#define HN_PHASE_MAX_STAGES 8

/* sync != NULL turns accounting on (and clears it); NULL turns it off (the totals stay
 * readable). */
void hn_phase_enable(void (*sync)(void));
/* From now on time is booked to (kind, stage); the time since the previous call goes to
 * the phase it named. No-op while off. */
void hn_phase_enter(hn_phase_kind kind, int stage);
/* Books the running phase and stops booking until the next enter. */
void hn_phase_stop(void);
/* fn != NULL is told of every phase change (kind -1 on stop) from now on, with no device
 * wait, whether accounting is on or off: hnet bench --timeline stamps them on the
 * device's clock. NULL: no observer. */
void hn_phase_observe(void (*fn)(int kind, int stage));
/* Milliseconds booked to (kind, stage) since enabling. */
double hn_phase_ms(hn_phase_kind kind, int stage);
const char *hn_phase_name(hn_phase_kind kind);

#endif
