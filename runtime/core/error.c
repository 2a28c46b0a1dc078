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
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return HN_ERR;
    size_t plen = strlen(prefix), old = strlen(err->msg);
    /* "prefix: old", cutting the old message's tail if the whole would not fit */
    if (plen + 2 + old >= sizeof err->msg) old = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, old);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + old] = 0;
    return HN_ERR;
}
