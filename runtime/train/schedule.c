#include "train/schedule.h"

#include <math.h>
#include <string.h>

static double num(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int hn_schedule_from_json(hn_schedule *s, const cJSON *train, long steps, hn_error *err) {
    memset(s, 0, sizeof *s);
    s->peak = num(train, "lr", 1e-3);
    s->steps = steps;
    const cJSON *sch = cJSON_GetObjectItem(train, "schedule");
    s->warmup = num(sch, "warmup", 0.1);
    s->decay = num(sch, "decay", 0.2);
    s->min_lr = num(sch, "min_lr", 0.0);
    const cJSON *shape = cJSON_GetObjectItem(sch, "decay_shape");
    const char *name = cJSON_IsString(shape) ? shape->valuestring : "inv_sqrt";
    if (!strcmp(name, "inv_sqrt")) s->shape = HN_DECAY_INV_SQRT;
    else if (!strcmp(name, "linear")) s->shape = HN_DECAY_LINEAR;
    else if (!strcmp(name, "cosine")) s->shape = HN_DECAY_COSINE;
    else return hn_fail(err, "train.schedule.decay_shape: expected inv_sqrt, linear or cosine, found '%s'", name);
    if (s->warmup < 0 || s->decay < 0 || s->warmup + s->decay > 1)
        return hn_fail(err, "train.schedule: warmup (%g) and decay (%g) must be fractions adding to at most 1",
                       s->warmup, s->decay);
    if (s->peak <= 0) return hn_fail(err, "train.lr: expected a positive learning rate, found %g", s->peak);
    return HN_OK;
}

double hn_schedule_lr(const hn_schedule *s, long step) {
    double n = (double)s->steps;
    double warm = floor(s->warmup * n), dec = floor(s->decay * n);
    double t = (double)step;
    if (t < warm) return s->peak * (t + 1) / warm;
    double decay_start = n - dec;
    if (t < decay_start || dec <= 0) return s->peak;
    double p = (t - decay_start + 1) / dec; /* reaches 1 at the last step */
    if (p > 1) p = 1;
    double f;
    switch (s->shape) {
    case HN_DECAY_LINEAR: f = 1 - p; break;
    case HN_DECAY_COSINE: f = 0.5 * (1 + cos(M_PI * p)); break;
    default: f = 1 - sqrt(p); break;
    }
    return s->peak * (s->min_lr + (1 - s->min_lr) * f);
}
