#include "data/read.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

int hn_bytebuf_reserve(hn_bytebuf *b, size_t more, hn_error *err) {
    if (more > SIZE_MAX - b->n) return hn_fail(err, "corpus too large for memory");
    size_t need = b->n + more;
    if (need <= b->cap) return HN_OK;
    size_t cap = b->cap ? b->cap : (size_t)1 << 16;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return hn_fail(err, "out of memory reading corpus (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
    return HN_OK;
}

void hn_bytebuf_free(hn_bytebuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int hn_path_is_gz(const char *path) {
    size_t n = strlen(path);
    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

static int read_plain(const char *path, hn_bytebuf *b, hn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hn_fail(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 &&
        hn_bytebuf_reserve(b, (size_t)st.st_size, err) != HN_OK) {
        fclose(f);
        return HN_ERR;
    }
    for (;;) {
        if (hn_bytebuf_reserve(b, 1 << 20, err) != HN_OK) { fclose(f); return HN_ERR; }
        size_t got = fread(b->p + b->n, 1, b->cap - b->n, f);
        b->n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return hn_fail(err, "error reading %s", path);
    return HN_OK;
}

static int read_gz(const char *path, hn_bytebuf *b, hn_error *err) {
    /* zlib reads a file that is not gzip "transparently"; a .gz name promises gzip,
     * so check the magic first instead of silently loading compressed garbage. */
    FILE *f = fopen(path, "rb");
    if (!f) return hn_fail(err, "cannot open %s: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t m = fread(magic, 1, 2, f);
    fclose(f);
    if (m == 0) return HN_OK; /* empty file: no bytes */
    if (m < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
        return hn_fail(err, "%s ends in .gz but is not gzip data", path);

    gzFile gz = gzopen(path, "rb");
    if (!gz) return hn_fail(err, "cannot open %s: %s", path, strerror(errno));
    gzbuffer(gz, 1 << 18);
    for (;;) {
        if (hn_bytebuf_reserve(b, 1 << 22, err) != HN_OK) { gzclose(gz); return HN_ERR; }
        size_t room = b->cap - b->n;
        unsigned ask = room > (1u << 30) ? (1u << 30) : (unsigned)room;
        int got = gzread(gz, b->p + b->n, ask);
        if (got < 0) {
            int code;
            const char *msg = gzerror(gz, &code);
            hn_fail(err, "%s: corrupt or truncated gzip data (%s)", path, msg);
            gzclose(gz);
            return HN_ERR;
        }
        if (got == 0) break;
        b->n += (size_t)got;
    }
    int code;
    const char *msg = gzerror(gz, &code);
    if (code != Z_OK && code != Z_STREAM_END) {
        hn_fail(err, "%s: corrupt or truncated gzip data (%s)", path, msg);
        gzclose(gz);
        return HN_ERR;
    }
    if (gzclose(gz) != Z_OK) return hn_fail(err, "%s: corrupt or truncated gzip data", path);
    return HN_OK;
}

int hn_read_file_append(const char *path, hn_bytebuf *b, hn_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return hn_fail(err, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return hn_fail(err, "%s is a folder; use {\"source\":\"dir\"} for folders", path);
    return hn_path_is_gz(path) ? read_gz(path, b, err) : read_plain(path, b, err);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hn_list_dir_files(const char *path, char ***names, size_t *count, hn_error *err) {
    *names = NULL;
    *count = 0;
    DIR *d = opendir(path);
    if (!d) return hn_fail(err, "cannot open folder %s: %s", path, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char full[4096];
    int rc = HN_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* hidden files, "." and ".." */
        if ((size_t)snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= sizeof full) {
            rc = hn_fail(err, "path too long in folder %s", path);
            break;
        }
        struct stat st;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { rc = hn_fail(err, "out of memory listing %s", path); break; }
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) { rc = hn_fail(err, "out of memory listing %s", path); break; }
        n++;
    }
    closedir(d);
    if (rc != HN_OK) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return rc;
    }
    if (n) qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    *count = n;
    return HN_OK;
}

int hn_read_dir_append(const char *path, hn_bytebuf *b, size_t *nfiles, hn_error *err) {
    char **names;
    size_t n;
    if (hn_list_dir_files(path, &names, &n, err) != HN_OK) return HN_ERR;
    int rc = HN_OK;
    if (n == 0)
        rc = hn_fail(err, "folder %s has no files (hidden files and sub-folders are not read)", path);
    char full[4096];
    for (size_t i = 0; i < n && rc == HN_OK; i++) {
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        rc = hn_read_file_append(full, b, err);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (nfiles) *nfiles = n;
    return rc;
}
