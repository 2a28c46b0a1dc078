/* bf16 products through cuBLASLt, chosen per instance by hn_cuda_config.matmul_algo
 * (the default LT_TUNED; HNET_CUDA_MATMUL_ALGO=lt for the heuristic's pick, gemmex for
 * cublasGemmEx, matmul.cu).
 *
 * Each instance keeps a cache of shape keys (sizes, transposes, leading dimensions,
 * dtypes, beta == 0 or not, and the operands' pointer alignment, which decides which
 * kernels may run): per key, the operation descriptor and matrix layouts, built once, and
 * the algorithm. LT runs the heuristic's first candidate. LT_TUNED, the first time a key
 * is seen, asks the heuristic for up to HN_LT_CANDIDATES and times each on the instance's
 * stream (device events: one warm-up, then 3 to 32 runs filling about 0.5 ms) into a
 * scratch copy of C, so the real C is written once, by the call itself, afterwards (with
 * beta != 0 the scratch starts as a copy of C: the timed runs read realistic values and
 * never touch the real C). The fastest is kept.
 *
 * What tuning costs, and its bound: each timed key costs, per candidate, a warm-up run,
 * max(3 runs, ~0.5 ms) and two host synchronisations: up to 16 x (4 x 0.3 ms) ~ 20 ms for
 * H1's largest product (65536 x 2192 x 512), ~10 ms for a small one; the trainer's first
 * step sees every key of a fixed-shape model (H1: ~25 keys, ~0.3-0.5 s). A key whose row count
 * varies from step to step (an H-Net's inner stages) borrows the algorithm timed for a
 * key of the same kind (equal but for sizes within a quarter octave of each other) when
 * cuBLASLt accepts it for the new sizes, and is not timed again. At most
 * HN_LT_TUNE_MAX keys are timed per instance; later ones take the heuristic's pick and
 * the first of them says so on stderr. hn_cuda_lt_stats_of reports the keys timed and
 * the host time they took. */
#include <cublasLt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/instance.cuh"
#include "backend/cuda/matmul_lt.cuh"

#define HN_LT_ENTRIES 128   /* shape keys cached per instance */
#define HN_LT_CANDIDATES 16 /* algorithms timed per key (LT_TUNED) */
#define HN_LT_TUNE_REPS 3   /* timed runs per candidate, after one warm-up, at least */
#define HN_LT_TUNE_REPS_MAX 32 /* and at most */
#define HN_LT_TUNE_SPAN_MS 0.5f /* the timed runs of a candidate aim to fill this */
#define HN_LT_TUNE_MAX 48   /* keys timed per instance; later keys take the heuristic's pick */

typedef struct lt_key { /* all ints, compared with memcmp (zeroed before filling) */
    int opa, opb, m, n, k, lda, ldb, ldc;
    int ta, tb, tc;
    int beta_nonzero;
    int align_a, align_b, align_c;
} lt_key;

enum { LT_EMPTY = 0, LT_NONE, LT_PICK, LT_KEPT, LT_TIMED, LT_BORROWED };

typedef struct lt_entry {
    lt_key key;
    int how; /* LT_NONE: cuBLASLt has no algorithm (cublasGemmEx runs it); LT_PICK: the
              * heuristic's pick, not timed yet; LT_KEPT: the pick, timing refused (budget
              * spent, or a captured stream); LT_TIMED: timed here; LT_BORROWED: a timed
              * key's algorithm */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t pick, best;
} lt_entry;

struct hn_cuda_lt {
    cublasLtHandle_t h;
    cudaEvent_t e0, e1;
    lt_entry e[HN_LT_ENTRIES];
    int next; /* where the next replacement search starts */
    int timed, said_spent;
    double tune_ms;
    long fallbacks;
};

/* the arguments of one call */
typedef struct lt_call {
    const float *alpha, *beta;
    const void *a, *b;
    void *c;
} lt_call;

static void note_blas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS) hn_cuda_note(cudaErrorUnknown, what);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* the largest power of two up to 256 that divides the address */
static int align_of(const void *p) {
    int al = 256;
    while (al > 1 && (uintptr_t)p % (uintptr_t)al) al >>= 1;
    return al;
}

/* a size's bucket: itself below 64, else its octave and a quarter within it */
static int bucket(int x) {
    if (x < 64) return x;
    int top = 31 - __builtin_clz((unsigned)x);
    return top << 2 | (x >> (top - 2) & 3);
}

static int same_kind(const lt_key *x, const lt_key *y) {
    lt_key a = *x, b = *y;
    if (bucket(a.m) != bucket(b.m) || bucket(a.n) != bucket(b.n) || bucket(a.k) != bucket(b.k))
        return 0;
    a.m = b.m;
    a.n = b.n;
    a.k = b.k;
    return !memcmp(&a, &b, sizeof a);
}

