/* safetensors files (the format PyTorch's `safetensors` package reads): an 8-byte
 * little-endian header length N, N bytes of JSON {"NAME": {"dtype": "F32", "shape":
 * [...], "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}, then
 * the raw little-endian tensor data, offsets relative to its start. hnet writes F32 only.
 *
 * Reading validates every header field before anything uses it: the header length, one
 * JSON object (trailing spaces only), metadata an object of strings, each entry a known
 * dtype, at most HN_ST_MAX_DIMS integer dimensions >= 0 whose element count and byte
 * size fit without overflow and equal its offsets' span, offsets integers with
 * begin <= end, and the entries, ordered by offset, tiling the data section exactly (no
 * overlap, no gap, nothing past its end); no name twice. A file failing any of these is
 * refused with a message naming it, so nothing downstream can read outside it.
 *
 * Integrity: the writer stores in the metadata key "hnet.sha256" the sha256 of the whole
 * file (length, header and data) computed with that key's 64 hex digits set to '0', so
 * any edit of the header or its metadata is caught as well as damage to the data.
 * Files of older hnet versions carry "hnet.data_sha256" (the data section only); they
 * are still checked against it and marked `sealed = HN_ST_SEALED_DATA`. Files without
 * either key (written elsewhere) are checked for structure only. A checksum detects
 * damage, not forgery: the structural checks are what keep a crafted file harmless.
 *
 * Writes are atomic: a temporary file PATH.tmp.PID in the same folder, fsync, rename,
 * fsync of the folder, so a crash leaves either the old file or the complete new one
 * (and possibly a stale PATH.tmp.PID, which train/checkpoint.c removes). */
#ifndef HN_SAFETENSORS_H
#define HN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

#define HN_ST_MAX_DIMS 4
#define HN_ST_SHA_KEY "hnet.sha256"           /* the whole file */
#define HN_ST_DATA_SHA_KEY "hnet.data_sha256" /* older files: the data section only */
#define HN_ST_MAX_HEADER 100000000            /* bytes, as the reference reader */

/* What a file's checksum covered when it was read. */
enum { HN_ST_UNSEALED = 0, HN_ST_SEALED_DATA = 1, HN_ST_SEALED = 2 };

/* One tensor to write: data is host memory of numel = prod(shape) floats; NULL data
 * writes zeros. */
typedef struct hn_st_tensor {
    const char *name;
    int ndim;
    int64_t shape[HN_ST_MAX_DIMS];
    const float *data;
} hn_st_tensor;

/* metadata: an object of string values (may be NULL). */
int hn_safetensors_write(const char *path, const hn_st_tensor *tensors, int n,
                         const cJSON *metadata, hn_error *err);

/* One validated tensor entry: name points into the header. */
typedef struct hn_st_entry {
    const char *name;
    int ndim;
    int64_t shape[HN_ST_MAX_DIMS];
    size_t begin, end; /* byte offsets into the data section */
} hn_st_entry;

/* A file read whole into memory. */
typedef struct hn_safetensors {
    char *path;
    cJSON *header;         /* the parsed JSON header */
    const cJSON *metadata; /* its __metadata__ object, or NULL */
    uint8_t *data;         /* the data section */
    size_t data_len;
    hn_st_entry *entries;  /* sorted by name */
    int n_entries;
    int sealed;            /* HN_ST_UNSEALED, HN_ST_SEALED_DATA or HN_ST_SEALED */
} hn_safetensors;

int hn_safetensors_read(const char *path, hn_safetensors *out, hn_error *err);
/* The same for a file already in memory (buf, len); name is used in messages. */
int hn_safetensors_parse(const uint8_t *buf, size_t len, const char *name, hn_safetensors *out,
                         hn_error *err);
void hn_safetensors_free(hn_safetensors *s);

/* The tensor `name`: fills ndim and shape and returns its data (F32, possibly
 * unaligned: copy it out with memcpy), or NULL when the file has no such tensor. */
const uint8_t *hn_safetensors_find(const hn_safetensors *s, const char *name, int *ndim,
                                   int64_t shape[HN_ST_MAX_DIMS]);
/* A metadata string, or NULL. */
const char *hn_safetensors_meta(const hn_safetensors *s, const char *key);

#endif
