/* train/optimizer.h: AdamW (Adam) and SGD-with-momentum updates matching torch.optim's formulas. */
#ifndef TFM_TRAIN_OPTIMIZER_H
#define TFM_TRAIN_OPTIMIZER_H

#include <stddef.h>

#include "tfm/tensor.h"

/* One AdamW step over params[n] (torch.optim.AdamW, amsgrad=False), in this order:
 *   p *= 1 - lr * weight_decay                       (decoupled decay; 0 gives plain Adam)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p += -(lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * `step` t is 1-based (the count including this step); scalars are formed in double and applied
 * in float, as PyTorch does. m[n] and v[n] start at zero. */
void tfm_adamw_update_reference(float *params, const float *grads, float *m, float *v, size_t n, float lr,
                                float beta1, float beta2, float eps, float weight_decay, long step);
void tfm_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, long step);

/* One SGD step (torch.optim.SGD, maximize=False):
 *   d = g + weight_decay * p
 *   if momentum != 0: buf = (step == 1) ? d : momentum * buf + (1 - dampening) * d
 *                     d = nesterov ? d + momentum * buf : buf
 *   p -= lr * d
 * velocity[n] is the momentum buffer (may be NULL when momentum == 0). */
void tfm_sgd_update_reference(float *params, const float *grads, float *velocity, size_t n, float lr, float momentum,
                              float dampening, float weight_decay, int nesterov, long step);
void tfm_sgd_update(float *params, const float *grads, float *velocity, size_t n, float lr, float momentum,
                    float dampening, float weight_decay, int nesterov, long step);

/* Whole-model steps over a tfm_params store: entries flagged no_weight_decay (biases, norms) get
 * weight_decay 0, as in the usual two parameter groups. Moments must have been allocated
 * (tfm_params_allocate_moments); otherwise TFM_ERR_INVALID_ARGUMENT. */
tfm_status tfm_adamw_step_params(tfm_params *params, float lr, float beta1, float beta2, float eps, float weight_decay,
                                 long step);
tfm_status tfm_sgd_step_params(tfm_params *params, float lr, float momentum, float dampening, float weight_decay,
                               int nesterov, long step);

#endif
