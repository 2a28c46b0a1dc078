/* The cpu backend's Mamba-2 ops (float32). Each has the contract of the matching
 * hn_ops_ssm field in backend/ops_ssm.h. */
#ifndef HN_CPU_SSM_OPS_H
#define HN_CPU_SSM_OPS_H

#include "backend/ops_ssm.h"

extern const struct hn_ops_ssm hn_cpu_ops_ssm;

/* ssm_conv.c */
void hn_cpu_conv1d_forward(float *out, const float *x, int ld_x, const float *w,
                           const float *bias, const hn_seqs *seqs, int C, int K);
void hn_cpu_conv1d_backward(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                            const float *x, int ld_x, const float *w, const float *bias,
                            const hn_seqs *seqs, int C, int K);
void hn_cpu_conv1d_state(float *conv_state, size_t stride, const float *x, int ld_x,
                         const hn_seqs *seqs, int C, int K);
void hn_cpu_conv1d_step(float *out, float *conv_state, size_t stride, const float *x, int ld_x,
                        const float *w, const float *bias, const int32_t *pos, int n, int C,
                        int K);

/* ssm_scan.c */
size_t hn_cpu_ssd_workspace_floats(const hn_ssm_dims *dims);
void hn_cpu_ssd_forward(float *y, float *chunk_states, float *final_state, size_t final_stride,
                        const float *x, const float *B, const float *C, int ld_xbc,
                        const float *dt_raw, int ld_dt, const float *dt_bias,
                        const float *A_log, const float *D, const hn_seqs *seqs,
                        const hn_ssm_dims *dims, float *ws);
void hn_cpu_ssd_backward(float *dx, float *dB, float *dC, int ld_dxbc, float *ddt_raw,
                         int ld_ddt, float *ddt_bias, float *dA_log, float *dD,
                         const float *dy, const float *x, const float *B, const float *C,
                         int ld_xbc, const float *dt_raw, int ld_dt, const float *dt_bias,
                         const float *A_log, const float *D, const float *chunk_states,
                         const hn_seqs *seqs, const hn_ssm_dims *dims, float *ws);
void hn_cpu_ssd_step(float *y, float *ssm_state, size_t stride, const float *x, const float *B,
                     const float *C, int ld_xbc, const float *dt_raw, int ld_dt,
                     const float *dt_bias, const float *A_log, const float *D,
                     const int32_t *pos, int n, const hn_ssm_dims *dims);

/* ssm_norm.c */
void hn_cpu_gated_rmsnorm_forward(float *out, float *rstd, const float *x, const float *z,
                                  int ld_z, const float *w, int T, int Dm, int group_size,
                                  float eps);
void hn_cpu_gated_rmsnorm_backward(float *dx, float *dz, int ld_dz, float *dw,
                                   const float *dout, const float *x, const float *z, int ld_z,
                                   const float *w, const float *rstd, int T, int Dm,
                                   int group_size);

/* ssm_typed.c: the typed forms (ops_ssm.h "_t") */
int hn_cpu_conv1d_forward_t(const hn_backend *be, const hn_conv1d_params *p);
int hn_cpu_conv1d_backward_t(const hn_backend *be, const hn_conv1d_params *p);
int hn_cpu_ssd_forward_t(const hn_backend *be, const hn_ssd_params *p);
int hn_cpu_ssd_backward_t(const hn_backend *be, const hn_ssd_params *p);
int hn_cpu_gated_rmsnorm_forward_t(const hn_backend *be, const hn_gated_norm_params *p);
int hn_cpu_gated_rmsnorm_backward_t(const hn_backend *be, const hn_gated_norm_params *p);

#endif
