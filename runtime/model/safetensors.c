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

#define SHA_HEX 64

/* The JSON header: metadata first (its checksum key holding 64 '0's until the checksum
 * is known), then the tensors in order. */
static char *build_header(const hn_st_tensor *t, int n, const cJSON *metadata) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = metadata ? cJSON_Duplicate(metadata, 1) : cJSON_CreateObject();
    char zeros[SHA_HEX + 1];
    memset(zeros, '0', SHA_HEX);
    zeros[SHA_HEX] = 0;
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
    cJSON_DeleteItemFromObject(meta, HN_ST_DATA_SHA_KEY);
    cJSON_AddStringToObject(meta, HN_ST_SHA_KEY, zeros);
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

/* Where the checksum's hex digits are in a header: the one `"hnet.sha256":"` followed
 * by 64 characters and a quote. NULL when there is none or more than one. (Inside a
 * JSON string every quote is escaped, so the pattern cannot hide in a value.) */
static char *find_sha_slot(char *header, size_t n) {
    static const char key[] = "\"" HN_ST_SHA_KEY "\":\"";
    size_t k = sizeof key - 1;
    char *found = NULL;
    for (char *p = header; (size_t)(p - header) + k <= n;) {
        char *q = memmem(p, n - (size_t)(p - header), key, k);
        if (!q) break;
        if ((size_t)(q - header) + k + SHA_HEX + 1 > n || q[k + SHA_HEX] != '"') return NULL;
        if (found) return NULL;
        found = q + k;
        p = q + 1;
    }
    return found;
}

/* sha256 of the 8 length bytes, the header (checksum digits as '0') and the data. */
static void digest_file(hn_digest *dg, const uint8_t len8[8], const char *header, size_t hlen) {
    hn_digest_update(dg, len8, 8);
    hn_digest_update(dg, header, hlen);
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
    char *header = build_header(t, n, metadata);
    if (!header) return hn_fail(err, "%s: out of memory for the header", path);
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8; /* 8-byte aligned data */
    char *full = realloc(header, padded + 1);
    if (!full) {
        free(header);
        return hn_fail(err, "%s: out of memory for the header", path);
    }
    header = full;
    memset(header + hlen, ' ', padded - hlen);
    header[padded] = 0;
    char *slot = find_sha_slot(header, padded);
    if (!slot) {
        free(header);
        return hn_fail(err, "%s: the header's checksum field could not be placed", path);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    /* the checksum of the whole file first (digits as '0'), then written into its slot */
    hn_digest dg;
    if (hn_digest_init(&dg, err)) {
        free(header);
        return HN_ERR;
    }
    digest_file(&dg, len8, header, padded);
    for (int i = 0; i < n; i++) {
        size_t bytes = numel_of(&t[i]) * sizeof(float);
        if (t[i].data) hn_digest_update(&dg, t[i].data, bytes);
        else digest_zeros(&dg, bytes);
    }
    char sha[SHA_HEX + 1];
    hn_digest_final(&dg, sha, NULL);
    memcpy(slot, sha, SHA_HEX);

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
    int bad = write_all(fd, len8, 8) || write_all(fd, header, padded);
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
    free(s->entries);
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
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return hn_fail(err, "%s is not a regular file", path);
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

#define MAX_EXACT 9007199254740992.0 /* 2^53: every integer up to it is a double */

/* A JSON number that is an integer in [0, 2^53]. */
static int as_count(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static const char *const KNOWN_DTYPES[] = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2",
                                           "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                                           "BOOL"};

/* Validates one tensor entry into out (offsets checked against the data length). */
static int check_entry(const hn_safetensors *s, const cJSON *e, hn_st_entry *out, hn_error *err) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e))
        return hn_fail(err, "%s: tensor '%s' has a malformed header entry (not an object)",
                       s->path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return hn_fail(err, "%s: tensor '%s' has no dtype", s->path, nm);
    int known = 0;
    for (size_t i = 0; i < sizeof KNOWN_DTYPES / sizeof *KNOWN_DTYPES; i++)
        known |= !strcmp(dt->valuestring, KNOWN_DTYPES[i]);
    if (!known)
        return hn_fail(err, "%s: tensor '%s' has an unknown dtype '%.32s'", s->path, nm,
                       dt->valuestring);
    if (strcmp(dt->valuestring, "F32"))
        return hn_fail(err, "%s: tensor '%s' is %s; hnet reads F32 only", s->path, nm,
                       dt->valuestring);
    if (!cJSON_IsArray(sh))
        return hn_fail(err, "%s: tensor '%s' has no shape list", s->path, nm);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > HN_ST_MAX_DIMS)
        return hn_fail(err, "%s: tensor '%s' has %d dimensions; hnet reads at most %d", s->path,
                       nm, ndim, HN_ST_MAX_DIMS);
    uint64_t numel = 1;
    int d = 0, overflow = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, sh) {
        uint64_t k;
        if (!as_count(v, &k))
            return hn_fail(err, "%s: tensor '%s': shape[%d] is not an integer in [0, 2^53]",
                           s->path, nm, d);
        overflow |= __builtin_mul_overflow(numel, k, &numel);
        out->shape[d++] = (int64_t)k;
    }
    uint64_t bytes;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)sizeof(float), &bytes))
        return hn_fail(err, "%s: tensor '%s': its shape has more elements than any file holds",
                       s->path, nm);
    uint64_t begin, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !as_count(cJSON_GetArrayItem(off, 0), &begin) || !as_count(cJSON_GetArrayItem(off, 1), &end))
        return hn_fail(err, "%s: tensor '%s': data_offsets must be two integers in [0, 2^53]",
                       s->path, nm);
    if (begin > end)
        return hn_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] are reversed", s->path, nm,
                       (unsigned long long)begin, (unsigned long long)end);
    if (end - begin != bytes)
        return hn_fail(err, "%s: tensor '%s': data_offsets span %llu bytes; its shape needs %llu",
                       s->path, nm, (unsigned long long)(end - begin), (unsigned long long)bytes);
    if (end > s->data_len)
        return hn_fail(err, "%s is truncated: tensor '%s' ends at byte %llu of a %zu-byte data "
                            "section (an interrupted write or a damaged disk?)",
                       s->path, nm, (unsigned long long)end, s->data_len);
    out->name = nm;
    out->ndim = ndim;
    out->begin = (size_t)begin;
    out->end = (size_t)end;
    return HN_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const hn_st_entry *)a)->name, ((const hn_st_entry *)b)->name);
}
static int by_offset(const void *a, const void *b) {
    const hn_st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}
