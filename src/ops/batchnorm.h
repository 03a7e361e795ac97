/* ops/batchnorm.h: BatchNorm over the rows of [N, C] (torch.nn.BatchNorm1d), optionally counting only unmasked rows. */
#ifndef TFM_OPS_BATCHNORM_H
#define TFM_OPS_BATCHNORM_H

#include <stdint.h>

/* Training: per channel c, the mean and biased variance over the counted rows (mask[n] != 0; mask NULL: all N),
 * out = (inp - mean) rstd weight + bias with rstd = 1 / sqrt(var + eps), and the running statistics move by
 * `momentum`: running_mean = (1 - m) running_mean + m mean, running_var likewise with the unbiased variance
 * (count / (count - 1) var), as torch. Rows not counted get out = 0. mean[C] and rstd[C] are saved for backward.
 * Fewer than 2 counted rows is the caller's to refuse (torch: "Expected more than 1 value per channel").
 * Evaluation: out = (inp - running_mean) / sqrt(running_var + eps) weight + bias for every row.
 * Statistics: the mean, then the squared deviations from it, each channel summed in float over chunks of 16 rows and
 * the chunks in double, in row order. The reference takes one channel at a time; the fast version gives each thread
 * whole blocks of 64 channels (vectorised across them) with the same arithmetic per channel: the same bits, at any
 * thread count. */
void tfm_batchnorm_forward_train_reference(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                                           const float *inp, const float *weight, const float *bias, const uint8_t *mask, int N,
                                           int C, float momentum, float eps);
void tfm_batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var, const float *inp,
                                 const float *weight, const float *bias, const uint8_t *mask, int N, int C, float momentum, float eps);
void tfm_batchnorm_forward_eval(float *out, const float *inp, const float *weight, const float *bias, const float *running_mean,
                                const float *running_var, int N, int C, float eps);

/* Training's backward from the saved mean and rstd: with xhat = (x - mean) rstd over the counted rows,
 *   dinp += weight rstd / count (count dout - sum dout - xhat sum(dout xhat)),  dweight += sum dout xhat,  dbias += sum dout
 * (any gradient may be NULL; uncounted rows get none). */
void tfm_batchnorm_backward_train_reference(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                            const float *weight, const float *mean, const float *rstd, const uint8_t *mask, int N, int C);
void tfm_batchnorm_backward_train(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                                  const float *mean, const float *rstd, const uint8_t *mask, int N, int C);
/* Evaluation's backward: the statistics are constants. */
void tfm_batchnorm_backward_eval(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                                 const float *running_mean, const float *running_var, int N, int C, float eps);

#endif
