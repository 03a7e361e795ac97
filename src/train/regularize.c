/* train/regularize.c: L1/L2 penalties on chosen parameters, and gradient clipping by value. */
#include "train/regularize.h"

#include <math.h>
#include <string.h>

/* `pattern` [0, length) against the whole of `name`; * matches any run of characters. */
static int glob_matches(const char *pattern, size_t length, const char *name) {
    if (length == 0) return *name == '\0';
    if (*pattern == '*') {
        for (const char *rest = name;; rest++) {
            if (glob_matches(pattern + 1, length - 1, rest)) return 1;
            if (!*rest) return 0;
        }
    }
    return *name && *name == *pattern && glob_matches(pattern + 1, length - 1, name + 1);
}

int tfm_penalty_selects(const char *patterns, const tfm_param *p) {
    if (strcmp(patterns, "all") == 0) return 1;
    if (strcmp(patterns, "matrices") == 0) return !p->no_weight_decay;
    for (const char *start = patterns; *start;) {
        const char *comma = strchr(start, ',');
        size_t length = comma ? (size_t)(comma - start) : strlen(start);
        if (length && glob_matches(start, length, p->name)) return 1;
        if (!comma) break;
        start = comma + 1;
    }
    return 0;
}

double tfm_penalty_apply(tfm_params *params, float l1, float l2, const char *patterns) {
    double penalty = 0.0;
    for (int e = 0; e < params->count; e++) {
        const tfm_param *entry = &params->entries[e];
        if (entry->frozen || entry->buffer || !tfm_penalty_selects(patterns, entry)) continue;
        const float *w = params->data + entry->offset;
        float *g = params->grad + entry->offset;
        double sum_abs = 0.0, sum_squares = 0.0;
        /* one thread: the penalty's sum must not depend on the thread count; it is a small part of a step */
        #pragma omp simd reduction(+ : sum_abs, sum_squares)
        for (size_t i = 0; i < entry->size; i++) {
            float x = w[i];
            sum_abs += fabsf(x);
            sum_squares += (double)x * x;
            g[i] += l1 * (float)((x > 0.0f) - (x < 0.0f)) + 2.0f * l2 * x;
        }
        penalty += l1 * sum_abs + l2 * sum_squares;
    }
    return penalty;
}

void tfm_clip_value(float *x, size_t n, float limit) {
    #pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) x[i] = x[i] > limit ? limit : x[i] < -limit ? -limit : x[i];
}
