/* Backend instances: creation and teardown, the per-thread scope the table's trampolines
 * set, the sticky error, and the configuration (the HNET_CUDA_* variables fill it once,
 * at creation; no op reads the environment). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_cudnn.cuh"
#include "backend/cuda/instance.cuh"

thread_local hn_cuda_instance *hn_cuda_t_scope;
hn_cuda_instance *hn_cuda_default;

static hn_cuda_instance *g_slots[HN_CUDA_MAX_INSTANCES];
static pthread_mutex_t g_slots_lock = PTHREAD_MUTEX_INITIALIZER;
/* failures outside any instance (no device, creation refused) */
static char g_process_err[384];

void hn_cuda_fill_tables(hn_cuda_instance *inst); /* table.cu */
void hn_cuda_forget_owner(hn_cuda_instance *inst); /* memory.cu */
void hn_cuda_release_plans(hn_cuda_instance *inst); /* ssm.cu */
void hn_cuda_release_arenas(hn_cuda_instance *inst); /* shadow.cu */
void hn_cuda_lt_release(hn_cuda_instance *inst); /* matmul_lt.cu */

/* ---- scope ---- */

hn_cuda_scope::hn_cuda_scope(hn_cuda_instance *in, const char *op)
    : prev(hn_cuda_t_scope), inst(in), prev_op(in ? in->op : NULL), prev_device(-1) {
    hn_cuda_t_scope = inst;
    if (!inst) return;
    inst->op = op;
    if (cudaGetDevice(&prev_device) != cudaSuccess) prev_device = -1;
    if (prev_device != inst->device) cudaSetDevice(inst->device);
}

hn_cuda_scope::~hn_cuda_scope() {
    if (inst) {
        inst->op = prev_op;
        if (prev_device >= 0 && prev_device != inst->device) cudaSetDevice(prev_device);
    }
    hn_cuda_t_scope = prev;
}

hn_cuda_instance *hn_cuda_slot(int slot) { return g_slots[slot]; }

hn_cuda_instance *hn_cuda_instance_of(const hn_backend *be) {
    for (int i = 0; i < HN_CUDA_MAX_INSTANCES; i++)
        if (g_slots[i] && be == &g_slots[i]->table) return g_slots[i];
    return NULL;
}

int hn_cuda_first_time(const void *key) {
    hn_cuda_instance *inst = hn_cuda_cur();
    for (int i = 0; i < inst->n_once; i++)
        if (inst->once[i] == key) return 0;
    if (inst->n_once < HN_CUDA_ONCE_KEYS) inst->once[inst->n_once++] = key;
    return 1; /* beyond the table: set it again each time (correct, a little slower) */
}

/* ---- the sticky error ---- */

static char *error_buf(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    return inst ? inst->err : g_process_err;
}

void hn_cuda_note(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    char *err = error_buf();
    if (err[0]) return; /* the first failure stays until read */
    hn_cuda_instance *inst = hn_cuda_cur();
    const char *op = inst && inst->op ? inst->op : NULL;
    if (op)
        snprintf(err, sizeof g_process_err, "%s failed: %s (%s)", op, cudaGetErrorString(e), what);
    else
        snprintf(err, sizeof g_process_err, "%s: %s", what, cudaGetErrorString(e));
    fprintf(stderr, "hnet cuda: %s\n", err);
}

void hn_cuda_note_text(const char *what) {
    char *err = error_buf();
    if (err[0]) return;
    hn_cuda_instance *inst = hn_cuda_cur();
    if (inst && inst->op)
        snprintf(err, sizeof g_process_err, "%s failed: %s", inst->op, what);
    else
        snprintf(err, sizeof g_process_err, "%s", what);
}

extern "C" const char *hn_cuda_last_error(void) {
    static thread_local char out[384];
    hn_cuda_instance *inst = hn_cuda_cur();
    char *err = g_process_err[0] || !inst ? g_process_err : inst->err;
    memcpy(out, err, sizeof out);
    err[0] = 0;
    return out;
}

