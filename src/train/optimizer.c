/* train/optimizer.c: every optimizer's parameter update (reference loop and threaded path, bit-identical) and whole-store steps. */
#include "train/optimizer.h"

#include "ops/parallel.h"

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
    tfm_optimizer_settings s = {.optimizer = TFM_OPTIMIZER_ADAMW, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay};
    return tfm_optimizer_step_params(params, &s, lr, step);
}

tfm_status tfm_sgd_step_params(tfm_params *params, float lr, float momentum, float dampening, float weight_decay,
                               int nesterov, long step) {
    if (!params->data || !params->grad || (momentum != 0.0f && !params->moment1))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "SGD step: parameters, gradients and (with momentum) the velocity must be allocated first");
    tfm_optimizer_settings s = {.optimizer = TFM_OPTIMIZER_SGD, .momentum = momentum, .weight_decay = weight_decay,
                                .options = {.dampening = dampening, .nesterov = nesterov}};
    return tfm_optimizer_step_params(params, &s, lr, step);
}

/* ---- Every optimizer through one interface ---- */

tfm_optimizer_settings tfm_optimizer_settings_of(const tfm_train_config *c) {
    return (tfm_optimizer_settings){c->optimizer, c->beta1, c->beta2, c->eps, c->momentum, c->weight_decay, c->optimizer_options};
}

int tfm_optimizer_state_count(const tfm_optimizer_settings *s) {
    switch (s->optimizer) {
    case TFM_OPTIMIZER_SGD: return s->momentum != 0.0f;
    case TFM_OPTIMIZER_ADAGRAD: return 1;
    case TFM_OPTIMIZER_RMSPROP: return s->momentum != 0.0f ? 3 : s->options.centered ? 2 : 1;
    default: return 2;
    }
}

/* The scalars of one step, formed in double as torch.optim forms them in Python, used in float. */
typedef struct update_rule {
    int optimizer, first, centered;
    float neg_lr;           /* -lr, or -lr / bias correction (Adam, Adamax), -lr / (1 + (t-1) lr_decay) (Adagrad) */
    float l2;               /* coupled weight decay: d = g + l2 * p */
    float decay;            /* decoupled weight decay: p *= decay (Ftrl) */
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
    float bias2_sqrt, bias2; /* sqrt(1 - beta2^t) (Adam), 1 - beta2^t (NAdam) */
    float grad_step, avg_step; /* NAdam: the coefficients of g / denom and m / denom */
    float momentum, initial;
    float lr, lr_power, l1, twice_l2, twice_shrinkage; /* Ftrl */
} update_rule;

/* NAdam's product of momentum coefficients mu_1 ... mu_t, accumulated in float like torch's state tensor. */
static float nadam_mu(double beta1, double decay, double t) { return (float)(beta1 * (1.0 - 0.5 * pow(0.96, t * decay))); }

static void nadam_scalars(update_rule *r, const tfm_optimizer_settings *s, double lr, long step) {
    float product = 1.0f;
    for (long i = 1; i <= step; i++) product *= nadam_mu(s->beta1, s->options.momentum_decay, (double)i);
    double mu = s->beta1 * (1.0 - 0.5 * pow(0.96, (double)step * s->options.momentum_decay));
    double mu_next = s->beta1 * (1.0 - 0.5 * pow(0.96, (double)(step + 1) * s->options.momentum_decay));
    r->grad_step = (float)(-lr * (1.0 - mu) / (1.0 - (double)product));
    r->avg_step = (float)(-lr * mu_next / (1.0 - (double)product * mu_next));
    r->bias2 = (float)(1.0 - pow(s->beta2, (double)step));
}

