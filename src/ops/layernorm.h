/* ops/layernorm.h: LayerNorm over the last dimension, saving mean and 1/std for the backward pass. */
#ifndef TFM_OPS_LAYERNORM_H
#define TFM_OPS_LAYERNORM_H

/* out[N, C] = (inp[N, C] - mean[n]) * rstd[n] * weight[C] + bias[C], with the biased variance
 * (as torch.nn.LayerNorm): rstd[n] = 1 / sqrt(var[n] + eps). mean[N] and rstd[N] are saved for the
 * backward and may be NULL when it will not run. weight / bias may be NULL (identity / zero).
 * The reference accumulates in double; the fast version uses float SIMD reductions. */
void tfm_layernorm_forward_reference(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                     const float *bias, int N, int C, float eps);
void tfm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int N, int C, float eps);

/* Accumulates: dinp[N, C] += dL/dinp, dweight[C] += sum_n dout * norm, dbias[C] += sum_n dout.
 * Any of dinp / dweight / dbias may be NULL (skipped); weight NULL means all ones.
 * The fast version needs no scratch: it parallelises dinp over rows and dweight / dbias over
 * channel blocks (each channel summed over n in increasing order, exactly as the reference), so
 * its result is bit-identical at any thread count. */
void tfm_layernorm_backward_reference(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                      const float *weight, const float *mean, const float *rstd, int N, int C);
void tfm_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *rstd, int N, int C);

#endif
