/* ops/cross_entropy.h: fused log-softmax + cross-entropy with ignore_index and label smoothing (PyTorch's definition). */
#ifndef TFM_OPS_CROSS_ENTROPY_H
#define TFM_OPS_CROSS_ENTROPY_H

#include <stdint.h>

/* Per row n of logits[N, V] with target t = targets[n]:
 *   lse       = log sum_v exp(logits[n, v])
 *   losses[n] = (1 - eps) * (lse - logits[n, t]) + eps * (lse - mean_v logits[n, v])
 * which is F.cross_entropy(..., label_smoothing=eps) per row; rows with t == ignore_index get
 * losses[n] = 0 and are not counted. Returns the mean over counted rows (reduction='mean'),
 * accumulated in double in row order; *count (may be NULL) receives the number of counted rows.
 * When no row counts the result is 0 (PyTorch would give NaN): the caller decides.
 * A target outside [0, V) other than ignore_index is a caller bug; the kernel never reads out of
 * bounds for it but sets losses[n] = NaN (and counts the row) so that the mean turns NaN.
 * losses[N] is required (the caller's scratch); logsumexp[N] is saved for the backward (0 for ignored rows) and
 * may be NULL when no backward follows. */
float tfm_cross_entropy_forward_reference(float *losses, float *logsumexp, const float *logits, const int32_t *targets,
                                          int N, int V, int ignore_index, float eps, int *count);
float tfm_cross_entropy_forward(float *losses, float *logsumexp, const float *logits, const int32_t *targets, int N,
                                int V, int ignore_index, float eps, int *count);

/* dlogits[N, V] += scale * (softmax(logits[n]) - (1 - eps) * onehot(t) - eps / V) for counted rows
 * with valid targets, where scale = dloss / count (1 / count for a plain mean loss). The softmax is
 * recomputed from logits and the forward's logsumexp, so no [N, V] probability matrix is kept. */
void tfm_cross_entropy_backward_reference(float *dlogits, const float *logits, const float *logsumexp,
                                          const int32_t *targets, int N, int V, int ignore_index, float eps,
                                          float scale);
void tfm_cross_entropy_backward(float *dlogits, const float *logits, const float *logsumexp, const int32_t *targets,
                                int N, int V, int ignore_index, float eps, float scale);

/* The same gradient written over the logits themselves (dlogits = logits, overwrite instead of +=;
 * rows that do not count become 0). Saves the [N, V] gradient buffer, the largest activation of a
 * language model, when nothing else reads the logits afterwards (the graph checks that). */
void tfm_cross_entropy_backward_in_place_reference(float *logits, const float *logsumexp, const int32_t *targets, int N,
                                                  int V, int ignore_index, float eps, float scale);
void tfm_cross_entropy_backward_in_place(float *logits, const float *logsumexp, const int32_t *targets, int N, int V,
                                        int ignore_index, float eps, float scale);

#endif
