/* ops/loss.h: the losses beside cross-entropy: regression, binary, hinge, divergence and similarity losses, and NLL. */
#ifndef TFM_OPS_LOSS_H
#define TFM_OPS_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* pred and target are [rows, C] (target constant; kinds TFM_LOSS_* of tfm/nn.h). The forward returns the sum of
 * the loss's terms, in double: one per element for the element-wise kinds, one per row for the row kinds
 * (tfm_loss_per_row); the caller divides by the count for a mean. `delta` is Huber's delta and smooth L1's beta.
 * The backward adds scale * d(sum)/d(pred) to dpred (scale = d loss / count for a mean).
 * The reference runs serially in element order; the fast version splits the work into fixed blocks of rows run on
 * the OpenMP team and adds the blocks' sums in order, so it returns the same value at any thread count (and its
 * gradient is the reference's bit for bit: the same formula per element). */
int tfm_loss_per_row(int kind);
double tfm_loss_forward_reference(int kind, const float *pred, const float *target, size_t rows, int C, float delta);
double tfm_loss_forward(int kind, const float *pred, const float *target, size_t rows, int C, float delta);
void tfm_loss_backward_reference(int kind, float *dpred, const float *pred, const float *target, size_t rows, int C, float delta,
                                 float scale);
void tfm_loss_backward(int kind, float *dpred, const float *pred, const float *target, size_t rows, int C, float delta, float scale);

/* Negative log-likelihood of log-probabilities logp[N, V] at targets[N]: the sum of -logp[n, targets[n]] over rows
 * whose target is not ignore_index (*count of them). Targets are the caller's to check (in [0, V) or ignored). */
double tfm_nll_forward(const float *logp, const int32_t *targets, int N, int V, int ignore_index, int *count);
void tfm_nll_backward(float *dlogp, const int32_t *targets, int N, int V, int ignore_index, float scale);

#endif
