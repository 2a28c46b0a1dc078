/* Error reporting: functions that can fail return HN_OK (0) or HN_ERR (-1) and leave
 * one human-readable message in an hn_error. Nothing below the CLI exits or aborts. */
#ifndef HN_ERROR_H
#define HN_ERROR_H

#include <stdarg.h>

#define HN_OK 0
#define HN_ERR (-1)

typedef struct hn_error {
    char msg[2048];
} hn_error;

/* Sets the message (printf-style) and returns HN_ERR, so callers can write
 * `return hn_fail(err, "...")`. A NULL err is allowed. */
int hn_fail(hn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hn_vfail(hn_error *err, const char *fmt, va_list ap);

/* Prefixes the existing message with context: "context: old message". */
int hn_fail_prefix(hn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
