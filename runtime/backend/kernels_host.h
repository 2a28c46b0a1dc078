/* The host's side of the kernel registry (backend/kernels.h): what the plugin loader and
 * the test kit need, not the plugins. Not thread-safe: plugins load from one thread. */
#ifndef HN_KERNELS_HOST_H
#define HN_KERNELS_HOST_H

#include "backend/kernels.h"

/* Registrations between begin and commit (a plugin's entry registering its ops) are
 * held back: commit adds them for owner (a dlopen handle; owner_name for messages),
 * failing on the first bad or duplicate op, in which case none is added; discard drops
 * them (a plugin that is refused or skipped). */
void hn_kernels_stage_begin(void);
int hn_kernels_stage_commit(const void *owner, const char *owner_name, hn_error *err);
void hn_kernels_stage_discard(void);
/* Drops every op owner registered (before its library is closed). */
void hn_kernels_remove_owner(const void *owner);

/* The registered ops, in registration order; owner is NULL for the runtime's own. */
int hn_kernels_count(void);
const hn_kernel_def *hn_kernels_at(int i, const void **owner);

#endif
