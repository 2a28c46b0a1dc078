#include "cli/timeline_cli.h"

#include <stdio.h>

#ifdef HN_HAVE_CUDA
#include "backend/cuda/cupti_timeline.h"
#endif

void hn_cli_timeline_refusal(const hn_backend *be, char *why, size_t cap) {
    why[0] = 0;
#ifdef HN_HAVE_CUDA
    if (be->kind == HN_DEVICE_CUDA) {
        if (hn_cupti_timeline_available(why, cap)) why[0] = 0;
        return;
    }
    snprintf(why, cap, "--timeline records the device's kernels with CUPTI: it needs --device cuda");
#else
    (void)be;
    snprintf(why, cap, "--timeline records the device's kernels with CUPTI: this hnet is built "
                       "without CUDA (make CUDA=1)");
#endif
}
