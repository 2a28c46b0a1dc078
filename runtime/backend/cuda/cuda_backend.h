/* The cuda backend (built only where nvcc is found; HN_HAVE_CUDA). Storage is float32
 * on the device; matrix products go through cuBLAS with a selectable precision.
 *
 * Instances. Each device gets a backend instance (hn_cuda_instance_create): its device
 * id, a non-blocking stream, a cuBLAS handle bound to that stream with its own
 * workspace, scratch slots, the workspace pool, the bf16 parameter arenas, the kernel
 * choices (hn_cuda_config) and a sticky error. Every kernel launch, memset, copy and
 * cuBLAS call of an op goes to the instance's stream; a host readback (download,
 * sum_squares) synchronises that stream only. Several instances live in one process
 * (on one GPU or several). hn_backend_cuda() is the process's default instance.
 *
 * How an op finds its instance (why not a "current instance" the caller sets): the v1
 * ops take no backend argument, and a per-thread current instance would let a caller
 * run instance B's table on A's stream and memory whenever it forgot to switch. So each
 * instance has its own table whose every entry (v1, typed, and the ssm / chunk / moe
 * families) is a small trampoline compiled for that instance's slot: it makes the slot's
 * instance (and its device) current on the calling thread for the duration of the call
 * and restores the previous one after. Calling through a table is therefore always
 * correct, from any thread, nested or not, and the plugin ABI is unchanged (the table
 * layout and every signature are as before). Direct calls into the typed ops and the
 * kernel registry's cuda ops (hn_kernel_launch) bind the instance from their `be`
 * argument. The functions below without a backend argument (modes, profile, timer,
 * memory figures, last_error) act on the instance of the op running on this thread,
 * else on the default instance. One instance is not for two threads at once. */
#ifndef HN_CUDA_BACKEND_H
#define HN_CUDA_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NULL when no CUDA device can be opened (the reason is in hn_cuda_last_error). */
const hn_backend *hn_backend_cuda(void);

/* The most instances one process holds at once (their tables are compiled per slot). */
#define HN_CUDA_MAX_INSTANCES 8

/* An instance's configuration: read once at creation, never from the environment by an
 * op. hn_cuda_config_default fills it from the HNET_CUDA_* variables (compatibility). */
typedef struct hn_cuda_config {
    int device;            /* CUDA device ordinal */
    int matmul;            /* hn_cuda_matmul_mode (HNET_CUDA_MATMUL) */
    int matmul_algo;       /* hn_cuda_matmul_algo (HNET_CUDA_MATMUL_ALGO) */
    int attention;         /* hn_cuda_attention_mode (HNET_CUDA_ATTENTION) */
    int ssd;               /* hn_cuda_ssd_mode (HNET_CUDA_SSD) */
    int norm_split;        /* 1: gated RMSNorm backward in two passes (HNET_CUDA_NORM=split) */
    int norm_rows;         /* 1 (the default): the row-register RMSNorm kernels (norm_rows.cuh;
                            * HNET_CUDA_NORM=old for the one-warp-a-row ones) */
    int activations_fp32;  /* 1: keep activations float32 (HNET_CUDA_ACTIVATIONS=fp32) */
    size_t blas_workspace; /* bytes of cuBLAS workspace (0: 32 MiB) */
    int conv;              /* hn_cuda_conv_mode (HNET_CUDA_CONV) */
    int xbc_bf16;          /* 1 (the default): Mamba-2's conv output and its gradient (the SSD's
                            * x, B, C and dx, dB, dC) in bf16 with bf16 activations
                            * (HNET_CUDA_XBC=fp32: float32) */
    int gated_norm_rows;   /* 1: the row-register gated RMSNorm kernels (HNET_CUDA_NORM=rows;
                            * slower than the default ones at Mamba-2's widths on the H200) */
    int ema;               /* hn_cuda_ema_mode (HNET_CUDA_EMA) */
    int rope_tiles;        /* 1 (the default): rope in place and out of place by row tiles
                            * (rope_tiles.cu); HNET_CUDA_ROPE=old for the kernels before */
} hn_cuda_config;
/* the dechunk EMA's kernels: SCAN (the default) = a chunked scan reading its inputs once
 * (ema_scan.cu; 1.2-2.3x faster than SEGMENTS a call on the H200, hnet bench --op ema);
 * SEGMENTS = two passes over segments of rows (chunk.cu); COLUMN = one thread a column
 * (chunk.cu; 1.7-4.3 ms slower in H1's and H2's steps). HNET_CUDA_EMA=column|segments|scan. */
