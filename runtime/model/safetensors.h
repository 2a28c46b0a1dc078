/* safetensors files (the format PyTorch's `safetensors` package reads): an 8-byte
 * little-endian header length N, N bytes of JSON {"NAME": {"dtype": "F32", "shape":
 * [...], "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}, then
 * the raw little-endian tensor data, offsets relative to its start. hnet writes F32 only.
 *
 * Integrity: the writer stores the sha256 of the whole data section in the metadata
 * key "hnet.data_sha256"; the reader checks it (and that every offset lies inside the
 * file), so a truncated or corrupted file is refused with a message naming it. Files
 * without the key (written elsewhere) are checked for structure only.
 *
 * Writes are atomic: a temporary file in the same folder, fsync, rename, fsync of the
 * folder, so a crash leaves either the old file or the complete new one. */
#ifndef HN_SAFETENSORS_H
#define HN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

#define HN_ST_MAX_DIMS 4
#define HN_ST_SHA_KEY "hnet.data_sha256"

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

/* A file read whole into memory. */
typedef struct hn_safetensors {
    char *path;
    cJSON *header;         /* the parsed JSON header */
    const cJSON *metadata; /* its __metadata__ object, or NULL */
    uint8_t *data;         /* the data section */
    size_t data_len;
} hn_safetensors;

int hn_safetensors_read(const char *path, hn_safetensors *out, hn_error *err);
void hn_safetensors_free(hn_safetensors *s);

/* The tensor `name`: fills ndim and shape and returns its data (F32, possibly
 * unaligned: copy it out with memcpy), or NULL when the file has no such tensor. */
const uint8_t *hn_safetensors_find(const hn_safetensors *s, const char *name, int *ndim,
                                   int64_t shape[HN_ST_MAX_DIMS]);
/* A metadata string, or NULL. */
const char *hn_safetensors_meta(const hn_safetensors *s, const char *key);

#endif
