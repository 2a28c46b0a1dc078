#include "data/verify.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "data/digest.h"
#include "data/read.h"

static int wrong_size(const hn_known_corpus *k, const char *path, uint64_t n, hn_error *err) {
    return hn_fail(err,
                   "corpus \"%s\": %s has %llu bytes, but the standard %s has %llu bytes "
                   "(sha256 %s); the file is truncated or not the standard one: replace it "
                   "(see experiments/DATA.md)",
                   k->name, path, (unsigned long long)n, k->name, (unsigned long long)k->size,
                   k->sha256);
}

int hn_known_corpus_check_size(const hn_known_corpus *k, const char *path, uint64_t file_size,
                               hn_error *err) {
    if (hn_path_is_gz(path) || file_size == k->size) return HN_OK;
    return wrong_size(k, path, file_size, err);
}

static int cache_dir(char *out, size_t cap) {
    const char *d = getenv("HNET_CACHE_DIR");
    if (d && *d) return (size_t)snprintf(out, cap, "%s", d) < cap;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d) return (size_t)snprintf(out, cap, "%s/hnet", d) < cap;
    d = getenv("HOME");
    if (d && *d) return (size_t)snprintf(out, cap, "%s/.cache/hnet", d) < cap;
    return 0;
}

/* The stamp's path and the line it must hold for this version of the file; 0 when there
 * is no cache folder or the file cannot be stat'ed. */
static int stamp_of(const hn_known_corpus *k, const char *path, char *stamp, size_t scap,
                    char *line, size_t lcap) {
    char dir[PATH_MAX], real[PATH_MAX], hash[65];
    struct stat st;
    if (!cache_dir(dir, sizeof dir) || !realpath(path, real) || stat(real, &st) != 0) return 0;
    if (hn_sha256_hex(real, strlen(real), hash, NULL) != HN_OK) return 0;
    if ((size_t)snprintf(stamp, scap, "%s/corpora/%s-%.16s.ok", dir, k->name, hash) >= scap) return 0;
    return (size_t)snprintf(line, lcap, "%s %llu %lld.%09ld %llu %llu %s\n", k->sha256,
                            (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
                            st.st_mtim.tv_nsec, (unsigned long long)st.st_ino,
                            (unsigned long long)st.st_dev, real) < lcap;
}

static int stamped(const char *stamp, const char *line) {
    char buf[PATH_MAX + 256];
    FILE *f = fopen(stamp, "r");
    if (!f) return 0;
    int ok = fgets(buf, sizeof buf, f) && !strcmp(buf, line);
    fclose(f);
    return ok;
}

/* Best effort: a stamp that cannot be written only costs a hash next time. Written to a
 * temporary file and renamed, so a concurrent reader sees the old stamp or the new. */
static void write_stamp(const char *stamp, const char *line) {
    char dir[PATH_MAX + 64], tmp[PATH_MAX + 96];
    snprintf(dir, sizeof dir, "%s", stamp);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = 0;
    if (hn_mkdir_p(dir, NULL) != HN_OK) return;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", stamp, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fputs(line, f) >= 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, stamp) != 0) unlink(tmp);
}

int hn_known_corpus_verify(const hn_known_corpus *k, const char *path, const uint8_t *bytes,
                           size_t n, hn_error *err) {
    if (n != k->size) return wrong_size(k, path, n, err);
    char stamp[PATH_MAX + 64], line[PATH_MAX + 256];
    int cached = stamp_of(k, path, stamp, sizeof stamp, line, sizeof line);
    if (cached && stamped(stamp, line)) return HN_OK;
    char sha[65];
    if (hn_sha256_hex(bytes, n, sha, err) != HN_OK) return HN_ERR;
    if (strcmp(sha, k->sha256))
        return hn_fail(err,
                       "corpus \"%s\": %s has the standard size (%llu bytes) but sha256 %s, "
                       "not the standard %s; the file is damaged or not the standard one: "
                       "replace it (see experiments/DATA.md)",
                       k->name, path, (unsigned long long)n, sha, k->sha256);
    if (cached) write_stamp(stamp, line);
    return HN_OK;
}
