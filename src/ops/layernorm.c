/* ops/layernorm.c: LayerNorm forward (row-parallel, SIMD reductions) and deterministic backward. */
#include "ops/layernorm.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>

#include "ops/parallel.h"

#define LAYERNORM_PARALLEL_MIN (1 << 14) /* N * C below this runs single-threaded */
#define LAYERNORM_CHANNEL_ALIGN 16        /* channel blocks of whole 64-byte lines */

void tfm_layernorm_forward_reference(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                     const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        double m = sum / C;
        double var = 0.0;
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        var /= C;
        float s = (float)(1.0 / sqrt(var + (double)eps));
        float mf = (float)m;
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - mf) * s;
            y[c] = norm * (weight ? weight[c] : 1.0f) + (bias ? bias[c] : 0.0f);
        }
        if (mean) mean[n] = mf;
        if (rstd) rstd[n] = s;
    }
}

static void layernorm_forward_rows(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                   const float *bias, int C, float eps, size_t begin, size_t end) {
    for (size_t n = begin; n < end; n++) {
        const float *restrict x = inp + (size_t)n * C;
        float *restrict y = out + (size_t)n * C;
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int c = 0; c < C; c++) sum += x[c];
        float m = sum / (float)C;
        /* Two passes (not E[x^2] - m^2): no cancellation when |mean| >> std. */
        float var = 0.0f;
        #pragma omp simd reduction(+ : var)
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        var /= (float)C;
        float s = 1.0f / sqrtf(var + eps);
        if (weight && bias) {
            #pragma omp simd
            for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c] + bias[c];
        } else {
            for (int c = 0; c < C; c++)
                y[c] = (x[c] - m) * s * (weight ? weight[c] : 1.0f) + (bias ? bias[c] : 0.0f);
        }
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

void tfm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int N, int C, float eps) {
    if (N <= 0) return;
    TFM_PARALLEL_RANGES((size_t)N, LAYERNORM_PARALLEL_MIN / (C > 0 ? C : 1),
                        layernorm_forward_rows(out, mean, rstd, inp, weight, bias, C, eps, begin, end));
}

/* dL/dx for one row: with g = dout * weight and norm = (x - mean) * rstd,
 * dx = rstd * (g - mean(g) - norm * mean(g * norm)). */
void tfm_layernorm_backward_reference(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                      const float *weight, const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        if (dinp) {
            double g_mean = 0.0, g_norm_mean = 0.0;
            for (int c = 0; c < C; c++) {
                float norm = (x[c] - m) * s;
                float g = dy[c] * (weight ? weight[c] : 1.0f);
                g_mean += g;
                g_norm_mean += (double)g * norm;
            }
            g_mean /= C;
            g_norm_mean /= C;
            float *dx = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                float norm = (x[c] - m) * s;
                float g = dy[c] * (weight ? weight[c] : 1.0f);
                dx[c] += (float)((g - g_mean - norm * g_norm_mean) * s);
            }
        }
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * s;
            if (dweight) dweight[c] += dy[c] * norm;
            if (dbias) dbias[c] += dy[c];
        }
    }
}

void tfm_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *rstd, int N, int C) {
    int threads = (size_t)N * C >= LAYERNORM_PARALLEL_MIN ? omp_get_max_threads() : 1;
    int block = (C + threads - 1) / threads;
    block = (block + LAYERNORM_CHANNEL_ALIGN - 1) / LAYERNORM_CHANNEL_ALIGN * LAYERNORM_CHANNEL_ALIGN;
    int blocks = (C + block - 1) / block;
    #pragma omp parallel num_threads(threads)
    {
        if (dinp) {
            #pragma omp for schedule(static) nowait
            for (int n = 0; n < N; n++) {
                const float *restrict x = inp + (size_t)n * C;
                const float *restrict dy = dout + (size_t)n * C;
                float *restrict dx = dinp + (size_t)n * C;
                float m = mean[n], s = rstd[n];
                float g_sum = 0.0f, g_norm_sum = 0.0f;
                if (weight) {
                    #pragma omp simd reduction(+ : g_sum, g_norm_sum)
                    for (int c = 0; c < C; c++) {
                        float g = dy[c] * weight[c];
                        g_sum += g;
                        g_norm_sum += g * ((x[c] - m) * s);
                    }
                } else {
                    #pragma omp simd reduction(+ : g_sum, g_norm_sum)
                    for (int c = 0; c < C; c++) {
                        g_sum += dy[c];
                        g_norm_sum += dy[c] * ((x[c] - m) * s);
                    }
                }
                float g_mean = g_sum / (float)C, g_norm_mean = g_norm_sum / (float)C;
                if (weight) {
                    #pragma omp simd
                    for (int c = 0; c < C; c++)
                        dx[c] += (dy[c] * weight[c] - g_mean - (x[c] - m) * s * g_norm_mean) * s;
                } else {
                    #pragma omp simd
                    for (int c = 0; c < C; c++) dx[c] += (dy[c] - g_mean - (x[c] - m) * s * g_norm_mean) * s;
                }
            }
        }
        if (dweight || dbias) {
            /* Each thread owns whole channels and sums them over n in order: no shared writes, and
             * the same additions in the same order as the reference. dinp's rows and these
             * channel blocks touch disjoint outputs, hence the nowait above. */
            #pragma omp for schedule(static)
            for (int b = 0; b < blocks; b++) {
                int c0 = b * block, c1 = c0 + block < C ? c0 + block : C;
                for (int n = 0; n < N; n++) {
                    const float *restrict x = inp + (size_t)n * C;
                    const float *restrict dy = dout + (size_t)n * C;
                    float m = mean[n], s = rstd[n];
                    if (dweight) {
                        #pragma omp simd
                        for (int c = c0; c < c1; c++) dweight[c] += dy[c] * ((x[c] - m) * s);
                    }
                    if (dbias) {
                        #pragma omp simd
                        for (int c = c0; c < c1; c++) dbias[c] += dy[c];
                    }
                }
            }
        }
    }
}
