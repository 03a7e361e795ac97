/* train/optimizer.h: the optimizers' parameter updates (AdamW, SGD, Adam, Adagrad, RMSprop, Adadelta, Adamax, NAdam as torch.optim computes them; Ftrl as Keras does). */
#ifndef TFM_TRAIN_OPTIMIZER_H
#define TFM_TRAIN_OPTIMIZER_H

#include <stddef.h>

#include "tfm/config.h"
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

/* ---- Every optimizer through one interface ---- */

/* What an update needs besides the rate: the optimizer and its hyper-parameters (from tfm_train_config). */
typedef struct tfm_optimizer_settings {
    int optimizer; /* TFM_OPTIMIZER_* */
    float beta1, beta2, eps, momentum, weight_decay;
    tfm_optimizer_options options;
} tfm_optimizer_settings;

tfm_optimizer_settings tfm_optimizer_settings_of(const tfm_train_config *c);

/* How many state slabs per weight it keeps: 0 (SGD without momentum) to 3 (RMSprop with momentum). State 1/2/3 are
 *   SGD: momentum buffer | Adam, AdamW, NAdam: m, v | Adamax: m, u (infinity norm) | Adagrad: squared-gradient sum |
 *   RMSprop: squared average, gradient average (centered), momentum buffer | Adadelta: squared average, squared
 *   update average | Ftrl: accumulator n, linear z. */
int tfm_optimizer_state_count(const tfm_optimizer_settings *s);

/* One step over n weights (`step` 1-based, counting this one). The state slabs start at zero (Adagrad's and Ftrl's
 * accumulator take their initial value at step 1). `reference` runs the plain loop; otherwise the weights are split
 * over the threads, with the same arithmetic per weight (the results are identical). Slabs the optimizer does not
 * use may be NULL. */
tfm_status tfm_optimizer_update(const tfm_optimizer_settings *s, float lr, long step, float *params, const float *grads, float *state1,
                                float *state2, float *state3, size_t n, int reference);

/* The whole store: each unfrozen entry with its own step count, weight decay only where the entry has it.
 * Allocates the state slabs on first use. */
tfm_status tfm_optimizer_step_params(tfm_params *params, const tfm_optimizer_settings *s, float lr, long step);

#endif
