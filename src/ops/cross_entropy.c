/* ops/cross_entropy.c: fused log-softmax cross-entropy (ignore_index, label smoothing), forward and backward. */
#include "ops/cross_entropy.h"

#include <math.h>
#include <stddef.h>

#include "ops/activation.h" /* tfm_exp_fast */

#define CROSS_ENTROPY_PARALLEL_MIN (1 << 14) /* N * V below this runs single-threaded */

/* Mean of the counted rows' losses, summed in row order (so it does not depend on threads). */
static float cross_entropy_mean(const float *losses, const int32_t *targets, int N, int ignore_index, int *count) {
    double total = 0.0;
    int counted = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] == ignore_index) continue;
        total += losses[n];
        counted++;
    }
    if (count) *count = counted;
    return counted ? (float)(total / counted) : 0.0f;
}

float tfm_cross_entropy_forward_reference(float *losses, float *logsumexp, const float *logits, const int32_t *targets,
                                          int N, int V, int ignore_index, float eps, int *count) {
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        int t = targets[n];
        if (t == ignore_index) {
            losses[n] = 0.0f;
            if (logsumexp) logsumexp[n] = 0.0f;
            continue;
        }
        double maxval = -INFINITY;
        for (int v = 0; v < V; v++) maxval = x[v] > maxval ? x[v] : maxval;
        double sum = 0.0, sum_logits = 0.0;
        for (int v = 0; v < V; v++) {
            sum += exp(x[v] - maxval);
            sum_logits += x[v];
        }
        double lse = maxval + log(sum);
        if (logsumexp) logsumexp[n] = (float)lse;
        if (t < 0 || t >= V) losses[n] = NAN;
        else losses[n] = (float)((1.0 - eps) * (lse - x[t]) + eps * (lse - sum_logits / V));
    }
    return cross_entropy_mean(losses, targets, N, ignore_index, count);
}

float tfm_cross_entropy_forward(float *losses, float *logsumexp, const float *logits, const int32_t *targets, int N,
                                int V, int ignore_index, float eps, int *count) {
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= CROSS_ENTROPY_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *restrict x = logits + (size_t)n * V;
        int t = targets[n];
        if (t == ignore_index) { /* nothing to compute: no loss, no gradient */
            losses[n] = 0.0f;
            if (logsumexp) logsumexp[n] = 0.0f;
            continue;
        }
        float maxval = -INFINITY;
        #pragma omp simd reduction(max : maxval)
        for (int v = 0; v < V; v++) maxval = x[v] > maxval ? x[v] : maxval;
        float sum = 0.0f, sum_logits = 0.0f;
        #pragma omp simd reduction(+ : sum, sum_logits)
        for (int v = 0; v < V; v++) {
            sum += tfm_exp_fast(x[v] - maxval);
            sum_logits += x[v];
        }
        float lse = maxval + logf(sum);
        if (logsumexp) logsumexp[n] = lse;
        if (t < 0 || t >= V) losses[n] = NAN;
        else losses[n] = (1.0f - eps) * (lse - x[t]) + eps * (lse - sum_logits / (float)V);
    }
    return cross_entropy_mean(losses, targets, N, ignore_index, count);
}

void tfm_cross_entropy_backward_reference(float *dlogits, const float *logits, const float *logsumexp,
                                          const int32_t *targets, int N, int V, int ignore_index, float eps,
                                          float scale) {
    if (!dlogits) return;
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == ignore_index || t < 0 || t >= V) continue;
        const float *x = logits + (size_t)n * V;
        float *dx = dlogits + (size_t)n * V;
        for (int v = 0; v < V; v++) {
            double p = exp((double)x[v] - logsumexp[n]);
            double target = (v == t ? 1.0 - eps : 0.0) + (double)eps / V;
            dx[v] += (float)(scale * (p - target));
        }
    }
}

void tfm_cross_entropy_backward(float *dlogits, const float *logits, const float *logsumexp, const int32_t *targets,
                                int N, int V, int ignore_index, float eps, float scale) {
    if (!dlogits) return;
    const float smooth = eps / (float)V;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= CROSS_ENTROPY_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == ignore_index || t < 0 || t >= V) continue;
        const float *restrict x = logits + (size_t)n * V;
        float *restrict dx = dlogits + (size_t)n * V;
        float lse = logsumexp[n];
        #pragma omp simd
        for (int v = 0; v < V; v++) dx[v] += scale * (tfm_exp_fast(x[v] - lse) - smooth);
        dx[t] -= scale * (1.0f - eps);
    }
}

/* In place: logits[N, V] is replaced by its gradient. Rows that do not count (ignored or invalid
 * targets) become 0, since nothing else will write them. */
void tfm_cross_entropy_backward_in_place_reference(float *logits, const float *logsumexp, const int32_t *targets, int N,
                                                  int V, int ignore_index, float eps, float scale) {
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        float *x = logits + (size_t)n * V;
        if (t == ignore_index || t < 0 || t >= V) {
            for (int v = 0; v < V; v++) x[v] = 0.0f;
            continue;
        }
        for (int v = 0; v < V; v++) {
            double p = exp((double)x[v] - logsumexp[n]);
            double target = (v == t ? 1.0 - eps : 0.0) + (double)eps / V;
            x[v] = (float)(scale * (p - target));
        }
    }
}

void tfm_cross_entropy_backward_in_place(float *logits, const float *logsumexp, const int32_t *targets, int N, int V,
                                        int ignore_index, float eps, float scale) {
    const float smooth = eps / (float)V;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= CROSS_ENTROPY_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        float *restrict x = logits + (size_t)n * V;
        if (t == ignore_index || t < 0 || t >= V) {
            for (int v = 0; v < V; v++) x[v] = 0.0f;
            continue;
        }
        float lse = logsumexp[n];
        #pragma omp simd
        for (int v = 0; v < V; v++) x[v] = scale * (tfm_exp_fast(x[v] - lse) - smooth);
        x[t] -= scale * (1.0f - eps);
    }
}
