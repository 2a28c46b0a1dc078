/* Helpers of the CPU-vs-CUDA parity tests: twin buffers (one on each backend, filled
 * with the same fresh random values) and the relative error ||gpu - cpu|| / ||cpu||. */
#ifndef HN_TEST_PARITY_H
#define HN_TEST_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/rng.h"

extern const hn_backend *P_CPU, *P_GPU;

typedef struct twin {
    float *c, *g; /* cpu (host) and cuda (device) copies */
    size_t n;
} twin;

typedef struct itwin {
    int32_t *c, *g;
    size_t n;
} itwin;

/* 0: both backends are there (else the group's setup skips with a message). */
int parity_open(void);
/* parity_open, and reg initialised with the default plugins loaded (0), or a message
 * and -1. The caller closes reg. */
struct hn_registry;
int parity_open_plugins(struct hn_registry *reg);
twin tw_normal(size_t n, double std, hn_rng *r);
twin tw_uniform(size_t n, double lo, double hi, hn_rng *r);
twin tw_zero(size_t n);
itwin itw_from(const int32_t *host, size_t n);
void tw_free(twin *t);
void itw_free(itwin *t);
/* Relative L2 error of the cuda copy against the cpu copy; +inf on NaN or on any CUDA
 * error. Prints name and value. */
double tw_err(const twin *t, const char *name);
double itw_mismatch(const itwin *t, const char *name); /* count of differing entries */

/* Packed sequences of the given lengths: one hn_seqs per backend. */
typedef struct pseqs {
    hn_seqs c, g;
    int32_t *offsets, *pos_h;
    itwin offs, pos;
} pseqs;
void pseqs_make(pseqs *s, const int *lens, int n);
void pseqs_free(pseqs *s);

/* A typed buffer of rows x ld values of one dtype on both backends, same contents:
 * normal values of standard deviation std (tb_normal: 1), rounded when bf16. */
typedef struct tbuf {
    hn_dtype dtype;
    int rows, cols, ld;
    void *c, *g;
} tbuf;
tbuf tb_scaled(hn_dtype dtype, int rows, int cols, int ld, double std, hn_rng *r);
tbuf tb_normal(hn_dtype dtype, int rows, int cols, int ld, hn_rng *r);
hn_tensor tv(const tbuf *t, int gpu); /* its view on the cpu (0) or the cuda (1) side */
void tb_free(tbuf *t);
/* Relative L2 error of the gpu copy against the cpu copy over the view's elements (+inf
 * on NaN or a CUDA error); prints name and value. */
double tb_err(const tbuf *t, const char *name);
/* The same over columns [c0, c0 + cols) only (one op's slice of a wider buffer). */
double tb_err_cols(const tbuf *t, int c0, int cols, const char *name);
/* Elements of those columns whose gpu value is more than rel |cpu| + abs_tol from the
 * cpu's (-1 on a CUDA error); prints name and the count. An elementwise bound: a wrong
 * value anywhere fails it where a relative L2 error over many might not. */
long tb_off_cols(const tbuf *t, int c0, int cols, double rel, double abs_tol, const char *name);
/* A generator seeded from a name: fresh, reproducible inputs per case. */
hn_rng tb_fresh(const char *what);

#define TOL_FP32 2e-4
#define TOL_BF16 2e-2

#endif
