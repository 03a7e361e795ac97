/* train/optimizer.c: AdamW and SGD parameter updates (reference loops and OpenMP versions), and whole-store steps. */
#include "train/optimizer.h"

#include <math.h>

#define OPTIMIZER_PARALLEL_MIN (1 << 15)
/* GCC vectorises the AdamW loop only under -fno-math-errno: otherwise sqrtf keeps a scalar call
 * path that sets errno for v < 0 (which never happens here). Without it the loop is correct, just
 * scalar per thread. */

/* Scalars shared by both AdamW versions, computed in double like PyTorch's Python-side math. */
typedef struct adamw_scalars {
    float decay;          /* 1 - lr * weight_decay */
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float neg_step_size;  /* -lr / (1 - beta1^t) */
    float bias2_sqrt;     /* sqrt(1 - beta2^t) */
    float eps;
} adamw_scalars;

static adamw_scalars adamw_scalars_make(float lr, float beta1, float beta2, float eps, float weight_decay, long step) {
    adamw_scalars s;
    double t = (double)(step < 1 ? 1 : step);
    s.decay = (float)(1.0 - (double)lr * (double)weight_decay);
    s.beta1 = beta1;
    s.one_minus_beta1 = (float)(1.0 - (double)beta1);
    s.beta2 = beta2;
    s.one_minus_beta2 = (float)(1.0 - (double)beta2);
    s.neg_step_size = (float)(-(double)lr / (1.0 - pow((double)beta1, t)));
    s.bias2_sqrt = (float)sqrt(1.0 - pow((double)beta2, t));
    s.eps = eps;
    return s;
}

void tfm_adamw_update_reference(float *params, const float *grads, float *m, float *v, size_t n, float lr,
                                float beta1, float beta2, float eps, float weight_decay, long step) {
    adamw_scalars s = adamw_scalars_make(lr, beta1, beta2, eps, weight_decay, step);
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = params[i] * s.decay;
        m[i] = m[i] * s.beta1 + s.one_minus_beta1 * g;
        v[i] = v[i] * s.beta2 + s.one_minus_beta2 * (g * g);
        float denom = sqrtf(v[i]) / s.bias2_sqrt + s.eps;
        params[i] = p + s.neg_step_size * (m[i] / denom);
    }
}

void tfm_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, long step) {
    adamw_scalars s = adamw_scalars_make(lr, beta1, beta2, eps, weight_decay, step);
    /* Same expressions as the reference (no FMA contraction in ISO C mode): bit-identical. */
    #pragma omp parallel for simd schedule(static) if (n >= OPTIMIZER_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = params[i] * s.decay;
        float mi = m[i] * s.beta1 + s.one_minus_beta1 * g;
        float vi = v[i] * s.beta2 + s.one_minus_beta2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / s.bias2_sqrt + s.eps;
        params[i] = p + s.neg_step_size * (mi / denom);
    }
}

void tfm_sgd_update_reference(float *params, const float *grads, float *velocity, size_t n, float lr, float momentum,
                              float dampening, float weight_decay, int nesterov, long step) {
    float one_minus_dampening = (float)(1.0 - (double)dampening), neg_lr = -lr;
    for (size_t i = 0; i < n; i++) {
        float d = grads[i];
        if (weight_decay != 0.0f) d = d + weight_decay * params[i];
        if (momentum != 0.0f) {
            float buf = step <= 1 ? d : velocity[i] * momentum + one_minus_dampening * d;
            velocity[i] = buf;
            d = nesterov ? d + momentum * buf : buf;
        }
        params[i] = params[i] + neg_lr * d;
    }
}

void tfm_sgd_update(float *params, const float *grads, float *velocity, size_t n, float lr, float momentum,
                    float dampening, float weight_decay, int nesterov, long step) {
    float one_minus_dampening = (float)(1.0 - (double)dampening), neg_lr = -lr;
    if (momentum == 0.0f) {
        #pragma omp parallel for simd schedule(static) if (n >= OPTIMIZER_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) {
            float d = grads[i];
            if (weight_decay != 0.0f) d = d + weight_decay * params[i];
            params[i] = params[i] + neg_lr * d;
        }
        return;
    }
    #pragma omp parallel for simd schedule(static) if (n >= OPTIMIZER_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = grads[i];
        if (weight_decay != 0.0f) d = d + weight_decay * params[i];
        float buf = step <= 1 ? d : velocity[i] * momentum + one_minus_dampening * d;
        velocity[i] = buf;
        d = nesterov ? d + momentum * buf : buf;
        params[i] = params[i] + neg_lr * d;
    }
}

tfm_status tfm_adamw_step_params(tfm_params *params, float lr, float beta1, float beta2, float eps, float weight_decay,
                                 long step) {
    if (!params->data || !params->grad || !params->moment1 || !params->moment2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "AdamW step: parameters, gradients and both moments must be allocated first");
    for (int e = 0; e < params->count; e++) {
        const tfm_param *entry = &params->entries[e];
        size_t o = entry->offset;
        if (entry->frozen) continue;
        tfm_adamw_update(params->data + o, params->grad + o, params->moment1 + o, params->moment2 + o, entry->size, lr,
                         beta1, beta2, eps, entry->no_weight_decay ? 0.0f : weight_decay, step - entry->steps_frozen);
    }
    return TFM_OK;
}

tfm_status tfm_sgd_step_params(tfm_params *params, float lr, float momentum, float dampening, float weight_decay,
                               int nesterov, long step) {
    if (!params->data || !params->grad || (momentum != 0.0f && !params->moment1))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "SGD step: parameters, gradients and (with momentum) the velocity must be allocated first");
    for (int e = 0; e < params->count; e++) {
        const tfm_param *entry = &params->entries[e];
        size_t o = entry->offset;
        if (entry->frozen) continue;
        tfm_sgd_update(params->data + o, params->grad + o, params->moment1 ? params->moment1 + o : NULL, entry->size,
                       lr, momentum, dampening, entry->no_weight_decay ? 0.0f : weight_decay, nesterov, step - entry->steps_frozen);
    }
    return TFM_OK;
}
