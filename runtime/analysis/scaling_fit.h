/* Scaling fits: loss = a * C^b fitted by ordinary least squares in log space,
 * log L = log a + b log C, with standard errors from the residual variance and
 * (X^T X)^-1, and the compute at which two fitted curves cross. Pure arithmetic on
 * (C, L) pairs; where the pairs come from (runs of results.db) is scaling_runs.h. */
#ifndef HN_ANALYSIS_SCALING_FIT_H
#define HN_ANALYSIS_SCALING_FIT_H

typedef enum hn_fit_status {
    HN_FIT_OK = 0,        /* a and b fitted; standard errors need n >= 3 (else NAN) */
    HN_FIT_TOO_FEW,       /* fewer than 2 points */
    HN_FIT_ONE_COMPUTE,   /* every point at the same C: the slope is undetermined */
    HN_FIT_BAD_VALUE,     /* a point with C <= 0 or L <= 0 (no logarithm) */
} hn_fit_status;

typedef struct hn_power_fit {
    hn_fit_status status;
    int n;
    double a, b;           /* L = a * C^b */
    double log_a;          /* natural log */
    double se_log_a, se_b; /* sqrt of the diagonal of s^2 (X^T X)^-1, s^2 = RSS / (n - 2) */
    double se_a;           /* a * se_log_a (delta method) */
    double rss;            /* residual sum of squares in log space */
    double c_min, c_max;   /* the compute the points span */
} hn_power_fit;

/* Fits the n points (c[i], loss[i]). Returns the status (also in out->status). */
hn_fit_status hn_power_fit_points(const double *c, const double *loss, int n, hn_power_fit *out);

/* The fitted loss at compute c. */
double hn_power_fit_at(const hn_power_fit *f, double c);

/* Where the crossing lies against the compute both fits were made on. */
typedef enum hn_cross_where {
    HN_CROSS_NONE = 0,  /* parallel fits (equal b): they never cross */
    HN_CROSS_WITHIN,    /* inside the compute range both families cover */
    HN_CROSS_BELOW,     /* below it: an extrapolation to less compute */
    HN_CROSS_ABOVE,     /* above it: an extrapolation to more compute */
    HN_CROSS_BETWEEN,   /* the ranges do not overlap and the crossing lies in the gap */
} hn_cross_where;

typedef struct hn_fit_crossing {
    hn_cross_where where;
    double c;       /* compute at the crossing (NAN when none) */
    double loss;    /* the fitted loss there */
    int lower_above; /* 0: fit a has the lower loss above c; 1: fit b does */
} hn_fit_crossing;

/* The crossing of two fitted power laws: log a1 + b1 x = log a2 + b2 x. */
hn_fit_crossing hn_power_fit_cross(const hn_power_fit *a, const hn_power_fit *b);

/* "within", "below", "above", "between", "none". */
const char *hn_cross_where_name(hn_cross_where w);

#endif
