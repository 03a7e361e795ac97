/* ops/rmsnorm.h: RMSNorm over the last dimension (Zhang & Sennrich 2019; torch.nn.RMSNorm), saving 1/rms for backward. */
#ifndef TFM_OPS_RMSNORM_H
#define TFM_OPS_RMSNORM_H

/* out[N, C] = inp * rstd[n] * weight[C], rstd[n] = 1 / sqrt(mean_c inp^2 + eps); rstd[N] is saved (may be NULL).
 * The reference accumulates in double; the fast version is row-parallel with float SIMD sums. */
void tfm_rmsnorm_forward_reference(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
void tfm_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);

/* Accumulates dinp[N, C] += rstd (w dout) - inp rstd^3 / C sum_c (w dout inp) and dweight[C] += sum_n dout inp rstd
 * (either may be NULL). The fast version splits dinp by rows and dweight by channel blocks, each channel summed over
 * n in order: the same bits at any thread count. */
void tfm_rmsnorm_backward_reference(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                                    const float *rstd, int N, int C);
void tfm_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, const float *rstd,
                          int N, int C);

#endif
