#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/digest.h"

static size_t numel_of(const hn_st_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

static int write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return HN_ERR;
        b += w;
        n -= (size_t)w;
    }
    return HN_OK;
}

/* Zeros for tensors written without data. */
static int write_zeros(int fd, size_t bytes) {
    static const uint8_t zeros[4096];
    while (bytes > 0) {
        size_t n = bytes < sizeof zeros ? bytes : sizeof zeros;
        if (write_all(fd, zeros, n)) return HN_ERR;
        bytes -= n;
    }
    return HN_OK;
}

static void digest_zeros(hn_digest *d, size_t bytes) {
    static const uint8_t zeros[4096];
    while (bytes > 0) {
        size_t n = bytes < sizeof zeros ? bytes : sizeof zeros;
        hn_digest_update(d, zeros, n);
        bytes -= n;
    }
}

/* The JSON header: tensors in order, metadata (with the data checksum) first. */
static char *build_header(const hn_st_tensor *t, int n, const cJSON *metadata, const char *sha) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = metadata ? cJSON_Duplicate(metadata, 1) : cJSON_CreateObject();
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
    cJSON_AddStringToObject(meta, HN_ST_SHA_KEY, sha);
    cJSON_AddItemToObject(h, "__metadata__", meta);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
        size_t bytes = numel_of(&t[i]) * sizeof(float);
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
        cJSON_AddItemToObject(h, t[i].name, e);
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return text;
}

static void fsync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int hn_safetensors_write(const char *path, const hn_st_tensor *t, int n, const cJSON *metadata,
                         hn_error *err) {
    /* checksum of the data section first, so the header can carry it */
    hn_digest dg;
    if (hn_digest_init(&dg, err)) return HN_ERR;
    for (int i = 0; i < n; i++) {
        size_t bytes = numel_of(&t[i]) * sizeof(float);
        if (t[i].data) hn_digest_update(&dg, t[i].data, bytes);
        else digest_zeros(&dg, bytes);
    }
    char sha[65];
    hn_digest_final(&dg, sha, NULL);
    char *header = build_header(t, n, metadata, sha);
    if (!header) return hn_fail(err, "%s: out of memory for the header", path);
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8; /* 8-byte aligned data */

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        hn_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        free(header);
        return HN_ERR;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = write_all(fd, len8, 8) || write_all(fd, header, hlen);
    for (size_t i = hlen; i < padded && !bad; i++) bad = write_all(fd, " ", 1);
    for (int i = 0; i < n && !bad; i++) {
        size_t bytes = numel_of(&t[i]) * sizeof(float);
        bad = t[i].data ? write_all(fd, t[i].data, bytes) : write_zeros(fd, bytes);
    }
    int saved = errno;
    if (!bad && fsync(fd)) bad = 1, saved = errno;
    if (close(fd) && !bad) bad = 1, saved = errno;
    free(header);
    if (bad || rename(tmp, path)) {
        if (!bad) saved = errno;
        unlink(tmp);
        hn_fail(err, "%s: could not write the checkpoint: %s", path, strerror(saved));
        free(tmp);
        return HN_ERR;
    }
    free(tmp);
    fsync_dir_of(path);
    return HN_OK;
}

/* ---------- reading ---------- */

void hn_safetensors_free(hn_safetensors *s) {
    free(s->path);
    cJSON_Delete(s->header);
    free(s->data);
    memset(s, 0, sizeof *s);
}

static int read_file(const char *path, uint8_t **buf, size_t *len, hn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb)) {
        fclose(f);
        return hn_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    *len = (size_t)sb.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf || fread(*buf, 1, *len, f) != *len) {
        fclose(f);
        free(*buf);
        *buf = NULL;
        return hn_fail(err, "%s: cannot read %zu bytes", path, *len);
    }
    fclose(f);
    return HN_OK;
}

