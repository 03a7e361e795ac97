/* train/schedule.c: learning-rate schedules (constant, cosine, noam, step, exponential, linear, reduce-on-plateau). */
#include "tfm/train.h"

#include <math.h>

/* torch's ReduceLROnPlateau skips a reduction smaller than this (its eps). */
#define PLATEAU_MIN_CHANGE 1e-8

/* The rate after `reductions` reductions on plateaus, in double as torch keeps it: each one max(lr * factor, min_lr). */
static double plateau_rate(const tfm_train_config *t, int reductions) {
    double lr = t->learning_rate;
    for (int i = 0; i < reductions; i++) lr = fmax(lr * t->schedule_options.plateau_factor, t->min_lr);
    return lr;
}

/* The rate `after` steps past the warm-up (0 for the first step after it). */
static double decayed_rate(const tfm_train_config *t, long after, int reductions) {
    const tfm_schedule_options *o = &t->schedule_options;
    double lr = t->learning_rate, span = (double)(t->max_steps - t->warmup_steps);
    switch (t->schedule) {
    case TFM_SCHEDULE_COSINE: {
        /* progress 1 at max_steps: the last step trains at min_lr */
        double progress = span > 0 ? (double)(after + 1) / span : 1.0;
        if (progress > 1) progress = 1;
        return t->min_lr + 0.5 * (lr - t->min_lr) * (1.0 + cos(3.14159265358979323846 * progress));
    }
    case TFM_SCHEDULE_STEP: return lr * pow(o->gamma, (double)(after / o->step_size));
    case TFM_SCHEDULE_EXPONENTIAL: return lr * pow(o->gamma, (double)after);
    case TFM_SCHEDULE_LINEAR: {
        /* torch's LinearLR(1, min_lr / lr, max_steps - warmup): min_lr would come one step after the last */
        double progress = span > 0 ? fmin((double)after / span, 1.0) : 1.0;
        return t->min_lr + (lr - t->min_lr) * (1.0 - progress);
    }
    case TFM_SCHEDULE_PLATEAU: return plateau_rate(t, reductions);
    default: return lr;
    }
}

float tfm_schedule_learning_rate(const tfm_train_config *t, int d_model, long step, int reductions) {
    if (step < 1) step = 1;
    double lr = t->learning_rate, warmup = t->warmup_steps;
    if (t->schedule == TFM_SCHEDULE_NOAM) {
        /* d_model^-0.5 * min(step^-0.5, step * warmup^-1.5); learning_rate is a multiplier (1 in the paper). */
        double w = warmup > 0 ? warmup : 1;
        double s = (double)step;
        return (float)(lr * pow((double)d_model, -0.5) * fmin(pow(s, -0.5), s * pow(w, -1.5)));
    }
    /* Warm-up: step / warmup of the rate, the same as torch's LinearLR(1 / warmup, 1, warmup - 1). */
    if (warmup > 0 && step <= t->warmup_steps) return (float)(lr * (double)step / warmup);
    return (float)decayed_rate(t, step - t->warmup_steps - 1, reductions);
}

void tfm_plateau_init(tfm_plateau *p) { *p = (tfm_plateau){.best = NAN}; }

/* torch's ReduceLROnPlateau.step(metric), threshold_mode "rel": better means below best * (1 - threshold) for a
 * loss, above best * (1 + threshold) for a score. */
int tfm_plateau_observe(tfm_plateau *p, const tfm_train_config *t, float metric, int higher_is_better) {
    const tfm_schedule_options *o = &t->schedule_options;
    double threshold = o->plateau_threshold;
    int better = isnan(p->best) || (higher_is_better ? metric > p->best * (1.0 + threshold) : metric < p->best * (1.0 - threshold));
    if (better) {
        p->best = metric;
        p->bad_evaluations = 0;
    } else {
        p->bad_evaluations++;
    }
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->bad_evaluations = 0;
    }
    if (p->bad_evaluations <= o->plateau_patience) return 0;
    p->cooldown_left = o->plateau_cooldown;
    p->bad_evaluations = 0;
    if (plateau_rate(t, p->reductions) - plateau_rate(t, p->reductions + 1) <= PLATEAU_MIN_CHANGE) return 0;
    p->reductions++;
    return 1;
}