/* ---- configuration ---- */

static void config_from_env(hn_cuda_config *c) {
    memset(c, 0, sizeof *c);
    const char *e = getenv("HNET_CUDA_MATMUL");
    c->matmul = HN_CUDA_MATMUL_BF16;
    if (e && !strcmp(e, "fp32")) c->matmul = HN_CUDA_MATMUL_FP32;
    if (e && !strcmp(e, "tf32")) c->matmul = HN_CUDA_MATMUL_TF32;
    e = getenv("HNET_CUDA_MATMUL_ALGO");
    /* defaults: what the H200 measured fastest in whole steps (bench/NOTES.md, session 9) */
    c->matmul_algo = e && !strcmp(e, "gemmex") ? HN_CUDA_MATMUL_ALGO_GEMMEX
                     : e && !strcmp(e, "lt")   ? HN_CUDA_MATMUL_ALGO_LT
                                               : HN_CUDA_MATMUL_ALGO_LT_TUNED;
    e = getenv("HNET_CUDA_ATTENTION");
    c->attention = HN_CUDA_ATTENTION_AUTO;
    if (e && !strcmp(e, "fp32")) c->attention = HN_CUDA_ATTENTION_FP32;
    if (e && !strcmp(e, "warp")) c->attention = HN_CUDA_ATTENTION_WARP;
    if (e && !strcmp(e, "wmma")) c->attention = HN_CUDA_ATTENTION_WMMA;
    if (e && !strcmp(e, "mma")) c->attention = HN_CUDA_ATTENTION_MMA;
    if (e && !strcmp(e, "wgmma")) c->attention = HN_CUDA_ATTENTION_WGMMA;
    if (e && !strcmp(e, "wgmma-atomic")) c->attention = HN_CUDA_ATTENTION_WGMMA_ATOMIC;
    if (e && !strcmp(e, "cudnn")) c->attention = HN_CUDA_ATTENTION_CUDNN;
    e = getenv("HNET_CUDA_SSD");
    c->ssd = !e ? HN_CUDA_SSD_AUTO
             : !strcmp(e, "scan")    ? HN_CUDA_SSD_SCAN
             : !strcmp(e, "chunked") ? HN_CUDA_SSD_CHUNKED
             : !strcmp(e, "mma")     ? HN_CUDA_SSD_MMA
                                     : HN_CUDA_SSD_AUTO;
    e = getenv("HNET_CUDA_NORM");
    c->norm_split = e && !strcmp(e, "split");
    c->norm_rows = !(e && !strcmp(e, "old"));
    c->gated_norm_rows = e && !strcmp(e, "rows");
    e = getenv("HNET_CUDA_ACTIVATIONS");
    c->activations_fp32 = e && !strcmp(e, "fp32");
    c->blas_workspace = 32u << 20;
    e = getenv("HNET_CUDA_CONV");
    c->conv = e && !strcmp(e, "window") ? HN_CUDA_CONV_WINDOW
              : e && !strcmp(e, "lean")  ? HN_CUDA_CONV_LEAN
              : e && !strcmp(e, "lean2") ? HN_CUDA_CONV_LEAN2
              : e && !strcmp(e, "lean3") ? HN_CUDA_CONV_LEAN3
                                         : HN_CUDA_CONV_LEAN4;
    e = getenv("HNET_CUDA_XBC");
    c->xbc_bf16 = !(e && (!strcmp(e, "fp32") || !strcmp(e, "f32")));
    e = getenv("HNET_CUDA_EMA");
    c->ema = e && !strcmp(e, "column")     ? HN_CUDA_EMA_COLUMN
             : e && !strcmp(e, "segments") ? HN_CUDA_EMA_SEGMENTS
                                           : HN_CUDA_EMA_SCAN;
    e = getenv("HNET_CUDA_ROPE");
    c->rope_tiles = !(e && !strcmp(e, "old"));
}

extern "C" void hn_cuda_config_default(hn_cuda_config *cfg) { config_from_env(cfg); }

