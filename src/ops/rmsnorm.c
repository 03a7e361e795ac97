/* ops/rmsnorm.c: RMSNorm forward and backward, reference and row/channel-parallel versions. */
#include "ops/rmsnorm.h"

#include <math.h>
#include <stddef.h>

#define RMSNORM_PARALLEL_MIN (1 << 15) /* N * C below this runs on one thread */
#define CHANNEL_BLOCK 64

void tfm_rmsnorm_forward_reference(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double squares = 0.0;
        for (int c = 0; c < C; c++) squares += (double)x[c] * x[c];
        double r = 1.0 / sqrt(squares / C + eps);
        if (rstd) rstd[n] = (float)r;
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (float)(x[c] * r * weight[c]);
    }
}

void tfm_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= RMSNORM_PARALLEL_MIN)
    for (int n = 0; n < N; n++) {
        const float *restrict x = inp + (size_t)n * C;
        float *restrict y = out + (size_t)n * C;
        float squares = 0.0f;
        #pragma omp simd reduction(+ : squares)
        for (int c = 0; c < C; c++) squares += x[c] * x[c];
        float r = 1.0f / sqrtf(squares / (float)C + eps);
        if (rstd) rstd[n] = r;
        #pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] * r * weight[c];
    }
}

void tfm_rmsnorm_backward_reference(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                                    const float *rstd, int N, int C) {
    for (int n = 0; dinp && n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double r = rstd[n], dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)weight[c] * dy[c] * x[c];
        for (int c = 0; c < C; c++) dinp[(size_t)n * C + c] += (float)(r * weight[c] * dy[c] - x[c] * r * r * r * dot / C);
    }
    for (int c = 0; dweight && c < C; c++) { /* each channel's sum in double, over the rows in order */
        double sum = 0.0;
        for (int n = 0; n < N; n++) sum += (double)dout[(size_t)n * C + c] * inp[(size_t)n * C + c] * rstd[n];
        dweight[c] += (float)sum;
    }
}

void tfm_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, const float *rstd,
                          int N, int C) {
    int parallel = (size_t)N * C >= RMSNORM_PARALLEL_MIN;
    if (dinp) {
        #pragma omp parallel for schedule(static) if (parallel)
        for (int n = 0; n < N; n++) {
            const float *restrict x = inp + (size_t)n * C, *restrict dy = dout + (size_t)n * C;
            float *restrict dx = dinp + (size_t)n * C;
            float r = rstd[n], dot = 0.0f;
            #pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) dot += weight[c] * dy[c] * x[c];
            float k = r * r * r * dot / (float)C;
            #pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - x[c] * k;
        }
    }
    if (!dweight) return;
    int blocks = (C + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
    #pragma omp parallel for schedule(static) if (parallel)
    for (int b = 0; b < blocks; b++) {
        int begin = b * CHANNEL_BLOCK, end = begin + CHANNEL_BLOCK < C ? begin + CHANNEL_BLOCK : C;
        double sum[CHANNEL_BLOCK] = {0};
        for (int n = 0; n < N; n++) { /* row order, in double, as the reference: the same bits at any thread count */
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            double r = rstd[n];
            #pragma omp simd
            for (int c = begin; c < end; c++) sum[c - begin] += (double)dy[c] * x[c] * r;
        }
        for (int c = begin; c < end; c++) dweight[c] += (float)sum[c - begin];
    }
}