static int by_string(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* __metadata__, when present: one object of strings with no key twice. */
static int check_metadata(hn_safetensors *s, hn_error *err) {
    int seen = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, s->header) seen += !strcmp(it->string, "__metadata__");
    if (seen > 1) return hn_fail(err, "%s: the header has __metadata__ twice", s->path);
    s->metadata = cJSON_GetObjectItemCaseSensitive(s->header, "__metadata__");
    if (!s->metadata) return HN_OK;
    if (!cJSON_IsObject(s->metadata))
        return hn_fail(err, "%s: __metadata__ is not an object of strings", s->path);
    int n = cJSON_GetArraySize(s->metadata), k = 0, rc = HN_OK;
    const char **keys = malloc(sizeof *keys * (size_t)(n ? n : 1));
    if (!keys) return hn_fail(err, "%s: out of memory", s->path);
    cJSON_ArrayForEach(it, s->metadata) {
        if (!cJSON_IsString(it)) {
            free(keys);
            return hn_fail(err, "%s: metadata '%.64s' is not a string", s->path, it->string);
        }
        keys[k++] = it->string;
    }
    qsort(keys, (size_t)k, sizeof *keys, by_string);
    for (int i = 1; i < k && rc == HN_OK; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            rc = hn_fail(err, "%s: metadata '%.64s' appears twice", s->path, keys[i]);
    free(keys);
    return rc;
}

/* Every entry valid; together they tile the data section; no name twice. */
static int check_entries(hn_safetensors *s, hn_error *err) {
    int n = cJSON_GetArraySize(s->header) - (s->metadata ? 1 : 0), k = 0;
    s->entries = calloc((size_t)(n > 0 ? n : 1), sizeof *s->entries);
    if (!s->entries) return hn_fail(err, "%s: out of memory", s->path);
    const cJSON *e;
    cJSON_ArrayForEach(e, s->header) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (check_entry(s, e, &s->entries[k], err)) return HN_ERR;
        k++;
    }
    s->n_entries = k;
    qsort(s->entries, (size_t)k, sizeof *s->entries, by_offset);
    size_t at = 0;
    for (int i = 0; i < k; i++) {
        const hn_st_entry *x = &s->entries[i];
        if (x->begin < at)
            return hn_fail(err, "%s: tensors '%s' and '%s' overlap in the data section", s->path,
                           s->entries[i - 1].name, x->name);
        if (x->begin > at)
            return hn_fail(err, "%s: a gap of %zu bytes before tensor '%s' (the tensors must "
                                "tile the data section)", s->path, x->begin - at, x->name);
        at = x->end;
    }
    if (at != s->data_len)
        return hn_fail(err, "%s: a gap of %zu bytes after the last tensor (the tensors must tile "
                            "the data section)", s->path, s->data_len - at);
    qsort(s->entries, (size_t)k, sizeof *s->entries, by_name);
    for (int i = 1; i < k; i++)
        if (!strcmp(s->entries[i - 1].name, s->entries[i].name))
            return hn_fail(err, "%s: tensor '%s' appears twice in the header", s->path,
                           s->entries[i].name);
    return HN_OK;
}

