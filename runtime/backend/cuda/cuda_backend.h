/* The cuda backend (built only where nvcc is found; HN_HAVE_CUDA). Storage is float32
 * on the device; matrix products go through cuBLAS with a selectable precision. */
#ifndef HN_CUDA_BACKEND_H
#define HN_CUDA_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NULL when no CUDA device can be opened (the reason is in hn_cuda_last_error). */
const hn_backend *hn_backend_cuda(void);
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

/* Attention kernels: AUTO (default) = bf16 tensor cores for head_dim 64 (bf16 q, k, v,
 * P and dS; fp32 statistics and accumulation) with register-resident scores
 * (attention_mma.cu), fp32 CUDA-core tiles otherwise; WMMA = the first tensor-core
 * kernels (scores through shared memory; kept for same-run comparison); FP32 = never
 * tensor cores; WARP = the simple warp-per-row kernels. Also settable with
 * HNET_CUDA_ATTENTION=wmma|fp32|warp. */
typedef enum hn_cuda_attention_mode {
    HN_CUDA_ATTENTION_AUTO = 0,
    HN_CUDA_ATTENTION_FP32 = 1,
    HN_CUDA_ATTENTION_WARP = 2,
    HN_CUDA_ATTENTION_WMMA = 3
} hn_cuda_attention_mode;
void hn_cuda_set_attention_mode(hn_cuda_attention_mode mode);

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

/* The first CUDA error seen since the last call ("" when none); clears it. */
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
