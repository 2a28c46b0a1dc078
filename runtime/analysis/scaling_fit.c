/* Least squares in log space for loss = a * C^b, and where two such fits cross. */
#include <math.h>

#include "analysis/scaling_fit.h"

hn_fit_status hn_power_fit_points(const double *c, const double *loss, int n, hn_power_fit *out) {
    *out = (hn_power_fit){.n = n, .a = NAN, .b = NAN, .log_a = NAN, .se_log_a = NAN, .se_b = NAN,
                          .se_a = NAN, .rss = NAN, .c_min = NAN, .c_max = NAN};
    if (n < 2) return out->status = HN_FIT_TOO_FEW;
    for (int i = 0; i < n; i++)
        if (!(c[i] > 0) || !(loss[i] > 0) || !isfinite(c[i]) || !isfinite(loss[i]))
            return out->status = HN_FIT_BAD_VALUE;
    /* centred sums: log C is ~30-50 for real runs, so raw sums of squares would cancel */
    double mx = 0, my = 0;
    out->c_min = out->c_max = c[0];
    for (int i = 0; i < n; i++) {
        mx += log(c[i]), my += log(loss[i]);
        out->c_min = fmin(out->c_min, c[i]), out->c_max = fmax(out->c_max, c[i]);
    }
    mx /= n, my /= n;
    double sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double dx = log(c[i]) - mx, dy = log(loss[i]) - my;
        sxx += dx * dx, sxy += dx * dy;
    }
    if (!(sxx > 1e-300) || out->c_max / out->c_min < 1 + 1e-12) return out->status = HN_FIT_ONE_COMPUTE;
    out->b = sxy / sxx;
    out->log_a = my - out->b * mx;
    out->a = exp(out->log_a);
    double rss = 0;
    for (int i = 0; i < n; i++) {
        double r = log(loss[i]) - (out->log_a + out->b * log(c[i]));
        rss += r * r;
    }
    out->rss = rss;
    if (n > 2) {
        /* cov = s^2 (X^T X)^-1 with X = [1, x]: var(b) = s^2 / Sxx,
         * var(log a) = s^2 (1/n + mean(x)^2 / Sxx) (the same matrix, centred) */
        double s2 = rss / (n - 2);
        out->se_b = sqrt(s2 / sxx);
        out->se_log_a = sqrt(s2 * (1.0 / n + mx * mx / sxx));
        out->se_a = out->a * out->se_log_a;
    }
    return out->status = HN_FIT_OK;
}

double hn_power_fit_at(const hn_power_fit *f, double c) {
    return f->status == HN_FIT_OK && c > 0 ? exp(f->log_a + f->b * log(c)) : NAN;
}

hn_fit_crossing hn_power_fit_cross(const hn_power_fit *a, const hn_power_fit *b) {
    hn_fit_crossing x = {.where = HN_CROSS_NONE, .c = NAN, .loss = NAN, .lower_above = a->b < b->b ? 0 : 1};
    if (a->status != HN_FIT_OK || b->status != HN_FIT_OK) return x;
    double db = a->b - b->b;
    /* slopes equal to rounding: parallel lines in log-log, never crossing */
    if (fabs(db) <= 1e-12 * fmax(1.0, fmax(fabs(a->b), fabs(b->b)))) return x;
    double lx = (b->log_a - a->log_a) / db;
    x.c = exp(lx);
    x.loss = exp(a->log_a + a->b * lx);
    double lo = fmax(a->c_min, b->c_min), hi = fmin(a->c_max, b->c_max);
    if (lo <= hi) x.where = x.c < lo ? HN_CROSS_BELOW : x.c > hi ? HN_CROSS_ABOVE : HN_CROSS_WITHIN;
    else x.where = x.c < hi ? HN_CROSS_BELOW : x.c > lo ? HN_CROSS_ABOVE : HN_CROSS_BETWEEN;
    return x;
}

const char *hn_cross_where_name(hn_cross_where w) {
    switch (w) {
    case HN_CROSS_WITHIN: return "within";
    case HN_CROSS_BELOW: return "below";
    case HN_CROSS_ABOVE: return "above";
    case HN_CROSS_BETWEEN: return "between";
    default: return "none";
    }
}