static void entry_clear(lt_entry *e) {
    if (e->la) cublasLtMatrixLayoutDestroy(e->la);
    if (e->lb) cublasLtMatrixLayoutDestroy(e->lb);
    if (e->lc) cublasLtMatrixLayoutDestroy(e->lc);
    if (e->op) cublasLtMatmulDescDestroy(e->op);
    memset(e, 0, sizeof *e);
}

static hn_cuda_lt *lt_of(hn_cuda_instance *inst) {
    if (inst->lt) return inst->lt;
    hn_cuda_lt *lt = (hn_cuda_lt *)calloc(1, sizeof *lt);
    if (!lt) {
        hn_cuda_note(cudaErrorMemoryAllocation, "cuBLASLt cache (host)");
        return NULL;
    }
    if (cublasLtCreate(&lt->h) != CUBLAS_STATUS_SUCCESS) {
        hn_cuda_note(cudaErrorUnknown, "cublasLtCreate");
        free(lt);
        return NULL;
    }
    if (cudaEventCreate(&lt->e0) != cudaSuccess || cudaEventCreate(&lt->e1) != cudaSuccess) {
        cudaError_t er = cudaGetLastError();
        hn_cuda_note(er != cudaSuccess ? er : cudaErrorUnknown, "cudaEventCreate (cuBLASLt tuning)");
        if (lt->e0) cudaEventDestroy(lt->e0);
        cublasLtDestroy(lt->h);
        free(lt);
        return NULL;
    }
    inst->lt = lt;
    return lt;
}

static void forget(hn_cuda_lt *lt) {
    for (int i = 0; i < HN_LT_ENTRIES; i++) entry_clear(&lt->e[i]);
    lt->next = lt->timed = lt->said_spent = 0;
    lt->tune_ms = 0;
    lt->fallbacks = 0;
}

void hn_cuda_lt_release(hn_cuda_instance *inst) {
    hn_cuda_lt *lt = inst->lt;
    if (!lt) return;
    forget(lt);
    cudaEventDestroy(lt->e0);
    cudaEventDestroy(lt->e1);
    cublasLtDestroy(lt->h);
    free(lt);
    inst->lt = NULL;
}

/* up to max candidates for e's shape, best first by the heuristic's estimate */
static int heuristic(hn_cuda_lt *lt, const lt_entry *e, cublasLtMatmulHeuristicResult_t *res,
                     int max) {
    cublasLtMatmulPreference_t pref;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return 0;
    uint64_t ws = hn_cuda_cur()->blas_ws_bytes;
    uint32_t al[3] = {(uint32_t)e->key.align_a, (uint32_t)e->key.align_b, (uint32_t)e->key.align_c};
    int n = 0;
    if (cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                             sizeof ws) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                             &al[0], sizeof al[0]) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                             &al[1], sizeof al[1]) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                             &al[2], sizeof al[2]) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                             &al[2], sizeof al[2]) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulAlgoGetHeuristic(lt->h, e->op, e->la, e->lb, e->lc, e->lc, pref, max, res,
                                       &n) != CUBLAS_STATUS_SUCCESS)
        n = 0;
    cublasLtMatmulPreferenceDestroy(pref);
    int kept = 0; /* the usable ones, in order */
    for (int i = 0; i < n; i++)
        if (res[i].state == CUBLAS_STATUS_SUCCESS && res[i].workspaceSize <= ws) res[kept++] = res[i];
    return kept;
}

/* the descriptors of e's key and the heuristic's pick; 0, or -1 when cuBLASLt refuses
 * the descriptors */
static int entry_build(hn_cuda_lt *lt, lt_entry *e) {
    const lt_key *k = &e->key;
    cublasOperation_t opa = (cublasOperation_t)k->opa, opb = (cublasOperation_t)k->opb;
    int ar = opa == CUBLAS_OP_N ? k->m : k->k, ac = opa == CUBLAS_OP_N ? k->k : k->m;
    int br = opb == CUBLAS_OP_N ? k->k : k->n, bc = opb == CUBLAS_OP_N ? k->n : k->k;
    if (cublasLtMatmulDescCreate(&e->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa) ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb) ||
        cublasLtMatrixLayoutCreate(&e->la, (cudaDataType_t)k->ta, ar, ac, k->lda) ||
        cublasLtMatrixLayoutCreate(&e->lb, (cudaDataType_t)k->tb, br, bc, k->ldb) ||
        cublasLtMatrixLayoutCreate(&e->lc, (cudaDataType_t)k->tc, k->m, k->n, k->ldc))
        return -1;
    cublasLtMatmulHeuristicResult_t r;
    e->how = heuristic(lt, e, &r, 1) ? LT_PICK : LT_NONE;
    if (e->how == LT_PICK) e->pick = e->best = r.algo;
    return 0;
}