extern "C" hn_cuda_attention_mode hn_cuda_attention_mode_env(void) {
    hn_cuda_config c;
    config_from_env(&c);
    return (hn_cuda_attention_mode)c.attention;
}

/* The configuration the mode setters change before the default instance exists (it is
 * created from it), so hn_cuda_set_matmul_mode may still come first. */
hn_cuda_config *hn_cuda_pending_config(void) {
    static hn_cuda_config pending;
    static int filled;
    if (!filled) {
        config_from_env(&pending);
        filled = 1;
    }
    return &pending;
}

/* the configuration the legacy setters and getters act on */
static hn_cuda_config *cfg_now(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    return inst ? &inst->cfg : hn_cuda_pending_config();
}

extern "C" void hn_cuda_set_matmul_mode(hn_cuda_matmul_mode mode) { cfg_now()->matmul = (int)mode; }
extern "C" hn_cuda_matmul_mode hn_cuda_get_matmul_mode(void) {
    return (hn_cuda_matmul_mode)cfg_now()->matmul;
}
extern "C" void hn_cuda_set_attention_mode(hn_cuda_attention_mode mode) {
    cfg_now()->attention = (int)mode;
}
int hn_cuda_attention_mode_now(void) { return cfg_now()->attention; }
extern "C" void hn_cuda_set_ssd_mode(hn_cuda_ssd_mode mode) { cfg_now()->ssd = (int)mode; }
int hn_cuda_ssd_mode_now(void) { return cfg_now()->ssd; }

extern "C" hn_cuda_config *hn_cuda_config_of(const hn_backend *be) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    return inst ? &inst->cfg : NULL;
}
extern "C" void *hn_cuda_stream_of(const hn_backend *be) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    return inst ? (void *)inst->stream : NULL;
}
extern "C" int hn_cuda_device_of(const hn_backend *be) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    return inst ? inst->device : -1;
}

/* ---- creation and teardown ---- */

static void process_error(const char *why) {
    if (!g_process_err[0]) snprintf(g_process_err, sizeof g_process_err, "%s", why);
}

static void release(hn_cuda_instance *inst) {
    hn_cuda_scope scope(inst, "destroy");
    if (inst->stream) cudaStreamSynchronize(inst->stream);
    for (int i = 0; i < HN_SCRATCH_N; i++) hn_cuda_free(inst->scratch[i].p);
    for (int i = 0; i < HN_WS_SLOTS; i++) hn_cuda_free(inst->pool.slot[i].p);
    hn_cuda_release_arenas(inst);
    hn_cuda_release_plans(inst);
    hn_cuda_lt_release(inst);
    hn_cudnn_release(inst);
    if (inst->blas) cublasDestroy(inst->blas);
    if (inst->blas_ws) cudaFree(inst->blas_ws);
    if (inst->t0) cudaEventDestroy(inst->t0);
    if (inst->t1) cudaEventDestroy(inst->t1);
    if (inst->ev_work) cudaEventDestroy(inst->ev_work);
    if (inst->ev_legacy) cudaEventDestroy(inst->ev_legacy);
    if (inst->ev_download) cudaEventDestroy(inst->ev_download);
    if (inst->stream) cudaStreamDestroy(inst->stream);
    hn_cuda_forget_owner(inst);
}