typedef enum hn_cuda_ema_mode {
    HN_CUDA_EMA_COLUMN = 0,
    HN_CUDA_EMA_SEGMENTS = 1,
    HN_CUDA_EMA_SCAN = 2
} hn_cuda_ema_mode;
void hn_cuda_config_default(hn_cuda_config *cfg);
/* A new instance on cfg->device (cfg NULL: the defaults on device 0): its table, or NULL
 * with the reason in hn_cuda_last_error (no such device, all slots in use, no memory). */
const hn_backend *hn_cuda_instance_create(const hn_cuda_config *cfg);
/* Synchronises and frees everything the instance holds (not the default instance). */
void hn_cuda_instance_destroy(const hn_backend *be);
/* The instance's stream (a cudaStream_t) and device; NULL / -1 when be is not a cuda
 * instance. For code that enqueues its own work beside the ops (NCCL). */
void *hn_cuda_stream_of(const hn_backend *be);
int hn_cuda_device_of(const hn_backend *be);
/* The instance's configuration, writable between steps (not during a captured step). */
hn_cuda_config *hn_cuda_config_of(const hn_backend *be);
/* Runs a kernel-registry cuda op on be's instance. Ops built against the current plugin
 * API launch on the legacy default stream; the legacy stream waits for the instance's
 * work before the op and the instance's stream waits for the op after it (events, no
 * host synchronisation), so they stay ordered with the instance's ops. */
int hn_cuda_call_kernel(const hn_backend *be, int (*fn)(const hn_backend *, const void *),
                        const void *params, const char *name);
/* One process per GPU: hn_backend_cuda opens device local_rank (or the one device the
 * launcher left visible); before its first call only. A local rank beyond the visible
 * devices makes it answer NULL, saying so. */
void hn_cuda_prefer_device(int local_rank);

/* Matrix-product precision: fp32 operands and arithmetic (exact parity with the cpu);
 * tf32 tensor cores; bf16 tensor cores (operands rounded to bf16, fp32 accumulation,
 * the default). Also settable with HNET_CUDA_MATMUL=fp32|tf32|bf16. */
typedef enum hn_cuda_matmul_mode {
    HN_CUDA_MATMUL_FP32 = 0,
    HN_CUDA_MATMUL_TF32 = 1,
    HN_CUDA_MATMUL_BF16 = 2
} hn_cuda_matmul_mode;
void hn_cuda_set_matmul_mode(hn_cuda_matmul_mode mode);
hn_cuda_matmul_mode hn_cuda_get_matmul_mode(void);

/* How the bf16 products (the bf16 matmul mode) reach cuBLAS: GEMMEX = cublasGemmEx with
 * cuBLAS's default algorithm; LT = cuBLASLt, its heuristic's first
 * algorithm for each shape; LT_TUNED (the default) = cuBLASLt, the fastest of the heuristic's
 * candidates, timed on the instance's stream the first time a shape is seen (matmul_lt.cu
 * says what it costs and how it is bounded). The fp32 and tf32 modes stay on cuBLAS's
 * legacy calls. Also settable with HNET_CUDA_MATMUL_ALGO=gemmex|lt|lt-tuned. */