static update_rule rule_make(const tfm_optimizer_settings *s, float lr, long step) {
    const tfm_optimizer_options *o = &s->options;
    double t = (double)(step < 1 ? 1 : step);
    int ftrl = s->optimizer == TFM_OPTIMIZER_FTRL;
    update_rule r = {.optimizer = s->optimizer, .first = step <= 1, .centered = o->centered, .neg_lr = -lr, .decay = 1.0f,
                     .l2 = ftrl ? 0.0f : s->weight_decay, .beta1 = s->beta1, .one_minus_beta1 = (float)(1.0 - (double)s->beta1),
                     .beta2 = s->beta2, .one_minus_beta2 = (float)(1.0 - (double)s->beta2), .eps = s->eps, .momentum = s->momentum,
                     .initial = o->initial_accumulator, .lr = lr, .lr_power = o->lr_power, .l1 = o->l1};
    switch (s->optimizer) {
    case TFM_OPTIMIZER_ADAM: r.neg_lr = (float)(-(double)lr / (1.0 - pow(s->beta1, t))); r.bias2_sqrt = (float)sqrt(1.0 - pow(s->beta2, t)); break;
    case TFM_OPTIMIZER_ADAMAX: r.neg_lr = (float)(-(double)lr / (1.0 - pow(s->beta1, t))); break;
    case TFM_OPTIMIZER_NADAM: nadam_scalars(&r, s, lr, step < 1 ? 1 : step); break;
    case TFM_OPTIMIZER_ADAGRAD: r.neg_lr = (float)(-(double)lr / (1.0 + (t - 1.0) * o->lr_decay)); break;
    case TFM_OPTIMIZER_RMSPROP: r.beta2 = o->alpha; r.one_minus_beta2 = (float)(1.0 - (double)o->alpha); break;
    case TFM_OPTIMIZER_ADADELTA: r.beta2 = o->rho; r.one_minus_beta2 = (float)(1.0 - (double)o->rho); break;
    case TFM_OPTIMIZER_FTRL:
        r.decay = (float)(1.0 - (double)lr * s->weight_decay);
        r.twice_l2 = (float)(2.0 * ((double)o->l2 + (double)o->ftrl_beta / (2.0 * lr)));
        r.twice_shrinkage = 2.0f * o->l2_shrinkage;
        break;
    }
    return r;
}

/* torch.lerp's float formula (torch 2.x's Adam family keeps m with it). The updates below also keep ATen's order
 * of operations: addcmul(x, a, b, value) is x + (value * a) * b and addcdiv(x, a, b, value) is x + (value * a) / b,
 * which, over 100 steps of an optimizer that divides by a running root (RMSprop, Adadelta), is the difference between
 * 1e-7 and 1e-3. */
static inline float lerp(float a, float b, float w) { return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w); }

/* Adam (coupled decay), Adamax, NAdam: m, then v or u, then the weight. */
static void adam_family_range(const update_rule *r, float *p, const float *g, float *m, float *v, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        float d = r->l2 != 0.0f ? g[i] + r->l2 * p[i] : g[i];
        m[i] = lerp(m[i], d, r->one_minus_beta1);
        if (r->optimizer == TFM_OPTIMIZER_ADAMAX) {
            float scaled = v[i] * r->beta2, magnitude = fabsf(d) + r->eps;
            v[i] = scaled > magnitude ? scaled : magnitude;
            p[i] = p[i] + (r->neg_lr * m[i]) / v[i];
            continue;
        }
        v[i] = v[i] * r->beta2 + (r->one_minus_beta2 * d) * d;
        if (r->optimizer == TFM_OPTIMIZER_ADAM) {
            p[i] = p[i] + (r->neg_lr * m[i]) / (sqrtf(v[i]) / r->bias2_sqrt + r->eps);
        } else { /* NAdam: a gradient step and a momentum step over the same denominator */
            float denom = sqrtf(v[i] / r->bias2) + r->eps;
            p[i] = p[i] + (r->grad_step * d) / denom;
            p[i] = p[i] + (r->avg_step * m[i]) / denom;
        }
    }
}

static void adagrad_range(const update_rule *r, float *p, const float *g, float *sum, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        float d = r->l2 != 0.0f ? g[i] + r->l2 * p[i] : g[i];
        sum[i] = (r->first ? r->initial : sum[i]) + d * d;
        p[i] = p[i] + (r->neg_lr * d) / (sqrtf(sum[i]) + r->eps);
    }
}

/* RMSprop: state 1 the squared average, 2 the gradient average (centered), 3 the momentum buffer. */
static void rmsprop_range(const update_rule *r, float *p, const float *g, float *square, float *average, float *buffer, size_t begin,
                          size_t end) {
    for (size_t i = begin; i < end; i++) {
        float d = r->l2 != 0.0f ? g[i] + r->l2 * p[i] : g[i];
        square[i] = square[i] * r->beta2 + (r->one_minus_beta2 * d) * d;
        float denom;
        if (r->centered) {
            average[i] = lerp(average[i], d, r->one_minus_beta2);
            denom = sqrtf(square[i] - average[i] * average[i]) + r->eps;
        } else {
            denom = sqrtf(square[i]) + r->eps;
        }
        if (r->momentum != 0.0f) {
            buffer[i] = buffer[i] * r->momentum + d / denom;
            p[i] = p[i] + r->neg_lr * buffer[i];
        } else {
            p[i] = p[i] + (r->neg_lr * d) / denom;
        }
    }
}