/* the device-side parts; 0 or the failing call's name */
static const char *open_device(hn_cuda_instance *inst) {
    if (cudaStreamCreateWithFlags(&inst->stream, cudaStreamNonBlocking) != cudaSuccess)
        return "cudaStreamCreateWithFlags";
    if (cublasCreate(&inst->blas) != CUBLAS_STATUS_SUCCESS) return "cublasCreate";
    if (cublasSetStream(inst->blas, inst->stream) != CUBLAS_STATUS_SUCCESS) return "cublasSetStream";
    /* let cuBLAS pick tensor-core algorithms where the compute type allows */
    cublasSetMathMode(inst->blas, CUBLAS_DEFAULT_MATH);
    size_t ws = inst->cfg.blas_workspace ? inst->cfg.blas_workspace : 32u << 20;
    if (cudaMalloc(&inst->blas_ws, ws) != cudaSuccess) return "cudaMalloc (cuBLAS workspace)";
    inst->blas_ws_bytes = ws;
    if (cublasSetWorkspace(inst->blas, inst->blas_ws, ws) != CUBLAS_STATUS_SUCCESS)
        return "cublasSetWorkspace";
    if (cudaEventCreate(&inst->t0) != cudaSuccess || cudaEventCreate(&inst->t1) != cudaSuccess ||
        cudaEventCreateWithFlags(&inst->ev_work, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&inst->ev_legacy, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&inst->ev_download, cudaEventDisableTiming) != cudaSuccess)
        return "cudaEventCreate";
    return NULL;
}

extern "C" const hn_backend *hn_cuda_instance_create(const hn_cuda_config *cfg) {
    hn_cuda_config c;
    if (cfg) c = *cfg;
    else config_from_env(&c);
    int n = 0;
    char why[300];
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        snprintf(why, sizeof why, "no CUDA device: %s",
                 cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice));
        process_error(why);
        return NULL;
    }
    if (c.device < 0 || c.device >= n) {
        snprintf(why, sizeof why, "cuda instance: device %d asked for, %d visible", c.device, n);
        process_error(why);
        return NULL;
    }
    hn_cuda_instance *inst = (hn_cuda_instance *)calloc(1, sizeof *inst);
    if (!inst) return NULL;
    inst->device = c.device;
    inst->cfg = c;
    pthread_mutex_lock(&g_slots_lock);
    inst->slot = -1;
    for (int i = 0; i < HN_CUDA_MAX_INSTANCES && inst->slot < 0; i++)
        if (!g_slots[i]) {
            inst->slot = i;
            g_slots[i] = inst;
        }
    pthread_mutex_unlock(&g_slots_lock);
    if (inst->slot < 0) {
        free(inst);
        snprintf(why, sizeof why, "cuda instance: all %d slots are in use", HN_CUDA_MAX_INSTANCES);
        process_error(why);
        return NULL;
    }
    const char *failed;
    {
        hn_cuda_scope scope(inst, "create");
        failed = open_device(inst);
    }
    if (failed) {
        e = cudaGetLastError();
        snprintf(why, sizeof why, "cuda instance on device %d: %s failed (%s)", c.device, failed,
                 cudaGetErrorString(e));
        process_error(why);
        release(inst);
        g_slots[inst->slot] = NULL;
        free(inst);
        return NULL;
    }
    hn_cuda_fill_tables(inst);
    return &inst->table;
}

extern "C" void hn_cuda_instance_destroy(const hn_backend *be) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    if (!inst || inst == hn_cuda_default) return;
    release(inst);
    pthread_mutex_lock(&g_slots_lock);
    g_slots[inst->slot] = NULL;
    pthread_mutex_unlock(&g_slots_lock);
    free(inst);
}

/* ---- kernel-registry ops (kernels.c) ---- */

extern "C" int hn_cuda_call_kernel(const hn_backend *be, int (*fn)(const hn_backend *, const void *),
                                   const void *params, const char *name) {
    hn_cuda_instance *inst = hn_cuda_instance_of(be);
    if (!inst) return fn(be, params);
    hn_cuda_scope scope(inst, name);
    /* plugin kernels launch on the legacy stream: order it after the instance's work
     * and the instance's stream after the kernel, on the device */
    HN_CK(cudaEventRecord(inst->ev_work, inst->stream));
    HN_CK(cudaStreamWaitEvent(cudaStreamLegacy, inst->ev_work, 0));
    int rc = fn(be, params);
    HN_CK(cudaEventRecord(inst->ev_legacy, cudaStreamLegacy));
    HN_CK(cudaStreamWaitEvent(inst->stream, inst->ev_legacy, 0));
    return rc;
}
