/* What the commands that take --timeline share: whether this build and backend can
 * record the device's kernels with CUPTI (backend/cuda/cupti_timeline.h). */
#ifndef HN_CLI_TIMELINE_CLI_H
#define HN_CLI_TIMELINE_CLI_H

#include <stddef.h>

#include "backend/backend.h"

/* Why --timeline cannot run on be in this build, in why ("" when it can). */
void hn_cli_timeline_refusal(const hn_backend *be, char *why, size_t cap);

#endif