typedef enum hn_cuda_matmul_algo {
    HN_CUDA_MATMUL_ALGO_GEMMEX = 0,
    HN_CUDA_MATMUL_ALGO_LT = 1,
    HN_CUDA_MATMUL_ALGO_LT_TUNED = 2
} hn_cuda_matmul_algo;
/* What an instance's cuBLASLt cache holds: shapes seen, shapes timed and the host time
 * the timing took, products that fell back to cublasGemmEx (no cuBLASLt algorithm). */
typedef struct hn_cuda_lt_stats {
    int shapes, tuned;
    double tune_ms;
    long fallbacks;
} hn_cuda_lt_stats;
void hn_cuda_lt_stats_of(const hn_backend *be, hn_cuda_lt_stats *out);
/* Empties be's cuBLASLt cache (the next product of each shape is looked up, and timed in
 * LT_TUNED, again); the counters restart. */
void hn_cuda_lt_forget(const hn_backend *be);

/* Attention kernels: AUTO (default) = bf16 tensor cores for head_dim 64 (bf16 q, k, v,
 * P and dS; fp32 statistics and accumulation) with register-resident scores: Hopper's
 * warpgroup products on compute capability 9.0 (attention_wgmma.cu; WGMMA asks for them),
 * mma.sync elsewhere (attention_mma.cu; MMA asks for them everywhere); fp32 CUDA-core
 * tiles for other head widths; WMMA = the first tensor-core
 * kernels (scores through shared memory; kept for same-run comparison); FP32 = never
 * tensor cores; WARP = the simple warp-per-row kernels. Also settable with
 * HNET_CUDA_ATTENTION=wmma|fp32|warp|mma|wgmma|wgmma-atomic|cudnn. */
typedef enum hn_cuda_attention_mode {
    HN_CUDA_ATTENTION_AUTO = 0,
    HN_CUDA_ATTENTION_FP32 = 1,
    HN_CUDA_ATTENTION_WARP = 2,
    HN_CUDA_ATTENTION_WMMA = 3,
    HN_CUDA_ATTENTION_MMA = 4,  /* the mma.sync kernels even where AUTO picks the wgmma ones */
    HN_CUDA_ATTENTION_WGMMA = 5, /* the warpgroup kernels (sm_90a; elsewhere as MMA) */
    /* WGMMA with dQ added inside the dK/dV kernel by float atomics instead of a second
     * kernel that recomputes S and dP: fewer products, not deterministic */
    HN_CUDA_ATTENTION_WGMMA_ATOMIC = 6,
    /* cuDNN's fused attention (libcudnn.so.9, 9.6 or newer, opened at first use), where it
     * takes the shape; elsewhere the kernels AUTO picks (attention_cudnn.cu) */
    HN_CUDA_ATTENTION_CUDNN = 7
} hn_cuda_attention_mode;
void hn_cuda_set_attention_mode(hn_cuda_attention_mode mode);
/* the kernels HNET_CUDA_ATTENTION asks for (AUTO where it is unset): what a test that
 * sets the mode back uses, so that the variable still picks the kernels it checks */
hn_cuda_attention_mode hn_cuda_attention_mode_env(void);
/* why the last attention call of this thread in the CUDNN mode ran hnet's own kernels
 * instead ("" when cuDNN ran it; the library missing, a shape it refused, ...) */
const char *hn_cuda_attention_cudnn_why(void);
/* how the last cuDNN backward of this thread made dq, dk and dv ("" before one) */
const char *hn_cuda_attention_cudnn_grads(void);

/* The SSD scan: CHUNKED = the chunked algorithm, blocks per (chunk, head) doing matrix
 * products inside chunks (fp32, or bf16 tensor cores in the bf16 matmul mode); SCAN =
 * the row-at-a-time recurrence; MMA = the chunked algorithm fused on bf16 tensor cores
 * (headdim = d_state = 64; other shapes fall back to CHUNKED); AUTO (default) = MMA in
 * the bf16 matmul mode, else CHUNKED. Also settable with
 * HNET_CUDA_SSD=scan|chunked|mma|auto. */