static void adadelta_range(const update_rule *r, float *p, const float *g, float *square, float *updates, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        float d = r->l2 != 0.0f ? g[i] + r->l2 * p[i] : g[i];
        square[i] = square[i] * r->beta2 + (r->one_minus_beta2 * d) * d;
        float delta = sqrtf(updates[i] + r->eps) / sqrtf(square[i] + r->eps) * d;
        updates[i] = updates[i] * r->beta2 + (r->one_minus_beta2 * delta) * delta;
        p[i] = p[i] + r->neg_lr * delta;
    }
}

/* Keras' Ftrl (McMahan et al. 2013, algorithm 1 per coordinate): n accumulates g², z the linear term; the weight
 * is the closed-form minimiser, 0 where |z| <= l1. */
static void ftrl_range(const update_rule *r, float *p, const float *g, float *n, float *z, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        float w = p[i] * r->decay, accum = r->first ? r->initial : n[i];
        float shrunk = g[i] + r->twice_shrinkage * w, grown = accum + g[i] * g[i];
        float root_new = powf(grown, -r->lr_power), root_old = powf(accum, -r->lr_power);
        z[i] = z[i] + (shrunk - (root_new - root_old) / r->lr * w);
        float quadratic = root_new / r->lr + r->twice_l2;
        float clipped = z[i] < -r->l1 ? -r->l1 : z[i] > r->l1 ? r->l1 : z[i];
        p[i] = (clipped - z[i]) / quadratic;
        n[i] = grown;
    }
}

static void update_range(const update_rule *r, float *p, const float *g, float *s1, float *s2, float *s3, size_t begin, size_t end) {
    switch (r->optimizer) {
    case TFM_OPTIMIZER_ADAGRAD: adagrad_range(r, p, g, s1, begin, end); break;
    case TFM_OPTIMIZER_RMSPROP: rmsprop_range(r, p, g, s1, s2, s3, begin, end); break;
    case TFM_OPTIMIZER_ADADELTA: adadelta_range(r, p, g, s1, s2, begin, end); break;
    case TFM_OPTIMIZER_FTRL: ftrl_range(r, p, g, s1, s2, begin, end); break;
    default: adam_family_range(r, p, g, s1, s2, begin, end); break;
    }
}

tfm_status tfm_optimizer_update(const tfm_optimizer_settings *s, float lr, long step, float *params, const float *grads, float *state1,
                                float *state2, float *state3, size_t n, int reference) {
    int states = tfm_optimizer_state_count(s);
    if ((states >= 1 && !state1) || (states >= 2 && !state2) || (states >= 3 && !state3))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "optimizer update: %d state slabs needed", states);
    const tfm_optimizer_options *o = &s->options;
    if (s->optimizer == TFM_OPTIMIZER_ADAMW) {
        (reference ? tfm_adamw_update_reference : tfm_adamw_update)(params, grads, state1, state2, n, lr, s->beta1, s->beta2, s->eps,
                                                                     s->weight_decay, step);
        return TFM_OK;
    }
    if (s->optimizer == TFM_OPTIMIZER_SGD) {
        (reference ? tfm_sgd_update_reference : tfm_sgd_update)(params, grads, state1, n, lr, s->momentum, o->dampening, s->weight_decay,
                                                                 o->nesterov, step);
        return TFM_OK;
    }
    update_rule r = rule_make(s, lr, step);
    if (reference) {
        update_range(&r, params, grads, state1, state2, state3, 0, n);
        return TFM_OK;
    }
    TFM_PARALLEL_RANGES(n, OPTIMIZER_PARALLEL_MIN, update_range(&r, params, grads, state1, state2, state3, begin, end));
    return TFM_OK;
}

tfm_status tfm_optimizer_step_params(tfm_params *params, const tfm_optimizer_settings *s, float lr, long step) {
    int states = tfm_optimizer_state_count(s);
    if (!params->data || !params->grad) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "optimizer step: parameters and gradients must be allocated first");
    if (states > 0) {
        tfm_status st = tfm_params_allocate_moments_n(params, states == 3);
        if (st) return st;
    }
    for (int e = 0; e < params->count; e++) {
        const tfm_param *entry = &params->entries[e];
        size_t o = entry->offset;
        if (entry->frozen || entry->buffer) continue;
        tfm_optimizer_settings own = *s;
        if (entry->no_weight_decay) own.weight_decay = 0.0f;
        float *s1 = params->moment1 ? params->moment1 + o : NULL, *s2 = params->moment2 ? params->moment2 + o : NULL;
        float *s3 = params->moment3 ? params->moment3 + o : NULL;
        tfm_status st = tfm_optimizer_update(&own, lr, step - entry->steps_frozen, params->data + o, params->grad + o, s1, s2, s3,
                                             entry->size, 0);
        if (st) return st;
    }
    return TFM_OK;
}
