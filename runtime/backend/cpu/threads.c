#include <cblas.h>

#include "backend/cpu/cpu_threads.h"

void hn_cpu_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

int hn_cpu_threads(void) { return openblas_get_num_threads(); }