typedef enum hn_cuda_ssd_mode {
    HN_CUDA_SSD_CHUNKED = 0,
    HN_CUDA_SSD_SCAN = 1,
    HN_CUDA_SSD_MMA = 2,
    HN_CUDA_SSD_AUTO = 3
} hn_cuda_ssd_mode;
void hn_cuda_set_ssd_mode(hn_cuda_ssd_mode mode);
/* the implementation the last SSD forward or backward ran: "mma", "chunked" or "scan" */
const char *hn_cuda_ssd_last_impl(void);

/* conv1d + SiLU kernels (widths up to 8): WINDOW = the sliding-window kernels
 * of ssm_conv_win.cuh; LEAN = the same tiles with unmasked taps away from sequence starts,
 * a fast sigmoid and the next rows' loads in flight while a batch is computed
 * (ssm_conv_lean.cuh; where out / dx overlap x or dout, WINDOW); LEAN2 = LEAN with
 * the backward's rows of x and dout staged through a shared-memory ring by cp.async, six rows
 * a thread in flight (ssm_conv_ring.cuh; four channels a thread, else LEAN's); LEAN3 = LEAN2
 * in about half the instructions for a bf16 x and dx (dtypes fixed at compile time, branch-
 * free clean batches; else LEAN2's: its backward 1.2-1.6x its floor on the H200, LEAN's
 * 2.3-4.1x); LEAN4 (the default) = LEAN3 with its own forward for bf16 x and out at widths
 * to 5 (a thread's whole strip copied by cp.async at its start; else LEAN's forward): 1.24-
 * 1.34x its floor on the H200 against LEAN's 1.76-1.86x (bench/NOTES.md, session 11). Also
 * settable with
 * HNET_CUDA_CONV=window|lean|lean2|lean3|lean4. */
typedef enum hn_cuda_conv_mode {
    HN_CUDA_CONV_WINDOW = 0,
    HN_CUDA_CONV_LEAN = 1,
    HN_CUDA_CONV_LEAN2 = 2,
    HN_CUDA_CONV_LEAN3 = 3,
    HN_CUDA_CONV_LEAN4 = 4
} hn_cuda_conv_mode;
/* the kernels the last conv1d backward on the current instance ran: "window", "lean",
 * "lean2", "lean3", "general" (widths over 8) or "" (none yet): a mode is shown taken, not
 * only correct */
const char *hn_cuda_conv_last_backward(void);
/* and the last conv1d forward's: "window", "lean", "lean4" (bf16 x and out by four
 * channels in mode lean4: k_conv_fwd_strip_bf16; lean's forward otherwise), "general" or "" */
const char *hn_cuda_conv_last_forward(void);

/* The first failure since the last call ("" when none), naming the table op that failed
 * and the CUDA error; clears it. Later failures do not overwrite it. */
const char *hn_cuda_last_error(void);
/* Bytes held by the backend's allocations now and at most (reset_peak restarts it). */
size_t hn_cuda_bytes_in_use(void);
size_t hn_cuda_peak_bytes(void);
void hn_cuda_reset_peak(void);
/* The device's name, e.g. "NVIDIA H100 80GB HBM3". */
const char *hn_cuda_device_name(void);
/* Measured dense bf16 matrix-product rate in FLOP/s (n x n x n, median of reps). */
double hn_cuda_measure_bf16_flops(int n, int reps);
/* Milliseconds between two points on the device clock: start/stop an event pair. */
void hn_cuda_timer_start(void);
float hn_cuda_timer_stop_ms(void);

/* Per-op device time: when on, every op synchronises and books its time (slows the
 * step a little; for the split of a step only). */
void hn_cuda_profile(int on);
void hn_cuda_profile_checkpoint(void); /* start a new interval without booking it */
void hn_cuda_profile_reset(void);
/* Prints ops by total time, with each op's share of `total_ms`. */
void hn_cuda_profile_print(double total_ms);

#ifdef __cplusplus
}
#endif

#endif
