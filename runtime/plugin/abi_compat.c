/* Older plugin tables read as the current struct (plugin/abi_compat.h). */
#include "plugin/abi_compat.h"

#include <string.h>

int hn_abi_adopt(const hn_abi_versions *v, uint32_t abi, const void *src, void *dst,
                 size_t dst_size, const char *name, const char *path, hn_error *err) {
    const char *shown = name && *name ? name : "?";
    if (abi > v->current)
        return hn_fail(err,
                       "%s plugin %s (%s): %s ABI version %u is newer than this hnet's (version "
                       "%u): use a newer hnet, or rebuild the plugin against this one",
                       v->kind, shown, path, v->kind, abi, v->current);
    if (abi < v->oldest)
        return hn_fail(err,
                       "%s plugin %s (%s): %s ABI version %u is older than this hnet accepts "
                       "(versions %u to %u): rebuild the plugin against this hnet",
                       v->kind, shown, path, v->kind, abi, v->oldest, v->current);
    size_t n = v->size_of[abi - v->oldest];
    if (n > dst_size) n = dst_size;
    memset(dst, 0, dst_size);
    memcpy(dst, src, n);
    return HN_OK;
}