static int is_hex64(const char *v) {
    if (strlen(v) != SHA_HEX) return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* The whole-file checksum (HN_ST_SHA_KEY) or, for older files, the data checksum. */
static int check_sum(hn_safetensors *s, const uint8_t *buf, size_t hlen, hn_error *err) {
    const char *want = hn_safetensors_meta(s, HN_ST_SHA_KEY);
    char got[SHA_HEX + 1];
    if (want) {
        char *copy = malloc(hlen + 1);
        if (!copy) return hn_fail(err, "%s: out of memory", s->path);
        memcpy(copy, buf + 8, hlen);
        char *slot = is_hex64(want) ? find_sha_slot(copy, hlen) : NULL;
        if (!slot || memcmp(slot, want, SHA_HEX)) {
            free(copy);
            return hn_fail(err, "%s is damaged: its header's %s field is malformed or not where "
                                "hnet writes it", s->path, HN_ST_SHA_KEY);
        }
        memset(slot, '0', SHA_HEX);
        hn_digest dg;
        if (hn_digest_init(&dg, err)) {
            free(copy);
            return HN_ERR;
        }
        digest_file(&dg, buf, copy, hlen);
        hn_digest_update(&dg, s->data, s->data_len);
        hn_digest_final(&dg, got, NULL);
        free(copy);
        s->sealed = HN_ST_SEALED;
    } else if ((want = hn_safetensors_meta(s, HN_ST_DATA_SHA_KEY))) {
        if (hn_sha256_hex(s->data, s->data_len, got, err)) return HN_ERR;
        s->sealed = HN_ST_SEALED_DATA;
    } else {
        return HN_OK;
    }
    if (strcmp(got, want))
        return hn_fail(err, "%s is damaged: its sha256 is %.12s..., the header records %.12s... "
                            "(truncated, corrupted or edited)", s->path, got, want);
    return HN_OK;
}

static int parse(const uint8_t *buf, size_t len, hn_safetensors *s, hn_error *err) {
    uint64_t hlen = 0;
    for (int i = 0; i < 8 && i < (int)len; i++) hlen |= (uint64_t)buf[i] << (8 * i);
    if (len < 8 || hlen > len - 8)
        return hn_fail(err, "%s is truncated or not a safetensors file (%zu bytes; header claims "
                            "%llu)", s->path, len, (unsigned long long)hlen);
    if (hlen > HN_ST_MAX_HEADER)
        return hn_fail(err, "%s: its header claims %llu bytes (at most %d are read)", s->path,
                       (unsigned long long)hlen, HN_ST_MAX_HEADER);
    const char *text = (const char *)buf + 8, *end = NULL;
    s->header = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    int trailing_ok = end != NULL;
    for (const char *p = end; trailing_ok && p < text + hlen; p++)
        trailing_ok = *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
    if (!cJSON_IsObject(s->header) || !trailing_ok)
        return hn_fail(err, "%s: the safetensors header is not one JSON object (damaged file?)",
                       s->path);
    s->data_len = len - 8 - (size_t)hlen;
    s->data = malloc(s->data_len ? s->data_len : 1);
    if (!s->data) return hn_fail(err, "%s: out of memory", s->path);
    memcpy(s->data, buf + 8 + hlen, s->data_len);
    if (check_metadata(s, err) || check_entries(s, err)) return HN_ERR;
    return check_sum(s, buf, (size_t)hlen, err);
}

int hn_safetensors_parse(const uint8_t *buf, size_t len, const char *name, hn_safetensors *s,
                         hn_error *err) {
    memset(s, 0, sizeof *s);
    s->path = strdup(name);
    if (!s->path) return hn_fail(err, "%s: out of memory", name);
    if (parse(buf, len, s, err)) {
        hn_safetensors_free(s);
        return HN_ERR;
    }
    return HN_OK;
}

int hn_safetensors_read(const char *path, hn_safetensors *s, hn_error *err) {
    memset(s, 0, sizeof *s);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err)) return HN_ERR;
    int rc = hn_safetensors_parse(buf, len, path, s, err);
    free(buf);
    return rc;
}

static const hn_st_entry *entry(const hn_safetensors *s, const char *name) {
    hn_st_entry key = {.name = name};
    if (!s->entries) return NULL;
    return bsearch(&key, s->entries, (size_t)s->n_entries, sizeof key, by_name);
}

const uint8_t *hn_safetensors_find(const hn_safetensors *s, const char *name, int *ndim,
                                   int64_t shape[HN_ST_MAX_DIMS]) {
    const hn_st_entry *e = entry(s, name);
    if (!e) return NULL;
    *ndim = e->ndim;
    memcpy(shape, e->shape, sizeof e->shape);
    return s->data + e->begin;
}

const char *hn_safetensors_meta(const hn_safetensors *s, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
