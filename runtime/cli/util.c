#include "cli/util.h"
#include "results/location.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hn_parse_long(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

char *hn_read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

void hn_git_commit(char *out, size_t size) { hn_git_commit_at(NULL, out, size); }

void hn_git_commit_at(const char *dir, char *out, size_t size) {
    char cmd[4200];
    snprintf(out, size, "unknown");
    if (dir && strchr(dir, '\'')) return; /* not quotable as below; rare enough */
    snprintf(cmd, sizeof cmd, "git%s%s%s rev-parse --short=12 HEAD 2>/dev/null", dir ? " -C '" : "",
             dir ? dir : "", dir ? "'" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[64];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\r\n")] = 0;
        if (*line) snprintf(out, size, "%s", line);
    }
    pclose(p);
}

void hn_note_db(const char *cmd, const char *path) {
    char abs[4096], cwd[2048];
    if (path[0] != '/' && getcwd(cwd, sizeof cwd)) snprintf(abs, sizeof abs, "%s/%s", cwd, path);
    else snprintf(abs, sizeof abs, "%s", path);
    char *canon = realpath(abs, NULL); /* where it exists: without ./ and ../ */
    fprintf(stderr, "hnet %s: results database %s\n", cmd, canon ? canon : abs);
    free(canon);
}

const char *hn_cli_db(const char *given, char *buf, size_t cap) {
    if (given) return given;
    hn_error err;
    return hn_results_default_db(buf, cap, &err) ? "results/results.db" : buf;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double hn_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