/* the entry of key: found, or built in a slot that holds no timed key (there are never
 * more timed keys than half the slots) */
static lt_entry *entry_for(hn_cuda_lt *lt, const lt_key *key) {
    for (int i = 0; i < HN_LT_ENTRIES; i++)
        if (lt->e[i].how != LT_EMPTY && !memcmp(&lt->e[i].key, key, sizeof *key)) return &lt->e[i];
    lt_entry *e = NULL;
    for (int i = 0; i < HN_LT_ENTRIES && !e; i++) {
        lt_entry *x = &lt->e[(lt->next + i) % HN_LT_ENTRIES];
        if (x->how != LT_TIMED) {
            e = x;
            lt->next = (int)(x - lt->e + 1) % HN_LT_ENTRIES;
        }
    }
    if (!e) return NULL;
    entry_clear(e);
    e->key = *key;
    if (entry_build(lt, e)) {
        note_blas(CUBLAS_STATUS_INTERNAL_ERROR, "cuBLASLt descriptors");
        entry_clear(e);
        return NULL;
    }
    return e;
}

static cublasStatus_t run(hn_cuda_lt *lt, const lt_entry *e, const cublasLtMatmulAlgo_t *algo,
                          const lt_call *cl, void *c) {
    hn_cuda_instance *inst = hn_cuda_cur();
    return cublasLtMatmul(lt->h, e->op, cl->alpha, cl->a, e->la, cl->b, e->lb, cl->beta, c,
                          e->lc, c, e->lc, algo, inst->blas_ws, inst->blas_ws_bytes, inst->stream);
}

/* a timed key of the same kind whose algorithm cuBLASLt accepts for e's sizes */
static int borrow(hn_cuda_lt *lt, lt_entry *e) {
    for (int i = 0; i < HN_LT_ENTRIES; i++) {
        const lt_entry *t = &lt->e[i];
        if (t->how != LT_TIMED || !same_kind(&t->key, &e->key)) continue;
        cublasLtMatmulHeuristicResult_t r;
        if (cublasLtMatmulAlgoCheck(lt->h, e->op, e->la, e->lb, e->lc, e->lc, &t->best, &r) ==
                CUBLAS_STATUS_SUCCESS &&
            r.workspaceSize <= hn_cuda_cur()->blas_ws_bytes) {
            e->best = t->best;
            e->how = LT_BORROWED;
            return 1;
        }
    }
    return 0;
}

/* ms per run of algo (timed into scratch), or -1 when it fails: one warm-up run (timed
 * roughly, to size the rest), then enough runs to fill HN_LT_TUNE_SPAN_MS, at least
 * HN_LT_TUNE_REPS and at most HN_LT_TUNE_REPS_MAX (a small product's 3 runs would be
 * within the events' noise) */
static float time_algo(hn_cuda_lt *lt, const lt_entry *e, const cublasLtMatmulAlgo_t *algo,
                       const lt_call *cl, void *scratch) {
    cudaStream_t s = hn_cuda_cur()->stream;
    float first = -1, ms = -1;
    cudaEventRecord(lt->e0, s);
    cublasStatus_t st = run(lt, e, algo, cl, scratch);
    cudaEventRecord(lt->e1, s);
    if (st != CUBLAS_STATUS_SUCCESS || cudaEventSynchronize(lt->e1) != cudaSuccess ||
        cudaEventElapsedTime(&first, lt->e0, lt->e1) != cudaSuccess)
        return -1;
    int reps = first > 0 ? (int)(HN_LT_TUNE_SPAN_MS / first) : HN_LT_TUNE_REPS_MAX;
    reps = reps < HN_LT_TUNE_REPS ? HN_LT_TUNE_REPS : reps > HN_LT_TUNE_REPS_MAX ? HN_LT_TUNE_REPS_MAX : reps;
    cudaEventRecord(lt->e0, s);
    for (int r = 0; r < reps && st == CUBLAS_STATUS_SUCCESS; r++) st = run(lt, e, algo, cl, scratch);
    cudaEventRecord(lt->e1, s);
    if (cudaEventSynchronize(lt->e1) != cudaSuccess ||
        cudaEventElapsedTime(&ms, lt->e0, lt->e1) != cudaSuccess || st != CUBLAS_STATUS_SUCCESS)
        return -1;
    return ms / reps;
}

