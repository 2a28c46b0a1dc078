/* Internals shared by the ops of `hnet bench --op` (cmd_bench_op.c, cmd_bench_op_ssd.c,
 * cmd_bench_op_conv.c, cmd_bench_op_norm.c, cmd_bench_op_rope.c, cmd_bench_op_ema.c):
 * the parsed options, packed test sequences, random device buffers, the relative error
 * against the cpu twin and the timer. */
#ifndef HN_CLI_BENCH_OP_H
#define HN_CLI_BENCH_OP_H

#include <stdint.h>

#include "backend/backend.h"
#include "core/rng.h"

typedef struct op_opts {
    const char *op;
    long n_seqs, seq_len, heads, head_dim, reps, warmup, check_len;
    long window;         /* < 0: global */
    long chunk, d_state; /* ssd */
    long channels, width; /* conv1d */
    long dim;            /* rmsnorm, gated_rmsnorm: one row width (0: the models' widths) */
    long rot_dim;        /* rope: rotated dims a head */
    const char *kernels; /* comma-separated kernel choices to compare, or NULL */
    const char *shapes;  /* matmul: the bench configs whose products to time, e.g. H1,I1 */
    int seqs_set;        /* --seqs given (ops with a default shape of their own: ema) */
} op_opts;

/* packed sequences of the given lengths on one backend */
typedef struct packed {
    hn_seqs s;
    int32_t *offsets, *pos, *offsets_dev, *pos_dev;
} packed;

/* the cuda and cpu backends; NULL with the message printed when there is no device */
const hn_backend *hn_bench_gpu(const hn_backend **cpu);
/* o's n_seqs lengths of seq_len each (malloc'd; NULL when out of memory) */
int *hn_bench_equal_lens(const op_opts *o);
/* 1 (after saying so on stderr) when the device failed since the last look, else 0 */
int hn_bench_device_failed(const hn_backend *gpu);

int hn_bench_packed_make(packed *p, const hn_backend *be, const int *lens, int n);
void hn_bench_packed_free(packed *p, const hn_backend *be);
/* a device buffer of n normal values (std), also kept on the host when host != NULL */
float *hn_bench_device_normal(const hn_backend *be, size_t n, double std, hn_rng *r, float **host);
/* ||gpu - cpu|| / ||cpu|| (gpu_dev downloaded from g) */
double hn_bench_rel_err(const float *gpu_dev, const float *cpu, size_t n, const hn_backend *g);
/* a device copy of `bytes` host bytes (NULL when out of memory) */
void *hn_bench_upload(const hn_backend *be, const void *src, size_t bytes);
/* hn_bench_rel_err of bf16 values (both widened) */
double hn_bench_rel_err_bf16(const void *gpu_dev, const void *cpu, size_t n, const hn_backend *g);
/* the device's copy rate in bytes/s (read + written; a 512 MiB device-to-device copy,
 * median of reps), 0 when the buffers do not fit */
double hn_bench_copy_rate(const hn_backend *be, int reps);
/* median ms (device events) of `reps` calls of fn(be, arg) after `warmup` */
double hn_bench_time_ms(void (*fn)(const hn_backend *, void *), const hn_backend *be, void *arg,
                        int warmup, int reps);

int hn_bench_ssd(const op_opts *o);
int hn_bench_chunk_plan(const op_opts *o); /* cmd_bench_op_plan.c */
int hn_bench_conv1d(const op_opts *o);
int hn_bench_rmsnorm(const op_opts *o);       /* cmd_bench_op_norm.c */
int hn_bench_gated_rmsnorm(const op_opts *o);
int hn_bench_matmul(const op_opts *o); /* cmd_bench_op_matmul.c */
int hn_bench_rope(const op_opts *o);   /* cmd_bench_op_rope.c */
int hn_bench_ema(const op_opts *o);    /* cmd_bench_op_ema.c */

#endif
