/* ops/softmax.c: row softmax forward/backward; the fast version is row-parallel with a vectorised exp. */
#include "ops/softmax.h"

#include <math.h>
#include <stddef.h>

#include "ops/activation.h" /* tfm_exp_fast */

#define SOFTMAX_PARALLEL_MIN (1 << 14) /* N * V below this runs single-threaded */

void tfm_softmax_forward_reference(float *out, const float *inp, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float maxval = -INFINITY;
        for (int v = 0; v < V; v++)
            if (x[v] > maxval) maxval = x[v];
        if (maxval == -INFINITY) { /* fully masked row */
            for (int v = 0; v < V; v++) y[v] = 0.0f;
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
        float maxval = -INFINITY;
        #pragma omp simd reduction(max : maxval)
        for (int v = 0; v < V; v++) maxval = x[v] > maxval ? x[v] : maxval;
        if (maxval == -INFINITY) {
            for (int v = 0; v < V; v++) y[v] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) {
            float e = tfm_exp_fast(x[v] - maxval);
            y[v] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        #pragma omp simd
        for (int v = 0; v < V; v++) y[v] *= inv;
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
        float dot = 0.0f;
        #pragma omp simd reduction(+ : dot)
        for (int v = 0; v < V; v++) dot += dy[v] * y[v];
        #pragma omp simd
        for (int v = 0; v < V; v++) dx[v] += y[v] * (dy[v] - dot);
    }
}
