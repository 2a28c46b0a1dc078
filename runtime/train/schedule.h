/* Learning-rate schedules. wsd = warmup-stable-decay: linear warm-up over the first
 * `warmup` fraction of steps, constant peak, then a decay over the last `decay`
 * fraction down to min_lr * peak. Decay shapes (progress p from 0 to 1 within the decay):
 *   inv_sqrt: 1 - sqrt(p)  (the "1-sqrt" cooldown the paper's WSD follows)
 *   linear:   1 - p
 *   cosine:   (1 + cos(pi p)) / 2 */
#ifndef HN_SCHEDULE_H
#define HN_SCHEDULE_H

#include <cJSON.h>

#include "core/error.h"

typedef enum { HN_DECAY_INV_SQRT, HN_DECAY_LINEAR, HN_DECAY_COSINE } hn_decay_shape;

typedef struct hn_schedule {
    double peak;
    double warmup, decay; /* fractions of the run */
    double min_lr;        /* fraction of peak reached at the end */
    hn_decay_shape shape;
    long steps;
} hn_schedule;

/* From the resolved train config (lr, steps, schedule{...}). */
int hn_schedule_from_json(hn_schedule *s, const cJSON *train, long steps, hn_error *err);
/* Learning rate for step (0-based) of s->steps. */
double hn_schedule_lr(const hn_schedule *s, long step);

#endif
