#include "backend/backend.h"

#include <string.h>

const hn_backend *hn_backend_get(const char *name) {
    if (!name || !strcmp(name, "cpu")) return hn_backend_cpu();
    return NULL; /* "cuda" arrives with the CUDA backend */
}
