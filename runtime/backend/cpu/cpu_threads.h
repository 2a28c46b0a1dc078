/* The cpu backend's threads (OpenBLAS's pool, used by every matrix product). */
#ifndef HN_CPU_THREADS_H
#define HN_CPU_THREADS_H

/* Threads OpenBLAS uses from now on (n >= 1). */
void hn_cpu_set_threads(int n);
int hn_cpu_threads(void);

#endif