/* times the heuristic's candidates for e's key (see the top of the file) */
static void tune(hn_cuda_lt *lt, lt_entry *e, const lt_call *cl) {
    hn_cuda_instance *inst = hn_cuda_cur();
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    e->how = LT_KEPT; /* unless timed below */
    if (cudaStreamIsCapturing(inst->stream, &cap) != cudaSuccess ||
        cap != cudaStreamCaptureStatusNone)
        return; /* no host synchronisation inside a captured region */
    if (lt->timed >= HN_LT_TUNE_MAX) {
        if (!lt->said_spent)
            fprintf(stderr, "hnet cuda: cuBLASLt tuning timed its %d shapes; new shapes take "
                            "the heuristic's pick\n", HN_LT_TUNE_MAX);
        lt->said_spent = 1;
        return;
    }
    double t0 = now_ms();
    lt->timed++;
    e->how = LT_TIMED;
    cublasLtMatmulHeuristicResult_t res[HN_LT_CANDIDATES];
    int n = heuristic(lt, e, res, HN_LT_CANDIDATES);
    const lt_key *k = &e->key;
    size_t el = k->tc == CUDA_R_16BF ? 2 : 4, bytes = ((size_t)(k->n - 1) * k->ldc + k->m) * el;
    void *scratch = NULL;
    if (n > 1 && cudaMalloc(&scratch, bytes) != cudaSuccess) {
        cudaGetLastError(); /* no room to time in: keep the pick */
        scratch = NULL;
    }
    if (scratch && k->beta_nonzero)
        cudaMemcpyAsync(scratch, cl->c, bytes, cudaMemcpyDeviceToDevice, inst->stream);
    float best_ms = -1;
    for (int i = 0; scratch && i < n; i++) {
        float ms = time_algo(lt, e, &res[i].algo, cl, scratch);
        if (ms >= 0 && (best_ms < 0 || ms < best_ms)) {
            best_ms = ms;
            e->best = res[i].algo;
        }
    }
    if (scratch) {
        cudaStreamSynchronize(inst->stream);
        cudaFree(scratch);
    }
    cudaGetLastError(); /* a candidate that failed to launch is skipped, not a failure */
    lt->tune_ms += now_ms() - t0;
}

int hn_cuda_lt_matmul(cublasOperation_t opa, cublasOperation_t opb, int m, int n, int k,
                      const float *alpha, const void *a, cudaDataType_t ta, int lda,
                      const void *b, cudaDataType_t tb, int ldb, const float *beta, void *c,
                      cudaDataType_t tc, int ldc) {
    hn_cuda_instance *inst = hn_cuda_cur();
    int algo = inst->cfg.matmul_algo;
    if (algo != HN_CUDA_MATMUL_ALGO_LT && algo != HN_CUDA_MATMUL_ALGO_LT_TUNED) return 0;
    hn_cuda_lt *lt = lt_of(inst);
    if (!lt) return 1; /* noted */
    lt_key key;
    memset(&key, 0, sizeof key);
    key.opa = opa, key.opb = opb, key.m = m, key.n = n, key.k = k;
    key.lda = lda, key.ldb = ldb, key.ldc = ldc;
    key.ta = ta, key.tb = tb, key.tc = tc;
    key.beta_nonzero = *beta != 0.0f;
    key.align_a = align_of(a), key.align_b = align_of(b), key.align_c = align_of(c);
    lt_entry *e = entry_for(lt, &key);
    if (!e) return 1; /* noted */
    if (e->how == LT_NONE) {
        lt->fallbacks++;
        return 0;
    }
    lt_call cl = {alpha, beta, a, b, c};
    if (algo == HN_CUDA_MATMUL_ALGO_LT_TUNED && e->how == LT_PICK && !borrow(lt, e))
        tune(lt, e, &cl);
    const cublasLtMatmulAlgo_t *use = algo == HN_CUDA_MATMUL_ALGO_LT_TUNED ? &e->best : &e->pick;
    cublasStatus_t st = run(lt, e, use, &cl, c);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
        /* refused before launching (nothing was written): the key goes to cublasGemmEx
         * from now on, counted among the fallbacks the tests and the bench report */
        e->how = LT_NONE;
        lt->fallbacks++;
        return 0;
    }
    note_blas(st, "cublasLtMatmul");
    return 1;
}

extern "C" void hn_cuda_lt_stats_of(const hn_backend *be, hn_cuda_lt_stats *out) {
    memset(out, 0, sizeof *out);
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    if (!inst || !inst->lt) return;
    for (int i = 0; i < HN_LT_ENTRIES; i++) out->shapes += inst->lt->e[i].how != LT_EMPTY;
    out->tuned = inst->lt->timed;
    out->tune_ms = inst->lt->tune_ms;
    out->fallbacks = inst->lt->fallbacks;
}

extern "C" void hn_cuda_lt_forget(const hn_backend *be) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    if (inst && inst->lt) forget(inst->lt);
}