/* Every tensor entry is F32 with offsets that match its shape and lie in the data. */
static int check_entries(const hn_safetensors *s, hn_error *err) {
    const cJSON *e;
    cJSON_ArrayForEach(e, s->header) {
        if (!strcmp(e->string, "__metadata__")) continue;
        const cJSON *dt = cJSON_GetObjectItem(e, "dtype"), *sh = cJSON_GetObjectItem(e, "shape");
        const cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || cJSON_GetArraySize(off) != 2)
            return hn_fail(err, "%s: tensor '%s' has a malformed header entry", s->path, e->string);
        if (strcmp(dt->valuestring, "F32"))
            return hn_fail(err, "%s: tensor '%s' is %s; hnet reads F32 only", s->path, e->string,
                           dt->valuestring);
        double numel = 1;
        const cJSON *d;
        cJSON_ArrayForEach(d, sh) numel *= d->valuedouble;
        double b = cJSON_GetArrayItem(off, 0)->valuedouble, end = cJSON_GetArrayItem(off, 1)->valuedouble;
        if (end - b != numel * 4 || b < 0)
            return hn_fail(err, "%s: tensor '%s': data_offsets do not match its shape", s->path,
                           e->string);
        if (end > (double)s->data_len)
            return hn_fail(err, "%s is truncated: tensor '%s' ends at byte %.0f of a %zu-byte data "
                                "section (an interrupted write or a damaged disk?)",
                           s->path, e->string, end, s->data_len);
    }
    return HN_OK;
}

int hn_safetensors_read(const char *path, hn_safetensors *s, hn_error *err) {
    memset(s, 0, sizeof *s);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err)) return HN_ERR;
    s->path = strdup(path);
    uint64_t hlen = 0;
    for (int i = 0; i < 8 && i < (int)len; i++) hlen |= (uint64_t)buf[i] << (8 * i);
    if (len < 8 || hlen > len - 8) {
        free(buf);
        hn_fail(err, "%s is truncated or not a safetensors file (%zu bytes; header claims %llu)",
                path, len, (unsigned long long)hlen);
        hn_safetensors_free(s);
        return HN_ERR;
    }
    s->header = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(s->header)) {
        free(buf);
        hn_fail(err, "%s: the safetensors header is not valid JSON (damaged file?)", path);
        hn_safetensors_free(s);
        return HN_ERR;
    }
    s->metadata = cJSON_GetObjectItem(s->header, "__metadata__");
    s->data_len = len - 8 - (size_t)hlen;
    s->data = malloc(s->data_len ? s->data_len : 1);
    if (s->data) memcpy(s->data, buf + 8 + hlen, s->data_len);
    free(buf);
    if (!s->data) {
        hn_safetensors_free(s);
        return hn_fail(err, "%s: out of memory", path);
    }
    if (check_entries(s, err)) {
        hn_safetensors_free(s);
        return HN_ERR;
    }
    const char *want = hn_safetensors_meta(s, HN_ST_SHA_KEY);
    if (want) {
        char got[65];
        if (hn_sha256_hex(s->data, s->data_len, got, err)) {
            hn_safetensors_free(s);
            return HN_ERR;
        }
        if (strcmp(got, want)) {
            hn_fail(err, "%s is damaged: the sha256 of its data is %.12s..., the header records "
                         "%.12s... (truncated or corrupted on disk)", path, got, want);
            hn_safetensors_free(s);
            return HN_ERR;
        }
    }
    return HN_OK;
}

const uint8_t *hn_safetensors_find(const hn_safetensors *s, const char *name, int *ndim,
                                   int64_t shape[HN_ST_MAX_DIMS]) {
    if (!strcmp(name, "__metadata__")) return NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->header, name);
    if (!e) return NULL;
    const cJSON *sh = cJSON_GetObjectItem(e, "shape"), *d;
    int n = 0;
    cJSON_ArrayForEach(d, sh) {
        if (n < HN_ST_MAX_DIMS) shape[n] = (int64_t)d->valuedouble;
        n++;
    }
    *ndim = n;
    return s->data + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 0)->valuedouble;
}

const char *hn_safetensors_meta(const hn_safetensors *s, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
