/* Plugin tables that only grow: which ABI versions of a layer, chunker or sink table
 * this hnet accepts, and the copy that lets the runtime read an older, shorter table as
 * the current struct (the fields it lacks read as zero: the optional hooks are absent). */
#ifndef HN_ABI_COMPAT_H
#define HN_ABI_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_abi_versions {
    const char *kind;        /* "layer", "chunker", "sink" */
    uint32_t oldest, current; /* accepted: oldest .. current */
    const size_t *size_of;   /* size_of[v - oldest]: the table's size in version v */
} hn_abi_versions;

/* Checks src's abi_version (abi) against v and copies the table into dst (the current
 * struct, dst_size bytes), zero-filling what an older version lacks. Refuses a newer
 * version or one older than v->oldest, naming both versions; name and path are for the
 * message. */
int hn_abi_adopt(const hn_abi_versions *v, uint32_t abi, const void *src, void *dst,
                 size_t dst_size, const char *name, const char *path, hn_error *err);

#endif
