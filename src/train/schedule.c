/* train/schedule.c: learning-rate schedules (constant, warm-up + cosine, the paper's warm-up schedule). */
#include "tfm/train.h"

#include <math.h>

float tfm_schedule_learning_rate(const tfm_train_config *t, int d_model, long step) {
    if (step < 1) step = 1;
    double lr = t->learning_rate, warmup = t->warmup_steps;
    switch (t->schedule) {
    case TFM_SCHEDULE_NOAM: {
        /* d_model^-0.5 * min(step^-0.5, step * warmup^-1.5); learning_rate is a multiplier (1 in the paper). */
        double w = warmup > 0 ? warmup : 1;
        double s = (double)step;
        return (float)(lr * pow((double)d_model, -0.5) * fmin(pow(s, -0.5), s * pow(w, -1.5)));
    }
    case TFM_SCHEDULE_COSINE: {
        if (warmup > 0 && step <= t->warmup_steps) return (float)(lr * (double)step / warmup);
        double span = (double)t->max_steps - warmup;
        double progress = span > 0 ? ((double)step - warmup) / span : 1.0;
        if (progress > 1) progress = 1;
        return (float)(t->min_lr + 0.5 * (lr - t->min_lr) * (1.0 + cos(3.14159265358979323846 * progress)));
    }
    default:
        if (warmup > 0 && step <= t->warmup_steps) return (float)(lr * (double)step / warmup);
        return (float)lr;
    }
}
