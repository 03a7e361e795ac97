/* decode/sampling.c: greedy and temperature / top-k / top-p / min-p sampling, with a repetition penalty, over one row of logits. */
#include "tfm/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tfm_argmax(const float *values, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

tfm_status tfm_logits_check_finite(const float *logits, size_t count, long step) {
    for (size_t i = 0; i < count; i++)
        if (!isfinite(logits[i]))
            return tfm_error(TFM_ERR_NUMERIC,
                             "decoding step %ld: logit %zu is %g; the model computes non-finite values (weights with NaN or "
                             "infinity, loaded with --allow-nonfinite, or an overflow), so no token can be chosen",
                             step, i, (double)logits[i]);
    return TFM_OK;
}

tfm_status tfm_sampler_config_validate(const tfm_sampler_config *c) {
    if (!(c->temperature >= 0) || !isfinite(c->temperature))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "temperature must be a finite number >= 0, got %g", c->temperature);
    if (c->top_k < 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "top-k must be >= 0 (0 = off), got %d", c->top_k);
    if (!(c->top_p > 0 && c->top_p <= 1))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "top-p must be in (0, 1], got %g", c->top_p);
    if (!(c->min_p >= 0 && c->min_p <= 1)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "min-p must be in [0, 1] (0 = off), got %g", c->min_p);
    if (!(c->repetition_penalty >= 0) || !isfinite(c->repetition_penalty))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "repetition penalty must be a finite number > 0 (1 = off), got %g", c->repetition_penalty);
    return TFM_OK;
}

static int penalizing(const tfm_sampler_config *c) { return c->repetition_penalty > 0 && c->repetition_penalty != 1; }

tfm_status tfm_sampler_init(tfm_sampler *s, int vocab_size, const tfm_sampler_config *config, uint64_t seed) {
    memset(s, 0, sizeof *s);
    tfm_status st = tfm_sampler_config_validate(config);
    if (st) return st;
    s->config = *config;
    s->vocab_size = vocab_size;
    s->probabilities = tfm_malloc(sizeof(float) * (size_t)vocab_size);
    s->order = tfm_malloc(sizeof(int) * (size_t)vocab_size);
    if (penalizing(&s->config)) {
        s->penalized = tfm_malloc(sizeof(float) * (size_t)vocab_size);
        s->seen = tfm_calloc((size_t)vocab_size, 1);
    }
    if (!s->probabilities || !s->order || (penalizing(&s->config) && (!s->penalized || !s->seen))) {
        tfm_sampler_free(s);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    tfm_rng_init(&s->rng, seed);
    return TFM_OK;
}

void tfm_sampler_free(tfm_sampler *s) {
    tfm_free(s->probabilities, sizeof(float) * (size_t)s->vocab_size);
    tfm_free(s->order, sizeof(int) * (size_t)s->vocab_size);
    if (s->penalized) tfm_free(s->penalized, sizeof(float) * (size_t)s->vocab_size);
    if (s->seen) tfm_free(s->seen, (size_t)s->vocab_size);
    memset(s, 0, sizeof *s);
}

void tfm_sampler_observe(tfm_sampler *s, int token) {
    if (s->seen && token >= 0 && token < s->vocab_size) s->seen[token] = 1;
}

void tfm_sampler_forget(tfm_sampler *s) {
    if (s->seen) memset(s->seen, 0, (size_t)s->vocab_size);
}

/* The logits with the penalty on every token seen, in the sampler's scratch. */
static const float *penalize(tfm_sampler *s, const float *logits) {
    float penalty = s->config.repetition_penalty;
    for (int i = 0; i < s->vocab_size; i++) {
        float x = logits[i];
        s->penalized[i] = !s->seen[i] ? x : x < 0 ? x * penalty : x / penalty;
    }
    return s->penalized;
}

/* qsort comparator context: probabilities descending, then token id ascending (a total, stable order). */
static _Thread_local const float *sort_keys;
static int by_probability_descending(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_keys[i] > sort_keys[j]) return -1;
    if (sort_keys[i] < sort_keys[j]) return 1;
    return (i > j) - (i < j);
}

/* Rearranges order[0, n) so that its k first entries are the k largest (in any order): quickselect. */
static void select_largest(int *order, int n, int k, const float *keys) {
    sort_keys = keys;
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int pivot = order[lo + (hi - lo) / 2], i = lo, j = hi;
        while (i <= j) {
            while (by_probability_descending(&order[i], &pivot) < 0) i++;
            while (by_probability_descending(&order[j], &pivot) > 0) j--;
            if (i <= j) { int t = order[i]; order[i] = order[j]; order[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int tfm_sampler_next(tfm_sampler *s, const float *logits) {
    int V = s->vocab_size;
    const tfm_sampler_config *c = &s->config;
    if (s->seen) logits = penalize(s, logits);
    /* top-k 1 keeps only the most likely token (ties to the lowest id, as the sort below): no softmax needed */
    if (c->temperature == 0 || c->top_k == 1) return tfm_argmax(logits, V);

    /* softmax(logits / temperature), in double for the normaliser */
    float max = logits[tfm_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        float p = expf((logits[i] - max) / c->temperature);
        s->probabilities[i] = p;
        sum += p;
    }
    for (int i = 0; i < V; i++) s->probabilities[i] = (float)(s->probabilities[i] / sum);

    int n = V;
    if ((c->top_k > 0 && c->top_k < V) || c->top_p < 1 || c->min_p > 0) {
        for (int i = 0; i < V; i++) s->order[i] = i;
        if (c->top_k > 0 && c->top_k < n) {
            /* only the k largest need sorting: O(V + k log k), not O(V log V) */
            n = c->top_k;
            select_largest(s->order, V, n, s->probabilities);
        }
        sort_keys = s->probabilities;
        qsort(s->order, (size_t)n, sizeof(int), by_probability_descending);
        if (c->top_p < 1) {
            /* Smallest prefix whose mass reaches top_p (at least one token), renormalised within top-k. */
            double kept = 0, total = 0;
            for (int i = 0; i < n; i++) total += s->probabilities[s->order[i]];
            int m = 0;
            while (m < n) {
                kept += s->probabilities[s->order[m++]];
                if (kept >= c->top_p * total) break;
            }
            n = m;
        }
        if (c->min_p > 0) { /* relative to the most likely token, the first of order */
            float floor = c->min_p * s->probabilities[s->order[0]];
            int m = 1;
            while (m < n && s->probabilities[s->order[m]] >= floor) m++;
            n = m;
        }
        double mass = 0;
        for (int i = 0; i < n; i++) mass += s->probabilities[s->order[i]];
        double u = (double)tfm_rng_uniform(&s->rng) * mass, acc = 0;
        for (int i = 0; i < n; i++) {
            acc += s->probabilities[s->order[i]];
            if (u < acc) return s->order[i];
        }
        return s->order[n - 1];
    }
    double u = (double)tfm_rng_uniform(&s->rng), acc = 0;
    for (int i = 0; i < V; i++) {
        acc += s->probabilities[i];
        if (u < acc) return i;
    }
    return tfm_argmax(logits, V);
}
