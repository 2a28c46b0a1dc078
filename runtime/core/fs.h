/* Small file-system helpers shared by the runtime and the plugins. */
#ifndef HN_FS_H
#define HN_FS_H

#include "core/error.h"

/* mkdir -p: creates dir and its missing parents; fails with the component that could not
 * be made, or when dir exists but is not a folder. */
int hn_mkdir_p(const char *dir, hn_error *err);

#endif
