/* The test kit's device parity (`hnet plugins --check FILE.so --device cuda`): an op of
 * the kernel registry (backend/kernels.h) or a whole layer plugin run on the cpu backend
 * (the float32 reference) and on a device backend with the same fresh random inputs,
 * and their outputs compared by relative L2 error ||dev - cpu|| / ||cpu||:
 *   - float32 tensors: at most 2e-4 (an op may state its own tolerance);
 *   - bf16 tensors (an op's bf16 variant, inputs rounded to bf16 for both): 2e-2;
 *   - a layer: 2e-4, or 2e-2 when the device runs its matrix products in bf16 (the
 *     cuda backend's default; HNET_CUDA_MATMUL=fp32 for the strict check). */
#ifndef HN_CHECK_PARITY_H
#define HN_CHECK_PARITY_H

#include <stddef.h>
#include <stdio.h>

#include "backend/kernels.h"
#include "check/plugin_check.h"

#define HN_PARITY_TOL_F32 2e-4
#define HN_PARITY_TOL_BF16 2e-2

/* ||got - ref|| / ||ref|| over n floats (||got|| when ref is all zero); +inf when got
 * holds a NaN or an infinity that ref does not. */
double hn_parity_rel_err(const float *ref, const float *got, size_t n);

/* One op: float32, then bf16 when its example has a bf16 variant. One line per
 * compared tensor to out; *n_failed counts tensors over the tolerance (and an OUT
 * tensor the cpu twin left unwritten: the comparison would test nothing). HN_ERR (with
 * the message) when it cannot run: no example, no implementation on dev, a failed op. */
int hn_parity_kernel(const hn_kernel_def *def, const hn_backend *dev, FILE *out, int *n_failed,
                     hn_error *err);

/* A layer plugin: created on both backends from opts, the same parameters, input x and
 * output gradient dy; compares y, dx and every parameter gradient. */
int hn_parity_layer(const hn_layer_plugin *p, const hn_plugin_check_opts *opts,
                    const hn_backend *dev, int *n_failed, hn_error *err);

#endif
