#include "train/step_stats.h"

#include <stdlib.h>
#include <string.h>

int hn_step_stats_open(hn_step_stats *s, const hn_backend *be, int zero, hn_error *err) {
    memset(s, 0, sizeof *s);
    s->be = be;
    const char *v = getenv("HNET_STEP_STATS");
    if (!v || !*v || !strcmp(v, "host")) return HN_OK;
    if (strcmp(v, "device"))
        return hn_fail(err, "HNET_STEP_STATS=%s: expected host or device", v);
    if (zero || !be->grad_clip || !be->adamw_clipped || !be->alloc_host || !be->download_async ||
        !be->download_wait)
        return HN_OK; /* ZeRO-1's norm is a host collective: the host path */
    s->dev = be->alloc(sizeof *s->dev);
    s->host = be->alloc_host(sizeof *s->host);
    if (!s->dev || !s->host) {
        hn_step_stats_close(s);
        return hn_fail(err, "out of %s memory for the step's statistics", be->name);
    }
    s->on = 1;
    return HN_OK;
}

void hn_step_stats_close(hn_step_stats *s) {
    if (s->dev) s->be->free(s->dev);
    if (s->host) s->be->free_host(s->host);
    s->dev = s->host = NULL;
    s->on = s->pending = 0;
}

void hn_step_stats_clip(hn_step_stats *s, const float *grads, size_t n, double max_norm) {
    s->be->grad_clip(s->dev, grads, n, max_norm);
}

void hn_step_stats_send(hn_step_stats *s, long step, double lr) {
    s->be->download_async(s->host, s->dev, sizeof *s->host);
    s->pending = 1;
    s->step = step;
    s->lr = lr;
}

int hn_step_stats_take(hn_step_stats *s, int wait, double *norm, long *step, double *lr) {
    if (!s->pending) return 0;
    if (wait) s->be->download_wait();
    s->pending = 0;
    *norm = s->host->norm;
    *step = s->step;
    *lr = s->lr;
    return 1;
}
