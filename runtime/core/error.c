#include "error.h"

#include <stdio.h>
#include <string.h>

int hn_vfail(hn_error *err, const char *fmt, va_list ap) {
    if (err) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return HN_ERR;
}

int hn_fail(hn_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hn_vfail(err, fmt, ap);
    va_end(ap);
    return HN_ERR;
}

int hn_fail_prefix(hn_error *err, const char *fmt, ...) {
    if (!err) return HN_ERR;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return HN_ERR;
}
