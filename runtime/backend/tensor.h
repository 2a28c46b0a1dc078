/* Typed views of device (or host) memory: what the typed ops of the backend table take
 * (backend.h, the "_t" ops with a params struct). A view does not own its memory.
 *
 * Every op works on packed [T, D] rows, so a view is two-dimensional: `rows` x `cols`
 * elements of `dtype`, row i starting `ld` elements after row i-1 (ld >= cols: a view can
 * be a column slice of a wider row, as q, k and v are slices of one qkv row).
 *
 * Storage types: float32 (the cpu's everything; the cuda backend's master weights,
 * optimizer state, residual stream and gradients) and bf16 (the cuda backend's
 * activations and weight copies in its bf16 mode). Arithmetic is float32 either way. */
#ifndef HN_TENSOR_H
#define HN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum hn_dtype { HN_F32 = 0, HN_BF16 = 1 } hn_dtype;

typedef struct hn_tensor {
    void *data;
    hn_dtype dtype;
    int rows, cols;
    int ld; /* elements between row starts */
} hn_tensor;

static inline size_t hn_dtype_size(hn_dtype t) { return t == HN_BF16 ? 2 : 4; }

/* A view of rows x cols elements, rows packed (ld = cols). */
static inline hn_tensor hn_tensor_of(void *data, hn_dtype dtype, int rows, int cols) {
    hn_tensor t = {data, dtype, rows, cols, cols};
    return t;
}
static inline hn_tensor hn_tensor_f32(const float *data, int rows, int cols) {
    return hn_tensor_of((void *)data, HN_F32, rows, cols);
}
/* Columns [c0, c0 + cols) of every row of t. */
static inline hn_tensor hn_tensor_cols(hn_tensor t, int c0, int cols) {
    t.data = (char *)t.data + (size_t)c0 * hn_dtype_size(t.dtype);
    t.cols = cols;
    return t;
}
/* 1 when t is packed (ld == cols), so its rows x cols elements are contiguous. */
static inline int hn_tensor_packed(hn_tensor t) { return t.ld == t.cols; }

/* bf16 <-> float32 on the host: round to nearest even (NaN stays NaN), exact widening */
static inline uint16_t hn_bf16_from_f32(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7f800000u) == 0x7f800000u && (v.u & 0x007fffffu)) return (uint16_t)((v.u >> 16) | 0x40);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}
static inline float hn_bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = {(uint32_t)b << 16};
    return v.f;
}

#endif
