/* train/regularize.h: L1/L2 penalties on chosen parameters (Keras' L1L2 regularizer) and clipping by value. */
#ifndef TFM_TRAIN_REGULARIZE_H
#define TFM_TRAIN_REGULARIZE_H

#include <stddef.h>

#include "tfm/tensor.h"

/* Whether `patterns` selects parameter `p`: "matrices" (those that take weight decay: not biases or LayerNorm),
 * "all", or comma-separated name patterns where * matches any run of characters ("h.*.mlp.c_fc.weight,wte.weight"). */
int tfm_penalty_selects(const char *patterns, const tfm_param *p);
/* Add the gradient of l1 sum |w| + l2 sum w^2 over the selected, not frozen parameters to their gradients and return
 * that penalty (in double). d/dw: l1 sign(w) + 2 l2 w (sign(0) = 0, as torch's sign). */
double tfm_penalty_apply(tfm_params *params, float l1, float l2, const char *patterns);

/* torch.nn.utils.clip_grad_value_: every x[i] into [-limit, limit] (NaN stays NaN). */
void tfm_clip_value(float *x, size_t n, float limit);

#endif
