/* ops/softmax.c: row softmax forward/backward; the fast version is row-parallel with a vectorised exp. */
#include "ops/softmax.h"

#include <math.h>
#include <stddef.h>

#include "ops/activation.h" /* tfm_exp_fast */

#define SOFTMAX_PARALLEL_MIN (1 << 14) /* N * V below this runs single-threaded */

static float row_max_reference(const float *x, int V) {
    float maxval = -INFINITY;
    for (int v = 0; v < V; v++)
        if (x[v] > maxval) maxval = x[v];
    return maxval;
}

static inline float row_max(const float *x, int V) {
    float maxval = -INFINITY;
    #pragma omp simd reduction(max : maxval)
    for (int v = 0; v < V; v++) maxval = x[v] > maxval ? x[v] : maxval;
    return maxval;
}

/* A fully masked row (every entry -inf): softmax 0, log-softmax -inf. */
static void fill(float *y, int V, float value) {
    for (int v = 0; v < V; v++) y[v] = value;
}

void tfm_softmax_forward_reference(float *out, const float *inp, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float maxval = row_max_reference(x, V);
        if (maxval == -INFINITY) { /* fully masked row */
            fill(y, V, 0.0f);
            continue;
        }
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            y[v] = expf(x[v] - maxval);
            sum += y[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) y[v] *= inv;
    }
}

void tfm_softmax_forward(float *out, const float *inp, int N, int V) {
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= SOFTMAX_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float maxval = row_max(x, V);
        if (maxval == -INFINITY) {
            fill(y, V, 0.0f);
            continue;
        }
        /* the sum in double and a division, not a reciprocal: y's error is then the exp's alone, and the
         * backward's dot, sum(dy * y), inherits it */
        double sum = 0.0;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) {
            float e = tfm_exp_fast(x[v] - maxval);
            y[v] = e;
            sum += e;
        }
        float total = (float)sum;
        #pragma omp simd
        for (int v = 0; v < V; v++) y[v] /= total;
    }
}

void tfm_softmax_backward_reference(float *dinp, const float *dout, const float *out, int N, int V) {
    if (!dinp) return;
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * V;
        const float *y = out + (size_t)n * V;
        float *dx = dinp + (size_t)n * V;
        double dot = 0.0;
        for (int v = 0; v < V; v++) dot += (double)dy[v] * y[v];
        for (int v = 0; v < V; v++) dx[v] += y[v] * (dy[v] - (float)dot);
    }
}

void tfm_softmax_backward(float *dinp, const float *dout, const float *out, int N, int V) {
    if (!dinp) return;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= SOFTMAX_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *restrict dy = dout + (size_t)n * V;
        const float *restrict y = out + (size_t)n * V;
        float *restrict dx = dinp + (size_t)n * V;
        /* the dot in double: dy - dot cancels where dy is near it, and its error is then the result's */
        double dot = 0.0;
        #pragma omp simd reduction(+ : dot)
        for (int v = 0; v < V; v++) dot += (double)dy[v] * y[v];
        float dot_f = (float)dot;
        #pragma omp simd
        for (int v = 0; v < V; v++) dx[v] += y[v] * (dy[v] - dot_f);
    }
}

/* ---- log-softmax: x - max - log(sum(exp(x - max))) ---- */

void tfm_log_softmax_forward_reference(float *out, const float *inp, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float maxval = row_max_reference(x, V);
        if (maxval == -INFINITY) { /* fully masked row: log 0 */
            fill(y, V, -INFINITY);
            continue;
        }
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - maxval);
        double shift = maxval + log(sum);
        for (int v = 0; v < V; v++) y[v] = (float)((double)x[v] - shift);
    }
}

void tfm_log_softmax_forward(float *out, const float *inp, int N, int V) {
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= SOFTMAX_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float maxval = row_max(x, V);
        if (maxval == -INFINITY) {
            fill(y, V, -INFINITY);
            continue;
        }
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) sum += tfm_exp_fast(x[v] - maxval);
        float log_sum = logf(sum);
        /* (x - max) - log_sum, not x - (max + log_sum): exact for the largest entry */
        #pragma omp simd
        for (int v = 0; v < V; v++) y[v] = (x[v] - maxval) - log_sum;
    }
}

void tfm_log_softmax_backward_reference(float *dinp, const float *dout, const float *out, int N, int V) {
    if (!dinp) return;
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * V, *y = out + (size_t)n * V;
        float *dx = dinp + (size_t)n * V;
        double total = 0.0;
        for (int v = 0; v < V; v++) total += dy[v];
        for (int v = 0; v < V; v++) dx[v] += (float)((double)dy[v] - exp((double)y[v]) * total);
    }
}

void tfm_log_softmax_backward(float *dinp, const float *dout, const float *out, int N, int V) {
    if (!dinp) return;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= SOFTMAX_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *restrict dy = dout + (size_t)n * V, *restrict y = out + (size_t)n * V;
        float *restrict dx = dinp + (size_t)n * V;
        float total = 0.0f;
        #pragma omp simd reduction(+ : total)
        for (int v = 0; v < V; v++) total += dy[v];
        #pragma omp simd
        for (int v = 0; v < V; v++) dx[v] += dy[v] - tfm_exp_fast(y[v]) * total;
    }
}
